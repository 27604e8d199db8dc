//! Criterion benchmarks of the `day2 check` path: parse + link + check + suppress, on generated corpora.
//! Run: `cargo bench -p day2-engine`. Figures and the whole-binary measurements are in docs/benchmarks.md.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use day2_engine::Config;
use day2_engine::pipeline::{self, Settings};

fn settings(paths: Vec<PathBuf>) -> Settings {
    Settings::new(&Config::default(), &paths, "bench")
}

fn bench_manifests(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let n = 2_000;
    day2_testkit::corpus::write_manifests(dir.path(), n).unwrap();
    let s = settings(vec![dir.path().to_owned()]);
    let mut group = c.benchmark_group("check");
    group.sample_size(10);
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function("manifests_2000_files", |b| b.iter(|| pipeline::run(&s)));

    let plan = dir.path().join("plan.json");
    day2_testkit::corpus::write_plan(&plan, n).unwrap();
    let s = settings(vec![plan]);
    group.bench_function("terraform_plan_2000_resources", |b| b.iter(|| pipeline::run(&s)));
    group.finish();

    let one = day2_testkit::corpus::deployment(3);
    let config = day2_collect::manifests::ManifestsConfig::default();
    c.bench_function("parse_one_deployment", |b| {
        b.iter(|| day2_collect::manifests::parse(&one, "x.yaml", "bench", &config))
    });
}

criterion_group!(benches, bench_manifests);
criterion_main!(benches);
