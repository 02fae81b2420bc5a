-- licet: online-safe (adds tables only; older versions do not read them)
-- Policy versions, the decision log and the append-only audit trail.

-- Every policy bundle ever activated, stored whole: the schema and the policy files as a JSON
-- array of {"path", "content"}, schema first. The version is the SHA-256 of the files.
CREATE TABLE policy_versions (
    version    TEXT PRIMARY KEY NOT NULL,
    files      TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

-- Each time a version became the active one: when, by whom, how, and from which git commit.
CREATE TABLE policy_activations (
    id           INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    version      TEXT NOT NULL REFERENCES policy_versions (version),
    activated_at TIMESTAMP NOT NULL,
    activated_by TEXT NOT NULL,
    source       TEXT NOT NULL,
    git_commit   TEXT
);

-- One row per decision. `inputs` holds the data the decision was evaluated on (ids, statuses
-- and entitlement terms, no personal data), so that it can be replayed under any version.
CREATE TABLE decision_log (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    request_id     TEXT NOT NULL,
    decided_at     TIMESTAMP NOT NULL,
    tenant_id      TEXT NOT NULL,
    principal_type TEXT NOT NULL,
    principal_id   TEXT NOT NULL,
    action         TEXT NOT NULL,
    feature_id     TEXT NOT NULL,
    context        TEXT NOT NULL,
    decision       TEXT NOT NULL,
    reasons        TEXT NOT NULL,
    advice         TEXT NOT NULL,
    entitlement_id TEXT,
    policy_version TEXT NOT NULL,
    latency_us     BIGINT NOT NULL,
    inputs         TEXT NOT NULL
);

CREATE INDEX decision_log_by_time ON decision_log (decided_at, seq);
CREATE INDEX decision_log_by_tenant ON decision_log (tenant_id, decided_at, seq);
CREATE INDEX decision_log_by_request ON decision_log (request_id);

-- Every change made through licet. Each row carries the hash of the row before it; the
-- triggers below refuse UPDATE and DELETE.
CREATE TABLE audit_events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    id          TEXT NOT NULL UNIQUE,
    occurred_at TIMESTAMP NOT NULL,
    actor       TEXT NOT NULL,
    tenant_id   TEXT,
    action      TEXT NOT NULL,
    object_type TEXT NOT NULL,
    object_id   TEXT NOT NULL,
    before_state TEXT,
    after_state  TEXT,
    reason      TEXT,
    ticket      TEXT,
    request_id  TEXT,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);

CREATE INDEX audit_events_by_tenant ON audit_events (tenant_id, occurred_at, seq);

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only: UPDATE refused');
END;

CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only: DELETE refused');
END;

-- Named locks: writers that must not interleave (appends to the audit chain) update their
-- row first, which serialises them on both backends.
CREATE TABLE licet_locks (
    name TEXT PRIMARY KEY NOT NULL
);
INSERT INTO licet_locks (name) VALUES ('audit');
