-- day2 store, PostgreSQL backend, schema 4: the topology. Relations between resources, replaced per source with each
-- run that read the source completely; and both sides of an object: whether the stored row is declared or seen only
-- live, and the live copy of a declared object.

ALTER TABLE resources ADD COLUMN side TEXT;           -- declared | live (NULL: recorded before schema 4)
ALTER TABLE resources ADD COLUMN live_attrs JSON;     -- the object as it runs, when it is also declared
ALTER TABLE resources ADD COLUMN live_seen TIMESTAMPTZ;

ALTER TABLE resources ADD COLUMN live_source TEXT;   -- the live source that read that copy
CREATE INDEX findings_resource ON findings(resource_id);

CREATE TABLE relations (
    from_id  TEXT        NOT NULL,
    kind     TEXT        NOT NULL,
    to_id    TEXT        NOT NULL,
    source   TEXT        NOT NULL,
    seen     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (from_id, kind, to_id)
);
CREATE INDEX relations_to ON relations(to_id);
CREATE INDEX relations_source ON relations(source);
