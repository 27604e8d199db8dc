//! `day2 query` on a SQLite store: a connection of its own, opened read-only and never migrated, with
//!
//! - an authorizer that allows reading the documented relations, the allow-listed functions and recursion, and
//!   denies everything else: `ATTACH`, `VACUUM`, `PRAGMA`, writes, transactions. It trusts no view name: SQLite names
//!   a common table expression as the "view" behind what its body reads, so a CTE could borrow a view's name;
//!   the views of the migrations read only allowed tables and call only allowed functions;
//! - no attached databases, values of at most [`MAX_VALUE_BYTES`], at most [`MAX_COLUMNS`] columns and `LIKE`
//!   patterns of at most [`MAX_PATTERN_BYTES`] (`sqlite3_limit`: one long `LIKE` step is beyond the progress
//!   handler's reach);
//! - a progress handler that interrupts the statement at its time limit;
//! - rows read one at a time, so an endless recursive query costs time, not memory.

use std::path::{Path, PathBuf};
use std::time::Instant;

use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::limits::Limit;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use super::statement::{self, QUERYABLE, SqlDialect};
use super::{Collector, QueryLimits, QueryResult};
use crate::StoreError;

/// The largest string or blob a query may build or return (a resource's attributes fit many times over).
const MAX_VALUE_BYTES: i32 = 4 << 20;

/// Columns a query may return.
const MAX_COLUMNS: i32 = 100;

/// The longest `LIKE` or `GLOB` pattern.
const MAX_PATTERN_BYTES: i32 = 1_000;

/// Virtual machine steps between two looks at the clock.
const STEPS_PER_CHECK: i32 = 10_000;

fn driver_err(e: rusqlite::Error) -> StoreError {
    StoreError::Query(e.to_string())
}

/// [`run`] on the blocking pool.
pub async fn run_blocking(path: PathBuf, sql: String, limits: QueryLimits) -> Result<QueryResult, StoreError> {
    tokio::task::spawn_blocking(move || run(&path, &sql, &limits))
        .await
        .map_err(|e| StoreError::Query(format!("the query task failed: {e}")))?
}

/// Runs `sql` on the store file at `path` under `limits`.
pub fn run(path: &Path, sql: &str, limits: &QueryLimits) -> Result<QueryResult, StoreError> {
    let sql = statement::check(sql, SqlDialect::Sqlite).map_err(StoreError::Refused)?;
    let connection = open(path)?;
    query(&connection, &sql, limits)
}

/// Opens the store read-only (no create, no URI names) and makes sure it is a day2 store.
fn open(path: &Path) -> Result<Connection, StoreError> {
    let open_err = |message: String| StoreError::Open { location: path.display().to_string(), message };
    if !path.is_file() {
        return Err(open_err("no store there; record one with `day2 check --store`".to_owned()));
    }
    let connection =
        Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .map_err(|e| open_err(e.to_string()))?;
    let views: i64 = connection
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'view' AND name IN ('finding_list', 'resource_list')",
            [],
            |row| row.get(0),
        )
        .map_err(|e| open_err(e.to_string()))?;
    if views != 2 {
        return Err(open_err("not a day2 store (no finding_list and resource_list views)".to_owned()));
    }
    Ok(connection)
}

/// Runs `sql` on `connection` with the authorizer, limits and progress handler installed.
fn query(connection: &Connection, sql: &str, limits: &QueryLimits) -> Result<QueryResult, StoreError> {
    connection.set_limit(Limit::SQLITE_LIMIT_ATTACHED, 0);
    connection.set_limit(Limit::SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES);
    connection.set_limit(Limit::SQLITE_LIMIT_COLUMN, MAX_COLUMNS);
    connection.set_limit(Limit::SQLITE_LIMIT_LIKE_PATTERN_LENGTH, MAX_PATTERN_BYTES);
    connection.authorizer(Some(authorize));
    let deadline = limits.deadline();
    connection.progress_handler(STEPS_PER_CHECK, Some(move || Instant::now() > deadline));
    let result = collect(connection, sql, limits);
    if result.is_err() && Instant::now() > deadline {
        return Err(limits.timed_out());
    }
    result
}

fn collect(connection: &Connection, sql: &str, limits: &QueryLimits) -> Result<QueryResult, StoreError> {
    let mut statement = connection.prepare(sql).map_err(driver_err)?;
    let columns = statement.column_names().into_iter().map(str::to_owned).collect();
    let width = statement.column_count();
    let mut collector = Collector::new(limits, columns);
    let mut rows = statement.query([]).map_err(driver_err)?;
    while let Some(row) = rows.next().map_err(driver_err)? {
        if collector.full() {
            collector.push(Vec::new());
            break;
        }
        let mut values = Vec::with_capacity(width);
        for i in 0..width {
            let value = row.get_ref(i).map_err(driver_err)?;
            collector.count(match value {
                ValueRef::Text(bytes) | ValueRef::Blob(bytes) => bytes.len(),
                _ => 8,
            })?;
            values.push(json_value(value));
        }
        collector.push(values);
    }
    Ok(collector.result)
}

