//! End-to-end tests of the `day2` binary. Index:
//! - `malformed_corpus`: every bad input gives its diagnostic (file, line, message), the rest is scanned, exit 2.
//! - `example_fleet_*`: the README's first command, exit codes driven by --fail-on, every output format parses.
//! - `store_*`: repeated `--store` runs report new and resolved findings; `day2 findings` lists open ones.
//! - `suppressions_*`: annotation and config suppressions, expiry.
//! - `json_report_*`: the committed JSON schema matches the code and validates real output.
//! - `checks_*`, `init_*`, `stdin_*`: the smaller commands.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use std::process::{Output, Stdio};

use common::{code, command, day2, json_of, root};
use serde_json::Value;

#[test]
fn malformed_corpus() {
    let out = day2(&["check", "crates/day2-cli/tests/malformed", "-o", "json"]);
    assert_eq!(code(&out), 2, "input errors exit 2; stderr: {}", String::from_utf8_lossy(&out.stderr));
    let report = json_of(&out);
    let expected: Vec<Value> = serde_saphyr::from_str(
        &std::fs::read_to_string(root().join("crates/day2-cli/tests/malformed.expected.yaml")).unwrap(),
    )
    .unwrap();
    let diagnostics = report["diagnostics"].as_array().unwrap();
    assert!(expected.len() >= 15);
    for e in &expected {
        let file = e["file"].as_str().unwrap();
        let matching: Vec<&Value> =
            diagnostics.iter().filter(|d| d["file"].as_str().unwrap().ends_with(&format!("/{file}"))).collect();
        assert_eq!(matching.len(), 1, "{file}: expected one diagnostic, got {matching:?}");
        let d = matching[0];
        assert_eq!(d["kind"], e["kind"], "{file}: {d}");
        assert_eq!(d.get("line"), e.get("line"), "{file}: {d}");
        assert!(d["message"].as_str().unwrap().contains(e["message"].as_str().unwrap()), "{file}: {d}");
    }
    assert_eq!(diagnostics.len(), expected.len(), "no unexpected diagnostics: {diagnostics:#?}");
    // The good file in the same directory was still scanned.
    let good = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["rule_id"] == "K8S-POD-001" && f["file"].as_str().unwrap().ends_with("good.yaml"));
    assert!(good, "good.yaml must still be scanned");
    // The duplicate was ignored, not lost: one ConfigMap shop/twice remains.
    assert!(report["summary"]["resources"].as_u64().unwrap() >= 2);
}

#[test]
fn example_fleet_reports_kubernetes_and_terraform_findings() {
    let out = day2(&["check", "examples/fleet"]);
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    assert_eq!(code(&out), 1, "criticals in the fleet fail the default --fail-on high:\n{text}");
    for needle in
        ["CRITICAL (", "K8S-POD-001", "TF-SG-001", "examples/fleet/k8s/platform/node-exporter.yaml:1", "Scanned "]
    {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    assert!(!text.contains("hunter2"), "secret values never appear in output");
    // With --fail-on set above every finding's severity nothing fails... there are criticals, so use --skip to test 0.
    let only_low = day2(&["check", "examples/fleet", "--check", "K8S-POD-011", "--fail-on", "high"]);
    assert_eq!(code(&only_low), 0, "{}", String::from_utf8_lossy(&only_low.stdout));
    let low_fails = day2(&["check", "examples/fleet", "--check", "K8S-POD-011", "--fail-on", "low"]);
    assert_eq!(code(&low_fails), 1);
}

#[test]
fn example_fleet_config_applies_suppressions_and_expiry() {
    let out = day2(&["check", "--config", "examples/fleet/day2.yaml", "-o", "json"]);
    assert_eq!(code(&out), 1);
    let r = json_of(&out);
    let findings = r["findings"].as_array().unwrap();
    let node_exporter = findings
        .iter()
        .find(|f| f["rule_id"] == "K8S-POD-001" && f["resource"].as_str().unwrap().contains("node-exporter"))
        .unwrap();
    assert_eq!(node_exporter["status"]["state"], "suppressed");
    assert_eq!(node_exporter["status"]["owner"], "team-platform");
    let analytics =
        findings.iter().find(|f| f["resource"].as_str().unwrap().ends_with("aws_db_instance.analytics")).unwrap();
    assert_eq!(analytics["status"]["state"], "open", "suppression expired on 2026-10-31");
    assert_eq!(analytics["status"]["expired_suppression"]["expires"], "2026-10-31");
    let annotated = findings
        .iter()
        .find(|f| f["rule_id"] == "K8S-POD-011" && f["resource"].as_str().unwrap().contains("legacy-search"))
        .unwrap();
    assert_eq!(annotated["status"]["by"], "annotation");
    assert!(r["sources"].as_array().unwrap().len() == 3);
}

#[test]
fn example_fleet_every_format_parses() {
    let sarif = json_of(&day2(&["check", "examples/fleet", "-o", "sarif"]));
    assert_eq!(sarif["version"], "2.1.0");
    assert!(sarif["runs"][0]["results"].as_array().unwrap().len() > 20);
    let junit = day2(&["check", "examples/fleet", "-o", "junit"]);
    let mut reader = quick_xml::Reader::from_reader(junit.stdout.as_slice());
    let mut buf = Vec::new();
    let mut failures = 0;
    loop {
        match reader.read_event_into(&mut buf).unwrap() {
            quick_xml::events::Event::Eof => break,
            quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e)
                if e.name().as_ref() == b"failure" =>
            {
                failures += 1
            }
            _ => {}
        }
        buf.clear();
    }
    assert!(failures > 20);
    let yaml = day2(&["check", "examples/fleet", "-o", "yaml"]);
    let v: Value = serde_saphyr::from_slice(&yaml.stdout).unwrap();
    assert!(v["findings"].as_array().unwrap().len() > 20);
    let md = String::from_utf8(day2(&["check", "examples/fleet", "-o", "markdown"]).stdout).unwrap();
    assert!(md.starts_with("### day2 check failed") && md.contains("| Severity | Rule |"));
}

