//! The shared PostgreSQL store (sqlx, runtime queries). Schema: `migrations/postgres/`.
//!
//! Several `day2 serve` replicas use one database: migrations take sqlx's advisory lock, recording a run takes
//! [`RECORD_LOCK`] so lifecycle events are committed in id order, and leases (judged by the database's clock) say
//! which replica runs which job. Rows are written in bulk (`UNNEST` of arrays), one statement per table per run.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use day2_model::{Coverage, Finding, Relation};
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, Row, Transaction};

use crate::lifecycle::{self, Logged, Prior, Unresolved, json};
use crate::{
    FindingEvent, FindingQuery, Lease, LeaseStore, OutboxStore, Pruned, QueryLimits, QueryResult, ResourceDetail,
    ResourceQuery, RunOutcome, RunRecord, RunStore, SnapshotHead, SnapshotRecord, SnapshotStore, StoreError,
    StoredCoverage, StoredResource, StoredState, TopologyRecord, Transition,
};

/// The listing fields of a `resources` row: id, provider, kind, namespace, name, source, owner, first_seen,
/// last_seen, side.
fn stored_resource(row: &PgRow) -> Result<StoredResource, StoreError> {
    Ok(StoredResource {
        id: row.get(0),
        provider: row.get(1),
        kind: row.get(2),
        namespace: row.get(3),
        name: row.get(4),
        source: row.get(5),
        owner: crate::decode(row.get(6))?,
        side: crate::side(row.get(9)),
        first_seen: row.get(7),
        last_seen: row.get(8),
    })
}

/// Advisory lock key held while a run is recorded ("day2" and 1).
const RECORD_LOCK: i64 = 0x6461_7932_0000_0001;

/// Rows per bulk statement: bounds the size of one message to the server.
const CHUNK: usize = 5_000;

/// A store in one PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

fn query_err(e: sqlx::Error) -> StoreError {
    StoreError::Query(e.to_string())
}

