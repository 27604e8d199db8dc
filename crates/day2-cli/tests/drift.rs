//! End-to-end tests of `day2 drift` on the example fleet and its recorded live state (examples/fleet/live, generated
//! by examples/fleet/live/generate.py in the shape `kubectl get -A -o yaml` returns: server metadata, managedFields,
//! defaults, status). No Kubernetes API server can run here: these tests read recordings, or serve the recording
//! from a local HTTP server speaking the API's wire format (`day2_testkit::kube_api`). Index:
//! - `example_fleet_*`: exactly the drift the recording contains, and none on the unchanged, defaulted objects, read
//!   from the recording and from the API.
//! - `manager_owned_*`, `incomplete_*`, `store_*`, `suppressions_*`: noise control and lifecycle.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use std::path::Path;

use common::{code, day2, json_of, root};
use serde_json::Value;

fn classes(report: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["status"]["state"] == "open")
        .map(|f| (f["rule_id"].as_str().unwrap().to_owned(), f["resource"].as_str().unwrap().to_owned()))
        .collect();
    out.sort();
    out
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected.iter().map(|(r, id)| ((*r).to_owned(), format!("k8s/shop-prod-eu/{id}"))).collect()
}

#[test]
fn example_fleet_shows_missing_unmanaged_and_changed_and_nothing_else() {
    let out = day2(&["drift", "-c", "examples/fleet/day2.yaml", "-o", "json"]);
    assert_eq!(code(&out), 1, "a missing object is high severity: {}", String::from_utf8_lossy(&out.stderr));
    let report = json_of(&out);
    let mut expected = pairs(&[
        ("DRIFT-CHANGED", "apps.Deployment/shop/cart"),
        ("DRIFT-MISSING", "apps.Deployment/shop/legacy-search"),
        ("DRIFT-UNMANAGED", "ConfigMap/payments/feature-flags"),
        ("DRIFT-UNMANAGED", "apps.Deployment/shop/debug-shell"),
    ]);
    // The edge plan's resource_drift: a rule added to the security group outside Terraform.
    expected.insert(1, ("DRIFT-CHANGED".to_owned(), "tf/edge/aws_security_group//aws_security_group.edge".to_owned()));
    assert_eq!(classes(&report), expected);
    let cart = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["resource"] == "k8s/shop-prod-eu/apps.Deployment/shop/cart")
        .unwrap();
    assert_eq!(cart["file"], "examples/fleet/k8s/shop/cart.yaml");
    assert_eq!(cart["line"], 2);
    let fields: Vec<(&str, &Value, &Value)> = cart["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["path"].as_str().unwrap(), &e["expected"], &e["actual"]))
        .collect();
    assert_eq!(fields.len(), 4, "{fields:#?}");
    assert_eq!(fields[0], ("/metadata/labels/hotfix", &Value::Null, &Value::from("INC-2291")));
    assert_eq!(fields[1].0, "/spec/replicas");
    assert_eq!(fields[2].0, "/spec/template/spec/containers/0/image");
    assert_eq!(fields[3].2["name"], "CART_DEBUG");
    let missing = report["findings"].as_array().unwrap().iter().find(|f| f["rule_id"] == "DRIFT-MISSING").unwrap();
    assert_eq!(
        (missing["file"].as_str(), missing["line"].as_u64()),
        (Some("examples/fleet/k8s/shop/legacy-search.yaml"), Some(3))
    );
    let coverage = &report["coverage"][0];
    assert_eq!(coverage["scope"], "k8s/shop-prod-eu");
    assert_eq!((coverage["declared"].as_u64(), coverage["live"].as_u64()), (Some(25), Some(27)));
    assert!(report["rules"].as_array().unwrap().iter().any(|r| r["id"] == "DRIFT-CHANGED" && r["domain"] == "drift"));

    let table = String::from_utf8_lossy(&day2(&["drift", "-c", "examples/fleet/day2.yaml"]).stdout).into_owned();
    assert!(table.contains("IaC coverage of k8s/shop-prod-eu: 25 of 27 live objects declared (93%)"), "{table}");
}

