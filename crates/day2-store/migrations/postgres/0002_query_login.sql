-- day2 store, PostgreSQL backend, schema 2: the login `day2 query` connects with (see src/query/postgres.rs). One
-- row: the role's name and its password, readable by the store's role only (never granted to the query login).
CREATE TABLE query_login (
    role   TEXT PRIMARY KEY,
    secret TEXT NOT NULL
);