impl PgStore {
    /// Connects to `url` (`postgres://user@host:port/database`) and applies migrations.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let open_err = |e: &dyn std::fmt::Display| StoreError::Open {
            location: crate::StoreLocation::Postgres(url.to_owned()).to_string(),
            message: e.to_string(),
        };
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await
            .map_err(|e| open_err(&e))?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await.map_err(|e| open_err(&e))?;
        crate::query::postgres::ensure_query_login(&pool).await.map_err(|e| open_err(&e))?;
        Ok(PgStore { pool })
    }

    async fn upsert_resources(tx: &mut Transaction<'_, Postgres>, run: &RecordedRun<'_>) -> Result<(), StoreError> {
        // One row per id, the last wins (as repeated upserts would): a statement may not update a row twice.
        let distinct = lifecycle::last_per_id(run.record.resources, |r| r.id.as_str());
        for chunk in distinct.chunks(CHUNK) {
            let mut columns: [Vec<String>; 9] = Default::default();
            for r in chunk {
                let values = [
                    r.id.as_str().to_owned(),
                    r.source.clone(),
                    r.provider.as_str().to_owned(),
                    r.kind.clone(),
                    r.namespace.clone(),
                    r.name.clone(),
                    json(&r.owner)?,
                    json(&r.attrs)?,
                    r.origin.side().as_str().to_owned(),
                ];
                for (column, value) in columns.iter_mut().zip(values) {
                    column.push(value);
                }
            }
            let [id, source, provider, kind, namespace, name, owner, attrs, side] = columns;
            sqlx::query(
                "INSERT INTO resources (id, source, provider, kind, namespace, name, owner, attrs, first_seen, last_seen, last_run, side)
                 SELECT id, source, provider, kind, namespace, name, owner::json, attrs::json, $9, $9, $10, side
                 FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $11::text[])
                     AS r(id, source, provider, kind, namespace, name, owner, attrs, side)
                 ON CONFLICT (id) DO UPDATE SET source = EXCLUDED.source, owner = EXCLUDED.owner, attrs = EXCLUDED.attrs,
                     last_seen = EXCLUDED.last_seen, last_run = EXCLUDED.last_run, side = EXCLUDED.side",
            )
            .bind(id)
            .bind(source)
            .bind(provider)
            .bind(kind)
            .bind(namespace)
            .bind(name)
            .bind(owner)
            .bind(attrs)
            .bind(run.at)
            .bind(run.id)
            .bind(side)
            .execute(&mut **tx)
            .await
            .map_err(query_err)?;
        }
        Ok(())
    }

    async fn upsert_findings(
        tx: &mut Transaction<'_, Postgres>,
        run: &RecordedRun<'_>,
        seen: &[lifecycle::Seen<'_>],
    ) -> Result<(), StoreError> {
        for chunk in seen.chunks(CHUNK) {
            let mut text: [Vec<String>; 8] = Default::default();
            let mut first_seen = Vec::with_capacity(chunk.len());
            let mut reopened = Vec::with_capacity(chunk.len());
            let mut rank = Vec::with_capacity(chunk.len());
            let mut file = Vec::with_capacity(chunk.len());
            let mut line = Vec::with_capacity(chunk.len());
            let mut team = Vec::with_capacity(chunk.len());
            for s in chunk {
                let f = &s.finding;
                let values = [
                    f.id.as_str().to_owned(),
                    f.rule_id.clone(),
                    f.resource.as_str().to_owned(),
                    s.source.to_owned(),
                    f.severity.as_str().to_owned(),
                    f.domain.as_str().to_owned(),
                    s.state.as_str().to_owned(),
                    json(f)?,
                ];
                for (column, value) in text.iter_mut().zip(values) {
                    column.push(value);
                }
                first_seen.push(f.first_seen);
                reopened.push(i64::from(s.reopened));
                rank.push(lifecycle::severity_rank(f.severity));
                file.push(f.file.as_deref());
                line.push(f.line.map(i64::from));
                team.push(f.owner.team.as_deref());
            }
            let [id, rule, resource, source, severity, domain, state, data] = text;
            sqlx::query(
                "INSERT INTO findings (id, rule_id, resource_id, source, severity, domain, state, data, first_seen, last_seen,
                     resolved_at, reopened, last_run, severity_rank, file, line, team)
                 SELECT id, rule_id, resource_id, source, severity, domain, state, data::json, first_seen, $11, NULL, reopened, $12,
                     severity_rank, file, line, team
                 FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
                     $9::timestamptz[], $10::bigint[], $13::smallint[], $14::text[], $15::bigint[], $16::text[])
                     AS f(id, rule_id, resource_id, source, severity, domain, state, data, first_seen, reopened, severity_rank,
                         file, line, team)
                 ON CONFLICT (id) DO UPDATE SET source = EXCLUDED.source, severity = EXCLUDED.severity,
                     state = EXCLUDED.state, data = EXCLUDED.data, last_seen = EXCLUDED.last_seen, resolved_at = NULL,
                     reopened = findings.reopened + EXCLUDED.reopened, last_run = EXCLUDED.last_run,
                     severity_rank = EXCLUDED.severity_rank, file = EXCLUDED.file, line = EXCLUDED.line, team = EXCLUDED.team",
            )
            .bind(id)
            .bind(rule)
            .bind(resource)
            .bind(source)
            .bind(severity)
            .bind(domain)
            .bind(state)
            .bind(data)
            .bind(first_seen)
            .bind(reopened)
            .bind(run.at)
            .bind(run.id)
            .bind(rank)
            .bind(file)
            .bind(line)
            .bind(team)
            .execute(&mut **tx)
            .await
            .map_err(query_err)?;
        }
        Ok(())
    }

    async fn mark_resolved(
        tx: &mut Transaction<'_, Postgres>,
        run: &RecordedRun<'_>,
        resolved: &[Logged],
    ) -> Result<(), StoreError> {
        for chunk in resolved.chunks(CHUNK) {
            let ids: Vec<&str> = chunk.iter().map(|r| r.finding.id.as_str()).collect();
            let data = chunk.iter().map(|r| json(&r.finding)).collect::<Result<Vec<_>, _>>()?;
            sqlx::query(
                "UPDATE findings SET state = 'resolved', resolved_at = $3, data = u.data::json
                 FROM UNNEST($1::text[], $2::text[]) AS u(id, data) WHERE findings.id = u.id",
            )
            .bind(ids)
            .bind(data)
            .bind(run.at)
            .execute(&mut **tx)
            .await
            .map_err(query_err)?;
        }
        Ok(())
    }

    async fn append_events(
        tx: &mut Transaction<'_, Postgres>,
        run: &RecordedRun<'_>,
        events: &[Logged],
    ) -> Result<(), StoreError> {
        for chunk in events.chunks(CHUNK) {
            let ids: Vec<&str> = chunk.iter().map(|e| e.finding.id.as_str()).collect();
            let transitions: Vec<&str> = chunk.iter().map(|e| e.transition.as_str()).collect();
            let previous: Vec<Option<&str>> = chunk.iter().map(|e| e.previous.map(StoredState::as_str)).collect();
            let data = chunk.iter().map(|e| json(&e.finding)).collect::<Result<Vec<_>, _>>()?;
            // ORDER BY the array position: ids are handed out in the order the lifecycle decided.
            sqlx::query(
                "INSERT INTO finding_events (finding_id, run_id, at, transition, previous, data)
                 SELECT finding_id, $5, $6, transition, previous, data::json
                 FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[]) WITH ORDINALITY
                     AS e(finding_id, transition, previous, data, position)
                 ORDER BY position",
            )
            .bind(ids)
            .bind(transitions)
            .bind(previous)
            .bind(data)
            .bind(run.id)
            .bind(run.at)
            .execute(&mut **tx)
            .await
            .map_err(query_err)?;
        }
        Ok(())
    }
}