#[test]
fn json_report_schema_is_current_and_validates_output() {
    let path = root().join("docs/report-schema.json");
    let generated = serde_json::to_string_pretty(&day2_model::report_schema()).unwrap() + "\n";
    if std::env::var_os("DAY2_UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        committed, generated,
        "docs/report-schema.json is stale: run DAY2_UPDATE_SCHEMA=1 cargo test -p day2-cli --test cli"
    );
    let schema: Value = serde_json::from_str(&committed).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    for args in [["check", "examples/fleet", "-o", "json"], ["check", "crates/day2-cli/tests/malformed", "-o", "json"]]
    {
        let doc = json_of(&day2(&args));
        let errors: Vec<String> =
            validator.iter_errors(&doc).map(|e| format!("{e} at {}", e.instance_path())).collect();
        assert!(errors.is_empty(), "{errors:#?}");
    }
}

#[test]
fn store_reports_new_and_resolved_across_runs() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("day2.db");
    let store = store.to_str().unwrap();
    let manifest = dir.path().join("app.yaml");
    let bad = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: app\n  namespace: shop\nspec:\n  hostNetwork: true\n  containers:\n    - name: app\n      image: nginx:1.27\n";
    std::fs::write(&manifest, bad).unwrap();
    let m = manifest.to_str().unwrap();
    let first = json_of(&day2(&["check", m, "--store", store, "-o", "json"]));
    let total = first["findings"].as_array().unwrap().len();
    assert_eq!(first["summary"]["new"].as_u64().unwrap() as usize, total);
    assert_eq!(first["summary"]["resolved"], 0);

    let second = json_of(&day2(&["check", m, "--store", store, "-o", "json"]));
    assert_eq!(second["summary"]["new"], 0, "nothing changed");
    assert_eq!(second["findings"][0]["first_seen"], first["findings"][0]["first_seen"]);

    std::fs::write(&manifest, bad.replace("  hostNetwork: true\n", "")).unwrap();
    let third = day2(&["check", m, "--store", store]);
    let text = String::from_utf8(third.stdout).unwrap();
    assert!(text.lines().any(|l| l.starts_with("resolved (") && l.contains("): K8S-POD-004 Pod shop/app")), "{text}");
    assert!(text.contains("0 new, 1 resolved since last run"), "{text}");

    let listed = json_of(&day2(&["findings", "--store", store, "-o", "json"]));
    assert_eq!(listed["findings"].as_array().unwrap().len(), total - 1);
    assert!(listed["findings"].as_array().unwrap().iter().all(|f| f["rule_id"] != "K8S-POD-004"));
}

