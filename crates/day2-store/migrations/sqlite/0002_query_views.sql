-- day2 store, SQLite backend, schema 2: views for `day2 query`, documented in docs/query.md. The tables stay the
-- contract for day2 itself; these views are the contract for people and scripts, and keep their columns across versions.

CREATE VIEW finding_list AS
SELECT
    id,
    rule_id,
    domain,
    severity,
    state,
    resource_id,
    json_extract(data, '$.kind')          AS kind,
    json_extract(data, '$.owner.team')    AS team,
    json_extract(data, '$.owner.service') AS service,
    json_extract(data, '$.message')       AS message,
    json_extract(data, '$.file')          AS file,
    json_extract(data, '$.line')          AS line,
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
    json_extract(owner, '$.team')        AS team,
    json_extract(owner, '$.service')     AS service,
    json_extract(owner, '$.environment') AS environment,
    attrs,
    first_seen,
    last_seen
FROM resources;
