//! Helm chart folders are rendered with `helm template` ([L] 2). No helm package can be installed on the machines
//! this project builds on, so a stand-in `helm` on PATH records the arguments day2 passes and prints
//! `fixtures/chart/rendered.yaml`, which is what `helm template` prints for that chart and values: the call, the
//! values handling and the mapping of findings to template files are what is tested. Kustomize folders are rendered
//! by the real kubectl (day2-collect's `kustomize` test, and the last test here).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde_json::Value;

fn fixtures() -> PathBuf {
    common::root().join("crates/day2-cli/tests/fixtures/chart")
}

/// A folder with a `helm` script that writes its arguments, one per line, to `args.txt` beside it and prints the
/// rendered fixture.
fn stand_in_helm() -> tempfile::TempDir {
    let bin = tempfile::tempdir().unwrap();
    let script = format!(
        "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > '{}/args.txt'\ncat '{}'\n",
        bin.path().display(),
        fixtures().join("rendered.yaml").display()
    );
    let helm = bin.path().join("helm");
    std::fs::write(&helm, script).unwrap();
    std::fs::set_permissions(&helm, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

fn check_with_path(path_env: &str, args: &[&str]) -> (i32, Value) {
    let out = common::command(args).env("PATH", path_env).output().unwrap();
    (common::code(&out), common::json_of(&out))
}

fn config(dir: &Path) -> PathBuf {
    let chart = fixtures().join("shop");
    let text = format!(
        "sources:\n  - manifests:\n      paths: [{chart}]\n      cluster: prod\n      charts:\n        - path: {chart}\n          release: shop-prod\n          namespace: shop\n          values: [{values}]\n          set: {{image.tag: \"1.4.2\"}}\n",
        chart = chart.display(),
        values = fixtures().join("values-prod.yaml").display()
    );
    let path = dir.join("day2.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_chart_folder_is_rendered_with_its_configured_values_and_findings_name_the_template() {
    let bin = stand_in_helm();
    let work = tempfile::tempdir().unwrap();
    let cfg = config(work.path());
    let path_env = format!("{}:/usr/bin:/bin", bin.path().display());
    let (code, report) = check_with_path(&path_env, &["check", "-c", cfg.to_str().unwrap(), "-o", "json"]);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["diagnostics"], Value::Array(vec![]), "the templates are not read as YAML: {report:#}");
    let chart = fixtures().join("shop").display().to_string();
    let args = std::fs::read_to_string(bin.path().join("args.txt")).unwrap();
    let values = fixtures().join("values-prod.yaml").display().to_string();
    assert_eq!(
        args.lines().collect::<Vec<_>>(),
        [
            "template",
            "--include-crds",
            "--skip-tests",
            "--namespace=shop",
            &format!("--values={values}"),
            "--set=image.tag=1.4.2",
            "--",
            "shop-prod",
            &chart
        ]
    );
    let privileged = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule_id"] == "K8S-POD-001")
        .unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(privileged["resource"], "k8s/prod/apps.Deployment/shop/shop-prod-web");
    assert_eq!(privileged["file"], chart.as_str());
    assert_eq!(privileged["template"], format!("{chart}/templates/deployment.yaml"), "the file to edit");
}

#[test]
fn without_helm_a_chart_is_an_input_error_that_says_what_to_do() {
    let work = tempfile::tempdir().unwrap();
    let cfg = config(work.path());
    let (code, report) = check_with_path("/nonexistent", &["check", "-c", cfg.to_str().unwrap(), "-o", "json"]);
    assert_eq!(code, 2, "{report:#}");
    let diagnostics = report["diagnostics"].as_array().unwrap();
    assert_eq!(diagnostics.len(), 1, "{diagnostics:#?}");
    assert_eq!(diagnostics[0]["kind"], "unreadable");
    assert_eq!(diagnostics[0]["file"], fixtures().join("shop").display().to_string());
    let message = diagnostics[0]["message"].as_str().unwrap();
    assert!(message.contains("`helm` is not on PATH") && message.contains("| day2 check -"), "{message}");
}

#[test]
fn day2_check_on_an_overlay_folder_renders_it_with_kubectl() {
    if std::process::Command::new("kubectl").arg("version").arg("--client").output().is_err() {
        eprintln!("kubectl not installed: skipped");
        return;
    }
    let overlay = common::root().join("crates/day2-collect/tests/fixtures/kustomize/overlays/prod");
    let out = common::day2(&["check", overlay.to_str().unwrap(), "-o", "json"]);
    let report = common::json_of(&out);
    assert_eq!(report["diagnostics"], Value::Array(vec![]), "{report:#}");
    let findings = report["findings"].as_array().unwrap();
    assert!(!findings.is_empty(), "the rendered Deployment is checked");
    assert!(
        findings.iter().all(|f| f["resource"].as_str().unwrap().contains("/shop-prod/prod-checkout")),
        "only the overlay's objects, prefixed and in its namespace: {findings:#?}"
    );
    let base = common::root().join("crates/day2-collect/tests/fixtures/kustomize/base");
    assert!(findings.iter().any(|f| f["template"] == base.join("deployment.yaml").display().to_string()));
}
