//! End-to-end tests of the policy commands. Index:
//! - `verify_*`: `day2 policy verify` on the bundled gator suites, and a wrong assertion failing the command.
//! - `unit_*`: `day2 policy test` on the bundled conftest tests, and a failing test failing the command.
//! - `check_*`: `day2 check --policy` mixes Rego and built-in findings; broken policies are located errors and the
//!   rest still runs.
//! - `compliance_*`: control-level reports in every format, user frameworks, unknown framework ids.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use std::path::Path;
use std::process::Output;

use common::{code, day2, root};
use serde_json::Value;

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

#[test]
fn verify_bundled_suites_pass() {
    let out = day2(&["policy", "verify", "-v", "policies/gatekeeper"]);
    let text = stdout(&out);
    assert_eq!(code(&out), 0, "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("PASS (13 suites"), "{text}");
    assert!(text.contains("--- PASS: example-disallowed"), "{text}");
}

#[test]
fn verify_fails_on_a_wrong_assertion() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&root().join("policies/gatekeeper/requiredlabels"), dir.path());
    let suite = dir.path().join("suite.yaml");
    let text = std::fs::read_to_string(&suite).unwrap().replacen("violations: no", "violations: 1", 1);
    std::fs::write(&suite, text).unwrap();
    let out = day2(&["policy", "verify", dir.path().to_str().unwrap()]);
    let text = stdout(&out);
    assert_eq!(code(&out), 1, "{text}");
    assert!(text.contains("--- FAIL: "), "{text}");
    assert!(text.contains("expected violations: 1, got 0"), "{text}");
    assert!(text.trim_end().ends_with("cases)") && text.contains("FAIL (1 failed"), "{text}");
}

#[test]
fn unit_bundled_tests_pass() {
    let out = day2(&["policy", "test", "policies/conftest"]);
    let text = stdout(&out);
    assert_eq!(code(&out), 0, "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    let pass = text.lines().find(|l| l.starts_with("PASS: ")).unwrap();
    let (passed, total) = pass.trim_start_matches("PASS: ").split_once('/').unwrap();
    assert_eq!(passed, total);
    assert!(passed.parse::<usize>().unwrap() >= 12, "{text}");
}

#[test]
fn unit_failing_test_fails_the_command() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.rego"), "package main\n\ndeny contains \"no\" if input.bad\n").unwrap();
    std::fs::write(
        dir.path().join("p_test.rego"),
        "package main_test\n\nimport data.main\n\ntest_ok if main.deny[\"no\"] with input as {\"bad\": true}\n\ntest_wrong if main.deny[\"no\"] with input as {}\n",
    )
    .unwrap();
    let out = day2(&["policy", "test", dir.path().to_str().unwrap()]);
    let text = stdout(&out);
    assert_eq!(code(&out), 1, "{text}");
    assert!(text.contains("p_test.rego:7: data.main_test.test_wrong: FAIL"), "{text}");
    assert!(text.contains("PASS: 1/2") && text.contains("FAIL: 1/2"), "{text}");
}

#[test]
fn check_mixes_rego_and_builtin_findings() {
    let out = day2(&[
        "check",
        "examples/fleet",
        "--policy",
        "policies/gatekeeper",
        "--policy",
        "policies/conftest",
        "-o",
        "json",
    ]);
    assert_eq!(code(&out), 1);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let findings = report["findings"].as_array().unwrap();
    assert!(findings.iter().any(|f| f["analyzer"] == "checks"));
    let tag = findings
        .iter()
        .find(|f| f["rule_id"] == "K8sDisallowedTags/container-image-must-not-have-latest-tag")
        .expect("a Gatekeeper finding for cart's :latest image");
    assert_eq!(tag["analyzer"], "rego");
    assert_eq!(tag["file"], "examples/fleet/k8s/shop/cart.yaml");
    assert!(tag["message"].as_str().unwrap().contains("cart:latest"));
    // Deployments reach Pod constraints through their pod template, as with Gatekeeper's expansion.
    assert_eq!(tag["kind"], "apps.Deployment");
    assert!(!tag["controls"].as_array().unwrap().is_empty(), "controls come from the bundled frameworks' checks globs");
    assert!(findings.iter().any(|f| f["rule_id"] == "main.deny"), "conftest rules in package main ran");
    let rules = report["rules"].as_array().unwrap();
    assert!(rules.iter().any(|r| r["id"] == "K8sDisallowedTags/container-image-must-not-have-latest-tag"));
    assert_eq!(report["summary"]["errors"], 0, "{}", report["diagnostics"]);
}

