//! API latency under load: `day2 serve` in-process over a store of 10,000 open findings, with 16 clients asking as
//! fast as they can for 10 s per endpoint: the first page of open findings (1,000), critical findings (a page of
//! 1,000 of 2,500), and sources. The server runs on its own runtime; the load generator on another (one thread).
//! Prints throughput and p50 / p90 / p99 / max latency for each store: SQLite, then PostgreSQL (a scratch database on
//! the machine's server at 127.0.0.1:5432, skipped when there is none). Not a criterion bench: criterion reports
//! means, and this is about the tail.
//!
//! `cargo bench -p day2-server --bench api_load`. Figures in docs/benchmarks.md.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::{Duration, Instant};

use chrono::Utc;
use day2_model::{Finding, Resource, Severity, SourceSummary};
use day2_server::{ServeOptions, serve};
use day2_store::{RunRecord, StoreLocation};
use day2_testkit::build::{finding, resource};

const FINDINGS: usize = 10_000;
const CLIENTS: usize = 16;
const DURATION: Duration = Duration::from_secs(10);

fn main() {
    let dir = tempfile::tempdir().unwrap();
    run(&dir, "sqlite", StoreLocation::Sqlite(dir.path().join("day2.db")));
    match day2_testkit::postgres::ScratchDatabase::create().unwrap() {
        Some(db) => run(&dir, "postgres", StoreLocation::Postgres(db.url.clone())),
        None => println!("postgres: skipped (no server)"),
    }
}

/// Fills the store, serves it, loads it.
fn run(dir: &tempfile::TempDir, name: &str, store: StoreLocation) {
    let server_runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    server_runtime.block_on(fill(&store));
    // The server's own cycle reads one small manifest (another source, so the bench's findings stay open).
    std::fs::write(dir.path().join("app.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: b}\n")
        .unwrap();
    let config = "sources:\n  - manifests:\n      paths: [app.yaml]\n      source_name: app\n";
    std::fs::write(dir.path().join("day2.yaml"), config).unwrap();
    let port = day2_testkit::free_port().unwrap();
    let options = ServeOptions {
        config: dir.path().join("day2.yaml"),
        listen: format!("127.0.0.1:{port}").parse().unwrap(),
        store,
        interval: Duration::from_secs(3600),
        tls: None,
        allow_anonymous_reads: false,
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = server_runtime.spawn(serve(options, async move {
        let _ = stopped.await;
    }));
    let load = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    load.block_on(generate_load(name, &format!("http://127.0.0.1:{port}")));
    let _ = stop.send(());
    server_runtime.block_on(server).unwrap().unwrap();
}

async fn fill(store: &StoreLocation) {
    let resources: Vec<Resource> = (0..FINDINGS).map(|i| resource(&format!("svc-{i}"), "bench")).collect();
    let severities = [Severity::Critical, Severity::High, Severity::Medium, Severity::Low];
    let findings: Vec<Finding> = resources
        .iter()
        .enumerate()
        .map(|(i, r)| Finding { severity: severities[i % 4], ..finding("K8S-POD-001", r) })
        .collect();
    let sources = [SourceSummary { name: "bench".into(), complete: true, files: 1, resources: FINDINGS }];
    let rules = ["K8S-POD-001".to_owned()];
    let run = RunRecord {
        started_at: Utc::now(),
        sources: &sources,
        resources: &resources,
        findings: &findings,
        rules_run: &rules,
    };
    day2_store::open(store).await.unwrap().record_run(&run).await.unwrap();
}

async fn generate_load(store: &str, base: &str) {
    let client = reqwest::Client::new();
    while client.get(format!("{base}/readyz")).send().await.map(|r| r.status().as_u16()).unwrap_or(0) != 200 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for (name, path) in [
        ("open findings, first page (1,000 of 10,000)", "/api/v1/findings"),
        ("critical findings, first page (1,000 of 2,500)", "/api/v1/findings?severity=critical"),
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
        for c in clients.collect::<Vec<_>>() {
            latencies.extend(c.await.unwrap());
        }
        latencies.sort();
        let at = |q: f64| latencies[((latencies.len() as f64 * q).ceil() as usize).saturating_sub(1)];
        println!(
            "{store}: {name}: {} requests in {:.1?} ({:.0}/s) from {CLIENTS} clients; p50 {:.1?}, p90 {:.1?}, p99 {:.1?}, max {:.1?}",
            latencies.len(),
            started.elapsed(),
            latencies.len() as f64 / started.elapsed().as_secs_f64(),
            at(0.50),
            at(0.90),
            at(0.99),
            at(1.0),
        );
    }
}
