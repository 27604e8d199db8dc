//! Drift over generated inventories: N declared Deployments against N live ones (server metadata, defaults, status,
//! managedFields; every tenth edited by hand, every hundredth missing, a hundredth unmanaged), normalised and diffed.
//!
//! `cargo bench -p day2-analyze --bench drift` (all cores). Peak memory: run the bench binary under
//! `/usr/bin/time -v … --bench 100000 --profile-time 3`; the bench prints what the inventories add to resident memory.
//! Figures in docs/benchmarks.md.

#![allow(clippy::indexing_slicing, clippy::panic)]

use chrono::Utc;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use day2_analyze::Context;
use day2_analyze::drift::{Drift, DriftConfig, LiveScope};
use day2_model::{Examined, Inventory, Origin, Provider, Resource, ResourceId, Snapshot};
use serde_json::{Value, json};

/// The allocator the `day2` binary uses, so the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Resident memory of this process (Linux), to say what the inventories cost.
fn resident_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm.split_whitespace().nth(1).and_then(|pages| pages.parse::<usize>().ok()).unwrap_or(0) * 4096
}

fn declared(i: usize) -> Value {
    let ns = ["shop", "payments", "search", "platform"][i % 4];
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": format!("svc-{i}"), "namespace": ns,
            "labels": {"app.kubernetes.io/name": format!("svc-{i}"), "team": format!("team-{}", i % 9)}},
        "spec": {"replicas": 1 + i % 3,
            "selector": {"matchLabels": {"app.kubernetes.io/name": format!("svc-{i}")}},
            "template": {"metadata": {"labels": {"app.kubernetes.io/name": format!("svc-{i}")}},
                "spec": {"serviceAccountName": format!("svc-{i}"), "containers": [{
                    "name": "app", "image": format!("registry.example.com/svc-{i}:1.{}.0", i % 17),
                    "ports": [{"containerPort": 8080}],
                    "env": [{"name": "LOG_LEVEL", "value": "info"}, {"name": "DATABASE_HOST", "value": format!("db-{ns}.internal")}],
                    "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "256Mi"}},
                    "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}}}]}}}
    })
}

/// What the API server returns for `declared(i)`, edited by hand for every tenth object.
fn live(i: usize) -> Value {
    let mut o = declared(i);
    o["metadata"]["uid"] = json!(format!("00000000-0000-0000-0000-{i:012}"));
    o["metadata"]["resourceVersion"] = json!(format!("{}", 1000 + i));
    o["metadata"]["generation"] = json!(2);
    o["metadata"]["creationTimestamp"] = json!("2026-09-14T08:00:00Z");
    o["metadata"]["annotations"] = json!({"deployment.kubernetes.io/revision": "2"});
    o["metadata"]["managedFields"] = json!([{"manager": "kubectl-client-side-apply", "operation": "Update",
        "apiVersion": "apps/v1", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}}}}]);
    let spec = &mut o["spec"];
    spec["revisionHistoryLimit"] = json!(10);
    spec["progressDeadlineSeconds"] = json!(600);
    spec["strategy"] = json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}});
    let pod = &mut spec["template"]["spec"];
    pod["dnsPolicy"] = json!("ClusterFirst");
    pod["restartPolicy"] = json!("Always");
    pod["schedulerName"] = json!("default-scheduler");
    pod["terminationGracePeriodSeconds"] = json!(30);
    let c = &mut pod["containers"][0];
    c["imagePullPolicy"] = json!("IfNotPresent");
    c["terminationMessagePath"] = json!("/dev/termination-log");
    c["ports"][0]["protocol"] = json!("TCP");
    c["resources"]["limits"]["cpu"] = json!("1000m");
    if i.is_multiple_of(10) {
        c["image"] = json!(format!("registry.example.com/svc-{i}:hotfix"));
        o["spec"]["replicas"] = json!(7);
    }
    o["status"] = json!({"observedGeneration": 2, "replicas": 1, "readyReplicas": 1, "availableReplicas": 1});
    o
}

fn resource(i: usize, attrs: Value, declared: bool) -> Resource {
    let ns = ["shop", "payments", "search", "platform"][i % 4];
    let name = format!("svc-{i}");
    Resource {
        id: ResourceId::from_raw(format!("k8s/bench/apps.Deployment/{ns}/{name}")),
        provider: Provider::K8s,
        scope: "bench".to_owned(),
        kind: "apps.Deployment".to_owned(),
        api_version: "apps/v1".to_owned(),
        namespace: ns.to_owned(),
        name,
        labels: Default::default(),
        owner: Default::default(),
        attrs: attrs.into(),
        origin: if declared {
            Origin::Declared {
                file: format!("svc-{i}.yaml"),
                line: 1,
                template: None,
                module: None,
                attributes: Default::default(),
            }
        } else {
            Origin::Live { source: "live:bench".to_owned(), observed_at: Utc::now() }
        },
        source: if declared { "manifests" } else { "live:bench" }.to_owned(),
    }
}

/// N declared and N live objects: 1 % of the declared ones missing live, 1 % of the live ones unmanaged.
fn inventories(n: usize) -> (Inventory, Inventory) {
    let inventory = |resources: Vec<Resource>| {
        Inventory::from_snapshots(vec![Snapshot { resources, complete: true, ..Snapshot::default() }]).0
    };
    let declared_objects = (0..n).map(|i| resource(i, declared(i), true)).collect();
    let live_objects =
        (0..n).map(|i| if i % 100 == 1 { n + i } else { i }).map(|i| resource(i, live(i), false)).collect();
    (inventory(declared_objects), inventory(live_objects))
}

fn bench(c: &mut Criterion) {
    let drift = Drift::new(&DriftConfig::default()).unwrap_or_else(|e| panic!("{e}"));
    let scopes = [LiveScope {
        provider: Provider::K8s,
        scope: "bench".to_owned(),
        complete: true,
        examined: Examined::Everything,
    }];
    let context = Context { now: Utc::now() };
    let mut group = c.benchmark_group("drift");
    group.sample_size(10);
    for n in [10_000, 100_000] {
        let before = resident_bytes();
        let (declared, live) = inventories(n);
        let held = resident_bytes().saturating_sub(before);
        eprintln!("{n} x {n}: the inventories add {} MiB resident, {} bytes per object", held >> 20, held / (2 * n));
        let outcome = drift.compare(&declared, &live, &scopes, &context);
        assert_eq!(outcome.findings.len(), n / 10 + 2 * (n / 100), "changed, missing and unmanaged");
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(n.to_string(), |b| b.iter(|| drift.compare(&declared, &live, &scopes, &context)));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