#[test]
fn stdin_is_read_with_dash() {
    let mut child =
        command(&["check", "-", "-o", "json"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  hostPID: true\n  containers: [{name: c, image: nginx}]\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let r = json_of(&out);
    let f = r["findings"].as_array().unwrap().iter().find(|f| f["rule_id"] == "K8S-POD-002").unwrap();
    assert_eq!(f["file"], "-");
    assert_eq!(f["line"], 1);
}

#[test]
fn checks_list_and_explain() {
    let list = json_of(&day2(&["checks", "list", "-o", "json"]));
    let list = list.as_array().unwrap();
    let k8s = list.iter().filter(|c| c["provider"] == "k8s").count();
    let tf = list.iter().filter(|c| c["provider"] == "tf").count();
    assert!(k8s >= 60 && tf >= 40, "k8s {k8s}, tf {tf}");
    for c in list {
        assert!(!c["controls"].as_array().unwrap().is_empty(), "{}", c["id"]);
        assert!(c["fixtures"]["fail"].is_string() && c["fixtures"]["pass"].is_string(), "{}", c["id"]);
    }
    let explain = String::from_utf8(day2(&["checks", "explain", "k8s-pod-001"]).stdout).unwrap();
    for needle in
        ["K8S-POD-001", "Why it matters", "How to fix", "cis-k8s 5.2.2", "Fails on", "privileged: true", "Passes on"]
    {
        assert!(explain.contains(needle), "missing {needle:?}:\n{explain}");
    }
    let unknown = day2(&["checks", "explain", "NOPE-1"]);
    assert_eq!(code(&unknown), 2);
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("unknown check `NOPE-1`"));
}

#[test]
fn init_writes_a_config_that_check_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("day2.yaml");
    let p = path.to_str().unwrap();
    assert_eq!(code(&day2(&["init", p])), 0);
    assert_eq!(code(&day2(&["init", p])), 2, "refuses to overwrite");
    let out = day2(&["check", "--config", p, "examples/fleet/k8s/shop/storefront.yaml", "-o", "json"]);
    assert!(matches!(code(&out), 0 | 1), "{}", String::from_utf8_lossy(&out.stderr));
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "fail_on: urgent\n").unwrap();
    let out = day2(&["check", "--config", bad.to_str().unwrap(), "examples/fleet"]);
    assert_eq!(code(&out), 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.yaml:1:"), "{err}");
}