#[test]
fn example_fleet_read_from_a_cluster_api_shows_the_same_drift() {
    let api =
        day2_testkit::kube_api::KubeApi::start_from_yaml(&root().join("examples/fleet/live/k8s/cluster.yaml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = api.kubeconfig(dir.path(), "shop-prod-eu-admin").unwrap();
    let config = dir.path().join("day2.yaml");
    std::fs::write(&config, "drift:\n  ignore_managers: [kube-controller-manager]\n").unwrap();
    let args = [
        "drift",
        "-c",
        config.to_str().unwrap(),
        "examples/fleet/k8s",
        "examples/fleet/helm",
        "--context",
        "shop-prod-eu-admin",
        "--cluster",
        "shop-prod-eu",
        "-o",
        "json",
    ];
    let out = common::command(&args).env("KUBECONFIG", &kubeconfig).output().unwrap();
    assert_eq!(code(&out), 1, "{}", String::from_utf8_lossy(&out.stderr));
    let report = json_of(&out);
    assert_eq!(
        classes(&report),
        pairs(&[
            ("DRIFT-CHANGED", "apps.Deployment/shop/cart"),
            ("DRIFT-MISSING", "apps.Deployment/shop/legacy-search"),
            ("DRIFT-UNMANAGED", "ConfigMap/payments/feature-flags"),
            ("DRIFT-UNMANAGED", "apps.Deployment/shop/debug-shell"),
        ])
    );
    let cart = report["findings"].as_array().unwrap().iter().find(|f| f["rule_id"] == "DRIFT-CHANGED").unwrap();
    assert_eq!(cart["evidence"].as_array().unwrap().len(), 4, "{cart:#}");
    let coverage = &report["coverage"][0];
    assert_eq!((coverage["declared"].as_u64(), coverage["live"].as_u64()), (Some(25), Some(27)));
    assert_eq!(coverage["complete"], true);
    // The client paged (kubectl's default page is 500; the fleet is small, so one page per kind) and never asked
    // for the kinds that are records rather than state.
    let requests = api.requests();
    assert!(requests.iter().any(|r| r.starts_with("/apis/apps/v1/deployments?") && r.contains("limit=500")));
    assert!(!requests.iter().any(|r| r.contains("/events?")), "{requests:?}");
}

#[test]
fn manager_owned_fields_are_drift_unless_their_manager_is_ignored() {
    // Without the configuration's ignore_managers, the HPA's replica count on storefront is reported.
    let out = day2(&[
        "drift",
        "examples/fleet/k8s",
        "examples/fleet/helm",
        "--live",
        "examples/fleet/live/k8s",
        "--cluster",
        "shop-prod-eu",
        "-o",
        "json",
    ]);
    let report = json_of(&out);
    let storefront = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["resource"] == "k8s/shop-prod-eu/apps.Deployment/shop/storefront")
        .expect("storefront's HPA-set replicas");
    assert_eq!(storefront["evidence"][0]["path"], "/spec/replicas");
    assert_eq!(storefront["evidence"].as_array().unwrap().len(), 1);
}

#[test]
fn incomplete_live_state_reports_nothing_missing() {
    let dir = tempfile::tempdir().unwrap();
    let recording = std::fs::read_to_string(root().join("examples/fleet/live/k8s/cluster.yaml")).unwrap();
    std::fs::write(dir.path().join("cluster.yaml"), recording).unwrap();
    std::fs::write(dir.path().join("broken.yaml"), "items: [unclosed\n").unwrap();
    let live = dir.path().to_str().unwrap();
    let out = day2(&["drift", "examples/fleet/k8s", "--live", live, "--cluster", "shop-prod-eu", "-o", "json"]);
    assert_eq!(code(&out), 2, "the unreadable recording is an input error");
    let report = json_of(&out);
    assert!(classes(&report).iter().all(|(rule, _)| rule != "DRIFT-MISSING"), "{:?}", classes(&report));
    assert_eq!(report["coverage"][0]["complete"], false);
    assert!(
        report["diagnostics"].as_array().unwrap().iter().any(|d| d["file"].as_str().unwrap().ends_with("broken.yaml"))
    );
}

fn config_with(dir: &Path, recording: &Path, extra: &str) -> String {
    let fleet = root().join("examples/fleet");
    let config = dir.join("day2.yaml");
    std::fs::write(
        &config,
        format!(
            "sources:\n  - manifests:\n      paths: [{k8s}, {helm}]\n      cluster: shop-prod-eu\n  - kubernetes:\n      cluster: shop-prod-eu\n      recorded: [{live}]\ndrift:\n  ignore_managers: [kube-controller-manager]\n{extra}",
            k8s = fleet.join("k8s").display(),
            helm = fleet.join("helm").display(),
            live = recording.display(),
        ),
    )
    .unwrap();
    config.to_str().unwrap().to_owned()
}

#[test]
fn store_remembers_drift_and_resolves_what_was_fixed() {
    let dir = tempfile::tempdir().unwrap();
    let recording = dir.path().join("cluster.yaml");
    let text = std::fs::read_to_string(root().join("examples/fleet/live/k8s/cluster.yaml")).unwrap();
    std::fs::write(&recording, &text).unwrap();
    let config = config_with(dir.path(), &recording, "");
    let store = dir.path().join("day2.db");
    let store = store.to_str().unwrap();
    let first = json_of(&day2(&["drift", "-c", &config, "--store", store, "-o", "json"]));
    assert_eq!(first["summary"]["new"], 4);
    // Someone deletes the hand-made debug shell.
    let docs: Value = serde_saphyr::from_str(&text).unwrap();
    let mut docs = docs;
    docs["items"].as_array_mut().unwrap().retain(|o| o["metadata"]["name"] != "debug-shell");
    std::fs::write(&recording, serde_json::to_string(&docs).unwrap()).unwrap();
    let second = json_of(&day2(&["drift", "-c", &config, "--store", store, "-o", "json"]));
    assert_eq!((second["summary"]["new"].as_u64(), second["summary"]["resolved"].as_u64()), (Some(0), Some(1)));
    assert_eq!(second["resolved"][0]["resource"], "k8s/shop-prod-eu/apps.Deployment/shop/debug-shell");
}

#[test]
fn suppressions_with_expiry_apply_to_drift() {
    let dir = tempfile::tempdir().unwrap();
    let recording = root().join("examples/fleet/live/k8s");
    let suppress = |expires: &str| {
        format!(
            "suppressions:\n  - rule: DRIFT-UNMANAGED\n    resource: \"k8s/*/apps.Deployment/shop/debug-shell\"\n    owner: team-shop\n    reason: debugging INC-2291\n    expires: {expires}\n"
        )
    };
    let live_config = config_with(dir.path(), &recording, &suppress("2099-12-31"));
    let report = json_of(&day2(&["drift", "-c", &live_config, "-o", "json"]));
    let shell = |r: &Value| {
        r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["resource"] == "k8s/shop-prod-eu/apps.Deployment/shop/debug-shell")
            .cloned()
            .unwrap()
    };
    assert_eq!(shell(&report)["status"]["state"], "suppressed");
    let expired_config = config_with(dir.path(), &recording, &suppress("2020-01-01"));
    let report = json_of(&day2(&["drift", "-c", &expired_config, "-o", "json"]));
    assert_eq!(shell(&report)["status"]["state"], "open");
    assert_eq!(shell(&report)["status"]["expired_suppression"]["owner"], "team-shop");
}

