-- Governance: people and keys, the audit log, the server policy kept in the database, outgoing
-- event hooks and their delivery log, and what the dashboard reads fast (each project's latest
-- default-branch analysis and its last scores, each analysis's open findings by severity).
-- Kept in step with the other engine's migration by a test that compares the two schemas.

CREATE TABLE users (
    login           TEXT PRIMARY KEY,            -- GitHub login, lower-cased
    role            TEXT NOT NULL,               -- viewer | maintainer | admin (granted)
    installations   TEXT NOT NULL DEFAULT '[]',  -- JSON: installation ids the user can see
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    last_seen_at    BIGINT
);

CREATE TABLE api_keys (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    name            TEXT NOT NULL,
    role            TEXT NOT NULL,
    prefix          TEXT NOT NULL,               -- the first characters, to recognise a key
    hash            TEXT NOT NULL UNIQUE,        -- SHA-256 of the whole key; the key is never stored
    created_by      TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    revoked_at      BIGINT,
    last_used_at    BIGINT
);

CREATE TABLE audit_log (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    at              BIGINT NOT NULL,
    actor           TEXT NOT NULL,
    action          TEXT NOT NULL,               -- policy.update | project.slack | role.grant | api_key.create | ...
    target          TEXT NOT NULL,
    before_value    TEXT,
    after_value     TEXT
);
CREATE INDEX audit_log_at ON audit_log (at);

CREATE TABLE settings (
    name            TEXT PRIMARY KEY,            -- policy
    value           TEXT NOT NULL,
    updated_at      BIGINT NOT NULL
);

CREATE TABLE event_hooks (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    url             TEXT NOT NULL,               -- sealed with FLEXT_QUALITY_SECRET_KEY
    secret          TEXT NOT NULL,               -- sealed; signs each event (HMAC-SHA256)
    events          TEXT NOT NULL,               -- JSON list: analysis.completed, gate.changed
    created_by      TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    active          BIGINT NOT NULL DEFAULT 1
);

CREATE TABLE event_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    hook_id         BIGINT NOT NULL REFERENCES event_hooks(id),
    analysis_id     BIGINT NOT NULL REFERENCES analyses(id),
    event           TEXT NOT NULL,
    status_code     BIGINT,
    error           TEXT,
    attempts        BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    delivered_at    BIGINT,
    UNIQUE (hook_id, analysis_id, event)
);

ALTER TABLE projects ADD COLUMN latest_analysis_id BIGINT;
ALTER TABLE projects ADD COLUMN score_history TEXT NOT NULL DEFAULT '[]';
ALTER TABLE analyses ADD COLUMN severity_counts TEXT NOT NULL DEFAULT '[0,0,0,0,0]';
CREATE INDEX analyses_by_project ON analyses (project_id, id);
CREATE INDEX analyses_by_completion ON analyses (project_id, completed_at);
