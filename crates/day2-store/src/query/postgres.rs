//! `day2 query` on a PostgreSQL store. The statement runs in a `READ ONLY` transaction with a statement timeout, as
//! the `day2_query` role ([`QUERY_ROLE`]: `NOLOGIN`, `SELECT` on the documented relations only, granted to the
//! store's role by [`ensure_query_role`] each time the store opens), behind a cursor (`DECLARE … CURSOR FOR` accepts
//! a query and nothing else, sent with the extended protocol so it is one statement), fetched in batches under the
//! row limit and byte cap.
//!
//! A store role that is a superuser or holds `pg_read_server_files`, `pg_write_server_files`,
//! `pg_execute_server_program` or `pg_signal_backend` but cannot switch to `day2_query` is refused, with the two
//! statements an administrator runs to fix it. An unprivileged store role runs the query as itself.

use std::time::Duration;

use sqlx::postgres::{PgConnection, PgPool, PgRow};
use sqlx::{Connection, Executor, Row};

use super::statement::{self, QUERYABLE, SqlDialect};
use super::{Collector, QueryLimits, QueryResult};
use crate::StoreError;

/// The role queries run as.
pub const QUERY_ROLE: &str = "day2_query";

/// Rows per `FETCH`: bounds the memory one round trip takes.
const BATCH: usize = 500;

/// Roles that reach the host: files, programs, other sessions.
const HOST_ROLES: [&str; 4] =
    ["pg_read_server_files", "pg_write_server_files", "pg_execute_server_program", "pg_signal_backend"];

fn driver_err(e: sqlx::Error) -> StoreError {
    StoreError::Query(e.to_string())
}

/// Creates the query role when missing (if the store's role may), grants it `SELECT` on the documented relations
/// and grants it to the store's role. Each step that the store's role may not take is skipped: a query then either
/// runs as an unprivileged store role or is refused (see the module documentation).
pub async fn ensure_query_role(pool: &PgPool) -> Result<(), StoreError> {
    let relations = QUERYABLE.join(", ");
    let setup = format!(
        "DO $day2$
         BEGIN
           IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{QUERY_ROLE}') THEN
             BEGIN
               CREATE ROLE {QUERY_ROLE} NOLOGIN;
             EXCEPTION WHEN insufficient_privilege OR duplicate_object OR unique_violation THEN NULL;
             END;
           END IF;
           IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{QUERY_ROLE}') THEN
             BEGIN
               EXECUTE format('GRANT USAGE ON SCHEMA %I TO {QUERY_ROLE}', current_schema());
               GRANT SELECT ON {relations} TO {QUERY_ROLE};
             EXCEPTION WHEN insufficient_privilege THEN NULL;
             END;
             IF NOT pg_has_role(current_user, '{QUERY_ROLE}', 'MEMBER') THEN
               BEGIN
                 EXECUTE format('GRANT {QUERY_ROLE} TO %I', current_user);
               EXCEPTION WHEN insufficient_privilege OR invalid_grant_operation THEN NULL;
               END;
             END IF;
           END IF;
         END $day2$"
    );
    pool.execute(sqlx::raw_sql(&setup)).await.map_err(driver_err)?;
    Ok(())
}

/// Connects to `url` (one connection, no migrations) and runs `sql`.
pub async fn run_at(url: &str, sql: &str, limits: &QueryLimits) -> Result<QueryResult, StoreError> {
    statement::check(sql, SqlDialect::Postgres).map_err(StoreError::Refused)?;
    let location = crate::StoreLocation::Postgres(url.to_owned()).to_string();
    let mut connection = tokio::time::timeout(Duration::from_secs(10), PgConnection::connect(url))
        .await
        .map_err(|_| StoreError::Open { location: location.clone(), message: "no answer in 10 s".to_owned() })?
        .map_err(|e| StoreError::Open { location, message: e.to_string() })?;
    let answer = run(&mut connection, sql, limits).await;
    let _closed = connection.close().await;
    answer
}

/// Runs `sql` on `connection` under `limits`.
pub async fn run(connection: &mut PgConnection, sql: &str, limits: &QueryLimits) -> Result<QueryResult, StoreError> {
    statement::check(sql, SqlDialect::Postgres).map_err(StoreError::Refused)?;
    let mut tx = connection.begin().await.map_err(driver_err)?;
    let timeout_ms = limits.timeout.as_millis().max(1);
    for setting in [
        "SET TRANSACTION READ ONLY".to_owned(),
        format!("SET LOCAL statement_timeout = {timeout_ms}"),
        "SET LOCAL TimeZone = 'UTC'".to_owned(),
    ] {
        tx.execute(sqlx::raw_sql(&setting)).await.map_err(driver_err)?;
    }
    become_query_role(&mut tx).await?;
    let answer = fetch(&mut tx, sql, limits).await;
    // Nothing was written; the rollback also closes the cursor and drops the role.
    tx.rollback().await.map_err(driver_err)?;
    answer.map_err(|e| match e {
        StoreError::Query(message) if message.contains("statement timeout") => limits.timed_out(),
        other => other,
    })
}

