//! Store conformance: the lifecycle every backend must implement. Each scenario takes `&dyn Store` and runs on SQLite
//! (a temporary file) and on PostgreSQL (a scratch database on the machine's server at 127.0.0.1:5432, created and
//! dropped by the test; skipped with a reason when there is none, except under `DAY2_REQUIRE_POSTGRES`).

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use day2_model::*;
use day2_store::postgres::PgStore;
use day2_store::{FindingQuery, OutboxStore, QueryLimits, RunRecord, RunStore, Store, Transition};
use day2_testkit::postgres::ScratchDatabase;

use day2_testkit::build::resource;

fn finding(rule: &str, r: &Resource, status: FindingStatus) -> Finding {
    Finding { status, ..day2_testkit::build::finding(rule, r) }
}

fn source(name: &str, complete: bool) -> SourceSummary {
    SourceSummary { name: name.into(), complete, files: 1, resources: 2 }
}

async fn lifecycle(store: &dyn Store) {
    // A notifier registered before any run starts at the beginning of the log.
    assert_eq!(store.notifier_cursor("early").await.unwrap(), 0);
    let t0 = Utc.with_ymd_and_hms(2026, 11, 1, 8, 0, 0).unwrap();
    let (cart, web) = (resource("cart", "m"), resource("web", "m"));
    let resources = vec![cart.clone(), web.clone()];
    let a = finding("K8S-POD-001", &cart, FindingStatus::OPEN);
    let b = finding("K8S-POD-008", &web, FindingStatus::OPEN);
    let complete = [source("m", true)];
    let rules: Vec<String> = ["K8S-POD-001", "K8S-POD-008", "K8S-POD-011"].iter().map(|s| (*s).to_owned()).collect();

    // Run 1: both findings are new.
    let both = vec![a.clone(), b.clone()];
    let o = store
        .record_run(&RunRecord {
            started_at: t0,
            sources: &complete,
            resources: &resources,
            findings: &both,
            rules_run: &rules,
        })
        .await
        .unwrap();
    assert_eq!((o.new.len(), o.resolved.len()), (2, 0));

    // Run 2: B is gone from a complete source -> resolved; A keeps its first_seen.
    let t1 = t0 + Duration::hours(1);
    let only_a = vec![a.clone()];
    let o = store
        .record_run(&RunRecord {
            started_at: t1,
            sources: &complete,
            resources: &resources,
            findings: &only_a,
            rules_run: &rules,
        })
        .await
        .unwrap();
    assert!(o.new.is_empty());
    assert_eq!(o.resolved.len(), 1);
    assert_eq!(o.resolved[0].id, b.id);
    assert_eq!(o.resolved[0].resolved_at, Some(t1));
    assert_eq!(o.first_seen[&a.id], t0);

    // Run 3: the source failed (incomplete) and saw nothing -> nothing is resolved.
    let t2 = t1 + Duration::hours(1);
    let partial = [source("m", false)];
    let o = store
        .record_run(&RunRecord { started_at: t2, sources: &partial, resources: &[], findings: &[], rules_run: &rules })
        .await
        .unwrap();
    assert!(o.resolved.is_empty(), "a partial collection must not resolve findings");

    // Run 4: B comes back -> new again, and marked reopened.
    let t3 = t2 + Duration::hours(1);
    let o = store
        .record_run(&RunRecord {
            started_at: t3,
            sources: &complete,
            resources: &resources,
            findings: &both,
            rules_run: &rules,
        })
        .await
        .unwrap();
    assert_eq!(o.new, vec![b.id.clone()]);
    assert_eq!(o.reopened, vec![b.id.clone()]);

    // A run limited to other rules (`--check K8S-POD-011`) sees neither A nor B and must not resolve them.
    let only_011 = vec!["K8S-POD-011".to_owned()];
    let o = store
        .record_run(&RunRecord {
            started_at: t3,
            sources: &complete,
            resources: &resources,
            findings: &[],
            rules_run: &only_011,
        })
        .await
        .unwrap();
    assert!(o.resolved.is_empty(), "findings of rules that did not run stay open: {:?}", o.resolved);

    // Suppressed findings are stored but only listed on request.
    let s = Suppression { by: "annotation".into(), owner: None, reason: "accepted".into(), expires: None };
    let c = finding("K8S-POD-011", &web, FindingStatus::Suppressed(s));
    let three = vec![a.clone(), b.clone(), c];
    store
        .record_run(&RunRecord {
            started_at: t3 + Duration::hours(1),
            sources: &complete,
            resources: &resources,
            findings: &three,
            rules_run: &rules,
        })
        .await
        .unwrap();
    let open = store.findings(&FindingQuery::default()).await.unwrap();
    assert_eq!(open.len(), 2);
    assert_eq!(open.iter().find(|f| f.id == a.id).unwrap().first_seen, t0);
    let all = store.findings(&FindingQuery::all()).await.unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(store.run_count().await.unwrap(), 6);

    // The lifecycle log, in order: both opened, B resolved, B reopened; the suppressed finding opened suppressed.
    let events = store.events_after(0, 100).await.unwrap();
    let log: Vec<(&str, Transition, Option<&str>)> =
        events.iter().map(|e| (e.finding.rule_id.as_str(), e.transition, e.previous.as_deref())).collect();
    assert_eq!(
        log,
        [
            ("K8S-POD-001", Transition::Opened, None),
            ("K8S-POD-008", Transition::Opened, None),
            ("K8S-POD-008", Transition::Resolved, Some("open")),
            ("K8S-POD-008", Transition::Reopened, Some("resolved")),
            ("K8S-POD-011", Transition::Opened, None),
        ]
    );
    assert!(events.windows(2).all(|w| w[0].id < w[1].id));
    assert_eq!(events[2].at, t1);
    assert_eq!(store.events_after(events[3].id, 100).await.unwrap().len(), 1);
    assert_eq!(store.events_after(0, 2).await.unwrap().len(), 2, "limit");

    // Notifier cursors: a new one starts at the newest event (no replay); they only move forward.
    let newest = events[4].id;
    assert_eq!(store.notifier_cursor("late").await.unwrap(), newest);
    assert_eq!(store.notifier_cursor("early").await.unwrap(), 0);
    store.advance_notifier("early", events[2].id).await.unwrap();
    store.advance_notifier("early", events[1].id).await.unwrap();
    assert_eq!(store.notifier_cursor("early").await.unwrap(), events[2].id);

    // An open finding that is suppressed is logged as such, so whoever was told it opened can be told it ended.
    let s = Suppression { by: "config".into(), owner: None, reason: "accepted".into(), expires: None };
    let a_suppressed = vec![finding("K8S-POD-001", &cart, FindingStatus::Suppressed(s)), b.clone()];
    store
        .record_run(&RunRecord {
            started_at: t3 + Duration::hours(2),
            sources: &complete,
            resources: &resources,
            findings: &a_suppressed,
            rules_run: &rules,
        })
        .await
        .unwrap();
    let last = store.events_after(newest, 100).await.unwrap();
    let log: Vec<(&str, Transition, Option<&str>)> =
        last.iter().map(|e| (e.finding.rule_id.as_str(), e.transition, e.previous.as_deref())).collect();
    assert_eq!(
        log,
        [
            ("K8S-POD-001", Transition::Suppressed, Some("open")),
            ("K8S-POD-011", Transition::Resolved, Some("suppressed"))
        ]
    );
}

