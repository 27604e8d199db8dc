//! `day2 query`: one read-only SQL statement over the store, run so that it cannot do harm whatever the store's
//! database role may do — the one path for the CLI and for every later query surface (the API, MCP).
//!
//! Three gates, each enough on its own for the attacks it names:
//! 1. [`statement::check`] parses the statement and allows one `SELECT` over [`QUERYABLE`] with allow-listed
//!    functions;
//! 2. the backend runs it under database-side limits: SQLite on a read-only connection (never migrated) with an
//!    authorizer and a progress handler ([`sqlite`]); PostgreSQL in a read-only transaction as the `day2_query`
//!    role, which may only read the documented relations, through a cursor ([`postgres`]);
//! 3. [`QueryLimits`] end it: a time limit, a row limit, a cap on the bytes of the answer.

#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "sqlite")]
pub mod sqlite;
pub mod statement;

use std::time::Duration;

pub use statement::{QUERYABLE, SqlDialect};

use crate::{StoreError, StoreLocation};

/// How much one query may take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryLimits {
    /// Rows returned at most; more make the answer [`QueryResult::truncated`].
    pub rows: usize,
    /// Time the statement may run.
    pub timeout: Duration,
    /// Bytes of values the answer may hold; a larger answer is an error, not a silent cut.
    pub max_bytes: usize,
}

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits { rows: 10_000, timeout: Duration::from_secs(30), max_bytes: 64 << 20 }
    }
}

impl QueryLimits {
    /// When a statement started now must end (far in the future for a limit too large to add).
    fn deadline(&self) -> std::time::Instant {
        let now = std::time::Instant::now();
        now.checked_add(self.timeout).unwrap_or(now + Duration::from_secs(86_400 * 365))
    }

    fn timed_out(&self) -> StoreError {
        StoreError::QueryLimit(format!("the statement ran longer than its time limit of {:?}", self.timeout))
    }

    fn too_large(&self) -> StoreError {
        StoreError::QueryLimit(format!(
            "the answer is larger than {} MiB; select fewer columns or rows",
            self.max_bytes >> 20
        ))
    }
}

/// The answer to a read-only SQL query: column names and rows of JSON values (numbers, text, null).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct QueryResult {
    /// Column names, in order.
    pub columns: Vec<String>,
    /// Rows, each with one value per column.
    pub rows: Vec<Vec<serde_json::Value>>,
    /// More rows exist than [`QueryLimits::rows`] let through.
    pub truncated: bool,
}

/// Collects rows under the limits: the row limit truncates, the byte cap fails.
struct Collector<'a> {
    limits: &'a QueryLimits,
    result: QueryResult,
    bytes: usize,
}

impl<'a> Collector<'a> {
    fn new(limits: &'a QueryLimits, columns: Vec<String>) -> Self {
        Collector { limits, result: QueryResult { columns, ..QueryResult::default() }, bytes: 0 }
    }

    /// Whether the row limit is reached (the next row would make the answer truncated).
    fn full(&self) -> bool {
        self.result.rows.len() >= self.limits.rows
    }

    /// Counts a value of `bytes` against the cap before it is copied into the answer.
    fn count(&mut self, bytes: usize) -> Result<(), StoreError> {
        self.bytes = self.bytes.saturating_add(bytes.max(8));
        if self.bytes > self.limits.max_bytes { Err(self.limits.too_large()) } else { Ok(()) }
    }

    /// Adds a row whose values were [`count`](Self::count)ed; past the row limit, marks the answer truncated.
    fn push(&mut self, row: Vec<serde_json::Value>) {
        if self.full() {
            self.result.truncated = true;
        } else {
            self.result.rows.push(row);
        }
    }
}

/// Runs `sql` on the store at `location` without opening it for writing or migrating it: the store must exist.
pub async fn run(location: &StoreLocation, sql: &str, limits: &QueryLimits) -> Result<QueryResult, StoreError> {
    match location {
        #[cfg(feature = "sqlite")]
        StoreLocation::Sqlite(path) => sqlite::run_blocking(path.clone(), sql.to_owned(), limits.clone()).await,
        #[cfg(not(feature = "sqlite"))]
        StoreLocation::Sqlite(_) => Err(StoreError::NotBuilt("sqlite")),
        #[cfg(feature = "postgres")]
        StoreLocation::Postgres(url) => postgres::run_at(url, sql, limits).await,
        #[cfg(not(feature = "postgres"))]
        StoreLocation::Postgres(_) => Err(StoreError::NotBuilt("postgres")),
    }
}
