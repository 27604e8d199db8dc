//! `day2 query` over a store that `day2 check --store` wrote: answers agree with the report, writes are refused.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use common::{code, day2, json_of};

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
    let out = day2(&["query", sql, "--store", store, "-o", "json"]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let rows = json_of(&out);
    let row = rows.as_array().unwrap().iter().find(|r| r["severity"] == "critical").unwrap();
    assert_eq!(row["n"].as_u64(), Some(critical as u64));

    let table =
        String::from_utf8(day2(&["query", "SELECT count(*) AS runs FROM runs", "--store", store]).stdout).unwrap();
    assert!(table.contains("runs") && table.contains("(1 row)"), "{table}");

    let out = day2(&["query", "DELETE FROM findings", "--store", store]);
    assert_eq!(code(&out), 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("readonly database"));
    let out = day2(&["query", "SELECT 1", "--store", dir.path().join("none.db").to_str().unwrap()]);
    assert_eq!(code(&out), 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no store yet"));
}