/// Switches the transaction to [`QUERY_ROLE`], or refuses a privileged store role that cannot.
async fn become_query_role(tx: &mut PgConnection) -> Result<(), StoreError> {
    let host_roles = HOST_ROLES.map(|r| format!("pg_has_role(current_user, '{r}', 'MEMBER')")).join(" OR ");
    let who = format!(
        "SELECT current_user::text, rolsuper OR {host_roles},
                EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{QUERY_ROLE}')
                AND (CASE WHEN EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{QUERY_ROLE}')
                          THEN pg_has_role(current_user, '{QUERY_ROLE}', 'MEMBER') ELSE false END)
         FROM pg_roles WHERE rolname = current_user"
    );
    let row = sqlx::query(&who).fetch_one(&mut *tx).await.map_err(driver_err)?;
    let (user, privileged, can_switch): (String, bool, bool) = (row.get(0), row.get(1), row.get(2));
    if can_switch {
        tx.execute(sqlx::raw_sql(&format!("SET LOCAL ROLE {QUERY_ROLE}"))).await.map_err(driver_err)?;
        Ok(())
    } else if privileged {
        Err(StoreError::Refused(format!(
            "the store's role `{user}` is a superuser or may read server files, run programs or signal \
             backends, and cannot switch to the query role `{QUERY_ROLE}`; as an administrator run \
             `CREATE ROLE {QUERY_ROLE} NOLOGIN; GRANT {QUERY_ROLE} TO \"{user}\";` and open the store once \
             (`day2 serve` or `day2 check --store`) to grant it the documented relations"
        )))
    } else {
        Ok(())
    }
}

/// Declares the cursor and fetches rows in batches until the statement ends or a limit is reached.
async fn fetch(tx: &mut PgConnection, sql: &str, limits: &QueryLimits) -> Result<QueryResult, StoreError> {
    use sqlx::Column;
    // Prepared, never executed: names the columns even when no row comes back.
    let described = tx.describe(sql).await.map_err(driver_err)?;
    let columns = described.columns().iter().map(|c| c.name().to_owned()).collect();
    // The extended protocol takes exactly one statement, and DECLARE takes only a query.
    sqlx::query(&format!("DECLARE day2_answer NO SCROLL CURSOR FOR {sql}"))
        .execute(&mut *tx)
        .await
        .map_err(driver_err)?;
    let mut collector = Collector::new(limits, columns);
    loop {
        let want = (limits.rows + 1 - collector.result.rows.len()).min(BATCH);
        // The simple protocol: every value arrives as text, whatever its type.
        let rows =
            tx.fetch_all(sqlx::raw_sql(&format!("FETCH FORWARD {want} FROM day2_answer"))).await.map_err(driver_err)?;
        let ended = rows.len() < want;
        for row in &rows {
            let values = (0..row.len()).map(|i| json_value(row, i)).collect::<Result<Vec<_>, _>>()?;
            collector.push(values)?;
        }
        if ended || collector.result.truncated {
            return Ok(collector.result);
        }
    }
}

/// One column of an answer, which arrives as text, as JSON: numbers and booleans as such, times as RFC 3339 like
/// the SQLite store's, everything else as text.
fn json_value(row: &PgRow, i: usize) -> Result<serde_json::Value, StoreError> {
    use chrono::{DateTime, Utc};
    use sqlx::{TypeInfo, ValueRef};
    let raw = row.try_get_raw(i).map_err(driver_err)?;
    if raw.is_null() {
        return Ok(serde_json::Value::Null);
    }
    let type_name = raw.type_info().name().to_owned();
    let text = raw.as_str().map_err(|e| StoreError::Decode(e.to_string()))?;
    Ok(match type_name.as_str() {
        "INT2" | "INT4" | "INT8" | "OID" => text.parse::<i64>().map_or_else(|_| text.into(), serde_json::Value::from),
        "FLOAT4" | "FLOAT8" | "NUMERIC" => {
            text.parse::<serde_json::Number>().map_or_else(|_| text.into(), serde_json::Value::Number)
        }
        "BOOL" => serde_json::Value::Bool(text == "t"),
        "TIMESTAMPTZ" => DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%#z")
            .map_or_else(|_| text.into(), |t| t.with_timezone(&Utc).to_rfc3339().into()),
        _ => text.into(),
    })
}
