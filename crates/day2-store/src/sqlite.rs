//! The embedded SQLite store (sqlx, runtime queries, WAL journal). Schema: `migrations/sqlite/`.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use day2_model::{Coverage, Finding, Relation};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, Sqlite, Transaction};

use crate::lifecycle::{self, Logged, Prior, Unresolved, json};
use crate::{
    FindingEvent, FindingQuery, Lease, LeaseStore, OutboxStore, Pruned, QueryLimits, QueryResult, ResourceDetail,
    ResourceQuery, RunOutcome, RunRecord, RunStore, SnapshotHead, SnapshotRecord, SnapshotStore, StoreError,
    StoredCoverage, StoredResource, StoredState, TopologyRecord,
};

/// A store in one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// The file, which `query` opens read-only on a connection of its own.
    path: std::path::PathBuf,
}

fn query_err(e: sqlx::Error) -> StoreError {
    StoreError::Query(e.to_string())
}

fn parse_time(text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&Utc)).map_err(|e| StoreError::Decode(e.to_string()))
}

async fn insert_event(
    tx: &mut Transaction<'_, Sqlite>,
    run_id: i64,
    at: &str,
    event: &Logged,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO finding_events (finding_id, run_id, at, transition, previous, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .bind(event.finding.id.as_str())
    .bind(run_id)
    .bind(at)
    .bind(event.transition.as_str())
    .bind(event.previous.map(StoredState::as_str))
    .bind(json(&event.finding)?)
    .execute(&mut **tx)
    .await
    .map_err(query_err)?;
    Ok(())
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and applies migrations.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let open_err = |e: &dyn std::fmt::Display| StoreError::Open {
            location: path.display().to_string(),
            message: e.to_string(),
        };
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new().max_connections(4).connect_with(options).await.map_err(|e| open_err(&e))?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await.map_err(|e| open_err(&e))?;
        Ok(SqliteStore { pool, path: path.to_owned() })
    }

    async fn upsert_resources(
        tx: &mut Transaction<'_, Sqlite>,
        run: &RunRecord<'_>,
        run_id: i64,
        now: &str,
    ) -> Result<(), StoreError> {
        for r in run.resources {
            sqlx::query(
                "INSERT INTO resources (id, source, provider, kind, namespace, name, owner, attrs, first_seen, last_seen, last_run, side)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?10, ?11)
                 ON CONFLICT(id) DO UPDATE SET source = ?2, owner = ?7, attrs = ?8, last_seen = ?9, last_run = ?10, side = ?11",
            )
            .bind(r.id.as_str())
            .bind(&r.source)
            .bind(r.provider.as_str())
            .bind(&r.kind)
            .bind(&r.namespace)
            .bind(&r.name)
            .bind(json(&r.owner)?)
            .bind(json(&r.attrs)?)
            .bind(now)
            .bind(run_id)
            .bind(r.origin.side().as_str())
            .execute(&mut **tx)
            .await
            .map_err(query_err)?;
        }
        Ok(())
    }
}

/// Relations whose resource at either end was pruned.
const PRUNE_RELATIONS: &str =
    "DELETE FROM relations WHERE from_id NOT IN (SELECT id FROM resources) OR to_id NOT IN (SELECT id FROM resources)";

/// The listing fields of a `resources` row: id, provider, kind, namespace, name, source, owner, first_seen,
/// last_seen, side.
fn stored_resource(row: &sqlx::sqlite::SqliteRow) -> Result<StoredResource, StoreError> {
    Ok(StoredResource {
        id: row.get(0),
        provider: row.get(1),
        kind: row.get(2),
        namespace: row.get(3),
        name: row.get(4),
        source: row.get(5),
        owner: crate::decode(row.get(6))?,
        side: crate::side(row.get(9)),
        first_seen: parse_time(row.get(7))?,
        last_seen: parse_time(row.get(8))?,
    })
}

