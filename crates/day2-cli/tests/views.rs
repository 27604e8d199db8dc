//! Narrowing and accepting what a report shows ([L] 6): `--severity`, `--rule`, `--namespace`, `--team` on check and
//! findings, `check --baseline` (fail only on new findings), `findings show ID`; and the README's store commands as
//! written.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use serde_json::Value;

fn fleet() -> String {
    common::root().join("examples/fleet").display().to_string()
}

fn findings(report: &Value) -> Vec<Value> {
    report["findings"].as_array().unwrap().clone()
}

#[test]
fn filters_narrow_what_is_shown_and_judged() {
    let all = common::json_of(&common::day2(&["check", &fleet(), "-o", "json"]));
    let out = common::day2(&["check", &fleet(), "-o", "json", "--severity", "critical"]);
    assert_eq!(common::code(&out), 1);
    let critical = findings(&common::json_of(&out));
    assert!(!critical.is_empty() && critical.iter().all(|f| f["severity"] == "critical"));
    let rules = findings(&common::json_of(&common::day2(&["check", &fleet(), "-o", "json", "--rule", "TF-*"])));
    assert!(!rules.is_empty() && rules.iter().all(|f| f["rule_id"].as_str().unwrap().starts_with("TF-")));
    let shop = findings(&common::json_of(&common::day2(&["check", &fleet(), "-o", "json", "--namespace", "shop"])));
    assert!(!shop.is_empty() && shop.iter().all(|f| f["resource"].as_str().unwrap().split('/').nth(3) == Some("shop")));
    let team = findings(&all).iter().find_map(|f| f["owner"]["team"].as_str().map(str::to_owned)).unwrap();
    let owned = findings(&common::json_of(&common::day2(&["check", &fleet(), "-o", "json", "--team", &team])));
    assert!(!owned.is_empty() && owned.iter().all(|f| f["owner"]["team"] == team.as_str()));
    assert!(owned.len() < findings(&all).len());
    // Nothing selected: nothing fails.
    let none = common::day2(&["check", &fleet(), "--rule", "NO-SUCH-RULE", "-o", "json"]);
    assert_eq!(common::code(&none), 0, "{}", String::from_utf8_lossy(&none.stdout));
}

#[test]
fn a_baseline_accepts_earlier_findings_and_new_ones_still_fail() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.json");
    let out = common::day2(&["check", &fleet(), "-o", "json", "--out", base.to_str().unwrap()]);
    assert_eq!(common::code(&out), 1);
    let accepted = common::day2(&["check", &fleet(), "--baseline", base.to_str().unwrap(), "-o", "json"]);
    assert_eq!(common::code(&accepted), 0, "everything is in the baseline");
    let report = common::json_of(&accepted);
    assert_eq!(report["summary"]["active"], 0);
    let pod = dir.path().join("new.yaml");
    std::fs::write(&pod, "apiVersion: v1\nkind: Pod\nmetadata: {name: debug, namespace: shop}\nspec:\n  containers:\n    - name: c\n      image: busybox:1.36\n      securityContext: {privileged: true}\n").unwrap();
    let with_new =
        common::day2(&["check", &fleet(), pod.to_str().unwrap(), "--baseline", base.to_str().unwrap(), "-o", "json"]);
    assert_eq!(common::code(&with_new), 1);
    let active: Vec<Value> =
        findings(&common::json_of(&with_new)).into_iter().filter(|f| f["status"]["state"] == "open").collect();
    assert!(!active.is_empty() && active.iter().all(|f| f["resource"].as_str().unwrap().ends_with("/shop/debug")));
    let bad = common::day2(&["check", &fleet(), "--baseline", pod.to_str().unwrap()]);
    assert_eq!(common::code(&bad), 2);
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("not a day2 report"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

/// A scratch folder where the README's lines run as written: `examples` and `policies` are the repository's, linked.
fn readme_folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for folder in ["examples", "policies"] {
        std::os::unix::fs::symlink(common::root().join(folder), dir.path().join(folder)).unwrap();
    }
    dir
}

/// A README line run by `sh` in `dir`, with this build's `day2` first on PATH.
fn in_shell(dir: &tempfile::TempDir, command: &str) -> std::process::Output {
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_day2")).parent().unwrap().display().to_string();
    std::process::Command::new("sh")
        .args(["-c", command])
        .current_dir(dir.path())
        .env("PATH", format!("{bin}:/usr/bin:/bin"))
        .env_remove("DAY2_STORE")
        .output()
        .unwrap()
}

