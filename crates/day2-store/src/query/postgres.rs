//! `day2 query` on a PostgreSQL store. The statement runs on a connection of its own, logged in as the store's query
//! login ([`login_name`]: `LOGIN NOINHERIT`, a member of nothing, `SELECT` on the documented relations only, its
//! random password kept in the `query_login` table that only the store's role reads), in a `READ ONLY` transaction
//! whose time limit covers the whole statement, behind a cursor (`DECLARE … CURSOR FOR` accepts a query and nothing
//! else, sent as one prepared statement), fetched in small batches under the row limit and byte cap.
//!
//! Why a login of its own, not `SET ROLE`: a session that logged in as a superuser can always switch back
//! (`set_config('role', …)` is checked against the session's login), so only a session that never held a
//! privilege cannot use one.
//!
//! [`ensure_query_login`] creates or refreshes the login each time the store opens, when the store's role may
//! (superuser or `CREATEROLE`). Without it (the role may not create roles, or the server refuses the login), a store
//! role that is or can become a superuser, or holds `pg_read_server_files`, `pg_write_server_files`,
//! `pg_execute_server_program`, `pg_signal_backend` or `pg_read_all_data`, is refused with what to do; an
//! unprivileged store role runs the query as itself under the same transaction, limits and cursor.

use std::str::FromStr;
use std::time::Instant;

use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgRow};
use sqlx::{ConnectOptions, Connection, Executor, Row};

use super::statement::{self, QUERYABLE, SqlDialect};
use super::{Collector, QueryLimits, QueryResult};
use crate::StoreError;

/// Rows per `FETCH`: bounds the memory one round trip takes before the byte cap is checked.
const BATCH: usize = 50;

/// Roles whose members reach the host or every table.
const HOST_ROLES: [&str; 5] = [
    "pg_read_server_files",
    "pg_write_server_files",
    "pg_execute_server_program",
    "pg_signal_backend",
    "pg_read_all_data",
];

/// Key of the advisory lock that serialises [`ensure_query_login`] across replicas ("day2" and 2).
const LOGIN_LOCK: i64 = 0x6461_7932_0000_0002;

fn driver_err(e: sqlx::Error) -> StoreError {
    StoreError::Query(e.to_string())
}

/// The SQL expression naming this database's query login: one per database, since roles are shared by a cluster.
fn login_name() -> &'static str {
    "'day2_query_' || substr(md5(current_database()), 1, 12)"
}

/// Creates the query login when missing, gives it a fresh random password (kept in `query_login`), grants it
/// `SELECT` on the documented relations and nothing else. A store role that may not create roles skips it all.
pub async fn ensure_query_login(pool: &PgPool) -> Result<(), StoreError> {
    let relations = QUERYABLE.join(", ");
    let login = login_name();
    let setup = format!(
        "DO $day2$
         DECLARE
           login text := {login};
           secret text := replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '');
         BEGIN
           PERFORM pg_advisory_xact_lock({LOGIN_LOCK});
           IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = current_user AND (rolsuper OR rolcreaterole)) THEN
             RETURN;
           END IF;
           BEGIN
             IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = login) THEN
               EXECUTE format('ALTER ROLE %I LOGIN NOINHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD %L', login, secret);
             ELSE
               EXECUTE format('CREATE ROLE %I LOGIN NOINHERIT PASSWORD %L', login, secret);
             END IF;
             EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), login);
             EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', current_schema(), login);
             EXECUTE format('GRANT SELECT ON {relations} TO %I', login);
             INSERT INTO query_login (role, secret) VALUES (login, secret)
               ON CONFLICT (role) DO UPDATE SET secret = EXCLUDED.secret;
             DELETE FROM query_login WHERE role <> login;
           EXCEPTION WHEN insufficient_privilege OR duplicate_object OR unique_violation THEN
             RAISE NOTICE 'day2: no query login: %', SQLERRM;
           END;
         END $day2$"
    );
    pool.execute(sqlx::raw_sql(&setup)).await.map_err(driver_err)?;
    Ok(())
}

/// Connects to `url` as the store's role (one connection, no migrations) and runs `sql`.
pub async fn run_at(url: &str, sql: &str, limits: &QueryLimits) -> Result<QueryResult, StoreError> {
    let sql = statement::check(sql, SqlDialect::Postgres).map_err(StoreError::Refused)?;
    let location = crate::StoreLocation::Postgres(url.to_owned()).to_string();
    let open_err = |message: String| StoreError::Open { location: location.clone(), message };
    let options = PgConnectOptions::from_str(url).map_err(|e| open_err(e.to_string()))?;
    let mut store = connect(&options).await.map_err(open_err)?;
    let answer = run_checked(&mut store, &options, &sql, limits).await;
    let _closed = store.close().await;
    answer
}

/// Runs `sql` on the store behind `pool` (its connection options name the server).
pub async fn run_pooled(pool: &PgPool, sql: &str, limits: &QueryLimits) -> Result<QueryResult, StoreError> {
    let sql = statement::check(sql, SqlDialect::Postgres).map_err(StoreError::Refused)?;
    let options = (*pool.connect_options()).clone();
    let mut store = pool.acquire().await.map_err(driver_err)?;
    run_checked(&mut store, &options, &sql, limits).await
}

