-- day2 store, SQLite backend, schema 7: IaC coverage per live scope, as the latest drift run that read it measured.

CREATE TABLE coverage (
    scope        TEXT    PRIMARY KEY,         -- provider/scope: k8s/prod-eu, aws/123456789012:eu-west-1
    at           TEXT    NOT NULL,            -- start of that drift run
    live         INTEGER NOT NULL,
    declared     INTEGER NOT NULL,
    percent      REAL    NOT NULL,
    complete     INTEGER NOT NULL             -- 0 when the live collection was partial
);