/// A run being recorded: its id and time with what was handed in.
struct RecordedRun<'a> {
    record: &'a RunRecord<'a>,
    id: i64,
    at: DateTime<Utc>,
}

fn decode_event(row: &PgRow) -> Result<FindingEvent, StoreError> {
    let decode = |e: &dyn std::fmt::Display| StoreError::Decode(e.to_string());
    let transition: String = row.try_get(3).map_err(query_err)?;
    let data: String = row.try_get(5).map_err(query_err)?;
    Ok(FindingEvent {
        id: row.try_get(0).map_err(query_err)?,
        run_id: row.try_get(1).map_err(query_err)?,
        at: row.try_get(2).map_err(query_err)?,
        transition: serde_json::from_value::<Transition>(serde_json::Value::String(transition))
            .map_err(|e| decode(&e))?,
        previous: row.try_get(4).map_err(query_err)?,
        finding: serde_json::from_str(&data).map_err(|e| decode(&e))?,
    })
}

#[async_trait::async_trait]
impl RunStore for PgStore {
    async fn record_run(&self, record: &RunRecord<'_>) -> Result<RunOutcome, StoreError> {
        let mut tx = self.pool.begin().await.map_err(query_err)?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(RECORD_LOCK).execute(&mut *tx).await.map_err(query_err)?;
        let id: i64 = sqlx::query(
            "INSERT INTO runs (started_at, sources, findings, new, resolved) VALUES ($1, $2::json, $3, 0, 0) RETURNING id",
        )
        .bind(record.started_at)
        .bind(json(&record.sources)?)
        .bind(record.findings.len() as i64)
        .fetch_one(&mut *tx)
        .await
        .map_err(query_err)?
        .get(0);
        let run = RecordedRun { record, id, at: record.started_at };
        Self::upsert_resources(&mut tx, &run).await?;

        let findings = lifecycle::distinct_findings(record);
        let ids: Vec<&str> = findings.iter().map(|f| f.id.as_str()).collect();
        let rows = sqlx::query("SELECT id, state, first_seen FROM findings WHERE id = ANY($1)")
            .bind(&ids)
            .fetch_all(&mut *tx)
            .await
            .map_err(query_err)?;
        let mut prior = HashMap::with_capacity(rows.len());
        for row in rows {
            prior.insert(row.get(0), Prior { state: StoredState::from_stored(row.get(1))?, first_seen: row.get(2) });
        }
        let mut outcome = RunOutcome { run_id: id, ..RunOutcome::default() };
        let (seen, mut logged) = lifecycle::plan_seen(record, &findings, &prior, &mut outcome);
        Self::upsert_findings(&mut tx, &run, &seen).await?;

        let complete = lifecycle::complete_sources(record);
        let rows = sqlx::query(
            "SELECT id, rule_id, state, data::text FROM findings WHERE source = ANY($1) AND state <> 'resolved'",
        )
        .bind(&complete)
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
        let resolved = lifecycle::plan_resolved(record, &findings, candidates.collect::<Result<_, StoreError>>()?)?;
        Self::mark_resolved(&mut tx, &run, &resolved).await?;
        outcome.resolved = resolved.iter().map(|r| r.finding.clone()).collect();
        logged.extend(resolved);
        Self::append_events(&mut tx, &run, &logged).await?;
        sqlx::query("UPDATE runs SET new = $2, resolved = $3 WHERE id = $1")
            .bind(id)
            .bind(outcome.new.len() as i64)
            .bind(outcome.resolved.len() as i64)
            .execute(&mut *tx)
            .await
            .map_err(query_err)?;
        tx.commit().await.map_err(query_err)?;
        Ok(outcome)
    }

