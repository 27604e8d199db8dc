//! `day2 drift` against a real PostgreSQL: a private server started for this test (initdb + pg_ctl from Debian's
//! postgresql, on a free loopback port), so settings changed here never touch the shared server. Skipped with a
//! message where PostgreSQL's server binaries are not installed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use common::{day2, json_of};
use day2_testkit::postgres::PgInstance;
use serde_json::Value;

#[test]
fn settings_roles_and_databases_drift_exactly() {
    let Some(pg) = PgInstance::start().unwrap() else {
        eprintln!("skipped: PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb) are not installed");
        return;
    };
    // What is live: the declared role, database, schema and extension, plus changes behind the declaration's back.
    pg.sql("postgres", &["CREATE ROLE app LOGIN", "CREATE DATABASE shop OWNER app"]);
    pg.sql("shop", &["CREATE SCHEMA billing AUTHORIZATION app"]);
    pg.sql("postgres", &["ALTER SYSTEM SET work_mem = '8MB'", "SELECT pg_reload_conf()", "CREATE ROLE intruder LOGIN"]);

    // The server's own time zone: day2's connection sets a session TimeZone, which must not read as drift.
    let timezone = pg.value("postgres", "SHOW timezone");
    let dir = tempfile::tempdir().unwrap();
    let declared = dir.path().join("pg.yaml");
    std::fs::write(
        &declared,
        format!("settings:\n  TimeZone: {timezone}\n") + "  work_mem: 4MB\n  max_connections: 100\n  shared_buffers: 128MB\nroles:\n  - {name: app, login: true, superuser: false}\n  - {name: reporting, login: true}\ndatabases:\n  - {name: shop, owner: app, encoding: UTF8}\nextensions:\n  - {database: shop, name: plpgsql}\nschemas:\n  - {database: shop, name: billing, owner: app}\n",
    )
    .unwrap();
    let config = dir.path().join("day2.yaml");
    std::fs::write(
        &config,
        format!(
            "sources:\n  - postgres_declared:\n      instance: main\n      paths: [{}]\n  - postgres:\n      instance: main\n      url: {}\ndrift:\n  # initdb and pg_ctl set many settings; this test declares only some of them.\n  unmanaged_ignore: [\"postgres/*/Setting//*\"]\n",
            declared.display(),
            pg.url("postgres")
        ),
    )
    .unwrap();
    let out = day2(&["drift", "-c", config.to_str().unwrap(), "-o", "json"]);
    let report = json_of(&out);
    assert_eq!(report["summary"]["errors"], 0, "{}", report["diagnostics"]);
    let mut got: Vec<(String, String)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["rule_id"].as_str().unwrap().to_owned(), f["resource"].as_str().unwrap().to_owned()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("DRIFT-CHANGED".to_owned(), "postgres/main/Setting//work_mem".to_owned()),
            ("DRIFT-MISSING".to_owned(), "postgres/main/Role//reporting".to_owned()),
            ("DRIFT-UNMANAGED".to_owned(), "postgres/main/Role//intruder".to_owned()),
        ],
        "unchanged settings (100 connections, 128MB in 8kB pages), role, database, schema and extension show no drift"
    );
    let work_mem = report["findings"].as_array().unwrap().iter().find(|f| f["rule_id"] == "DRIFT-CHANGED").unwrap();
    assert_eq!(work_mem["evidence"][0]["expected"], "4MB");
    assert_eq!(work_mem["evidence"][0]["actual"], Value::from("8192 (kB)"));
    assert_eq!(report["coverage"][0]["scope"], "postgres/main");
}
