-- day2 store, SQLite backend, schema 4: a finding that was open and is now suppressed is logged too, so whoever was
-- told it opened is told it ended. SQLite cannot change a CHECK constraint in place: the log is copied to a new table.

CREATE TABLE finding_events_v4 (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    finding_id   TEXT    NOT NULL,
    run_id       INTEGER NOT NULL REFERENCES runs(id),
    at           TEXT    NOT NULL,
    transition   TEXT    NOT NULL CHECK (transition IN ('opened', 'reopened', 'resolved', 'suppressed')),
    previous     TEXT,
    data         TEXT    NOT NULL
);
INSERT INTO finding_events_v4 (id, finding_id, run_id, at, transition, previous, data)
    SELECT id, finding_id, run_id, at, transition, previous, data FROM finding_events;
DROP TABLE finding_events;
ALTER TABLE finding_events_v4 RENAME TO finding_events;
CREATE INDEX finding_events_finding ON finding_events(finding_id);
