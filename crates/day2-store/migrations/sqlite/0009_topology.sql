-- day2 store, SQLite backend, schema 9: the topology. Relations between resources, replaced per source with each
-- run that read the source completely; and both sides of an object: whether the stored row is declared or seen only
-- live, and the live copy of a declared object.

ALTER TABLE resources ADD COLUMN side TEXT;          -- declared | live (NULL: recorded before schema 9)
ALTER TABLE resources ADD COLUMN live_attrs TEXT;    -- JSON: the object as it runs, when it is also declared
ALTER TABLE resources ADD COLUMN live_seen TEXT;     -- when a live source last read it

ALTER TABLE resources ADD COLUMN live_source TEXT;   -- the live source that read that copy
CREATE INDEX findings_resource ON findings(resource_id);

CREATE TABLE relations (
    from_id  TEXT NOT NULL,
    kind     TEXT NOT NULL,                          -- selects, routes-to, runs-as, declares, assumes-role, …
    to_id    TEXT NOT NULL,
    source   TEXT NOT NULL,                          -- the source that showed it (a live one for what only runs)
    seen     TEXT NOT NULL,
    PRIMARY KEY (from_id, kind, to_id)
);
CREATE INDEX relations_to ON relations(to_id);
CREATE INDEX relations_source ON relations(source);
