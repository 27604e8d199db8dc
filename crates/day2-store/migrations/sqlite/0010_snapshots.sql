-- day2 store, SQLite backend, schema 10: snapshots, the hand-over between jobs. Each collection job stores what its
-- source holds (the latest snapshot per source, with a digest of it), and the analyses read them when a digest
-- changes; every collection is logged, so which replica read which source when can be checked.

CREATE TABLE snapshots (
    source       TEXT    PRIMARY KEY,
    side         TEXT    NOT NULL,            -- declared | live
    digest       TEXT    NOT NULL,            -- SHA-256 of data
    taken_at     TEXT    NOT NULL,            -- when the collection finished
    holder       TEXT    NOT NULL,            -- the replica that collected it
    data         TEXT    NOT NULL             -- the snapshot, as JSON
);

CREATE TABLE collections (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    source       TEXT    NOT NULL,
    holder       TEXT    NOT NULL,
    started_at   TEXT    NOT NULL,
    finished_at  TEXT    NOT NULL,
    complete     INTEGER NOT NULL,
    resources    INTEGER NOT NULL,
    changed      INTEGER NOT NULL             -- 1 when the digest differed from the one before
);
CREATE INDEX collections_source ON collections(source, started_at);
