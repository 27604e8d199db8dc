-- day2 store, SQLite backend, schema 8: the key credentials are tokenized with (day2_model::redact), made once per
-- store so tokens stay the same across runs and replicas. Not queryable (docs/query.md).
CREATE TABLE redaction_key (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    key BLOB NOT NULL
);