#[test]
fn usage_errors_exit_2_with_help() {
    let out = day2(&["check", "--output", "pdf", "x"]);
    assert_eq!(code(&out), 2);
    let out = day2(&["check"]);
    assert_eq!(code(&out), 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to scan"));
}

/// Regressions from the first code review (each was reproduced with the binary before the fix).
mod review_regressions {
    use super::*;

    fn piped(args: &[&str], input: &[u8]) -> Output {
        let mut child =
            command(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(input).unwrap();
        child.wait_with_output().unwrap()
    }

    #[test]
    fn terraform_json_on_stdin_is_scanned_as_terraform() {
        let plan = std::fs::read(root().join("examples/fleet/terraform/edge/plan.json")).unwrap();
        let r = json_of(&piped(&["check", "-", "-o", "json"], &plan));
        assert_eq!(r["summary"]["resources"], 5, "four planned resources and the drifted security group");
        assert!(
            r["findings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["resource"] == "tf/stdin/aws_s3_bucket//aws_s3_bucket.reports")
        );
    }

    #[test]
    fn state_files_with_the_same_name_do_not_collide() {
        let dir = tempfile::tempdir().unwrap();
        let state = |public: bool| {
            format!(
                r#"{{"version": 4, "terraform_version": "1.11.4", "resources": [{{"mode": "managed", "type": "aws_db_instance", "name": "db", "provider": "provider[\"registry.terraform.io/hashicorp/aws\"]", "instances": [{{"attributes": {{"identifier": "db", "publicly_accessible": {public}, "storage_encrypted": true}}}}]}}]}}"#
            )
        };
        for (env, public) in [("prod", false), ("stage", true)] {
            std::fs::create_dir_all(dir.path().join(env)).unwrap();
            std::fs::write(dir.path().join(env).join("terraform.tfstate"), state(public)).unwrap();
        }
        let r = json_of(&day2(&["check", dir.path().to_str().unwrap(), "-o", "json"]));
        assert_eq!(r["summary"]["resources"], 2, "{r}");
        assert!(r["diagnostics"].as_array().unwrap().is_empty(), "{}", r["diagnostics"]);
        let public: Vec<_> =
            r["findings"].as_array().unwrap().iter().filter(|f| f["rule_id"] == "TF-RDS-002").collect();
        assert_eq!(public.len(), 1);
        assert_eq!(public[0]["resource"], "tf/stage.terraform/aws_db_instance//aws_db_instance.db");
    }

    #[test]
    fn a_run_limited_to_some_checks_resolves_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("s.db");
        let s = store.to_str().unwrap();
        let first = json_of(&day2(&["check", "examples/fleet/k8s/shop/cart.yaml", "--store", s, "-o", "json"]));
        assert!(first["summary"]["new"].as_u64().unwrap() > 5);
        let limited = json_of(&day2(&[
            "check",
            "examples/fleet/k8s/shop/cart.yaml",
            "--store",
            s,
            "--check",
            "K8S-POD-001",
            "-o",
            "json",
        ]));
        assert_eq!(limited["summary"]["resolved"], 0);
    }

    #[test]
    fn an_unwritable_store_still_prints_the_report() {
        let out =
            day2(&["check", "examples/fleet/k8s/shop/cart.yaml", "--store", "/nonexistent/dir/x.db", "-o", "json"]);
        assert_eq!(code(&out), 2);
        assert!(json_of(&out)["findings"].as_array().unwrap().len() > 5);
        assert!(String::from_utf8_lossy(&out.stderr).contains("recording the run in /nonexistent/dir/x.db"));
    }

    #[test]
    fn top_level_arrays_and_byte_order_marks_are_read() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("arr.json"), "\u{feff}[{\"apiVersion\": \"v1\", \"kind\": \"Pod\", \"metadata\": {\"name\": \"a\"}, \"spec\": {\"hostPID\": true, \"containers\": [{\"name\": \"c\", \"image\": \"nginx:1.27\"}]}}]").unwrap();
        let r = json_of(&day2(&["check", dir.path().to_str().unwrap(), "-o", "json"]));
        assert!(r["diagnostics"].as_array().unwrap().is_empty(), "{}", r["diagnostics"]);
        assert!(r["findings"].as_array().unwrap().iter().any(|f| f["rule_id"] == "K8S-POD-002"));
    }
}

#[test]
fn check_live_reports_the_hand_made_deployment_as_live_and_both_sides_once() {
    let report = json_of(&day2(&["check", "-c", "examples/fleet/day2.yaml", "--live", "-o", "json"]));
    let findings = report["findings"].as_array().unwrap();
    let on = |name: &str| -> Vec<&Value> {
        findings.iter().filter(|f| f["resource"].as_str().unwrap().ends_with(&format!("/shop/{name}"))).collect()
    };
    // debug-shell was made by hand in the cluster (examples/fleet/live/generate.py): declared nowhere, checked live.
    let debug = on("debug-shell");
    assert!(debug.len() >= 5, "{debug:#?}");
    assert!(debug.iter().all(|f| f["sides"] == serde_json::json!(["live"]) && f.get("file").is_none()), "{debug:#?}");
    assert!(debug.iter().any(|f| f["domain"] == "security"), "{debug:#?}");
    // cart is declared and runs: each of its problems once, seen on both sides, traced to its file.
    let cart = on("cart");
    assert!(cart.iter().any(|f| f["sides"] == serde_json::json!(["declared", "live"])), "{cart:#?}");
    let ids: std::collections::BTreeSet<&str> = findings.iter().map(|f| f["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), findings.len(), "one finding per problem");
    let both = cart.iter().filter(|f| f["sides"] == serde_json::json!(["declared", "live"]));
    assert!(both.clone().all(|f| f["file"].as_str().is_some_and(|file| file.ends_with("cart.yaml"))), "{cart:#?}");
    // What differs live (the recording runs another image than Git declares) is seen live only.
    assert!(cart.iter().any(|f| f["sides"] == serde_json::json!(["live"]) && f.get("file").is_none()), "{cart:#?}");
    // Without --live, nothing live is read.
    let declared = json_of(&day2(&["check", "-c", "examples/fleet/day2.yaml", "-o", "json"]));
    let names: Vec<&str> =
        declared["sources"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert!(!names.contains(&"live:shop-prod-eu"), "{names:?}");
    assert!(report["sources"].as_array().unwrap().iter().any(|s| s["name"] == "live:shop-prod-eu"));
}
