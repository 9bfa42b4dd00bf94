-- The pull request conversation: the one comment per pull request, state-change notifications,
-- per-project Slack destinations, archived projects, and the webhook-delivery checkpoint.
-- Kept in step with the other engine's migration by a test that compares the two schemas.

CREATE TABLE pr_comments (
    project_id      BIGINT NOT NULL REFERENCES projects(id),
    pr_number       BIGINT NOT NULL,
    comment_id      BIGINT,                      -- GitHub's id of our comment, once posted
    analysis_id     BIGINT,                      -- the newest analysis the comment shows
    locked_until    BIGINT,                      -- a publisher holds the comment until then
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (project_id, pr_number)
);

CREATE TABLE notifications (
    id              BIGSERIAL PRIMARY KEY,
    project_id      BIGINT NOT NULL REFERENCES projects(id),
    sha             TEXT NOT NULL,
    transition      TEXT NOT NULL,               -- failed | recovered | grade_dropped
    analysis_id     BIGINT NOT NULL REFERENCES analyses(id),
    state           TEXT NOT NULL,               -- pending | sent | failed
    detail          TEXT,                        -- why it failed, when it did
    created_at      BIGINT NOT NULL,
    sent_at         BIGINT,
    UNIQUE (project_id, transition, sha)
);

-- Encrypted with a key derived from FLEXT_QUALITY_SECRET_KEY; never stored in the clear.
ALTER TABLE projects ADD COLUMN slack_webhook TEXT;
ALTER TABLE projects ADD COLUMN archived_at BIGINT;

CREATE TABLE redeliveries (
    delivery_id     BIGINT PRIMARY KEY,          -- GitHub's numeric hook delivery id
    guid            TEXT NOT NULL,               -- X-GitHub-Delivery
    requested_at    BIGINT NOT NULL
);

CREATE TABLE checkpoints (
    name            TEXT PRIMARY KEY,            -- reconcile
    value           BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

-- Who pushed or asked (a GitHub login), for messages; what a job that is not an analysis or a
-- publish task is for (a command from a comment), as JSON.
ALTER TABLE analyses ADD COLUMN requested_by TEXT;
ALTER TABLE jobs ADD COLUMN payload TEXT;
