//! `day2 query` over a store that `day2 check --store` wrote: answers agree with the report, and every attack on
//! the host (issue [N] 1) fails with a clear error on both stores — the PostgreSQL store's role is a superuser here,
//! and its query login is tried directly as well.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{code, day2, json_of};
use day2_testkit::postgres::ScratchDatabase;

/// Runs `day2 query SQL --store STORE EXTRA…` and returns (exit code, stdout, stderr).
fn query(store: &str, sql: &str, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec!["query", sql, "--store", store];
    args.extend_from_slice(extra);
    let out = day2(&args);
    (code(&out), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Asserts that `sql` is refused (exit 2) with an error containing `words`, and prints nothing on stdout.
fn refused(store: &str, sql: &str, words: &str) {
    let (code, stdout, stderr) = query(store, sql, &[]);
    assert_eq!(code, 2, "{sql}: {stdout}{stderr}");
    assert!(stderr.contains(words), "{sql}: {stderr}");
    assert!(stdout.is_empty(), "{sql}: {stdout}");
}

/// An endless statement ends at its time limit, costs bounded memory, and says why. Returns the peak resident set
/// of the `day2 query` process, polled from /proc while it runs.
fn endless_query_stops(store: &str) {
    let sql = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c";
    let started = Instant::now();
    let mut child = common::command(&["query", sql, "--store", store, "--timeout", "2s"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut peak_kib = 0_u64;
    let status = loop {
        if let Ok(status) = std::fs::read_to_string(format!("/proc/{}/status", child.id())) {
            let hwm = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
            peak_kib = peak_kib.max(hwm.unwrap_or(0));
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the query did not stop");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("time limit of 2s"), "{stderr}");
    // Two seconds of limit, with room for a loaded machine; without a limit it runs for ever.
    assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
    assert!(peak_kib < 256 * 1024, "peak RSS {peak_kib} kB");
}

/// Endless rows stop at the row limit, with a note.
fn endless_rows_are_cut(store: &str) {
    let sql = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c";
    let (code, stdout, stderr) = query(store, sql, &["-o", "json", "--limit", "25"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&stdout).unwrap().as_array().unwrap().len(), 25);
    assert!(stderr.contains("more rows exist than --limit 25"), "{stderr}");
}

fn file_bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

#[test]
fn answers_from_the_store_and_refuses_to_write() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("day2.db");
    let store = store.to_str().unwrap();
    let report = json_of(&day2(&["check", "examples/fleet", "--store", store, "-o", "json"]));
    let critical = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "critical" && f["status"]["state"] == "open")
        .count();

    let sql =
        "SELECT severity, count(*) AS n FROM finding_list WHERE state = 'open' GROUP BY severity ORDER BY severity";
    let (status, stdout, stderr) = query(store, sql, &["-o", "json"]);
    assert_eq!(status, 0, "{stderr}");
    let rows: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let row = rows.as_array().unwrap().iter().find(|r| r["severity"] == "critical").unwrap();
    assert_eq!(row["n"].as_u64(), Some(critical as u64));

    let (_, table, _) = query(store, "SELECT count(*) AS runs FROM runs", &[]);
    assert!(table.contains("runs") && table.contains("(1 row)"), "{table}");

    refused(store, "DELETE FROM findings", "query refused: only a SELECT is allowed, not DELETE");
    let (status, _, stderr) = query(dir.path().join("none.db").to_str().unwrap(), "SELECT 1", &[]);
    assert_eq!(status, 2);
    assert!(stderr.contains("no store there"), "{stderr}");
}

#[test]
fn sqlite_store_attacks_fail() {
    let dir = tempfile::tempdir().unwrap();
    let store_path = dir.path().join("day2.db");
    let store = store_path.to_str().unwrap();
    let other = dir.path().join("other.db");
    for path in [store, other.to_str().unwrap()] {
        let out = day2(&["check", "examples/fleet", "--store", path, "-o", "json"]);
        assert_eq!(code(&out), 1, "{}", String::from_utf8_lossy(&out.stderr));
    }
    let before = file_bytes(&store_path);
    let copy = dir.path().join("copy.db");

    refused(store, &format!("VACUUM INTO '{}'", copy.display()), "only a SELECT is allowed, not VACUUM");
    refused(store, &format!("ATTACH DATABASE '{}' AS other", other.display()), "not ATTACH");
    refused(store, "SELECT count(*) FROM finding_list; SELECT 2", "2 statements given");
    refused(store, "PRAGMA writable_schema = 1", "not PRAGMA");
    refused(store, "SELECT load_extension('/tmp/evil.so')", "the function `load_extension` is not allowed");
    refused(store, "SELECT * FROM sqlite_master", "`sqlite_master` cannot be queried");
    refused(store, "SELECT * FROM leases", "`leases` cannot be queried");
    refused(store, "INSERT INTO findings (id) VALUES ('x')", "not INSERT");
    endless_query_stops(store);
    endless_rows_are_cut(store);

    assert!(!copy.exists(), "VACUUM INTO wrote a copy of the store");
    assert_eq!(file_bytes(&store_path), before, "the store changed");
}

#[test]
fn postgres_store_attacks_fail_with_a_superuser_role() {
    let Some(db) = ScratchDatabase::create().unwrap() else { return };
    let out = day2(&["check", "examples/fleet", "--store", &db.url, "-o", "json"]);
    assert_eq!(code(&out), 1, "{}", String::from_utf8_lossy(&out.stderr));
    let dir = tempfile::tempdir().unwrap();
    // The server runs as `postgres`: give it a folder it could write to, so a file there would prove an escape.
    let _ = std::process::Command::new("chmod").arg("777").arg(dir.path()).status();
    let pwned = dir.path().join("pwned.txt");
    let copied = dir.path().join("findings.csv");
    // A session that must survive: an attack that signalled backends would end it.
    let mut bystander = std::process::Command::new("psql")
        .args([db.url.as_str(), "-qAtc", "SELECT pg_sleep(4)"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let store = db.url.as_str();

    let (status, stdout, stderr) = query(store, "SELECT count(*) AS n FROM finding_list", &["-o", "json"]);
    assert_eq!(status, 0, "{stderr}");
    assert!(stdout.contains("\"n\""), "{stdout}");

    refused(store, &format!("COPY (SELECT 1) TO PROGRAM 'id > {}'", pwned.display()), "not COPY");
    refused(store, &format!("COPY findings TO '{}'", copied.display()), "not COPY");
    refused(store, "SELECT pg_read_file('/etc/passwd')", "`pg_read_file` is not allowed");
    refused(store, "SELECT pg_catalog.pg_read_file('/etc/passwd')", "`pg_catalog.pg_read_file` is not allowed");
    refused(store, "SELECT * FROM pg_ls_dir('/')", "`pg_ls_dir` is not allowed");
    refused(store, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity", "`pg_terminate_backend`");
    refused(store, "SELECT set_config('role', 'postgres', true)", "`set_config`");
    refused(store, "SELECT * FROM pg_authid", "`pg_authid` cannot be queried");
    refused(store, "SELECT 1; SELECT 2", "2 statements given");
    refused(store, "SELECT * INTO stolen FROM findings", "INTO creates a table");
    endless_query_stops(store);
    endless_rows_are_cut(store);

    // A parser differential (sqlparser and PostgreSQL end a `$tag$` quote in different places) must not smuggle a
    // call through: the statement is refused, and what runs is only ever the parser's own rendering of it.
    refused(
        store,
        "SELECT $a€$,' $a€$, set_config($$role$$,$$postgres$$,true), query_to_xml($$select pg_read_file($q$/etc/passwd$q$)$$,true,true,$$$$), ' AS x --'",
        "query refused",
    );
    refused(store, "SELECT rolname FROM (TABLE pg_roles) r WHERE rolsuper", "`TABLE name` is not allowed");

    // The second gate on its own: the query login cannot do these even when the parser is not asked, and cannot
    // switch back to the superuser the store logs in as.
    let psql = |url: &str, sql: &str| {
        let out = std::process::Command::new("psql")
            .args(["-X", "-qAt", "-v", "ON_ERROR_STOP=1", url, "-c", sql])
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).trim().to_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, login, stderr) = psql(store, "SELECT role || ':' || secret FROM query_login");
    assert!(ok && login.starts_with("day2_query_"), "{login}{stderr}");
    let login_url = store.replacen("postgres@", &format!("{login}@"), 1);
    let (ok, whoami, stderr) = psql(&login_url, "SELECT current_user, (SELECT count(*) FROM finding_list) > 0");
    assert!(ok && whoami.starts_with("day2_query_") && whoami.ends_with("|t"), "{whoami}{stderr}");
    for attack in [
        format!("COPY (SELECT 1) TO PROGRAM 'id > {}'", pwned.display()),
        format!("COPY (SELECT 1) TO '{}'", copied.display()),
        "SELECT pg_read_file('/etc/passwd')".to_owned(),
        "SELECT * FROM pg_ls_dir('/')".to_owned(),
        "SELECT * FROM leases".to_owned(),
        "SELECT set_config('role', 'postgres', false)".to_owned(),
        "SET ROLE postgres".to_owned(),
        "SET SESSION AUTHORIZATION postgres".to_owned(),
        "SELECT * FROM query_login".to_owned(),
    ] {
        let (ok, stdout, stderr) = psql(&login_url, &attack);
        assert!(
            !ok && (stderr.contains("permission denied") || stderr.contains("must be")),
            "{attack}: {stdout}{stderr}"
        );
    }
    // Signalling another role's backend is a warning and `false`, not an error: the bystander must live on.
    let (_, signalled, _) = psql(
        &login_url,
        "SELECT coalesce(bool_or(pg_terminate_backend(pid)), false) FROM pg_stat_activity \
         WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'",
    );
    assert_eq!(signalled, "f");

    let bystander_status = bystander.wait().unwrap();
    assert!(bystander_status.success(), "a backend was signalled");
    assert!(!pwned.exists(), "a program ran");
    assert!(!copied.exists(), "COPY wrote a file");
}