#[async_trait::async_trait]
impl RunStore for SqliteStore {
    async fn record_run(&self, run: &RunRecord<'_>) -> Result<RunOutcome, StoreError> {
        let now = run.started_at.to_rfc3339();
        let mut tx = self.pool.begin().await.map_err(query_err)?;
        let run_id: i64 = sqlx::query(
            "INSERT INTO runs (started_at, sources, findings, new, resolved) VALUES (?1, ?2, ?3, 0, 0) RETURNING id",
        )
        .bind(&now)
        .bind(json(&run.sources)?)
        .bind(run.findings.len() as i64)
        .fetch_one(&mut *tx)
        .await
        .map_err(query_err)?
        .get(0);
        Self::upsert_resources(&mut tx, run, run_id, &now).await?;

        let findings = lifecycle::distinct_findings(run);
        let mut outcome = RunOutcome { run_id, ..RunOutcome::default() };
        let ids: Vec<&str> = findings.iter().map(|f| f.id.as_str()).collect();
        let mut prior = HashMap::new();
        let rows =
            sqlx::query("SELECT id, state, first_seen FROM findings WHERE id IN (SELECT value FROM json_each(?1))")
                .bind(json(&ids)?)
                .fetch_all(&mut *tx)
                .await
                .map_err(query_err)?;
        for row in rows {
            let first_seen = parse_time(row.get(2))?;
            prior.insert(row.get(0), Prior { state: StoredState::from_stored(row.get(1))?, first_seen });
        }
        let (seen, mut logged) = lifecycle::plan_seen(run, &findings, &prior, &mut outcome);
        for s in &seen {
            let f = &s.finding;
            sqlx::query(
                "INSERT INTO findings (id, rule_id, resource_id, source, severity, domain, state, data, first_seen, last_seen,
                     resolved_at, reopened, last_run, severity_rank, file, line, team)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, NULL, 0, ?11, ?13, ?14, ?15, ?16)
                 ON CONFLICT(id) DO UPDATE SET source = ?4, severity = ?5, state = ?7, data = ?8, last_seen = ?10, resolved_at = NULL,
                     reopened = reopened + ?12, last_run = ?11, severity_rank = ?13, file = ?14, line = ?15, team = ?16",
            )
            .bind(f.id.as_str())
            .bind(&f.rule_id)
            .bind(f.resource.as_str())
            .bind(s.source)
            .bind(f.severity.as_str())
            .bind(f.domain.as_str())
            .bind(s.state.as_str())
            .bind(json(f)?)
            .bind(f.first_seen.to_rfc3339())
            .bind(&now)
            .bind(run_id)
            .bind(i64::from(s.reopened))
            .bind(lifecycle::severity_rank(f.severity))
            .bind(f.file.as_deref())
            .bind(f.line)
            .bind(f.owner.team.as_deref())
            .execute(&mut *tx)
            .await
            .map_err(query_err)?;
        }

        let complete = lifecycle::complete_sources(run);
        let rows = sqlx::query(
            "SELECT id, rule_id, state, data FROM findings
             WHERE source IN (SELECT value FROM json_each(?1)) AND state != 'resolved'",
        )
        .bind(json(&complete)?)
        .fetch_all(&mut *tx)
        .await
        .map_err(query_err)?;
        let candidates = rows.iter().map(|row| {
            Ok(Unresolved {
                id: row.get(0),
                rule_id: row.get(1),
                state: StoredState::from_stored(row.get(2))?,
                data: row.get(3),
            })
        });
        let resolved = lifecycle::plan_resolved(run, &findings, candidates.collect::<Result<_, StoreError>>()?)?;
        for r in &resolved {
            sqlx::query("UPDATE findings SET state = 'resolved', resolved_at = ?2, data = ?3 WHERE id = ?1")
                .bind(r.finding.id.as_str())
                .bind(&now)
                .bind(json(&r.finding)?)
                .execute(&mut *tx)
                .await
                .map_err(query_err)?;
        }
        outcome.resolved = resolved.iter().map(|r| r.finding.clone()).collect();
        logged.extend(resolved);
        for event in &logged {
            insert_event(&mut tx, run_id, &now, event).await?;
        }
        sqlx::query("UPDATE runs SET new = ?2, resolved = ?3 WHERE id = ?1")
            .bind(run_id)
            .bind(outcome.new.len() as i64)
            .bind(outcome.resolved.len() as i64)
            .execute(&mut *tx)
            .await
            .map_err(query_err)?;
        tx.commit().await.map_err(query_err)?;
        Ok(outcome)
    }

    async fn findings(&self, query: &FindingQuery) -> Result<Vec<Finding>, StoreError> {
        let mut select = sqlx::QueryBuilder::<Sqlite>::new(
            "SELECT data, first_seen, last_seen, resolved_at FROM findings WHERE state IN (SELECT value FROM json_each(",
        );
        select.push_bind(json(&query.state_names())?).push("))");
        if let Some(domain) = query.domain {
            select.push(" AND domain = ").push_bind(domain.as_str());
        }
        if let Some(severity) = query.severity {
            select.push(" AND severity = ").push_bind(severity.as_str());
        }
        if let Some(team) = &query.team {
            select.push(" AND team = ").push_bind(team.as_str());
        }
        if let Some(resource) = &query.resource {
            select.push(" AND resource_id = ").push_bind(resource.as_str());
        }
        select.push(lifecycle::LISTING_ORDER);
        // SQLite reads a negative limit as none.
        select.push(" LIMIT ").push_bind(query.limit.map_or(-1, i64::from));
        select.push(" OFFSET ").push_bind(i64::from(query.offset));
        let rows = select.build().fetch_all(&self.pool).await.map_err(query_err)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let data: String = row.get(0);
            let mut f: Finding = serde_json::from_str(&data).map_err(|e| StoreError::Decode(e.to_string()))?;
            f.first_seen = parse_time(row.get(1))?;
            f.last_seen = parse_time(row.get(2))?;
            f.resolved_at = row.get::<Option<&str>, _>(3).map(parse_time).transpose()?;
            out.push(f);
        }
        Ok(out)
    }

    async fn run_count(&self) -> Result<i64, StoreError> {
        sqlx::query("SELECT COUNT(*) FROM runs").fetch_one(&self.pool).await.map(|r| r.get(0)).map_err(query_err)
    }

    async fn redaction_key(&self) -> Result<[u8; 32], StoreError> {
        sqlx::query("INSERT INTO redaction_key (id, key) VALUES (1, ?1) ON CONFLICT (id) DO NOTHING")
            .bind(crate::new_key()?.to_vec())
            .execute(&self.pool)
            .await
            .map_err(query_err)?;
        let row =
            sqlx::query("SELECT key FROM redaction_key WHERE id = 1").fetch_one(&self.pool).await.map_err(query_err)?;
        crate::key_of(&row.get::<Vec<u8>, _>(0))
    }

    async fn query(&self, sql: &str, limits: &QueryLimits) -> Result<QueryResult, StoreError> {
        crate::query::sqlite::run_blocking(self.path.clone(), sql.to_owned(), limits.clone()).await
    }

    async fn resources(&self, query: &ResourceQuery) -> Result<Vec<StoredResource>, StoreError> {
        let mut select = sqlx::QueryBuilder::<Sqlite>::new(
            "SELECT id, provider, kind, namespace, name, source, owner, first_seen, last_seen, side FROM resources WHERE 1 = 1",
        );
        for (column, value) in [
            ("provider", &query.provider),
            ("kind", &query.kind),
            ("namespace", &query.namespace),
            ("json_extract(owner, '$.team')", &query.team),
        ] {
            if let Some(value) = value {
                select.push(format!(" AND {column} = ")).push_bind(value.as_str());
            }
        }
        select.push(" ORDER BY id LIMIT ").push_bind(query.limit.map_or(-1, i64::from));
        select.push(" OFFSET ").push_bind(i64::from(query.offset));
        let rows = select.build().fetch_all(&self.pool).await.map_err(query_err)?;
        rows.iter().map(stored_resource).collect()
    }

    async fn record_topology(&self, topology: &TopologyRecord<'_>) -> Result<(), StoreError> {
        let now = topology.started_at.to_rfc3339();
        let complete = json(&topology.complete())?;
        let mut tx = self.pool.begin().await.map_err(query_err)?;
        for statement in [
            "DELETE FROM relations WHERE source IN (SELECT value FROM json_each(?1))",
            "UPDATE resources SET live_attrs = NULL, live_seen = NULL, live_source = NULL
             WHERE live_source IN (SELECT value FROM json_each(?1))",
        ] {
            sqlx::query(statement).bind(&complete).execute(&mut *tx).await.map_err(query_err)?;
        }
        for (relation, source) in topology.relations {
            sqlx::query(
                "INSERT INTO relations (from_id, kind, to_id, source, seen) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(from_id, kind, to_id) DO UPDATE SET source = ?4, seen = ?5",
            )
            .bind(relation.from.as_str())
            .bind(relation.kind.as_str())
            .bind(relation.to.as_str())
            .bind(source)
            .bind(&now)
            .execute(&mut *tx)
            .await
            .map_err(query_err)?;
        }
        for copy in topology.live_copies {
            sqlx::query("UPDATE resources SET live_attrs = ?2, live_seen = ?3, live_source = ?4 WHERE id = ?1")
                .bind(copy.id.as_str())
                .bind(json(&copy.attrs)?)
                .bind(&now)
                .bind(&copy.source)
                .execute(&mut *tx)
                .await
                .map_err(query_err)?;
        }
        tx.commit().await.map_err(query_err)
    }

    async fn relations(&self, touching: Option<&str>) -> Result<Vec<Relation>, StoreError> {
        let rows = match touching {
            Some(id) => {
                sqlx::query(
                    "SELECT from_id, kind, to_id FROM relations WHERE from_id = ?1 OR to_id = ?1 ORDER BY 1, 2, 3",
                )
                .bind(id)
                .fetch_all(&self.pool)
                .await
            }
            None => {
                sqlx::query("SELECT from_id, kind, to_id FROM relations ORDER BY 1, 2, 3").fetch_all(&self.pool).await
            }
        }
        .map_err(query_err)?;
        rows.iter().map(|row| crate::relation(row.get(0), row.get(1), row.get(2))).collect()
    }

    async fn resource(&self, id: &str) -> Result<Option<ResourceDetail>, StoreError> {
        let row = sqlx::query(
            "SELECT id, provider, kind, namespace, name, source, owner, first_seen, last_seen, side, attrs, live_attrs, live_seen
             FROM resources WHERE id = ?1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(query_err)?;
        let Some(row) = row else { return Ok(None) };
        let resource = stored_resource(&row)?;
        let attrs: serde_json::Value = crate::decode(row.get(10))?;
        let live_attrs: Option<serde_json::Value> = row.get::<Option<&str>, _>(11).map(crate::decode).transpose()?;
        let live_seen = row.get::<Option<&str>, _>(12).map(parse_time).transpose()?;
        Ok(Some(crate::detail(resource, attrs, live_attrs, live_seen)))
    }

    async fn record_coverage(&self, at: DateTime<Utc>, coverage: &[Coverage]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(query_err)?;
        for c in coverage {
            sqlx::query(
                "INSERT INTO coverage (scope, at, live, declared, percent, complete) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(scope) DO UPDATE SET at = ?2, live = ?3, declared = ?4, percent = ?5, complete = ?6",
            )
            .bind(&c.scope)
            .bind(at.to_rfc3339())
            .bind(i64::try_from(c.live).unwrap_or(i64::MAX))
            .bind(i64::try_from(c.declared).unwrap_or(i64::MAX))
            .bind(c.percent)
            .bind(c.complete)
            .execute(&mut *tx)
            .await
            .map_err(query_err)?;
        }
        tx.commit().await.map_err(query_err)
    }

    async fn coverage(&self) -> Result<Vec<StoredCoverage>, StoreError> {
        let rows = sqlx::query("SELECT scope, at, live, declared, percent, complete FROM coverage ORDER BY scope")
            .fetch_all(&self.pool)
            .await
            .map_err(query_err)?;
        rows.iter()
            .map(|row| {
                let coverage = Coverage {
                    scope: row.get(0),
                    live: usize::try_from(row.get::<i64, _>(2)).unwrap_or_default(),
                    declared: usize::try_from(row.get::<i64, _>(3)).unwrap_or_default(),
                    percent: row.get(4),
                    complete: row.get(5),
                };
                Ok(StoredCoverage { coverage, at: parse_time(row.get(1))? })
            })
            .collect()
    }

    async fn prune(&self, before: DateTime<Utc>) -> Result<Pruned, StoreError> {
        let before = before.to_rfc3339();
        let mut tx = self.pool.begin().await.map_err(query_err)?;
        let mut removed = [0u64; 4];
        for (count, statement) in removed.iter_mut().zip([
            "DELETE FROM finding_events WHERE julianday(at) < julianday(?1)
                 AND id <= (SELECT COALESCE(MIN(last_event), 9223372036854775807) FROM notifier_cursors)
                 AND NOT EXISTS (SELECT 1 FROM findings f WHERE f.id = finding_id
                     AND (f.state <> 'resolved' OR julianday(f.resolved_at) >= julianday(?1)))",
            "DELETE FROM findings WHERE state = 'resolved' AND julianday(resolved_at) < julianday(?1)",
            "DELETE FROM resources WHERE julianday(last_seen) < julianday(?1)",
            "DELETE FROM runs WHERE julianday(started_at) < julianday(?1)
                 AND id NOT IN (SELECT last_run FROM resources) AND id NOT IN (SELECT last_run FROM findings)
                 AND id NOT IN (SELECT run_id FROM finding_events)",
        ]) {
            *count = sqlx::query(statement).bind(&before).execute(&mut *tx).await.map_err(query_err)?.rows_affected();
        }
        // Relations go with the resources at either end.
        sqlx::query(PRUNE_RELATIONS).execute(&mut *tx).await.map_err(query_err)?;
        // The collection log (snapshots stay: a source collected less often than the window still has its last).
        sqlx::query("DELETE FROM collections WHERE julianday(finished_at) < julianday(?1)")
            .bind(&before)
            .execute(&mut *tx)
            .await
            .map_err(query_err)?;
        tx.commit().await.map_err(query_err)?;
        let [events, findings, resources, runs] = removed;
        Ok(Pruned { events, findings, resources, runs })
    }
}