#[test]
fn a_baseline_hides_accepted_drift_and_shows_new_drift() {
    let dir = tempfile::tempdir().unwrap();
    let recording = dir.path().join("cluster.yaml");
    let text = std::fs::read_to_string(root().join("examples/fleet/live/k8s/cluster.yaml")).unwrap();
    std::fs::write(&recording, &text).unwrap();
    let config = config_with(dir.path(), &recording, "");
    let baseline = dir.path().join("baseline.json");
    let baseline = baseline.to_str().unwrap();
    let written = day2(&["drift", "-c", &config, "--write-baseline", baseline, "-o", "json"]);
    assert_eq!(json_of(&written)["summary"]["active"], 4, "writing a baseline still reports");
    let quiet = day2(&["drift", "-c", &config, "--baseline", baseline, "-o", "json"]);
    assert_eq!(code(&quiet), 0, "everything is accepted");
    assert_eq!(json_of(&quiet)["summary"]["suppressed"], 4);
    // Someone edits cart again: its drift is new.
    let mut docs: Value = serde_saphyr::from_str(&text).unwrap();
    for o in docs["items"].as_array_mut().unwrap() {
        if o["kind"] == "Deployment" && o["metadata"]["name"] == "cart" {
            o["spec"]["replicas"] = Value::from(9);
        }
    }
    std::fs::write(&recording, serde_json::to_string(&docs).unwrap()).unwrap();
    let report = json_of(&day2(&["drift", "-c", &config, "--baseline", baseline, "-o", "json"]));
    assert_eq!(classes(&report), pairs(&[("DRIFT-CHANGED", "apps.Deployment/shop/cart")]));
}

#[test]
fn terraform_plan_resource_drift_is_drift_too() {
    let out = day2(&["drift", "examples/fleet/terraform/edge/plan.json", "-o", "json"]);
    let report = json_of(&out);
    let findings = report["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{findings:#?}");
    let sg = &findings[0];
    assert_eq!(sg["rule_id"], "DRIFT-CHANGED");
    assert_eq!(sg["file"], "examples/fleet/terraform/edge/plan.json");
    assert_eq!(sg["evidence"][0]["path"], "/ingress");
    assert_eq!(sg["evidence"][0]["actual"][1]["cidr_blocks"][0], "0.0.0.0/0");
    assert!(sg["message"].as_str().unwrap().contains("outside Terraform"));
}
