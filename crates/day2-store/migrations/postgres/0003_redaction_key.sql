-- day2 store, PostgreSQL backend, schema 3: the key credentials are tokenized with (day2_model::redact), made once
-- per store so tokens stay the same across runs and replicas. Not granted to the query login.
CREATE TABLE redaction_key (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    key BYTEA NOT NULL
);
