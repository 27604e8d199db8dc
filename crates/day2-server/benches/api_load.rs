//! API latency under load: `day2 serve` in-process over a store of 10,000 open findings, with 16 clients asking for
//! findings (all open ones, and filtered by severity) as fast as they can for 10 s. Prints throughput and p50 / p90 /
//! p99 / max latency; not a criterion bench, since criterion reports means and this is about the tail.
//!
//! `cargo bench -p day2-server --bench api_load`. Figures in docs/benchmarks.md.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::{Duration, Instant};

use chrono::Utc;
use day2_model::{Finding, Resource, Severity, SourceSummary};
use day2_server::{ServeOptions, serve};
use day2_store::sqlite::SqliteStore;
use day2_store::{RunRecord, Store};
use day2_testkit::build::{finding, resource};

const FINDINGS: usize = 10_000;
const CLIENTS: usize = 16;
const DURATION: Duration = Duration::from_secs(10);

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store_path = dir.path().join("day2.db");
    let resources: Vec<Resource> = (0..FINDINGS).map(|i| resource(&format!("svc-{i}"), "bench")).collect();
    let severities = [Severity::Critical, Severity::High, Severity::Medium, Severity::Low];
    let findings: Vec<Finding> = resources
        .iter()
        .enumerate()
        .map(|(i, r)| Finding { severity: severities[i % 4], ..finding("K8S-POD-001", r) })
        .collect();
    runtime.block_on(async {
        let store = SqliteStore::open(&store_path).await.unwrap();
        let sources = [SourceSummary { name: "bench".into(), complete: true, files: 1, resources: FINDINGS }];
        let rules = ["K8S-POD-001".to_owned()];
        let run = RunRecord {
            started_at: Utc::now(),
            sources: &sources,
            resources: &resources,
            findings: &findings,
            rules_run: &rules,
        };
        store.record_run(&run).await.unwrap();
    });
    // The server's own cycle reads one small manifest (another source, so the bench's findings stay open).
    std::fs::write(dir.path().join("app.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: b}\n")
        .unwrap();
    std::fs::write(
        dir.path().join("day2.yaml"),
        "sources:\n  manifests:\n    - paths: [app.yaml]\n      source_name: app\n",
    )
    .unwrap();
    let port = day2_testkit::free_port().unwrap();
    let options = ServeOptions {
        config: dir.path().join("day2.yaml"),
        listen: format!("127.0.0.1:{port}").parse().unwrap(),
        store: day2_store::StoreLocation::Sqlite(store_path),
        interval: Duration::from_secs(3600),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = runtime.spawn(serve(options, async move {
        let _ = stopped.await;
    }));
    let base = format!("http://127.0.0.1:{port}");
    runtime.block_on(async {
        let client = reqwest::Client::new();
        while client.get(format!("{base}/readyz")).send().await.map(|r| r.status().as_u16()).unwrap_or(0) != 200 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        for (name, path) in [
            ("all open findings (10,000)", "/api/v1/findings"),
            ("critical findings (2,500)", "/api/v1/findings?severity=critical"),
            ("sources", "/api/v1/sources"),
        ] {
            let url = format!("{base}{path}");
            let started = Instant::now();
            let clients = (0..CLIENTS).map(|_| {
                let (client, url) = (client.clone(), url.clone());
                tokio::spawn(async move {
                    let mut latencies = Vec::new();
                    while started.elapsed() < DURATION {
                        let at = Instant::now();
                        let response = client.get(&url).send().await.unwrap();
                        assert!(response.status().is_success());
                        response.bytes().await.unwrap();
                        latencies.push(at.elapsed());
                    }
                    latencies
                })
            });
            let mut latencies: Vec<Duration> = Vec::new();
            for c in clients {
                latencies.extend(c.await.unwrap());
            }
            latencies.sort();
            let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
            println!(
                "{name}: {} requests in {:?} ({:.0}/s) from {CLIENTS} clients; p50 {:?}, p90 {:?}, p99 {:?}, max {:?}",
                latencies.len(),
                started.elapsed(),
                latencies.len() as f64 / started.elapsed().as_secs_f64(),
                at(0.50),
                at(0.90),
                at(0.99),
                latencies[latencies.len() - 1],
            );
        }
    });
    let _ = stop.send(());
    runtime.block_on(server).unwrap().unwrap();
}