#[test]
fn check_combine_evaluates_conftest_rules_over_all_objects_at_once() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("names.rego"),
        "package main\n\n# METADATA\n# custom:\n#   severity: medium\ndeny contains msg if {\n  some i, j\n  i < j\n  input[i].contents.kind == \"Service\"\n  input[j].contents.kind == \"Service\"\n  input[i].contents.metadata.name == input[j].contents.metadata.name\n  msg := sprintf(\"two Services named %v (%v, %v)\", [input[i].contents.metadata.name, input[i].path, input[j].path])\n}\n",
    )
    .unwrap();
    let manifests = dir.path().join("k8s");
    std::fs::create_dir(&manifests).unwrap();
    for ns in ["a", "b"] {
        std::fs::write(
            manifests.join(format!("{ns}.yaml")),
            format!("apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: {ns}\nspec:\n  ports: [{{port: 80}}]\n"),
        )
        .unwrap();
    }
    let (policy, k8s) = (dir.path().join("names.rego"), manifests.to_str().unwrap().to_owned());
    let run = |extra: &[&str]| {
        let mut args = vec!["check", &k8s, "--policy", policy.to_str().unwrap(), "-o", "json"];
        args.extend_from_slice(extra);
        let report: Value = serde_json::from_slice(&day2(&args).stdout).unwrap();
        report["findings"].as_array().unwrap().iter().filter(|f| f["analyzer"] == "rego").cloned().collect::<Vec<_>>()
    };
    assert!(run(&[]).is_empty(), "each object alone has no twin");
    let combined = run(&["--combine"]);
    assert_eq!(combined.len(), 1, "{combined:#?}");
    assert_eq!(combined[0]["resource"], "k8s/combined/main");
    assert_eq!(combined[0]["severity"], "medium");
    assert!(combined[0]["message"].as_str().unwrap().starts_with("two Services named web"));
}

#[test]
fn check_reports_broken_policies_and_runs_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&root().join("policies/gatekeeper/privileged"), &dir.path().join("privileged"));
    std::fs::write(dir.path().join("broken.rego"), "package main\n\ndeny contains msg if {\n  input.kind ==\n}\n")
        .unwrap();
    std::fs::write(
        dir.path().join("broken-template.yaml"),
        "apiVersion: templates.gatekeeper.sh/v1\nkind: ConstraintTemplate\nmetadata:\n  name: k8sbroken\nspec:\n  crd:\n    spec:\n      names:\n        kind: K8sBroken\n  targets:\n    - target: admission.k8s.gatekeeper.sh\n      rego: |\n        package k8sbroken\n\n        violation[{\"msg\": msg}] {\n          msg := \n        }\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("orphan.yaml"),
        "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: K8sNothing\nmetadata:\n  name: orphan\n",
    )
    .unwrap();
    std::fs::copy(root().join("policies/gatekeeper/requiredlabels/template.yaml"), dir.path().join("labels.yaml"))
        .unwrap();
    std::fs::write(
        dir.path().join("labels-constraint.yaml"),
        "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: K8sRequiredLabels\nmetadata:\n  name: mistyped\nspec:\n  parameters:\n    labels: owner\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("runtime.yaml"),
        "apiVersion: templates.gatekeeper.sh/v1\nkind: ConstraintTemplate\nmetadata:\n  name: k8sruntime\nspec:\n  crd:\n    spec:\n      names:\n        kind: K8sRuntime\n  targets:\n    - target: admission.k8s.gatekeeper.sh\n      rego: |\n        package k8sruntime\n\n        violation[{\"msg\": msg}] {\n          x := yaml.unmarshal(\"a: 1\")\n          msg := sprintf(\"%v\", [x])\n        }\n---\napiVersion: constraints.gatekeeper.sh/v1beta1\nkind: K8sRuntime\nmetadata:\n  name: fails\nspec:\n  match:\n    kinds: [{apiGroups: [\"\"], kinds: [\"Namespace\"]}]\n",
    )
    .unwrap();
    let out = day2(&["check", "examples/fleet", "--policy", dir.path().to_str().unwrap(), "-o", "json"]);
    assert_eq!(code(&out), 2, "policy errors are input errors");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let diagnostics = report["diagnostics"].as_array().unwrap();
    let find = |file: &str| {
        diagnostics
            .iter()
            .find(|d| d["file"].as_str().unwrap().ends_with(file))
            .unwrap_or_else(|| panic!("no diagnostic for {file}: {diagnostics:#?}"))
    };
    let rego = find("broken.rego");
    assert_eq!(rego["kind"], "policy");
    assert!((4..=5).contains(&rego["line"].as_u64().unwrap()), "{rego}");
    assert!(rego["message"].as_str().unwrap().starts_with("Rego does not compile"));
    let template = find("broken-template.yaml");
    assert!((15..=17).contains(&template["line"].as_u64().unwrap()), "the line inside the YAML file: {template}");
    assert!(find("orphan.yaml")["message"].as_str().unwrap().contains("no ConstraintTemplate for kind K8sNothing"));
    let runtime = find("runtime.yaml");
    assert_eq!(runtime["line"], 16, "the failing Rego line, counted in the YAML file: {runtime}");
    let message = runtime["message"].as_str().unwrap();
    assert!(
        message.contains("could not find function yaml.unmarshal") && message.contains("K8sRuntime/fails"),
        "{message}"
    );
    assert_eq!(
        diagnostics.iter().filter(|d| d["file"].as_str().unwrap().ends_with("runtime.yaml")).count(),
        1,
        "reported once, not per object"
    );
    let mistyped = find("labels-constraint.yaml")["message"].as_str().unwrap().to_owned();
    assert!(
        mistyped.contains("does not match its template's parameters schema")
            && mistyped.contains("spec.parameters.labels"),
        "{mistyped}"
    );
    let findings = report["findings"].as_array().unwrap();
    assert!(
        findings.iter().any(|f| f["rule_id"].as_str().unwrap().starts_with("K8sPSPPrivilegedContainer/")),
        "the good template still ran"
    );
    assert!(findings.iter().any(|f| f["analyzer"] == "checks"), "built-in checks still ran");
}