/// SQLite types values, not columns: each is read by the type it holds.
fn json_value(value: ValueRef<'_>) -> serde_json::Value {
    match value {
        ValueRef::Null => serde_json::Value::Null,
        ValueRef::Integer(i) => i.into(),
        ValueRef::Real(f) => f.into(),
        ValueRef::Text(text) => String::from_utf8_lossy(text).into_owned().into(),
        ValueRef::Blob(blob) => format!("<{} bytes>", blob.len()).into(),
    }
}

/// The authorizer: consulted for every table, column and function as a statement is prepared.
fn authorize(context: AuthContext<'_>) -> Authorization {
    let allowed = match context.action {
        AuthAction::Select | AuthAction::Recursive => true,
        // A read without a database is of a common table expression or subquery of the statement itself.
        AuthAction::Read { table_name, .. } => {
            context.database_name.is_none()
                || QUERYABLE.contains(&table_name)
                || SqlDialect::Sqlite.allows_table_function(table_name)
        }
        AuthAction::Function { function_name } => {
            let name = function_name.to_lowercase();
            SqlDialect::Sqlite.allows_function(&name) || SqlDialect::Sqlite.allows_table_function(&name)
        }
        _ => false,
    };
    if allowed { Authorization::Allow } else { Authorization::Deny }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    //! The database-side gate alone: statements the parser would refuse, run straight through the authorizer.
    use super::*;

    fn store() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let writer = Connection::open(&path).unwrap();
        writer
            .execute_batch(
                "CREATE TABLE findings (id TEXT, data TEXT); CREATE TABLE leases (name TEXT);
                 CREATE TABLE resources (id TEXT, attrs TEXT);
                 INSERT INTO findings VALUES ('a', '{\"kind\": \"Pod\"}');
                 CREATE VIEW finding_list AS SELECT id, json_extract(data, '$.kind') AS kind FROM findings;
                 CREATE VIEW resource_list AS SELECT id, attrs FROM resources;",
            )
            .unwrap();
        drop(writer);
        let connection = open(&path).unwrap();
        (dir, connection)
    }

    #[test]
    fn the_authorizer_denies_what_the_parser_also_refuses() {
        let (dir, connection) = store();
        let copy = dir.path().join("copy.db");
        let attacks = [
            format!("VACUUM INTO '{}'", copy.display()),
            format!("ATTACH DATABASE '{}' AS other", dir.path().join("store.db").display()),
            "PRAGMA writable_schema = 1".to_owned(),
            "SELECT * FROM leases".to_owned(),
            "SELECT * FROM sqlite_master".to_owned(),
            "SELECT load_extension('/tmp/evil.so')".to_owned(),
            "SELECT sqlite_version()".to_owned(),
            "DELETE FROM findings".to_owned(),
            "BEGIN IMMEDIATE".to_owned(),
            // SQLite reports a CTE as the view behind its body: a borrowed view name must not open anything.
            "WITH finding_list AS (SELECT (SELECT name FROM leases)) SELECT * FROM finding_list".to_owned(),
            "WITH finding_list AS (SELECT sqlite_version()) SELECT * FROM finding_list".to_owned(),
        ];
        for sql in &attacks {
            let error = query(&connection, sql, &QueryLimits::default()).unwrap_err().to_string();
            assert!(["authoriz", "prohibited", "readonly"].iter().any(|w| error.contains(w)), "{sql}: {error}");
        }
        assert!(!copy.exists(), "VACUUM INTO wrote a copy");
    }

    #[test]
    fn documented_reads_pass_and_limits_hold() {
        let (_dir, connection) = store();
        let answer =
            query(&connection, "SELECT id, kind FROM finding_list WHERE kind LIKE 'P%'", &QueryLimits::default())
                .unwrap();
        assert_eq!(answer.rows, [[serde_json::json!("a"), serde_json::json!("Pod")]]);
        let limits = QueryLimits { rows: 3, ..QueryLimits::default() };
        let counted = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c";
        let answer = query(&connection, counted, &limits).unwrap();
        assert_eq!(answer.rows.len(), 3);
        assert!(answer.truncated);
        let limits = QueryLimits { timeout: std::time::Duration::from_millis(200), ..QueryLimits::default() };
        let endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c";
        let error = query(&connection, endless, &limits).unwrap_err().to_string();
        assert!(error.contains("time limit"), "{error}");
        let growing = "WITH RECURSIVE c(x) AS (SELECT 'ab' UNION ALL SELECT x || x FROM c) SELECT length(x) FROM c";
        let error = query(&connection, growing, &QueryLimits::default()).unwrap_err().to_string();
        assert!(error.contains("too big"), "{error}");
        let json_each = "SELECT j.key FROM finding_list f, json_each('{\"a\": 1}') j";
        assert_eq!(query(&connection, json_each, &QueryLimits::default()).unwrap().rows.len(), 1);
    }
}
