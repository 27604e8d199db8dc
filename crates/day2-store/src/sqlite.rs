//! The embedded SQLite store (sqlx, runtime queries, WAL journal). Schema: `migrations/sqlite/`.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use chrono::{DateTime, Utc};
use day2_model::{Finding, FindingStatus};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, Sqlite, Transaction};

use crate::{FindingEvent, FindingQuery, QueryResult, RunOutcome, RunRecord, Store, StoreError, Transition};

/// A store in one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// Read-only connections for `query`: SQLite itself refuses writes on them.
    readers: SqlitePool,
}

fn query_err(e: sqlx::Error) -> StoreError {
    StoreError::Query(e.to_string())
}

fn json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Decode(e.to_string()))
}

/// A lifecycle transition about to be logged.
struct Event<'a> {
    finding: &'a Finding,
    transition: Transition,
    previous: Option<&'a str>,
}

async fn insert_event(
    tx: &mut Transaction<'_, Sqlite>,
    run_id: i64,
    at: &str,
    event: &Event<'_>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO finding_events (finding_id, run_id, at, transition, previous, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .bind(event.finding.id.as_str())
    .bind(run_id)
    .bind(at)
    .bind(event.transition.as_str())
    .bind(event.previous)
    .bind(json(event.finding)?)
    .execute(&mut **tx)
    .await
    .map_err(query_err)?;
    Ok(())
}

