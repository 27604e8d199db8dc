//! The live Kubernetes collector against a local HTTP server speaking the Kubernetes API's wire format
//! (`day2_testkit::kube_api`, written from the public API reference): no real API server can run on this machine.
//! Discovery, paginated lists, the namespaces and kinds filters, Secret masking, and failures that must make the
//! snapshot incomplete rather than look like deletions.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::collections::BTreeSet;

use day2_collect::kubernetes::{KubernetesConfig, collect};
use day2_model::{Examined, Snapshot};
use day2_testkit::kube_api::KubeApi;
use serde_json::{Value, json};

fn object(api_version: &str, kind: &str, namespace: Option<&str>, name: &str, extra: Value) -> Value {
    let mut o = json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": name, "uid": format!("uid-{name}"), "resourceVersion": "1"}});
    if let Some(ns) = namespace {
        o["metadata"]["namespace"] = json!(ns);
    }
    if let (Value::Object(o), Value::Object(extra)) = (&mut o, extra) {
        o.extend(extra);
    }
    o
}

fn fleet() -> Vec<Value> {
    let mut objects = vec![
        object("v1", "Namespace", None, "shop", json!({})),
        object("v1", "Namespace", None, "billing", json!({})),
        object("v1", "Secret", Some("shop"), "db", json!({"type": "Opaque", "data": {"password": "aHVudGVyMg=="}})),
        object("apps/v1", "Deployment", Some("shop"), "web", json!({"spec": {"replicas": 2}})),
        object("v1", "Event", Some("shop"), "web.17a", json!({"reason": "Scheduled"})),
        object("v1", "ConfigMap", Some("billing"), "rates", json!({"data": {"eur": "1"}})),
    ];
    objects.extend((0..5).map(|i| object("v1", "ConfigMap", Some("shop"), &format!("cm-{i}"), json!({"data": {}}))));
    objects
}

fn config(api: &KubeApi, dir: &tempfile::TempDir) -> KubernetesConfig {
    KubernetesConfig {
        cluster: "prod".into(),
        kubeconfig: Some(api.kubeconfig(dir.path(), "prod-admin").unwrap()),
        page_size: 2,
        ..KubernetesConfig::default()
    }
}

fn run(config: &KubernetesConfig) -> Snapshot {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(collect(config))
}

fn ids(snapshot: &Snapshot) -> BTreeSet<String> {
    snapshot.resources.iter().map(|r| r.id.as_str().to_owned()).collect()
}

fn listed(snapshot: &Snapshot) -> (BTreeSet<String>, Option<BTreeSet<String>>) {
    match &snapshot.examined {
        Examined::Listed { kinds, namespaces } => (kinds.clone(), namespaces.clone()),
        other => panic!("not a listing: {other:?}"),
    }
}