    async fn findings(&self, query: &FindingQuery) -> Result<Vec<Finding>, StoreError> {
        let mut select = sqlx::QueryBuilder::<Postgres>::new(
            "SELECT data::text, first_seen, last_seen, resolved_at FROM findings WHERE state = ANY(",
        );
        select.push_bind(query.state_names()).push(")");
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
        // LIMIT NULL is no limit.
        select.push(" LIMIT ").push_bind(query.limit.map(i64::from));
        select.push(" OFFSET ").push_bind(i64::from(query.offset));
        let rows = select.build().fetch_all(&self.pool).await.map_err(query_err)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let data: String = row.get(0);
            let mut f: Finding = serde_json::from_str(&data).map_err(|e| StoreError::Decode(e.to_string()))?;
            f.first_seen = row.get(1);
            f.last_seen = row.get(2);
            f.resolved_at = row.get(3);
            out.push(f);
        }
        Ok(out)
    }

    async fn run_count(&self) -> Result<i64, StoreError> {
        sqlx::query("SELECT COUNT(*) FROM runs").fetch_one(&self.pool).await.map(|r| r.get(0)).map_err(query_err)
    }

    async fn redaction_key(&self) -> Result<[u8; 32], StoreError> {
        sqlx::query("INSERT INTO redaction_key (id, key) VALUES (1, $1) ON CONFLICT (id) DO NOTHING")
            .bind(crate::new_key()?.to_vec())
            .execute(&self.pool)
            .await
            .map_err(query_err)?;
        let row =
            sqlx::query("SELECT key FROM redaction_key WHERE id = 1").fetch_one(&self.pool).await.map_err(query_err)?;
        crate::key_of(&row.get::<Vec<u8>, _>(0))
    }

    async fn query(&self, sql: &str, limits: &QueryLimits) -> Result<QueryResult, StoreError> {
        crate::query::postgres::run_pooled(&self.pool, sql, limits).await
    }

    async fn resources(&self, query: &ResourceQuery) -> Result<Vec<StoredResource>, StoreError> {
        let mut select = sqlx::QueryBuilder::<Postgres>::new(
            "SELECT id, provider, kind, namespace, name, source, owner::text, first_seen, last_seen, side FROM resources WHERE true",
        );
        for (column, value) in [
            ("provider", &query.provider),
            ("kind", &query.kind),
            ("namespace", &query.namespace),
            ("owner->>'team'", &query.team),
        ] {
            if let Some(value) = value {
                select.push(format!(" AND {column} = ")).push_bind(value.as_str());
            }
        }
        select.push(" ORDER BY id COLLATE \"C\" LIMIT ").push_bind(query.limit.map(i64::from));
        select.push(" OFFSET ").push_bind(i64::from(query.offset));
        let rows = select.build().fetch_all(&self.pool).await.map_err(query_err)?;
        rows.iter().map(stored_resource).collect()
    }

    async fn record_topology(&self, topology: &TopologyRecord<'_>) -> Result<(), StoreError> {
        let complete = topology.complete();
        // Relations come from an inventory, which holds each once: no statement below updates a row twice.
        let mut tx = self.pool.begin().await.map_err(query_err)?;
        for statement in [
            "DELETE FROM relations WHERE source = ANY($1::text[])",
            "UPDATE resources SET live_attrs = NULL, live_seen = NULL, live_source = NULL WHERE live_source = ANY($1::text[])",
        ] {
            sqlx::query(statement).bind(&complete).execute(&mut *tx).await.map_err(query_err)?;
        }
        for chunk in topology.relations.chunks(CHUNK) {
            let mut columns: [Vec<&str>; 4] = Default::default();
            for (relation, source) in chunk {
                let values = [relation.from.as_str(), relation.kind.as_str(), relation.to.as_str(), source.as_str()];
                for (column, value) in columns.iter_mut().zip(values) {
                    column.push(value);
                }
            }
            let [from, kind, to, source] = columns;
            sqlx::query(
                "INSERT INTO relations (from_id, kind, to_id, source, seen)
                 SELECT from_id, kind, to_id, source, $5 FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[])
                     AS r(from_id, kind, to_id, source)
                 ON CONFLICT (from_id, kind, to_id) DO UPDATE SET source = EXCLUDED.source, seen = EXCLUDED.seen",
            )
            .bind(from)
            .bind(kind)
            .bind(to)
            .bind(source)
            .bind(topology.started_at)
            .execute(&mut *tx)
            .await
            .map_err(query_err)?;
        }
        let copies = lifecycle::last_per_id(topology.live_copies, |r| r.id.as_str());
        for chunk in copies.chunks(CHUNK) {
            let ids: Vec<&str> = chunk.iter().map(|r| r.id.as_str()).collect();
            let attrs = chunk.iter().map(|r| json(&r.attrs)).collect::<Result<Vec<String>, _>>()?;
            let sources: Vec<&str> = chunk.iter().map(|r| r.source.as_str()).collect();
            sqlx::query(
                "UPDATE resources SET live_attrs = c.attrs::json, live_seen = $3, live_source = c.source
                 FROM UNNEST($1::text[], $2::text[], $4::text[]) AS c(id, attrs, source) WHERE resources.id = c.id",
            )
            .bind(ids)
            .bind(attrs)
            .bind(topology.started_at)
            .bind(sources)
            .execute(&mut *tx)
            .await
            .map_err(query_err)?;
        }
        tx.commit().await.map_err(query_err)
    }

    async fn relations(&self, touching: Option<&str>) -> Result<Vec<Relation>, StoreError> {
        let rows = sqlx::query(
            "SELECT from_id, kind, to_id FROM relations WHERE $1::text IS NULL OR from_id = $1 OR to_id = $1
             ORDER BY from_id COLLATE \"C\", kind COLLATE \"C\", to_id COLLATE \"C\"",
        )
        .bind(touching)
        .fetch_all(&self.pool)
        .await
        .map_err(query_err)?;
        rows.iter().map(|row| crate::relation(row.get(0), row.get(1), row.get(2))).collect()
    }

    async fn resource(&self, id: &str) -> Result<Option<ResourceDetail>, StoreError> {
        let row = sqlx::query(
            "SELECT id, provider, kind, namespace, name, source, owner::text, first_seen, last_seen, side, attrs::text,
                 live_attrs::text, live_seen
             FROM resources WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(query_err)?;
        let Some(row) = row else { return Ok(None) };
        let resource = stored_resource(&row)?;
        let attrs: serde_json::Value = crate::decode(row.get(10))?;
        let live_attrs: Option<serde_json::Value> = row.get::<Option<&str>, _>(11).map(crate::decode).transpose()?;
        Ok(Some(crate::detail(resource, attrs, live_attrs, row.get(12))))
    }

    async fn record_coverage(&self, at: DateTime<Utc>, coverage: &[Coverage]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(query_err)?;
        for c in coverage {
            sqlx::query(
                "INSERT INTO coverage (scope, at, live, declared, percent, complete) VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (scope) DO UPDATE SET at = $2, live = $3, declared = $4, percent = $5, complete = $6",
            )
            .bind(&c.scope)
            .bind(at)
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
        let rows = sqlx::query(
            "SELECT scope, at, live, declared, percent, complete FROM coverage ORDER BY scope COLLATE \"C\"",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(query_err)?;
        Ok(rows
            .iter()
            .map(|row| StoredCoverage {
                coverage: Coverage {
                    scope: row.get(0),
                    live: usize::try_from(row.get::<i64, _>(2)).unwrap_or_default(),
                    declared: usize::try_from(row.get::<i64, _>(3)).unwrap_or_default(),
                    percent: row.get(4),
                    complete: row.get(5),
                },
                at: row.get(1),
            })
            .collect())
    }

    async fn prune(&self, before: DateTime<Utc>) -> Result<Pruned, StoreError> {
        let mut tx = self.pool.begin().await.map_err(query_err)?;
        let mut removed = [0u64; 4];
        for (count, statement) in removed.iter_mut().zip([
            "DELETE FROM finding_events WHERE at < $1
                 AND id <= (SELECT COALESCE(MIN(last_event), 9223372036854775807) FROM notifier_cursors)
                 AND NOT EXISTS (SELECT 1 FROM findings f WHERE f.id = finding_id
                     AND (f.state <> 'resolved' OR f.resolved_at >= $1))",
            "DELETE FROM findings WHERE state = 'resolved' AND resolved_at < $1",
            "DELETE FROM resources WHERE last_seen < $1",
            "DELETE FROM runs WHERE started_at < $1
                 AND id NOT IN (SELECT last_run FROM resources) AND id NOT IN (SELECT last_run FROM findings)
                 AND id NOT IN (SELECT run_id FROM finding_events)",
        ]) {
            *count = sqlx::query(statement).bind(before).execute(&mut *tx).await.map_err(query_err)?.rows_affected();
        }
        // Relations go with the resources at either end.
        sqlx::query(
            "DELETE FROM relations WHERE from_id NOT IN (SELECT id FROM resources) OR to_id NOT IN (SELECT id FROM resources)",
        )
        .execute(&mut *tx)
        .await
        .map_err(query_err)?;
        // The collection log (snapshots stay: a source collected less often than the window still has its last).
        sqlx::query("DELETE FROM collections WHERE finished_at < $1")
            .bind(before)
            .execute(&mut *tx)
            .await
            .map_err(query_err)?;
        tx.commit().await.map_err(query_err)?;
        let [events, findings, resources, runs] = removed;
        Ok(Pruned { events, findings, resources, runs })
    }
}

#[async_trait::async_trait]
impl OutboxStore for PgStore {
    async fn events_after(&self, after: i64, limit: u32) -> Result<Vec<FindingEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, run_id, at, transition, previous, data::text FROM finding_events WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(query_err)?;
        // One entry this version cannot read must not stop every later one from being delivered.
        Ok(rows
            .iter()
            .filter_map(|row| {
                decode_event(row)
                    .map_err(|e| tracing::error!(error = %e, "Skipping a lifecycle event that cannot be read."))
                    .ok()
            })
            .collect())
    }

    async fn notifier_cursor(&self, notifier: &str) -> Result<i64, StoreError> {
        sqlx::query(
            "INSERT INTO notifier_cursors (notifier, last_event, updated_at)
             VALUES ($1, (SELECT COALESCE(MAX(id), 0) FROM finding_events), now()) ON CONFLICT (notifier) DO NOTHING",
        )
        .bind(notifier)
        .execute(&self.pool)
        .await
        .map_err(query_err)?;
        sqlx::query("SELECT last_event FROM notifier_cursors WHERE notifier = $1")
            .bind(notifier)
            .fetch_one(&self.pool)
            .await
            .map(|row| row.get(0))
            .map_err(query_err)
    }

    async fn advance_notifier(&self, notifier: &str, event: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO notifier_cursors (notifier, last_event, updated_at) VALUES ($1, $2, now())
             ON CONFLICT (notifier) DO UPDATE
                 SET last_event = GREATEST(notifier_cursors.last_event, EXCLUDED.last_event), updated_at = now()",
        )
        .bind(notifier)
        .bind(event)
        .execute(&self.pool)
        .await
        .map_err(query_err)?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl LeaseStore for PgStore {
    async fn acquire_lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        let held = sqlx::query(
            "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, clock_timestamp() + make_interval(secs => $3))
             ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
             WHERE leases.holder = EXCLUDED.holder OR leases.expires_at < clock_timestamp()
             RETURNING holder",
        )
        .bind(name)
        .bind(holder)
        .bind(ttl.as_secs_f64())
        .fetch_optional(&self.pool)
        .await
        .map_err(query_err)?;
        Ok(held.is_some())
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .execute(&self.pool)
            .await
            .map_err(query_err)?;
        Ok(())
    }

    async fn leases(&self) -> Result<Vec<Lease>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, holder, expires_at FROM leases WHERE expires_at >= clock_timestamp() ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(query_err)?;
        Ok(rows.iter().map(|row| Lease { name: row.get(0), holder: row.get(1), expires_at: row.get(2) }).collect())
    }
}