#[test]
fn compliance_report_gives_control_level_results_in_every_format() {
    let out = day2(&[
        "compliance",
        "report",
        "-f",
        "nis2",
        "examples/fleet",
        "--policy",
        "policies/gatekeeper",
        "-o",
        "json",
    ]);
    assert_eq!(code(&out), 1, "a failing control fails the command");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["framework"], "nis2");
    let controls = report["controls"].as_array().unwrap();
    assert_eq!(controls.len(), 10);
    let supply_chain = controls.iter().find(|c| c["id"] == "21(2)(d)").unwrap();
    assert_eq!(supply_chain["status"], "fail");
    assert!(
        supply_chain["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["rule_id"].as_str().unwrap().starts_with("K8sAllowedRepos/")),
        "Rego findings are evidence through the framework's checks globs"
    );
    let training = controls.iter().find(|c| c["id"] == "21(2)(g)").unwrap();
    assert_eq!(training["status"], "not-applicable");
    let summary = &report["summary"];
    let total = summary["pass"].as_u64().unwrap()
        + summary["fail"].as_u64().unwrap()
        + summary["partial"].as_u64().unwrap()
        + summary["not_applicable"].as_u64().unwrap();
    assert_eq!(total, 10);

    let md = stdout(&day2(&["compliance", "report", "-f", "cis-k8s", "examples/fleet", "-o", "markdown"]));
    assert!(md.starts_with("# CIS") && md.contains("| 5.2.2 |"), "{md}");
    let html = stdout(&day2(&["compliance", "report", "-f", "pss-restricted", "examples/fleet", "-o", "html"]));
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("<table>") && html.trim_end().ends_with("</html>"));
    let table = stdout(&day2(&["compliance", "report", "-f", "dora", "examples/fleet"]));
    assert!(table.contains("not applicable") && table.contains("controls —"), "{table}");
}

#[test]
fn compliance_accepts_user_frameworks_and_names_unknown_ones() {
    let out = day2(&[
        "compliance",
        "report",
        "-f",
        "policies/compliance/examples/acme-baseline.yaml",
        "examples/fleet",
        "-o",
        "json",
    ]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["framework"], "acme-baseline");
    assert!(report["controls"].as_array().unwrap().iter().any(|c| c["status"] == "fail"));

    let out = day2(&["compliance", "report", "-f", "iso-27001", "examples/fleet"]);
    assert_eq!(code(&out), 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown framework `iso-27001`") && err.contains("nis2"), "{err}");
    let list = stdout(&day2(&["compliance", "list"]));
    assert_eq!(list.lines().count(), 8, "{list}");
}
