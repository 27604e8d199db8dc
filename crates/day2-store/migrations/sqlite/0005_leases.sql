-- day2 store, SQLite backend, schema 5: leases, so that of several `day2 serve` processes sharing a store exactly one
-- runs each job at a time. Expiry is in milliseconds since the Unix epoch, by SQLite's clock.

CREATE TABLE leases (
    name         TEXT    PRIMARY KEY,         -- job:check, job:drift, notify
    holder       TEXT    NOT NULL,            -- the replica: host, process id and a random suffix
    expires_ms   INTEGER NOT NULL
);