#[async_trait::async_trait]
impl OutboxStore for SqliteStore {
    async fn events_after(&self, after: i64, limit: u32) -> Result<Vec<FindingEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, run_id, at, transition, previous, data FROM finding_events WHERE id > ?1 ORDER BY id LIMIT ?2",
        )
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(query_err)?;
        let decode = |e: &dyn std::fmt::Display| StoreError::Decode(e.to_string());
        let events = rows.iter().map(|row| {
            let transition: String = row.get(3);
            let data: String = row.get(5);
            Ok(FindingEvent {
                id: row.get(0),
                run_id: row.get(1),
                at: DateTime::parse_from_rfc3339(&row.get::<String, _>(2)).map_err(|e| decode(&e))?.with_timezone(&Utc),
                transition: serde_json::from_value(serde_json::Value::String(transition)).map_err(|e| decode(&e))?,
                previous: row.get(4),
                finding: serde_json::from_str(&data).map_err(|e| decode(&e))?,
            })
        });
        // One entry this version cannot read must not stop every later one from being delivered.
        Ok(events
            .filter_map(|event: Result<FindingEvent, StoreError>| {
                event.map_err(|e| tracing::error!(error = %e, "Skipping a lifecycle event that cannot be read.")).ok()
            })
            .collect())
    }

    async fn notifier_cursor(&self, notifier: &str) -> Result<i64, StoreError> {
        sqlx::query(
            "INSERT INTO notifier_cursors (notifier, last_event, updated_at)
             VALUES (?1, (SELECT COALESCE(MAX(id), 0) FROM finding_events), ?2) ON CONFLICT(notifier) DO NOTHING",
        )
        .bind(notifier)
        .bind(Utc::now().to_rfc3339())
        .execute(&self.pool)
        .await
        .map_err(query_err)?;
        sqlx::query("SELECT last_event FROM notifier_cursors WHERE notifier = ?1")
            .bind(notifier)
            .fetch_one(&self.pool)
            .await
            .map(|row| row.get(0))
            .map_err(query_err)
    }

    async fn advance_notifier(&self, notifier: &str, event: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO notifier_cursors (notifier, last_event, updated_at) VALUES (?1, ?2, ?3)
             ON CONFLICT(notifier) DO UPDATE SET last_event = MAX(last_event, ?2), updated_at = ?3",
        )
        .bind(notifier)
        .bind(event)
        .bind(Utc::now().to_rfc3339())
        .execute(&self.pool)
        .await
        .map_err(query_err)?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl LeaseStore for SqliteStore {
    async fn acquire_lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        let held = sqlx::query(
            "INSERT INTO leases (name, holder, expires_ms) VALUES (?1, ?2, CAST(unixepoch('subsec') * 1000 AS INTEGER) + ?3)
             ON CONFLICT(name) DO UPDATE SET holder = excluded.holder, expires_ms = excluded.expires_ms
             WHERE leases.holder = excluded.holder OR leases.expires_ms < CAST(unixepoch('subsec') * 1000 AS INTEGER)
             RETURNING holder",
        )
        .bind(name)
        .bind(holder)
        .bind(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX))
        .fetch_optional(&self.pool)
        .await
        .map_err(query_err)?;
        Ok(held.is_some())
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM leases WHERE name = ?1 AND holder = ?2")
            .bind(name)
            .bind(holder)
            .execute(&self.pool)
            .await
            .map_err(query_err)?;
        Ok(())
    }

    async fn leases(&self) -> Result<Vec<Lease>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, holder, expires_ms FROM leases
             WHERE expires_ms >= CAST(unixepoch('subsec') * 1000 AS INTEGER) ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(query_err)?;
        rows.iter()
            .map(|row| {
                let expires_at = Utc
                    .timestamp_millis_opt(row.get(2))
                    .single()
                    .ok_or_else(|| StoreError::Decode("lease expiry out of range".into()))?;
                Ok(Lease { name: row.get(0), holder: row.get(1), expires_at })
            })
            .collect()
    }
}