#[test]
fn the_readme_store_commands_work_as_written_and_findings_show_tells_everything() {
    let dir = readme_folder();
    let run = |command: &str| in_shell(&dir, command);
    let readme = std::fs::read_to_string(common::root().join("README.md")).unwrap();
    let line = |start: &str| {
        let l = readme.lines().find(|l| l.starts_with(start)).unwrap_or_else(|| panic!("README: no `{start}` line"));
        l.split("  #").next().unwrap().trim().to_owned()
    };
    let out = run(&line("day2 check examples/fleet --store day2.db;"));
    assert_eq!(common::code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("CRITICAL"));
    let out = run(&line("day2 findings show "));
    assert_eq!(common::code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let shown: Value = serde_saphyr::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap();
    assert_eq!(shown["rule_id"], "K8S-POD-001");
    assert!(shown["rule"]["rationale"].as_str().is_some_and(|r| !r.is_empty()), "{shown:#}");
    // Every `day2 check examples/fleet …` example runs as written, in README order (the baseline is written first).
    for example in readme.lines().filter(|l| l.starts_with("day2 check examples/fleet ")) {
        let command = example.split("  #").next().unwrap().trim();
        let out = run(command);
        assert!(matches!(common::code(&out), 0 | 1), "`{command}`: {}", String::from_utf8_lossy(&out.stderr));
    }
    let listed = common::json_of(&run("day2 findings -o json"));
    let id = findings(&listed)[0]["id"].as_str().unwrap().to_owned();
    let shown: Value =
        serde_saphyr::from_str(&String::from_utf8_lossy(&run(&format!("day2 findings show {id}")).stdout)).unwrap();
    assert_eq!(shown["id"], id.as_str());
    let missing = run("day2 findings show ffffffffffff");
    assert_eq!(common::code(&missing), 2);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no finding with id"));
}

/// Every README example that needs nothing but the repository (its `examples/` and `policies/`) runs as written, in
/// README order, and ends with 0 or 1, never a usage or input error. Examples on your own paths, clusters or servers
/// (`k8s/`, `--context prod-eu`, a day2.yaml of yours) are left out, and so is `serve`, which runs until stopped and
/// has its own test.
#[test]
fn every_self_contained_readme_example_runs_as_written() {
    let dir = readme_folder();
    let readme = std::fs::read_to_string(common::root().join("README.md")).unwrap();
    let mut in_block = false;
    let mut examples = Vec::new();
    for line in readme.lines() {
        if line.starts_with("```") {
            in_block = !in_block;
            continue;
        }
        let command = line.split("  #").next().unwrap().trim();
        let command = command.strip_prefix("cargo run --release -- ").map(|c| format!("day2 {c}"));
        let command = command.unwrap_or_else(|| line.split("  #").next().unwrap().trim().to_owned());
        let own_paths = ["k8s/", "charts/", "overlays/", "plan.json", "--context", "my-framework"];
        let on_the_repository = command.contains("examples/") || command.contains("policies/");
        let runnable = in_block
            && (on_the_repository || command == "day2 compliance list" || command.starts_with("day2 findings show"))
            && !command.starts_with("day2 serve")
            && !own_paths.iter().any(|p| command.contains(p));
        if runnable {
            examples.push(command);
        }
    }
    for wanted in ["day2 drift -c examples/fleet/day2.yaml", "day2 policy verify", "day2 compliance report -f nis2"] {
        assert!(examples.iter().any(|e| e.starts_with(wanted)), "README example `{wanted}` not found in {examples:?}");
    }
    for command in &examples {
        let out = in_shell(&dir, command);
        assert!(
            matches!(common::code(&out), 0 | 1),
            "`{command}` exited {}: {}",
            common::code(&out),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn group_by_team_summarises_where_to_start() {
    let out = common::day2(&["check", &fleet(), "--group-by", "team", "--color", "never"]);
    let text = String::from_utf8(out.stdout).unwrap();
    let header =
        text.lines().position(|l| l.contains("TEAM") && l.contains("TOTAL")).unwrap_or_else(|| panic!("{text}"));
    let rows: Vec<&str> =
        text.lines().skip(header + 1).take_while(|l| !l.trim().is_empty() && !l.starts_with("Scanned")).collect();
    assert!(rows.len() >= 2, "{text}");
    let total = |l: &str| l.split_whitespace().last().unwrap().parse::<usize>().unwrap();
    let critical =
        |l: &str| l.split_whitespace().nth(l.split_whitespace().count() - 6).unwrap().parse::<usize>().unwrap();
    assert!(rows.windows(2).all(|w| critical(w[0]) >= critical(w[1])), "most critical first: {rows:?}");
    let report = common::json_of(&common::day2(&["check", &fleet(), "-o", "json"]));
    let active = report["summary"]["active"].as_u64().unwrap() as usize;
    assert_eq!(rows.iter().map(|r| total(r)).sum::<usize>(), active, "every active finding counted once");
}