#[tokio::test]
async fn sqlite_lifecycle() {
    let dir = tempfile::tempdir().unwrap();
    let store = day2_store::sqlite::SqliteStore::open(&dir.path().join("day2.db")).await.unwrap();
    lifecycle(&store).await;
    // Reopening the same file sees the same history (migrations are idempotent).
    let again = day2_store::sqlite::SqliteStore::open(&dir.path().join("day2.db")).await.unwrap();
    assert_eq!(again.run_count().await.unwrap(), 7);
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_lifecycle() {
    let Some(db) = ScratchDatabase::create().unwrap() else { return };
    let store = PgStore::open(&db.url).await.unwrap();
    lifecycle(&store).await;
    let again = PgStore::open(&db.url).await.unwrap();
    assert_eq!(again.run_count().await.unwrap(), 7);
}

async fn source_renames_follow_the_finding(store: &dyn Store) {
    let t0 = Utc.with_ymd_and_hms(2026, 11, 1, 8, 0, 0).unwrap();
    let rules = vec!["K8S-POD-001".to_owned()];
    let old_name = day2_testkit::build::resource("api", "manifests:a.yaml");
    let a = finding("K8S-POD-001", &old_name, FindingStatus::OPEN);
    let sources = [source("manifests:a.yaml", true)];
    store
        .record_run(&RunRecord {
            started_at: t0,
            sources: &sources,
            resources: std::slice::from_ref(&old_name),
            findings: std::slice::from_ref(&a),
            rules_run: &rules,
        })
        .await
        .unwrap();
    // The same file is now scanned under another source name (another path was added to the command line).
    let new_name = day2_testkit::build::resource("api", "manifests:a.yaml,c.yaml");
    let renamed = [source("manifests:a.yaml,c.yaml", true)];
    // The analyzer makes the same finding (same id) about the resource as now read, under its new source.
    let again = finding("K8S-POD-001", &new_name, FindingStatus::OPEN);
    assert_eq!(again.id, a.id);
    store
        .record_run(&RunRecord {
            started_at: t0 + Duration::hours(1),
            sources: &renamed,
            resources: std::slice::from_ref(&new_name),
            findings: std::slice::from_ref(&again),
            rules_run: &rules,
        })
        .await
        .unwrap();
    // Fixed: the finding resolves under the new name.
    let o = store
        .record_run(&RunRecord {
            started_at: t0 + Duration::hours(2),
            sources: &renamed,
            resources: std::slice::from_ref(&new_name),
            findings: &[],
            rules_run: &rules,
        })
        .await
        .unwrap();
    assert_eq!(o.resolved.len(), 1);
}

#[tokio::test]
async fn sqlite_source_renames() {
    let dir = tempfile::tempdir().unwrap();
    let store = day2_store::sqlite::SqliteStore::open(&dir.path().join("day2.db")).await.unwrap();
    source_renames_follow_the_finding(&store).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_source_renames() {
    let Some(db) = ScratchDatabase::create().unwrap() else { return };
    source_renames_follow_the_finding(&PgStore::open(&db.url).await.unwrap()).await;
}

/// `day2 query`: the documented views answer, an empty answer still names its columns, and nothing can write.
async fn read_only_queries(store: &dyn Store) {
    let t0 = Utc.with_ymd_and_hms(2026, 11, 1, 8, 0, 0).unwrap();
    let cart = resource("cart", "m");
    let rules = vec!["K8S-POD-001".to_owned()];
    store
        .record_run(&RunRecord {
            started_at: t0,
            sources: &[source("m", true)],
            resources: std::slice::from_ref(&cart),
            findings: &[finding("K8S-POD-001", &cart, FindingStatus::OPEN)],
            rules_run: &rules,
        })
        .await
        .unwrap();
    let limits = QueryLimits::default();
    let answer = store
        .query("SELECT rule_id, state, severity, line, resolved_at FROM finding_list ORDER BY rule_id", &limits)
        .await
        .unwrap();
    assert_eq!(answer.columns, ["rule_id", "state", "severity", "line", "resolved_at"]);
    assert_eq!(answer.rows.len(), 1);
    assert_eq!(answer.rows[0][0], "K8S-POD-001");
    assert_eq!(answer.rows[0][1], "open");
    assert_eq!(answer.rows[0][4], serde_json::Value::Null);
    let resources = store.query("SELECT count(*) AS n FROM resource_list WHERE name = 'cart'", &limits).await.unwrap();
    assert_eq!(resources.rows, [[serde_json::json!(1)]]);
    let empty = store.query("SELECT id, kind FROM resource_list WHERE name = 'nothing'", &limits).await.unwrap();
    assert_eq!((empty.columns.as_slice(), empty.rows.len()), (["id".to_owned(), "kind".to_owned()].as_slice(), 0));
    for write in ["DELETE FROM findings", "UPDATE findings SET state = 'resolved'", "DROP VIEW finding_list"] {
        let error = store.query(write, &limits).await.unwrap_err().to_string();
        assert!(error.contains("query refused: only a SELECT"), "{write}: {error}");
    }
    assert_eq!(store.query("SELECT count(*) FROM findings", &limits).await.unwrap().rows, [[serde_json::json!(1)]]);
    assert!(store.query("SELECT FROM WHERE", &limits).await.unwrap_err().to_string().contains("cannot parse"));
    let error = store.query("COMMIT; DELETE FROM findings", &limits).await.unwrap_err().to_string();
    assert!(error.contains("2 statements"), "{error}");
    // The row limit cuts and says so; the time limit stops an endless statement.
    let counting = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c";
    let cut = store.query(counting, &QueryLimits { rows: 5, ..QueryLimits::default() }).await.unwrap();
    assert_eq!((cut.rows.len(), cut.truncated), (5, true));
    let endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c";
    let short = QueryLimits { timeout: std::time::Duration::from_millis(300), ..QueryLimits::default() };
    let error = store.query(endless, &short).await.unwrap_err().to_string();
    assert!(error.contains("time limit"), "{error}");
}

#[tokio::test]
async fn sqlite_read_only_queries() {
    let dir = tempfile::tempdir().unwrap();
    let store = day2_store::sqlite::SqliteStore::open(&dir.path().join("day2.db")).await.unwrap();
    read_only_queries(&store).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_read_only_queries() {
    let Some(db) = ScratchDatabase::create().unwrap() else { return };
    let store = PgStore::open(&db.url).await.unwrap();
    read_only_queries(&store).await;
    // Times read as RFC 3339, as on SQLite.
    let answer = store.query("SELECT first_seen FROM finding_list", &QueryLimits::default()).await.unwrap();
    assert_eq!(answer.rows, [[serde_json::json!("2026-11-01T08:00:00+00:00")]]);
}

/// Leases: one holder at a time, renewable by it, taken over only once lapsed, handed over at once when released.
async fn leases(store: &dyn Store) {
    let ttl = std::time::Duration::from_millis(600);
    assert!(store.acquire_lease("job:check", "a", ttl).await.unwrap());
    assert!(!store.acquire_lease("job:check", "b", ttl).await.unwrap(), "held by a");
    assert!(store.acquire_lease("job:drift", "b", ttl).await.unwrap(), "another lease is free");
    assert!(store.acquire_lease("job:check", "a", ttl).await.unwrap(), "a renews");
    let held = store.leases().await.unwrap();
    let holders: Vec<(&str, &str)> = held.iter().map(|l| (l.name.as_str(), l.holder.as_str())).collect();
    assert_eq!(holders, [("job:check", "a"), ("job:drift", "b")]);
    assert!(held[0].expires_at > Utc::now() - Duration::seconds(5));
    // a stops renewing: after the ttl, b takes it, and a cannot take it back while b renews.
    tokio::time::sleep(ttl + std::time::Duration::from_millis(200)).await;
    assert!(store.acquire_lease("job:check", "b", ttl).await.unwrap(), "lapsed, so b takes it");
    assert!(!store.acquire_lease("job:check", "a", ttl).await.unwrap());
    // Released by b (shutdown): a takes it at once; releasing a lease one does not hold changes nothing.
    store.release_lease("job:check", "a").await.unwrap();
    assert!(!store.acquire_lease("job:check", "a", ttl).await.unwrap());
    store.release_lease("job:check", "b").await.unwrap();
    assert!(store.acquire_lease("job:check", "a", ttl).await.unwrap());
}

#[tokio::test]
async fn sqlite_leases() {
    let dir = tempfile::tempdir().unwrap();
    leases(&day2_store::sqlite::SqliteStore::open(&dir.path().join("day2.db")).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_leases() {
    let Some(db) = ScratchDatabase::create().unwrap() else { return };
    leases(&PgStore::open(&db.url).await.unwrap()).await;
}

/// Two writers recording at once (replicas running different jobs): every run lands, and the lifecycle log has no
/// gaps a reader could skip past.
#[tokio::test(flavor = "multi_thread")]
async fn postgres_concurrent_runs_keep_the_log_in_order() {
    let Some(db) = ScratchDatabase::create().unwrap() else { return };
    let store = std::sync::Arc::new(PgStore::open(&db.url).await.unwrap());
    let rules = vec!["K8S-POD-001".to_owned()];
    let writers = (0..4).map(|w| {
        let (store, rules) = (store.clone(), rules.clone());
        tokio::spawn(async move {
            for i in 0..10 {
                let r = resource(&format!("svc-{w}-{i}"), &format!("source-{w}"));
                let f = finding("K8S-POD-001", &r, FindingStatus::OPEN);
                let sources = [source(&format!("source-{w}"), true)];
                let run = RunRecord {
                    started_at: Utc::now(),
                    sources: &sources,
                    resources: std::slice::from_ref(&r),
                    findings: std::slice::from_ref(&f),
                    rules_run: &rules,
                };
                store.record_run(&run).await.unwrap();
            }
        })
    });
    for writer in writers.collect::<Vec<_>>() {
        writer.await.unwrap();
    }
    assert_eq!(store.run_count().await.unwrap(), 40);
    // Each run opens its finding and resolves the previous one of its source: 40 opened, 36 resolved.
    let events = store.events_after(0, 1000).await.unwrap();
    assert_eq!(events.len(), 76);
    let ids: Vec<i64> = events.iter().map(|e| e.id).collect();
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "ids are dense and ordered: {ids:?}");
}

/// Retention: old resolved findings, unseen resources, delivered events and unreferenced runs go; open findings and
/// the events a notifier has not dealt with stay.
async fn retention(store: &dyn Store) {
    let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let rules = vec!["K8S-POD-001".to_owned(), "K8S-POD-008".to_owned()];
    let (old, kept) = (resource("old", "m"), resource("kept", "m"));
    let fixed = finding("K8S-POD-001", &old, FindingStatus::OPEN);
    let open = finding("K8S-POD-008", &kept, FindingStatus::OPEN);
    let sources = [source("m", true)];
    let (sources, rules) = (&sources, &rules);
    let record = |at, resources: Vec<Resource>, findings: Vec<Finding>| async move {
        let run = RunRecord { started_at: at, sources, resources: &resources, findings: &findings, rules_run: rules };
        store.record_run(&run).await.unwrap();
    };
    // A notifier that has dealt with nothing yet holds every event back.
    assert_eq!(store.notifier_cursor("slow").await.unwrap(), 0);
    record(t0, vec![old.clone(), kept.clone()], vec![fixed.clone(), open.clone()]).await;
    record(t0 + Duration::days(1), vec![kept.clone()], vec![open.clone()]).await;
    record(t0 + Duration::days(100), vec![kept.clone()], vec![open.clone()]).await;

    let before = t0 + Duration::days(50);
    let pruned = store.prune(before).await.unwrap();
    assert_eq!((pruned.findings, pruned.resources, pruned.events), (1, 1, 0), "{pruned:?}");
    // Once the notifier has caught up, the fixed finding's events go too (the open one's stay).
    store.advance_notifier("slow", 3).await.unwrap();
    let pruned = store.prune(before).await.unwrap();
    assert_eq!(pruned.events, 2, "{pruned:?}");
    assert_eq!(pruned.runs, 1, "the run that resolved it is referred to by nothing now");
    let all = store.findings(&FindingQuery::all()).await.unwrap();
    assert_eq!(all.iter().map(|f| f.id.as_str()).collect::<Vec<_>>(), [open.id.as_str()]);
    assert_eq!(store.events_after(0, 10).await.unwrap().len(), 1, "the open finding's opening stays");
    assert_eq!(store.prune(before).await.unwrap(), day2_store::Pruned::default(), "nothing more to do");
}

#[tokio::test]
async fn sqlite_retention() {
    let dir = tempfile::tempdir().unwrap();
    retention(&day2_store::sqlite::SqliteStore::open(&dir.path().join("day2.db")).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_retention() {
    let Some(db) = ScratchDatabase::create().unwrap() else { return };
    retention(&PgStore::open(&db.url).await.unwrap()).await;
}

/// Listings filter and page in the database, most severe first, then by file and line.
async fn listing_filters_and_pages(store: &dyn Store) {
    let t0 = Utc.with_ymd_and_hms(2026, 11, 1, 8, 0, 0).unwrap();
    let severities = [Severity::Low, Severity::Critical, Severity::Medium, Severity::Critical, Severity::High];
    let resources: Vec<Resource> = (0..5).map(|i| resource(&format!("svc-{i}"), "m")).collect();
    let findings: Vec<Finding> = resources
        .iter()
        .zip(severities)
        .enumerate()
        .map(|(i, (r, severity))| {
            let mut f = finding("K8S-POD-001", r, FindingStatus::OPEN);
            f.severity = severity;
            f.domain = if i % 2 == 0 { Domain::Security } else { Domain::Reliability };
            f.owner.team = Some(if i < 3 { "shop" } else { "payments" }.to_owned());
            f.file = Some("app.yaml".to_owned());
            f.line = Some(10 - i as u32);
            f
        })
        .collect();
    let rules = vec!["K8S-POD-001".to_owned()];
    let run = RunRecord {
        started_at: t0,
        sources: &[source("m", true)],
        resources: &resources,
        findings: &findings,
        rules_run: &rules,
    };
    store.record_run(&run).await.unwrap();
    let names = |listed: Vec<Finding>| {
        listed.iter().map(|f| f.resource.as_str().rsplit('/').next().unwrap().to_owned()).collect::<Vec<_>>()
    };
    // Critical first (svc-3 is declared on an earlier line than svc-1), then high, medium, low.
    let everything = store.findings(&FindingQuery::default()).await.unwrap();
    assert_eq!(names(everything), ["svc-3", "svc-1", "svc-4", "svc-2", "svc-0"]);
    let page = FindingQuery { limit: Some(2), offset: 1, ..FindingQuery::default() };
    assert_eq!(names(store.findings(&page).await.unwrap()), ["svc-1", "svc-4"]);
    let critical = FindingQuery { severity: Some(Severity::Critical), ..FindingQuery::default() };
    assert_eq!(names(store.findings(&critical).await.unwrap()), ["svc-3", "svc-1"]);
    let shop_security =
        FindingQuery { domain: Some(Domain::Security), team: Some("shop".into()), ..FindingQuery::default() };
    assert_eq!(names(store.findings(&shop_security).await.unwrap()), ["svc-2", "svc-0"]);
    let resolved = FindingQuery { states: vec![day2_store::StoredState::Resolved], ..FindingQuery::default() };
    assert!(store.findings(&resolved).await.unwrap().is_empty());
}

#[tokio::test]
async fn sqlite_listing_filters_and_pages() {
    let dir = tempfile::tempdir().unwrap();
    listing_filters_and_pages(&day2_store::sqlite::SqliteStore::open(&dir.path().join("day2.db")).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_listing_filters_and_pages() {
    let Some(db) = ScratchDatabase::create().unwrap() else { return };
    listing_filters_and_pages(&PgStore::open(&db.url).await.unwrap()).await;
}

/// Resources list by id with filters and pages; coverage keeps the latest measure of each scope.
async fn resources_and_coverage(store: &dyn Store) {
    let t0 = Utc.with_ymd_and_hms(2026, 11, 1, 8, 0, 0).unwrap();
    let mut resources: Vec<Resource> = (0..4).map(|i| resource(&format!("svc-{i}"), "m")).collect();
    resources[1].owner.team = Some("payments".into());
    resources[2].kind = "ConfigMap".into();
    let rules = vec!["K8S-POD-001".to_owned()];
    let run = RunRecord {
        started_at: t0,
        sources: &[source("m", true)],
        resources: &resources,
        findings: &[],
        rules_run: &rules,
    };
    store.record_run(&run).await.unwrap();
    let names = |listed: Vec<day2_store::StoredResource>| listed.into_iter().map(|r| r.name).collect::<Vec<_>>();
    let all = store.resources(&day2_store::ResourceQuery::default()).await.unwrap();
    assert_eq!(all.len(), 4);
    assert_eq!(all[0].first_seen, t0);
    let page = day2_store::ResourceQuery { limit: Some(2), offset: 1, ..Default::default() };
    assert_eq!(names(store.resources(&page).await.unwrap()), ["svc-1", "svc-2"]);
    let payments = day2_store::ResourceQuery { team: Some("payments".into()), ..Default::default() };
    assert_eq!(names(store.resources(&payments).await.unwrap()), ["svc-1"]);
    let config_maps = day2_store::ResourceQuery { kind: Some("ConfigMap".into()), ..Default::default() };
    assert_eq!(names(store.resources(&config_maps).await.unwrap()), ["svc-2"]);

    let measure = |scope: &str, declared| Coverage {
        scope: scope.into(),
        live: 10,
        declared,
        percent: declared as f64 * 10.0,
        complete: true,
    };
    store.record_coverage(t0, &[measure("k8s/prod", 7), measure("aws/1:eu-west-1", 9)]).await.unwrap();
    store.record_coverage(t0 + Duration::hours(1), &[measure("k8s/prod", 8)]).await.unwrap();
    let coverage = store.coverage().await.unwrap();
    let seen: Vec<(&str, usize, DateTime<Utc>)> =
        coverage.iter().map(|c| (c.coverage.scope.as_str(), c.coverage.declared, c.at)).collect();
    assert_eq!(seen, [("aws/1:eu-west-1", 9, t0), ("k8s/prod", 8, t0 + Duration::hours(1))]);
}

#[tokio::test]
async fn sqlite_resources_and_coverage() {
    let dir = tempfile::tempdir().unwrap();
    resources_and_coverage(&day2_store::sqlite::SqliteStore::open(&dir.path().join("day2.db")).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_resources_and_coverage() {
    let Some(db) = ScratchDatabase::create().unwrap() else { return };
    resources_and_coverage(&PgStore::open(&db.url).await.unwrap()).await;
}

/// The topology: relations replaced per complete source and kept for an incomplete one, both sides of an object,
/// and relations pruned with their resources.
async fn topology(store: &dyn Store) {
    let t0 = Utc.with_ymd_and_hms(2026, 11, 1, 8, 0, 0).unwrap();
    let (web, db, cache) = (resource("web", "m"), resource("db", "m"), resource("cache", "other"));
    let live_only = Resource {
        origin: Origin::Live { source: "live:c".into(), observed_at: t0 },
        source: "live:c".into(),
        ..resource("debug", "live:c")
    };
    let live_web = Resource {
        attrs: serde_json::json!({"metadata": {"name": "web"}, "status": {"replicas": 2}}).into(),
        source: "live:c".into(),
        ..web.clone()
    };
    let resources = vec![web.clone(), db.clone(), cache.clone(), live_only.clone()];
    let relate = |from: &Resource, kind, to: &Resource| Relation { from: from.id.clone(), kind, to: to.id.clone() };
    let first = vec![relate(&web, RelationKind::UsesSecret, &db), relate(&cache, RelationKind::Selects, &web)];
    let rules = vec!["R".to_owned()];
    let sources = [source("m", true), source("other", true), source("live:c", true)];
    let record = |at, sources: &'static [SourceSummary], relations: Vec<Relation>, copies: Vec<Resource>| {
        let resources = resources.clone();
        let source_of = |r: &Relation| resources.iter().find(|x| x.id == r.from).unwrap().source.clone();
        let relations: Vec<(Relation, String)> = relations.into_iter().map(|r| (r.clone(), source_of(&r))).collect();
        let rules = rules.clone();
        async move {
            store
                .record_run(&RunRecord {
                    started_at: at,
                    sources,
                    resources: &resources,
                    findings: &[],
                    rules_run: &rules,
                })
                .await
                .unwrap();
            store
                .record_topology(&day2_store::TopologyRecord {
                    started_at: at,
                    sources,
                    relations: &relations,
                    live_copies: &copies,
                })
                .await
                .unwrap();
        }
    };
    let sources: &'static [SourceSummary] = Box::leak(Box::new(sources));
    record(t0, sources, first.clone(), vec![live_web.clone()]).await;
    let mut sorted = first.clone();
    sorted.sort_by(|a, b| a.from.cmp(&b.from));
    assert_eq!(store.relations(None).await.unwrap(), sorted);
    assert_eq!(store.relations(Some(db.id.as_str())).await.unwrap(), [first[0].clone()]);

    // Both sides of web; the live-only object has no declared side.
    let detail = store.resource(web.id.as_str()).await.unwrap().unwrap();
    assert_eq!(detail.resource.side, Some(Side::Declared));
    assert_eq!(detail.declared.unwrap()["metadata"]["name"], "web");
    assert_eq!(detail.live.unwrap()["status"]["replicas"], 2);
    assert_eq!(detail.live_seen, Some(t0));
    let debug = store.resource(live_only.id.as_str()).await.unwrap().unwrap();
    assert_eq!((debug.resource.side, debug.declared.is_none(), debug.live.is_some()), (Some(Side::Live), true, true));
    assert!(store.resource("k8s/nope").await.unwrap().is_none());

    // A complete read of `m` without web → db replaces m's relations; `other`, read partly, keeps its own.
    let t1 = t0 + Duration::hours(1);
    let partial: &'static [SourceSummary] = Box::leak(Box::new([source("m", true), source("other", false)]));
    record(t1, partial, Vec::new(), vec![live_web.clone()]).await;
    assert_eq!(store.relations(None).await.unwrap(), [first[1].clone()]);
    // A complete read of the live source without web's live copy forgets it (web was deleted from the cluster).
    let live_read: &'static [SourceSummary] = Box::leak(Box::new([source("live:c", true)]));
    record(t1, live_read, Vec::new(), Vec::new()).await;
    let detail = store.resource(web.id.as_str()).await.unwrap().unwrap();
    assert_eq!((detail.live.is_none(), detail.live_seen), (true, None));

    // Pruning the resources prunes their relations.
    store.prune(t1 + Duration::days(1)).await.unwrap();
    assert!(store.relations(None).await.unwrap().is_empty());
}

#[tokio::test]
async fn sqlite_topology() {
    let dir = tempfile::tempdir().unwrap();
    topology(&day2_store::sqlite::SqliteStore::open(&dir.path().join("day2.db")).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_topology() {
    let Some(db) = ScratchDatabase::create().unwrap() else { return };
    topology(&PgStore::open(&db.url).await.unwrap()).await;
}

/// Snapshots: the latest per source with a digest that changes only with the contents, in the order asked, round
/// trip whole; every collection is logged; pruning forgets old ones.
async fn snapshots(store: &dyn Store) {
    let t0 = Utc.with_ymd_and_hms(2026, 11, 1, 8, 0, 0).unwrap();
    let snapshot = |source: &str, names: &[&str]| Snapshot {
        source: source.into(),
        resources: names.iter().map(|n| resource(n, source)).collect(),
        complete: true,
        files: names.len(),
        ..Snapshot::default()
    };
    let record = |snapshot: &Snapshot, holder: &str, minutes: i64| -> (Snapshot, String, DateTime<Utc>) {
        (snapshot.clone(), holder.to_owned(), t0 + Duration::minutes(minutes))
    };
    let store_it = |(snapshot, holder, at): (Snapshot, String, DateTime<Utc>)| async move {
        store
            .record_snapshot(&day2_store::SnapshotRecord {
                snapshot: &snapshot,
                side: Side::Declared,
                holder: &holder,
                started_at: at,
                finished_at: at + Duration::seconds(1),
            })
            .await
            .unwrap()
    };
    let m = snapshot("manifests:a", &["web", "db"]);
    assert!(store_it(record(&m, "r1", 0)).await, "the first snapshot of a source is a change");
    assert!(!store_it(record(&m, "r2", 1)).await, "the same contents again are not");
    let heads = store.snapshot_heads().await.unwrap();
    assert_eq!(heads.len(), 1);
    assert_eq!((heads[0].holder.as_str(), heads[0].taken_at), ("r2", t0 + Duration::minutes(1) + Duration::seconds(1)));
    let digest = heads[0].digest.clone();
    assert_eq!(digest.len(), 64);
    let changed = snapshot("manifests:a", &["web"]);
    assert!(store_it(record(&changed, "r2", 2)).await, "one object fewer is a change");
    assert_ne!(store.snapshot_heads().await.unwrap()[0].digest, digest);
    let other = snapshot("kubernetes:prod", &["cache"]);
    assert!(store_it(record(&other, "r3", 3)).await);

    let wanted = ["kubernetes:prod".to_owned(), "never-collected".to_owned(), "manifests:a".to_owned()];
    let read = store.snapshots(&wanted).await.unwrap();
    let read: Vec<(&str, Vec<&str>)> =
        read.iter().map(|s| (s.source.as_str(), s.resources.iter().map(|r| r.name.as_str()).collect())).collect();
    assert_eq!(read, [("kubernetes:prod", vec!["cache"]), ("manifests:a", vec!["web"])]);
    let whole = store.snapshots(&["manifests:a".to_owned()]).await.unwrap();
    assert_eq!(serde_json::to_value(&whole[0]).unwrap(), serde_json::to_value(&changed).unwrap(), "round trip");

    let limits = QueryLimits::default();
    let rows = store.query("SELECT source, holder, changed FROM collections ORDER BY id", &limits).await.unwrap().rows;
    assert_eq!(rows.len(), 4, "every collection is logged: {rows:?}");
    assert_eq!(rows[1][1], serde_json::json!("r2"));

    // SQLite answers booleans as 1 and 0.
    let changed: Vec<bool> =
        rows.iter().map(|r| r[2] == serde_json::json!(true) || r[2] == serde_json::json!(1)).collect();
    assert_eq!(changed, [true, false, true, true], "{rows:?}");

    // A holder whose lease lapsed mid-collection does not overwrite what the new holder stored since.
    let stale = snapshot("manifests:a", &["web", "db", "stale"]);
    let refused = store
        .record_snapshot(&day2_store::SnapshotRecord {
            snapshot: &stale,
            side: Side::Declared,
            holder: "r1",
            started_at: t0 + Duration::minutes(2),
            finished_at: t0 + Duration::minutes(5),
        })
        .await;
    assert!(matches!(refused, Err(day2_store::StoreError::Superseded(_))), "{refused:?}");
    let kept = store.snapshots(&["manifests:a".to_owned()]).await.unwrap();
    assert_eq!(kept[0].resources.len(), 1, "the newer snapshot stays");

    // Live objects carry the time they were read: a read that found the same objects is no change.
    let live = |at: DateTime<Utc>| Snapshot {
        resources: vec![Resource {
            origin: Origin::Live { source: "live:c".into(), observed_at: at },
            ..resource("api", "live:c")
        }],
        ..snapshot("live:c", &[])
    };
    let store_live = |snapshot: Snapshot, at: DateTime<Utc>| async move {
        let record = day2_store::SnapshotRecord {
            snapshot: &snapshot,
            side: Side::Live,
            holder: "r1",
            started_at: at,
            finished_at: at,
        };
        store.record_snapshot(&record).await.unwrap()
    };
    assert!(store_live(live(t0), t0).await);
    assert!(!store_live(live(t0 + Duration::minutes(9)), t0 + Duration::minutes(9)).await, "read again, unchanged");

    // Pruning forgets old collections, never the latest snapshot of a source.
    store.prune(t0 + Duration::minutes(3)).await.unwrap();
    let left: Vec<String> = store.snapshot_heads().await.unwrap().into_iter().map(|h| h.source).collect();
    assert_eq!(left, ["kubernetes:prod", "live:c", "manifests:a"]);
    let rows = store.query("SELECT source FROM collections ORDER BY id", &limits).await.unwrap().rows;
    assert_eq!(rows, [[serde_json::json!("kubernetes:prod")], [serde_json::json!("live:c")]]);
}

#[tokio::test]
async fn sqlite_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    snapshots(&day2_store::sqlite::SqliteStore::open(&dir.path().join("day2.db")).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_snapshots() {
    let Some(db) = ScratchDatabase::create().unwrap() else { return };
    snapshots(&PgStore::open(&db.url).await.unwrap()).await;
}
