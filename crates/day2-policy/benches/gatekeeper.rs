//! Gatekeeper-style policies over generated inventories, through day2's full policy path: objects prepared from the
//! inventory (review inputs, implied Pods, `data.inventory`), constraints matched, templates evaluated in parallel,
//! findings built. Throughput is in policy evaluations ((object, constraint) pairs).
//!
//! `cargo bench -p day2-policy --bench gatekeeper` (all cores); `RAYON_NUM_THREADS=1 cargo bench …` for one core.
//! Figures in docs/benchmarks.md.

use std::path::PathBuf;

use chrono::Utc;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use day2_analyze::Context;
use day2_collect::manifests::{self, ManifestsConfig};
use day2_model::{Inventory, Snapshot};
use day2_policy::{Policies, PolicyConfig};

/// The allocator the `day2` binary uses, so the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `n` objects: Deployments from the corpus generator, every fifth with a Service and a ConfigMap.
fn inventory(n: usize) -> Inventory {
    let config = ManifestsConfig::default();
    let mut snapshot = Snapshot { source: "bench".to_owned(), complete: true, ..Snapshot::default() };
    let mut i = 0;
    while snapshot.resources.len() < n {
        let parsed = manifests::parse(&day2_testkit::corpus::deployment(i), &format!("svc-{i}.yaml"), "bench", &config);
        snapshot.resources.extend(parsed.resources);
        i += 1;
    }
    snapshot.resources.truncate(n);
    Inventory::from_snapshots(vec![snapshot]).0
}

fn bench(c: &mut Criterion) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../policies/gatekeeper");
    let (policies, problems) = Policies::load(&PolicyConfig { paths: vec![root], ..PolicyConfig::default() });
    assert!(problems.iter().all(|d| !d.kind.is_error()), "{problems:?}");
    let context = Context { now: Utc::now() };
    let mut group = c.benchmark_group("gatekeeper");
    group.sample_size(10);
    for n in [2_000, 20_000] {
        let inventory = inventory(n);
        let evaluations = policies.run(&inventory, &context).evaluations as u64;
        group.throughput(Throughput::Elements(evaluations));
        group.bench_function(format!("{n}_objects"), |b| b.iter(|| policies.run(&inventory, &context)));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