#[test]
fn lists_every_served_kind_page_by_page_and_masks_secrets() {
    let api = KubeApi::start(fleet()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let snapshot = run(&config(&api, &dir));
    assert!(snapshot.complete, "{:?}", snapshot.diagnostics);
    assert!(snapshot.diagnostics.is_empty(), "{:?}", snapshot.diagnostics);
    let mut expected: BTreeSet<String> = [
        "k8s/prod/Namespace//shop",
        "k8s/prod/Namespace//billing",
        "k8s/prod/Secret/shop/db",
        "k8s/prod/apps.Deployment/shop/web",
        "k8s/prod/ConfigMap/billing/rates",
    ]
    .map(str::to_owned)
    .into();
    expected.extend((0..5).map(|i| format!("k8s/prod/ConfigMap/shop/cm-{i}")));
    assert_eq!(ids(&snapshot), expected, "events are records, not state: not listed by default");

    // Items arrive without apiVersion/kind; the collector restores them from discovery.
    let web = snapshot.resources.iter().find(|r| r.name == "web").unwrap();
    assert_eq!((web.attrs["apiVersion"].as_str(), web.attrs["kind"].as_str()), (Some("apps/v1"), Some("Deployment")));
    assert_eq!(web.attrs["spec"]["replicas"], 2);
    let secret = snapshot.resources.iter().find(|r| r.kind == "Secret").unwrap();
    assert!(secret.attrs["data"]["password"].as_str().is_some_and(day2_model::redact::is_token));
    assert!(!serde_json::to_string(&snapshot).unwrap().contains("aHVudGVyMg"), "the secret value is gone");

    // Six ConfigMaps in pages of two: three requests, following the server's continue tokens.
    let requests = api.requests();
    let configmaps: Vec<&String> = requests.iter().filter(|r| r.starts_with("/api/v1/configmaps")).collect();
    assert_eq!(configmaps.len(), 3, "{configmaps:?}");
    assert!(configmaps[0].contains("limit=2") && !configmaps[0].contains("continue"), "{configmaps:?}");
    assert!(configmaps[1].contains("continue=day2-fake-2") && configmaps[2].contains("continue=day2-fake-4"));
    // Subresources, kinds that cannot be listed and excluded kinds are never requested.
    for never in ["status", "bindings", "tokenreviews", "events", "endpoints", "endpointslices", "leases"] {
        assert!(!requests.iter().any(|r| r.contains(&format!("/{never}?"))), "{never}: {requests:?}");
    }

    let (kinds, namespaces) = listed(&snapshot);
    assert!(kinds.contains("ConfigMap") && kinds.contains("apps.Deployment") && kinds.contains("batch.CronJob"));
    assert!(!kinds.contains("Event") && !kinds.contains("events.k8s.io.Event") && !kinds.contains("Binding"));
    assert_eq!(namespaces, None);
}

#[test]
fn a_namespaces_filter_lists_namespaced_kinds_in_those_namespaces_only() {
    let api = KubeApi::start(fleet()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let snapshot = run(&KubernetesConfig { namespaces: vec!["shop".into()], ..config(&api, &dir) });
    assert!(snapshot.complete, "{:?}", snapshot.diagnostics);
    let ids = ids(&snapshot);
    assert!(ids.contains("k8s/prod/ConfigMap/shop/cm-0") && !ids.contains("k8s/prod/ConfigMap/billing/rates"));
    assert!(ids.contains("k8s/prod/Namespace//shop"), "cluster-scoped kinds are listed whole");
    assert!(!ids.contains("k8s/prod/Namespace//billing"), "a namespace outside the filter is not examined");
    let requests = api.requests();
    assert!(requests.iter().any(|r| r.starts_with("/api/v1/namespaces/shop/configmaps?")), "{requests:?}");
    assert!(!requests.iter().any(|r| r.starts_with("/api/v1/configmaps")), "{requests:?}");
    assert_eq!(listed(&snapshot).1, Some(["shop".to_owned()].into()));
}

#[test]
fn kinds_can_be_named_by_kind_group_or_resource_and_unknown_ones_are_reported() {
    let api = KubeApi::start(fleet()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // `apps.Deployment` as day2 writes kinds; `events.k8s.io/Event` is excluded by default but asked for by name.
    let kinds = vec!["apps.Deployment".into(), "configmaps".into(), "Gadget".into(), "events.k8s.io/Event".into()];
    let snapshot = run(&KubernetesConfig { kinds, ..config(&api, &dir) });
    let (listed, _) = listed(&snapshot);
    let expected = ["ConfigMap", "apps.Deployment", "events.k8s.io.Event"].map(str::to_owned);
    assert_eq!(listed, expected.into());
    assert!(snapshot.resources.iter().all(|r| r.kind == "ConfigMap" || r.kind == "apps.Deployment"));
    assert_eq!(snapshot.diagnostics.len(), 1, "{:?}", snapshot.diagnostics);
    let text = snapshot.diagnostics[0].to_string();
    assert!(text.starts_with("kubernetes:prod: kinds: `Gadget` is not served"), "{text}");
}

#[test]
fn a_forbidden_kind_makes_the_snapshot_incomplete_and_the_rest_is_kept() {
    let api = KubeApi::start(fleet()).unwrap();
    api.forbid("secrets");
    let dir = tempfile::tempdir().unwrap();
    let snapshot = run(&config(&api, &dir));
    assert!(!snapshot.complete);
    assert_eq!(snapshot.diagnostics.len(), 1, "{:?}", snapshot.diagnostics);
    let text = snapshot.diagnostics[0].to_string();
    assert!(text.contains("cannot list secrets: forbidden") && text.contains("cannot list resource"), "{text}");
    assert!(ids(&snapshot).contains("k8s/prod/apps.Deployment/shop/web"));
    assert!(!listed(&snapshot).0.contains("Secret"), "a kind that was not read is not examined");
}

#[test]
fn an_unavailable_api_group_is_reported_and_the_other_groups_are_read() {
    let mut objects = fleet();
    objects.push(object("metrics.k8s.io/v1beta1", "PodMetrics", Some("shop"), "web-1", json!({"containers": []})));
    let api = KubeApi::start(objects).unwrap();
    api.make_group_unavailable("metrics.k8s.io");
    let dir = tempfile::tempdir().unwrap();
    let snapshot = run(&config(&api, &dir));
    assert!(!snapshot.complete, "kinds that could not be discovered were not read");
    assert_eq!(snapshot.diagnostics.len(), 1, "{:?}", snapshot.diagnostics);
    let text = snapshot.diagnostics[0].to_string();
    assert!(
        text.contains("cannot discover the kinds of metrics.k8s.io/v1beta1")
            && text.contains("unable to handle the request (HTTP 503)"),
        "{text}"
    );
    let ids = ids(&snapshot);
    assert!(ids.contains("k8s/prod/apps.Deployment/shop/web") && ids.contains("k8s/prod/ConfigMap/shop/cm-4"));
    let discovery = api.requests().iter().filter(|r| r.starts_with("/apis/metrics.k8s.io/")).count();
    assert_eq!(discovery, 4, "one request and three retries, then the group is given up");
}

#[test]
fn an_unreachable_cluster_is_a_collection_error_not_an_empty_cluster() {
    let api = KubeApi::start(Vec::new()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&api, &dir);
    drop(api); // Nothing listens there any more.
    config.timeout_seconds = 2;
    let snapshot = run(&config);
    assert!(!snapshot.complete);
    assert!(snapshot.resources.is_empty());
    let text = snapshot.diagnostics[0].to_string();
    assert!(text.starts_with("kubernetes:prod: API discovery failed"), "{text}");
}

#[test]
fn a_broken_kubeconfig_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    std::fs::write(&path, "clusters: [oops\n").unwrap();
    let snapshot = run(&KubernetesConfig { kubeconfig: Some(path), ..KubernetesConfig::default() });
    assert!(!snapshot.complete);
    let text = snapshot.diagnostics[0].to_string();
    assert!(text.contains("cannot load the kubeconfig") && text.contains("kubeconfig"), "{text}");
}
