-- day2 store, SQLite backend, schema 1.
-- Times are RFC 3339 UTC text; JSON columns hold the model types serialised with serde.

CREATE TABLE runs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at   TEXT    NOT NULL,
    sources      TEXT    NOT NULL,            -- JSON: [{name, complete, files, resources}]
    findings     INTEGER NOT NULL,
    new          INTEGER NOT NULL,
    resolved     INTEGER NOT NULL
);

CREATE TABLE resources (
    id           TEXT PRIMARY KEY,            -- ResourceId
    source       TEXT NOT NULL,
    provider     TEXT NOT NULL,
    kind         TEXT NOT NULL,
    namespace    TEXT NOT NULL,
    name         TEXT NOT NULL,
    owner        TEXT NOT NULL,               -- JSON Owner
    attrs        TEXT NOT NULL,               -- JSON raw object (secrets masked at collection)
    first_seen   TEXT NOT NULL,
    last_seen    TEXT NOT NULL,
    last_run     INTEGER NOT NULL REFERENCES runs(id)
);
CREATE INDEX resources_kind ON resources(kind);

CREATE TABLE findings (
    id           TEXT PRIMARY KEY,            -- FindingId (stable across runs)
    rule_id      TEXT NOT NULL,
    resource_id  TEXT NOT NULL,
    source       TEXT NOT NULL,               -- source of the resource: findings resolve only when it was read completely
    severity     TEXT NOT NULL,
    domain       TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('open', 'suppressed', 'resolved')),
    data         TEXT NOT NULL,               -- JSON Finding as last seen
    first_seen   TEXT NOT NULL,
    last_seen    TEXT NOT NULL,
    resolved_at  TEXT,
    reopened     INTEGER NOT NULL DEFAULT 0,
    last_run     INTEGER NOT NULL REFERENCES runs(id)
);
CREATE INDEX findings_state ON findings(state);
CREATE INDEX findings_source ON findings(source, state);
