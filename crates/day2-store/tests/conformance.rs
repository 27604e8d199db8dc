//! Store conformance: the lifecycle every backend must implement. Each scenario takes `&dyn Store`, so the PostgreSQL
//! backend will run the same functions.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use chrono::{Duration, TimeZone, Utc};
use day2_model::*;
use day2_store::{FindingQuery, RunRecord, Store};

use day2_testkit::build::resource;

fn finding(rule: &str, r: &Resource, status: FindingStatus) -> Finding {
    Finding { status, ..day2_testkit::build::finding(rule, r) }
}

fn source(name: &str, complete: bool) -> SourceSummary {
    SourceSummary { name: name.into(), complete, files: 1, resources: 2 }
}

async fn lifecycle(store: &dyn Store) {
    let t0 = Utc.with_ymd_and_hms(2026, 11, 1, 8, 0, 0).unwrap();
    let (cart, web) = (resource("cart", "m"), resource("web", "m"));
    let resources = vec![cart.clone(), web.clone()];
    let a = finding("K8S-POD-001", &cart, FindingStatus::OPEN);
    let b = finding("K8S-POD-008", &web, FindingStatus::OPEN);
    let complete = [source("m", true)];

    // Run 1: both findings are new.
    let both = vec![a.clone(), b.clone()];
    let o = store.record_run(&RunRecord { started_at: t0, sources: &complete, resources: &resources, findings: &both }).await.unwrap();
    assert_eq!((o.new.len(), o.resolved.len()), (2, 0));

    // Run 2: B is gone from a complete source -> resolved; A keeps its first_seen.
    let t1 = t0 + Duration::hours(1);
    let only_a = vec![a.clone()];
    let o = store.record_run(&RunRecord { started_at: t1, sources: &complete, resources: &resources, findings: &only_a }).await.unwrap();
    assert!(o.new.is_empty());
    assert_eq!(o.resolved.len(), 1);
    assert_eq!(o.resolved[0].id, b.id);
    assert_eq!(o.resolved[0].resolved_at, Some(t1));
    assert_eq!(o.first_seen[&a.id], t0);

    // Run 3: the source failed (incomplete) and saw nothing -> nothing is resolved.
    let t2 = t1 + Duration::hours(1);
    let partial = [source("m", false)];
    let o = store.record_run(&RunRecord { started_at: t2, sources: &partial, resources: &[], findings: &[] }).await.unwrap();
    assert!(o.resolved.is_empty(), "a partial collection must not resolve findings");

    // Run 4: B comes back -> new again, and marked reopened.
    let t3 = t2 + Duration::hours(1);
    let o = store.record_run(&RunRecord { started_at: t3, sources: &complete, resources: &resources, findings: &both }).await.unwrap();
    assert_eq!(o.new, vec![b.id.clone()]);
    assert_eq!(o.reopened, vec![b.id.clone()]);

    // Suppressed findings are stored but only listed on request.
    let s = Suppression { by: "annotation".into(), owner: None, reason: "accepted".into(), expires: None };
    let c = finding("K8S-POD-011", &web, FindingStatus::Suppressed(s));
    let three = vec![a.clone(), b.clone(), c];
    store.record_run(&RunRecord { started_at: t3 + Duration::hours(1), sources: &complete, resources: &resources, findings: &three }).await.unwrap();
    let open = store.findings(&FindingQuery::default()).await.unwrap();
    assert_eq!(open.len(), 2);
    assert_eq!(open.iter().find(|f| f.id == a.id).unwrap().first_seen, t0);
    let all = store.findings(&FindingQuery { include_suppressed: true, include_resolved: true }).await.unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(store.run_count().await.unwrap(), 5);
}

#[tokio::test]
async fn sqlite_lifecycle() {
    let dir = tempfile::tempdir().unwrap();
    let store = day2_store::sqlite::SqliteStore::open(&dir.path().join("day2.db")).await.unwrap();
    lifecycle(&store).await;
    // Reopening the same file sees the same history (migrations are idempotent).
    let again = day2_store::sqlite::SqliteStore::open(&dir.path().join("day2.db")).await.unwrap();
    assert_eq!(again.run_count().await.unwrap(), 5);
}
