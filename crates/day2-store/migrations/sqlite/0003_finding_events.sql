-- day2 store, SQLite backend, schema 3: the findings' lifecycle as an append-only log, written in the same transaction
-- as the run that caused it, and how far each notifier has delivered it. Together they are the notification outbox:
-- a crash loses no event, and a notifier resumes after its last delivered one.

CREATE TABLE finding_events (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    finding_id   TEXT    NOT NULL,
    run_id       INTEGER NOT NULL REFERENCES runs(id),
    at           TEXT    NOT NULL,            -- the run's start
    transition   TEXT    NOT NULL CHECK (transition IN ('opened', 'reopened', 'resolved')),
    previous     TEXT,                        -- state before: NULL for a new finding, else open/suppressed/resolved
    data         TEXT    NOT NULL             -- JSON Finding after the transition
);
CREATE INDEX finding_events_finding ON finding_events(finding_id);

CREATE TABLE notifier_cursors (
    notifier     TEXT PRIMARY KEY,
    last_event   INTEGER NOT NULL,            -- finding_events.id delivered (or skipped by routing) last
    updated_at   TEXT    NOT NULL
);