fn state_of(f: &Finding) -> &'static str {
    match f.status {
        FindingStatus::Suppressed(_) => "suppressed",
        FindingStatus::Resolved => "resolved",
        FindingStatus::Open { .. } => "open",
    }
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
        let read_only = SqliteConnectOptions::new().filename(path).read_only(true);
        let readers =
            SqlitePoolOptions::new().max_connections(2).connect_with(read_only).await.map_err(|e| open_err(&e))?;
        Ok(SqliteStore { pool, readers })
    }

    async fn upsert_resources(
        tx: &mut Transaction<'_, Sqlite>,
        run: &RunRecord<'_>,
        run_id: i64,
        now: &str,
    ) -> Result<(), StoreError> {
        for r in run.resources {
            sqlx::query(
                "INSERT INTO resources (id, source, provider, kind, namespace, name, owner, attrs, first_seen, last_seen, last_run)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?10)
                 ON CONFLICT(id) DO UPDATE SET source = ?2, owner = ?7, attrs = ?8, last_seen = ?9, last_run = ?10",
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
            .execute(&mut **tx)
            .await
            .map_err(query_err)?;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Store for SqliteStore {
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

        let source_of: HashMap<&str, &str> = run.resources.iter().map(|r| (r.id.as_str(), r.source.as_str())).collect();
        let mut outcome = RunOutcome { run_id, ..RunOutcome::default() };
        let mut seen = HashSet::new();
        for f in run.findings {
            seen.insert(f.id.as_str());
            let previous = sqlx::query("SELECT state, first_seen FROM findings WHERE id = ?1")
                .bind(f.id.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(query_err)?;
            let (first_seen, previous_state) = match previous {
                None => {
                    outcome.new.push(f.id.clone());
                    (now.clone(), None)
                }
                Some(row) => {
                    let state: String = row.get(0);
                    let first: String = row.get(1);
                    if state == "resolved" {
                        outcome.new.push(f.id.clone());
                        outcome.reopened.push(f.id.clone());
                    }
                    (first, Some(state))
                }
            };
            let reopened = previous_state.as_deref() == Some("resolved");
            let first_time =
                DateTime::parse_from_rfc3339(&first_seen).map(|t| t.with_timezone(&Utc)).unwrap_or(run.started_at);
            outcome.first_seen.insert(f.id.clone(), first_time);
            let mut stored = f.clone();
            stored.first_seen = first_time;
            sqlx::query(
                "INSERT INTO findings (id, rule_id, resource_id, source, severity, domain, state, data, first_seen, last_seen, resolved_at, reopened, last_run)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, NULL, 0, ?11)
                 ON CONFLICT(id) DO UPDATE SET source = ?4, severity = ?5, state = ?7, data = ?8, last_seen = ?10, resolved_at = NULL,
                     reopened = reopened + ?12, last_run = ?11",
            )
            .bind(f.id.as_str())
            .bind(&f.rule_id)
            .bind(f.resource.as_str())
            .bind(source_of.get(f.resource.as_str()).copied().unwrap_or_default())
            .bind(f.severity.as_str())
            .bind(f.domain.as_str())
            .bind(state_of(f))
            .bind(json(&stored)?)
            .bind(&first_seen)
            .bind(&now)
            .bind(run_id)
            .bind(i64::from(reopened))
            .execute(&mut *tx)
            .await
            .map_err(query_err)?;
            let transition = match (previous_state.as_deref(), state_of(f)) {
                (None, _) => Some(Transition::Opened),
                (Some("resolved"), _) => Some(Transition::Reopened),
                // A suppression that expired (or was removed) opens the finding for whoever is told.
                (Some("suppressed"), "open") => Some(Transition::Opened),
                (Some("open"), "suppressed") => Some(Transition::Suppressed),
                _ => None,
            };
            if let Some(transition) = transition {
                let event = Event { finding: &stored, transition, previous: previous_state.as_deref() };
                insert_event(&mut tx, run_id, &now, &event).await?;
            }
        }

        for source in run.sources.iter().filter(|s| s.complete) {
            let rows =
                sqlx::query("SELECT id, data, rule_id, state FROM findings WHERE source = ?1 AND state != 'resolved'")
                    .bind(&source.name)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(query_err)?;
            for row in rows {
                let id: String = row.get(0);
                let rule: String = row.get(2);
                if seen.contains(id.as_str()) || run.rules_run.binary_search(&rule).is_err() {
                    continue;
                }
                let data: String = row.get(1);
                let mut f: Finding = serde_json::from_str(&data).map_err(|e| StoreError::Decode(e.to_string()))?;
                f.status = FindingStatus::Resolved;
                f.resolved_at = Some(run.started_at);
                sqlx::query("UPDATE findings SET state = 'resolved', resolved_at = ?2, data = ?3 WHERE id = ?1")
                    .bind(&id)
                    .bind(&now)
                    .bind(json(&f)?)
                    .execute(&mut *tx)
                    .await
                    .map_err(query_err)?;
                let previous: String = row.get(3);
                let event = Event { finding: &f, transition: Transition::Resolved, previous: Some(&previous) };
                insert_event(&mut tx, run_id, &now, &event).await?;
                outcome.resolved.push(f);
            }
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
        let mut states = vec!["open"];
        if query.include_suppressed {
            states.push("suppressed");
        }
        if query.include_resolved {
            states.push("resolved");
        }
        let rows = sqlx::query("SELECT data, first_seen, last_seen, resolved_at, state FROM findings ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .map_err(query_err)?;
        let mut out = Vec::new();
        for row in rows {
            let state: String = row.get(4);
            if !states.contains(&state.as_str()) {
                continue;
            }
            let data: String = row.get(0);
            let mut f: Finding = serde_json::from_str(&data).map_err(|e| StoreError::Decode(e.to_string()))?;
            let parse = |s: String| DateTime::parse_from_rfc3339(&s).map(|t| t.with_timezone(&Utc)).ok();
            if let Some(t) = parse(row.get(1)) {
                f.first_seen = t;
            }
            if let Some(t) = parse(row.get(2)) {
                f.last_seen = t;
            }
            f.resolved_at = row.get::<Option<String>, _>(3).and_then(parse);
            out.push(f);
        }
        out.sort_by(|a, b| {
            b.severity.cmp(&a.severity).then_with(|| a.file.cmp(&b.file)).then_with(|| a.line.cmp(&b.line))
        });
        Ok(out)
    }

    async fn run_count(&self) -> Result<i64, StoreError> {
        sqlx::query("SELECT COUNT(*) FROM runs").fetch_one(&self.pool).await.map(|r| r.get(0)).map_err(query_err)
    }

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

    async fn query(&self, sql: &str) -> Result<QueryResult, StoreError> {
        use sqlx::{Column, TypeInfo, ValueRef};
        let rows = sqlx::query(sql).fetch_all(&self.readers).await.map_err(query_err)?;
        let mut result = QueryResult::default();
        result.columns = match rows.first() {
            Some(first) => first.columns().iter().map(|c| c.name().to_owned()).collect(),
            // No rows still has columns: ask SQLite what the statement returns.
            None => {
                let described = sqlx::Executor::describe(&self.readers, sql).await.map_err(query_err)?;
                described.columns().iter().map(|c| c.name().to_owned()).collect()
            }
        };
        for row in &rows {
            let mut values = Vec::with_capacity(row.len());
            for i in 0..row.len() {
                let raw = row.try_get_raw(i).map_err(query_err)?;
                // SQLite types values, not columns: read each by the type it holds.
                let value = if raw.is_null() {
                    serde_json::Value::Null
                } else {
                    match raw.type_info().name() {
                        "INTEGER" => serde_json::Value::from(row.try_get::<i64, _>(i).map_err(query_err)?),
                        "REAL" => serde_json::Value::from(row.try_get::<f64, _>(i).map_err(query_err)?),
                        "BLOB" => serde_json::Value::from(format!(
                            "<{} bytes>",
                            row.try_get::<Vec<u8>, _>(i).map_err(query_err)?.len()
                        )),
                        _ => serde_json::Value::from(row.try_get::<String, _>(i).map_err(query_err)?),
                    }
                };
                values.push(value);
            }
            result.rows.push(values);
        }
        Ok(result)
    }
}
