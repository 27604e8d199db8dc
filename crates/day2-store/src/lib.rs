//! day2 stores: remember resources and findings across runs, so a scan can say what is new and what was resolved.
//!
//! [`Store`] is the contract; [`sqlite::SqliteStore`] is the embedded backend (WAL mode). A PostgreSQL backend will
//! implement the same trait and pass the same conformance tests (`tests/conformance.rs`).
//!
//! Lifecycle of a finding: first seen → open (or suppressed) → resolved when a run no longer sees it *and* the source of
//! its resource was read completely *and* its rule ran → reopened if it comes back. A partial or failed collection
//! never resolves anything.

#[cfg(feature = "sqlite")]
pub mod sqlite;

use chrono::{DateTime, Utc};
use day2_model::{Finding, Resource, SourceSummary};

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened or migrated.
    #[error("cannot open store {location}: {message}")]
    Open {
        /// Path or URL.
        location: String,
        /// Driver message.
        message: String,
    },
    /// A query failed.
    #[error("store query failed: {0}")]
    Query(String),
    /// Stored data could not be decoded (written by an incompatible version?).
    #[error("store holds data this version cannot read: {0}")]
    Decode(String),
}

/// What one run hands to the store.
#[derive(Debug)]
pub struct RunRecord<'a> {
    /// When the run started (used as the seen/resolved time).
    pub started_at: DateTime<Utc>,
    /// Sources read, with completeness.
    pub sources: &'a [SourceSummary],
    /// Every resource seen.
    pub resources: &'a [Resource],
    /// Every finding, suppressed ones included.
    pub findings: &'a [Finding],
    /// Ids of the rules that ran, sorted. A stored finding of a rule that did not run (`--check`, `--skip`, disabled in
    /// config) is neither seen nor resolved by this run.
    pub rules_run: &'a [String],
}

/// What changed since the previous run.
#[derive(Debug, Default)]
pub struct RunOutcome {
    /// Id of the recorded run.
    pub run_id: i64,
    /// Findings seen for the first time, or again after being resolved.
    pub new: Vec<day2_model::FindingId>,
    /// Of those, the ones that had been resolved before.
    pub reopened: Vec<day2_model::FindingId>,
    /// Findings no longer seen (in sources read completely), with `resolved_at` set.
    pub resolved: Vec<Finding>,
    /// For every finding of the run, when it was first seen (for reports).
    pub first_seen: std::collections::HashMap<day2_model::FindingId, DateTime<Utc>>,
}

/// Which stored findings to list.
#[derive(Debug, Clone, Default)]
pub struct FindingQuery {
    /// Include suppressed findings.
    pub include_suppressed: bool,
    /// Include resolved findings.
    pub include_resolved: bool,
}

/// The answer to a read-only SQL query: column names and rows of JSON values (numbers, text, null).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct QueryResult {
    /// Column names, in order.
    pub columns: Vec<String>,
    /// Rows, each with one value per column.
    pub rows: Vec<Vec<serde_json::Value>>,
}

/// How a finding's lifecycle moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transition {
    /// Seen for the first time.
    Opened,
    /// Seen again after being resolved.
    Reopened,
    /// No longer seen in a source read completely.
    Resolved,
    /// Open, then suppressed (an exception was accepted).
    Suppressed,
}

impl Transition {
    /// The name stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Transition::Opened => "opened",
            Transition::Reopened => "reopened",
            Transition::Resolved => "resolved",
            Transition::Suppressed => "suppressed",
        }
    }
}

/// One entry of the findings' lifecycle log, recorded with the run that caused it.
#[derive(Debug, Clone, PartialEq)]
pub struct FindingEvent {
    /// Position in the log (increasing).
    pub id: i64,
    /// The run that caused it.
    pub run_id: i64,
    /// When (the run's start).
    pub at: DateTime<Utc>,
    /// What happened.
    pub transition: Transition,
    /// The state before: None for a new finding, else `open`, `suppressed` or `resolved`.
    pub previous: Option<String>,
    /// The finding after the transition.
    pub finding: Finding,
}

/// A persistent store of runs, resources and findings.
#[async_trait::async_trait]
pub trait Store: Send + Sync {
    /// Records a run atomically and returns what changed.
    async fn record_run(&self, run: &RunRecord<'_>) -> Result<RunOutcome, StoreError>;
    /// Lists findings, most severe first.
    async fn findings(&self, query: &FindingQuery) -> Result<Vec<Finding>, StoreError>;
    /// Number of recorded runs.
    async fn run_count(&self) -> Result<i64, StoreError>;
    /// Runs one SQL statement over the tables and views documented in docs/query.md, on a read-only connection:
    /// anything that would write fails.
    async fn query(&self, sql: &str) -> Result<QueryResult, StoreError>;
    /// Lifecycle events after `after` (an event id), oldest first, at most `limit`.
    async fn events_after(&self, after: i64, limit: u32) -> Result<Vec<FindingEvent>, StoreError>;
    /// The last event a notifier has dealt with. A notifier seen for the first time starts at the newest event, so
    /// adding one does not replay history.
    async fn notifier_cursor(&self, notifier: &str) -> Result<i64, StoreError>;
    /// Records that a notifier has dealt with every event up to `event`.
    async fn advance_notifier(&self, notifier: &str, event: i64) -> Result<(), StoreError>;
}
