-- day2 store, PostgreSQL backend, schema 1: the same tables and views as the SQLite backend's schemas 1-7, in
-- PostgreSQL's types. JSON columns are `json` (not `jsonb`) so objects keep their key order and any string serde_json
-- writes is accepted. Several `day2 serve` replicas share these tables; `leases` says which one runs what.

CREATE TABLE runs (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    started_at   TIMESTAMPTZ NOT NULL,
    sources      JSON        NOT NULL,        -- [{name, complete, files, resources}]
    findings     BIGINT      NOT NULL,
    new          BIGINT      NOT NULL,
    resolved     BIGINT      NOT NULL
);

CREATE TABLE resources (
    id           TEXT PRIMARY KEY,            -- ResourceId
    source       TEXT        NOT NULL,
    provider     TEXT        NOT NULL,
    kind         TEXT        NOT NULL,
    namespace    TEXT        NOT NULL,
    name         TEXT        NOT NULL,
    owner        JSON        NOT NULL,        -- Owner
    attrs        JSON        NOT NULL,        -- raw object (secrets masked at collection)
    first_seen   TIMESTAMPTZ NOT NULL,
    last_seen    TIMESTAMPTZ NOT NULL,
    last_run     BIGINT      NOT NULL REFERENCES runs(id)
);
CREATE INDEX resources_kind ON resources(kind);

CREATE TABLE findings (
    id           TEXT PRIMARY KEY,            -- FindingId (stable across runs)
    rule_id      TEXT        NOT NULL,
    resource_id  TEXT        NOT NULL,
    source       TEXT        NOT NULL,        -- source of the resource: findings resolve only when it was read completely
    severity     TEXT        NOT NULL,
    domain       TEXT        NOT NULL,
    state        TEXT        NOT NULL CHECK (state IN ('open', 'suppressed', 'resolved')),
    data         JSON        NOT NULL,        -- Finding as last seen
    first_seen   TIMESTAMPTZ NOT NULL,
    last_seen    TIMESTAMPTZ NOT NULL,
    resolved_at  TIMESTAMPTZ,
    reopened     BIGINT      NOT NULL DEFAULT 0,
    last_run     BIGINT      NOT NULL REFERENCES runs(id),
    -- What listings sort and filter on, as columns rather than read out of `data` on every request.
    severity_rank SMALLINT   NOT NULL,        -- 0 critical, 1 high, … 4 info
    file         TEXT COLLATE "C",            -- declaring file; byte order, as SQLite sorts
    line         BIGINT,                      -- declaring line
    team         TEXT                         -- owning team
);
CREATE INDEX findings_state ON findings(state);
CREATE INDEX findings_source ON findings(source, state);
CREATE INDEX findings_listing ON findings(state, severity_rank, file, line, id);

-- The findings' lifecycle, append-only, written in the transaction of the run that caused it. Writers take an
-- advisory lock first, so ids are committed in order and a reader never sees id n+1 before id n.
CREATE TABLE finding_events (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    finding_id   TEXT        NOT NULL,
    run_id       BIGINT      NOT NULL REFERENCES runs(id),
    at           TIMESTAMPTZ NOT NULL,        -- the run's start
    transition   TEXT        NOT NULL CHECK (transition IN ('opened', 'reopened', 'resolved', 'suppressed')),
    previous     TEXT,                        -- state before: NULL for a new finding, else open/suppressed/resolved
    data         JSON        NOT NULL         -- Finding after the transition
);
CREATE INDEX finding_events_finding ON finding_events(finding_id);

CREATE TABLE notifier_cursors (
    notifier     TEXT PRIMARY KEY,
    last_event   BIGINT      NOT NULL,        -- finding_events.id delivered (or skipped by routing) last
    updated_at   TIMESTAMPTZ NOT NULL
);

CREATE TABLE leases (
    name         TEXT PRIMARY KEY,            -- job:check, job:drift, notify
    holder       TEXT        NOT NULL,        -- the replica: host, process id and a random suffix
    expires_at   TIMESTAMPTZ NOT NULL         -- by the database's clock
);

-- IaC coverage per live scope, as the latest drift run that read it measured.
CREATE TABLE coverage (
    scope        TEXT PRIMARY KEY,            -- provider/scope: k8s/prod-eu, aws/123456789012:eu-west-1
    at           TIMESTAMPTZ      NOT NULL,   -- start of that drift run
    live         BIGINT           NOT NULL,
    declared     BIGINT           NOT NULL,
    percent      DOUBLE PRECISION NOT NULL,
    complete     BOOLEAN          NOT NULL
);

-- Views for `day2 query`, documented in docs/query.md: the same columns as on SQLite.
CREATE VIEW finding_list AS
SELECT
    id,
    rule_id,
    domain,
    severity,
    state,
    resource_id,
    data->>'kind'              AS kind,
    data->'owner'->>'team'     AS team,
    data->'owner'->>'service'  AS service,
    data->>'message'           AS message,
    data->>'file'              AS file,
    (data->>'line')::BIGINT    AS line,
    source,
    first_seen,
    last_seen,
    resolved_at,
    reopened
FROM findings;

CREATE VIEW resource_list AS
SELECT
    id,
    provider,
    kind,
    namespace,
    name,
    source,
    owner->>'team'             AS team,
    owner->>'service'          AS service,
    owner->>'environment'      AS environment,
    attrs,
    first_seen,
    last_seen
FROM resources;