#[async_trait::async_trait]
impl SnapshotStore for PgStore {
    async fn record_snapshot(&self, record: &SnapshotRecord<'_>) -> Result<bool, StoreError> {
        let (data, digest) = record.encode()?;
        let source = record.snapshot.source.as_str();
        let mut tx = self.pool.begin().await.map_err(query_err)?;
        let before = sqlx::query("SELECT digest, holder, taken_at FROM snapshots WHERE source = $1 FOR UPDATE")
            .bind(source)
            .fetch_optional(&mut *tx)
            .await
            .map_err(query_err)?;
        let before: Option<(String, String, DateTime<Utc>)> = before.map(|row| (row.get(0), row.get(1), row.get(2)));
        crate::superseded(record, before.as_ref().map(|(_, holder, at)| (holder.as_str(), *at)))?;
        let changed = before.as_ref().map(|(digest, ..)| digest.as_str()) != Some(digest.as_str());
        // The same contents again: only when and by whom (a large snapshot is not rewritten every interval).
        let write = if changed {
            sqlx::query(
                "INSERT INTO snapshots (source, side, digest, taken_at, holder, data) VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (source) DO UPDATE SET side = $2, digest = $3, taken_at = $4, holder = $5, data = $6",
            )
            .bind(source)
            .bind(record.side.as_str())
            .bind(&digest)
            .bind(record.finished_at)
            .bind(record.holder)
            .bind(&data)
        } else {
            sqlx::query("UPDATE snapshots SET taken_at = $2, holder = $3 WHERE source = $1")
                .bind(source)
                .bind(record.finished_at)
                .bind(record.holder)
        };
        write.execute(&mut *tx).await.map_err(query_err)?;
        sqlx::query(
            "INSERT INTO collections (source, holder, started_at, finished_at, complete, resources, changed)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(source)
        .bind(record.holder)
        .bind(record.started_at)
        .bind(record.finished_at)
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
        Ok(rows
            .iter()
            .map(|row| SnapshotHead {
                source: row.get(0),
                digest: row.get(1),
                taken_at: row.get(2),
                holder: row.get(3),
            })
            .collect())
    }

    async fn snapshots(&self, sources: &[String]) -> Result<Vec<day2_model::Snapshot>, StoreError> {
        let rows = sqlx::query(
            "SELECT s.source, s.data FROM snapshots s JOIN UNNEST($1::text[]) WITH ORDINALITY AS wanted(source, n)
             ON s.source = wanted.source ORDER BY wanted.n",
        )
        .bind(sources)
        .fetch_all(&self.pool)
        .await
        .map_err(query_err)?;
        Ok(rows.iter().map(|row| crate::parse_snapshot(row.get(0), row.get(1))).collect())
    }
}
