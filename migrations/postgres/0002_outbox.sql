-- The publish outbox, job kinds and deadlines, and what an analysis knows besides its columns.
-- Kept in step with the other engine's migration by a test that compares the two schemas.

CREATE TABLE publish_tasks (
    id              BIGSERIAL PRIMARY KEY,
    analysis_id     BIGINT NOT NULL REFERENCES analyses(id) ON DELETE CASCADE,
    sink            TEXT NOT NULL,               -- check_run | pr_comment | slack | events
    state           TEXT NOT NULL,               -- pending | done | failed
    attempts        BIGINT NOT NULL DEFAULT 0,
    last_error      TEXT,
    external_id     TEXT,                        -- what the sink created (check run, comment id)
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    UNIQUE (analysis_id, sink)
);

ALTER TABLE jobs ADD COLUMN publish_task_id BIGINT REFERENCES publish_tasks(id);
ALTER TABLE jobs ADD COLUMN deadline_at BIGINT;
CREATE UNIQUE INDEX jobs_one_live_per_publish_task ON jobs (publish_task_id) WHERE state IN ('queued', 'running');

ALTER TABLE analyses ADD COLUMN details TEXT;   -- JSON: backends, score, gate, suppressions, failure
ALTER TABLE findings ADD COLUMN is_fixed BIGINT NOT NULL DEFAULT 0;
ALTER TABLE findings ADD COLUMN annotate BIGINT NOT NULL DEFAULT 0;
