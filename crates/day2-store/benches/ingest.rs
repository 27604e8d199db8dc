//! Findings ingested per second: one run of N resources and N findings recorded into an empty store (inserts), and
//! the same run recorded again (the steady state of `day2 serve`: every finding seen again, updated in place). Into
//! SQLite (a temporary file) and PostgreSQL (scratch databases on the machine's server, 127.0.0.1:5432; skipped when
//! there is none).
//!
//! `cargo bench -p day2-store --bench ingest`. Figures in docs/benchmarks.md.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use chrono::Utc;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use day2_model::{Finding, Resource, SourceSummary};
use day2_store::postgres::PgStore;
use day2_store::sqlite::SqliteStore;
use day2_store::{RunRecord, Store};
use day2_testkit::build::{finding, resource};
use day2_testkit::postgres::ScratchDatabase;

const N: usize = 10_000;

fn fleet() -> (Vec<Resource>, Vec<Finding>, Vec<String>) {
    let resources: Vec<Resource> = (0..N).map(|i| resource(&format!("svc-{i}"), "manifests")).collect();
    let rules = ["K8S-POD-001", "K8S-POD-008", "K8S-POD-011"];
    let findings = resources.iter().enumerate().map(|(i, r)| finding(rules[i % 3], r)).collect();
    (resources, findings, rules.iter().map(|r| (*r).to_owned()).collect())
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let (resources, findings, rules) = fleet();
    let sources = [SourceSummary { name: "manifests".into(), complete: true, files: N, resources: N }];
    let record = |store: &dyn Store| {
        let run = RunRecord {
            started_at: Utc::now(),
            sources: &sources,
            resources: &resources,
            findings: &findings,
            rules_run: &rules,
        };
        runtime.block_on(store.record_run(&run)).unwrap();
    };
    let mut group = c.benchmark_group("ingest");
    group.sample_size(10);
    group.throughput(Throughput::Elements(N as u64));
    group.bench_function("sqlite/new", |b| {
        b.iter_batched(
            || {
                let dir = tempfile::tempdir().unwrap();
                let store = runtime.block_on(SqliteStore::open(&dir.path().join("day2.db"))).unwrap();
                (dir, store)
            },
            |(_dir, store)| record(&store),
            BatchSize::PerIteration,
        );
    });
    let dir = tempfile::tempdir().unwrap();
    let store = runtime.block_on(SqliteStore::open(&dir.path().join("day2.db"))).unwrap();
    record(&store);
    group.bench_function("sqlite/seen-again", |b| b.iter(|| record(&store)));
    if let Some(db) = ScratchDatabase::create().unwrap() {
        // Each fresh store is an emptied database: dropping and creating one per iteration would time PostgreSQL's
        // CREATE DATABASE too.
        let store = runtime.block_on(PgStore::open(&db.url)).unwrap();
        let empty = "TRUNCATE runs, resources, findings, finding_events RESTART IDENTITY";
        group.bench_function("postgres/new", |b| {
            b.iter_batched(|| db.execute(empty).unwrap(), |()| record(&store), BatchSize::PerIteration);
        });
        record(&store);
        group.bench_function("postgres/seen-again", |b| b.iter(|| record(&store)));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