async fn connect(options: &PgConnectOptions) -> Result<PgConnection, String> {
    match tokio::time::timeout(std::time::Duration::from_secs(10), options.connect()).await {
        Ok(connected) => connected.map_err(|e| e.to_string()),
        Err(_) => Err("no answer in 10 s".to_owned()),
    }
}

/// Runs a checked statement as the query login, or, where there is none, as an unprivileged store role.
async fn run_checked(
    store: &mut PgConnection,
    options: &PgConnectOptions,
    sql: &str,
    limits: &QueryLimits,
) -> Result<QueryResult, StoreError> {
    let login = sqlx::query("SELECT role, secret FROM query_login LIMIT 1")
        .fetch_optional(&mut *store)
        .await
        .map_err(driver_err)?;
    let why_not = match login {
        Some(row) => {
            let (role, secret): (String, String) = (row.get(0), row.get(1));
            match connect(&options.clone().username(&role).password(&secret)).await {
                Ok(mut connection) => {
                    let answer = execute(&mut connection, sql, limits).await;
                    let _closed = connection.close().await;
                    return answer;
                }
                Err(e) => format!("the server refused the query login `{role}`: {e}"),
            }
        }
        None => "the store has no query login (its role may not create roles)".to_owned(),
    };
    let (user, privileged) = privileges(store).await?;
    if privileged {
        return Err(StoreError::Refused(super::statement::Refusal::new(format!(
            "{why_not}, and the store's role `{user}` can read server files, run programs, signal backends or read \
             every table, so queries do not run as it. Open the store once as a role with CREATEROLE (`day2 check \
             --store`, `day2 serve`) so day2 creates its query login, and let that login connect (pg_hba.conf, \
             password authentication)"
        ))));
    }
    execute(store, sql, limits).await
}

/// The session's role and whether it is privileged in a way a query must not inherit.
async fn privileges(connection: &mut PgConnection) -> Result<(String, bool), StoreError> {
    let host_roles = HOST_ROLES.map(|r| format!("'{r}'")).join(", ");
    let who = format!(
        "SELECT current_user::text, EXISTS (
             SELECT 1 FROM pg_roles r
             WHERE (r.rolsuper OR r.rolname IN ({host_roles})) AND pg_has_role(current_user, r.oid, 'MEMBER'))"
    );
    let row = sqlx::query(&who).fetch_one(&mut *connection).await.map_err(driver_err)?;
    Ok((row.get(0), row.get(1)))
}

/// Runs `sql` in a read-only transaction on `connection` under `limits`; nothing it did survives the rollback.
async fn execute(connection: &mut PgConnection, sql: &str, limits: &QueryLimits) -> Result<QueryResult, StoreError> {
    let deadline = limits.deadline();
    let mut tx = connection.begin().await.map_err(driver_err)?;
    for setting in [
        "SET TRANSACTION READ ONLY",
        "SET LOCAL TimeZone = 'UTC'",
        // How day2's parser reads strings; the statement it wrote out uses '' escapes only.
        "SET LOCAL standard_conforming_strings = on",
    ] {
        tx.execute(sqlx::raw_sql(setting)).await.map_err(driver_err)?;
    }
    let answer = fetch(&mut tx, sql, limits, deadline).await;
    tx.rollback().await.map_err(driver_err)?;
    answer.map_err(|e| match e {
        StoreError::Query(message) if message.contains("statement timeout") => limits.timed_out(),
        other => other,
    })
}

/// Gives the next statement what is left of the time limit.
async fn time_left(tx: &mut PgConnection, deadline: Instant, limits: &QueryLimits) -> Result<(), StoreError> {
    let left = deadline.saturating_duration_since(Instant::now()).as_millis();
    if left == 0 {
        return Err(limits.timed_out());
    }
    tx.execute(sqlx::raw_sql(&format!("SET LOCAL statement_timeout = {left}"))).await.map_err(driver_err)?;
    Ok(())
}

/// Declares the cursor and fetches rows in batches until the statement ends or a limit is reached.
async fn fetch(
    tx: &mut PgConnection,
    sql: &str,
    limits: &QueryLimits,
    deadline: Instant,
) -> Result<QueryResult, StoreError> {
    use sqlx::Column;
    time_left(tx, deadline, limits).await?;
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
        time_left(tx, deadline, limits).await?;
        // The simple protocol: every value arrives as text, whatever its type.
        let rows =
            tx.fetch_all(sqlx::raw_sql(&format!("FETCH FORWARD {want} FROM day2_answer"))).await.map_err(driver_err)?;
        let ended = rows.len() < want;
        for row in &rows {
            let mut values = Vec::with_capacity(row.len());
            for i in 0..row.len() {
                let value = json_value(row, i)?;
                collector.count(value.as_str().map_or(8, str::len))?;
                values.push(value);
            }
            collector.push(values);
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
