-- flext-quality schema (PostgreSQL). Times are Unix milliseconds in BIGINT so that the same
-- queries work on both engines; booleans are 0/1 for the same reason.

CREATE TABLE installations (
    id              BIGINT PRIMARY KEY,          -- GitHub's installation id
    account_login   TEXT NOT NULL,
    suspended       BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

CREATE TABLE projects (
    id              BIGINT PRIMARY KEY,          -- GitHub's numeric repository id
    installation_id BIGINT,
    full_name       TEXT NOT NULL,
    default_branch  TEXT NOT NULL,
    clone_url       TEXT NOT NULL,
    policy          TEXT,                        -- JSON policy overrides
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

CREATE TABLE deliveries (
    delivery_id     TEXT PRIMARY KEY,            -- X-GitHub-Delivery
    event           TEXT NOT NULL,
    action          TEXT,
    outcome         TEXT NOT NULL,               -- enqueued | reused | ignored | recorded
    job_id          BIGINT,
    received_at     BIGINT NOT NULL
);

CREATE TABLE analyses (
    id                  BIGSERIAL PRIMARY KEY,
    project_id          BIGINT NOT NULL REFERENCES projects(id),
    sha                 TEXT NOT NULL,
    config_key          TEXT NOT NULL DEFAULT '',
    trigger             TEXT NOT NULL,           -- pull_request | push | check_suite | base | ...
    head_ref            TEXT,
    base_ref            TEXT,
    base_sha            TEXT,                    -- tip of the base branch the trigger named
    compared_sha        TEXT,                    -- the commit the findings were compared with
    pr_number           BIGINT,
    installation_id     BIGINT,
    status              TEXT NOT NULL,           -- queued | running | completed | failed
    check_run_id        BIGINT,
    tool_versions       TEXT,                    -- JSON {backend: version}
    ncloc               BIGINT,
    score               DOUBLE PRECISION,
    grade               TEXT,
    deduction_security        DOUBLE PRECISION,
    deduction_reliability     DOUBLE PRECISION,
    deduction_maintainability DOUBLE PRECISION,
    verdict             TEXT,
    gate                TEXT,                    -- JSON gate result
    new_count           BIGINT,
    fixed_count         BIGINT,
    error               TEXT,
    queued_at           BIGINT NOT NULL,
    started_at          BIGINT,
    completed_at        BIGINT,
    timings             TEXT,                    -- JSON {phase: milliseconds}
    UNIQUE (project_id, sha, config_key)
);

CREATE TABLE findings (
    id              BIGSERIAL PRIMARY KEY,
    analysis_id     BIGINT NOT NULL REFERENCES analyses(id) ON DELETE CASCADE,
    fingerprint     TEXT NOT NULL,
    backend         TEXT NOT NULL,
    rule            TEXT NOT NULL,
    category        TEXT NOT NULL,
    severity        TEXT NOT NULL,
    path            TEXT NOT NULL,
    start_line      BIGINT NOT NULL,
    end_line        BIGINT NOT NULL,
    start_column    BIGINT,
    end_column      BIGINT,
    message         TEXT NOT NULL,
    help_url        TEXT,
    effort_minutes  BIGINT NOT NULL,
    is_new          BIGINT NOT NULL
);
CREATE INDEX findings_analysis ON findings (analysis_id);

CREATE TABLE jobs (
    id                  BIGSERIAL PRIMARY KEY,
    kind                TEXT NOT NULL,
    analysis_id         BIGINT REFERENCES analyses(id),
    state               TEXT NOT NULL,           -- queued | running | done | failed
    attempts            BIGINT NOT NULL DEFAULT 0,
    max_attempts        BIGINT NOT NULL,
    run_after           BIGINT NOT NULL,
    lease_owner         TEXT,
    lease_expires_at    BIGINT,
    last_error          TEXT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);
CREATE INDEX jobs_claimable ON jobs (state, run_after);
-- At most one live job per analysis: a second trigger for the same commit reuses it.
CREATE UNIQUE INDEX jobs_one_live_per_analysis ON jobs (analysis_id) WHERE state IN ('queued', 'running');