#[async_trait::async_trait]
impl SnapshotStore for SqliteStore {
    async fn record_snapshot(&self, record: &SnapshotRecord<'_>) -> Result<bool, StoreError> {
        let (data, digest) = record.encode()?;
        let source = record.snapshot.source.as_str();
        // Immediate: the transaction reads before it writes, and collections store side by side; a deferred one
        // would fail (SQLITE_BUSY_SNAPSHOT) instead of waiting when another wrote in between.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(query_err)?;
        let before = sqlx::query("SELECT digest, holder, taken_at FROM snapshots WHERE source = ?1")
            .bind(source)
            .fetch_optional(&mut *tx)
            .await
            .map_err(query_err)?;
        let before = match &before {
            Some(row) => Some((row.get::<String, _>(0), row.get::<String, _>(1), parse_time(row.get(2))?)),
            None => None,
        };
        crate::superseded(record, before.as_ref().map(|(_, holder, at)| (holder.as_str(), *at)))?;
        let changed = before.as_ref().map(|(digest, ..)| digest.as_str()) != Some(digest.as_str());
        let finished_at = record.finished_at.to_rfc3339();
        // The same contents again: only when and by whom (a large snapshot is not rewritten every interval).
        let write = if changed {
            sqlx::query(
                "INSERT INTO snapshots (source, side, digest, taken_at, holder, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(source) DO UPDATE SET side = ?2, digest = ?3, taken_at = ?4, holder = ?5, data = ?6",
            )
            .bind(source)
            .bind(record.side.as_str())
            .bind(&digest)
            .bind(&finished_at)
            .bind(record.holder)
            .bind(&data)
        } else {
            sqlx::query("UPDATE snapshots SET taken_at = ?2, holder = ?3 WHERE source = ?1")
                .bind(source)
                .bind(&finished_at)
                .bind(record.holder)
        };
        write.execute(&mut *tx).await.map_err(query_err)?;
        sqlx::query(
            "INSERT INTO collections (source, holder, started_at, finished_at, complete, resources, changed)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .bind(source)
        .bind(record.holder)
        .bind(record.started_at.to_rfc3339())
        .bind(&finished_at)
        .bind(record.snapshot.complete)
        .bind(i64::try_from(record.snapshot.resources.len()).unwrap_or(i64::MAX))
        .bind(changed)
        .execute(&mut *tx)
        .await
        .map_err(query_err)?;
        tx.commit().await.map_err(query_err)?;
        Ok(changed)
    }

    async fn snapshot_heads(&self) -> Result<Vec<SnapshotHead>, StoreError> {
        let rows = sqlx::query("SELECT source, digest, taken_at, holder FROM snapshots ORDER BY source")
            .fetch_all(&self.pool)
            .await
            .map_err(query_err)?;
        rows.iter()
            .map(|row| {
                Ok(SnapshotHead {
                    source: row.get(0),
                    digest: row.get(1),
                    taken_at: parse_time(row.get(2))?,
                    holder: row.get(3),
                })
            })
            .collect()
    }

    async fn snapshots(&self, sources: &[String]) -> Result<Vec<day2_model::Snapshot>, StoreError> {
        let mut found = Vec::with_capacity(sources.len());
        for source in sources {
            let data: Option<String> = sqlx::query_scalar("SELECT data FROM snapshots WHERE source = ?1")
                .bind(source)
                .fetch_optional(&self.pool)
                .await
                .map_err(query_err)?;
            if let Some(data) = data {
                found.push(crate::parse_snapshot(source, &data));
            }
        }
        Ok(found)
    }
}
