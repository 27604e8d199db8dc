//! day2 stores: remember resources and findings across runs, so a scan can say what is new and what was resolved.
//!
//! [`Store`] is the contract, one trait per capability: [`RunStore`] (runs, findings, resources, topology,
//! coverage, queries, retention, the redaction key), [`OutboxStore`] (the lifecycle log and notifier positions), [`LeaseStore`] and
//! [`SnapshotStore`] (a `dyn Store` has them all; a concrete backend is used through the capability's trait).
//! [`sqlite::SqliteStore`] is the embedded backend (WAL mode) and
//! [`postgres::PgStore`] the shared one, where several `day2 serve` replicas divide the work through leases. Both pass
//! the same conformance tests (`tests/conformance.rs`); [`open`] picks one from a [`StoreLocation`].
//!
//! Lifecycle of a finding: first seen → open (or suppressed) → resolved when a run no longer sees it *and* the source of
//! its resource was read completely *and* its rule ran → reopened if it comes back. A partial or failed collection
//! never resolves anything.

mod lifecycle;
pub mod outcomes;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod query;
#[cfg(feature = "sqlite")]
pub mod sqlite;

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use day2_model::{Finding, Resource, SourceSummary};
pub use query::{QueryLimits, QueryResult};

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
    /// A `day2 query` statement was refused before it ran.
    #[error("query refused: {0}")]
    Refused(query::statement::Refusal),
    /// A `day2 query` statement was stopped by one of its limits.
    #[error("query stopped: {0}")]
    QueryLimit(String),
    /// Stored data could not be decoded (written by an incompatible version?).
    #[error("store holds data this version cannot read: {0}")]
    Decode(String),
    /// Another replica stored newer work under a job this one held (its lease lapsed meanwhile): not recorded.
    #[error("not recorded: {0}")]
    Superseded(String),
    /// The location names a backend this build does not include.
    #[error("this day2 was built without the {0} store (cargo feature `{0}`)")]
    NotBuilt(&'static str),
}

/// Where the store lives: a SQLite file (the default) or a PostgreSQL database shared by replicas. Shown (`Display`,
/// `Debug`) without the URL's password.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// A SQLite file, created when missing.
    Sqlite(PathBuf),
    /// A `postgres://` or `postgresql://` URL.
    Postgres(String),
}

impl std::str::FromStr for StoreLocation {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            Ok(StoreLocation::Postgres(s.to_owned()))
        } else if let Some((scheme, _)) = s.split_once("://") {
            // Not the whole text: it may hold a password.
            Err(format!("`{scheme}://…`: a store is a SQLite file path or a postgres:// URL"))
        } else if s.is_empty() {
            Err("the store path is empty".to_owned())
        } else {
            Ok(StoreLocation::Sqlite(PathBuf::from(s)))
        }
    }
}

impl std::fmt::Display for StoreLocation {
    /// The path, or the URL without its password (it ends up in logs).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreLocation::Sqlite(path) => write!(f, "{}", path.display()),
            StoreLocation::Postgres(url) => f.write_str(&redact_password(url)),
        }
    }
}

impl std::fmt::Debug for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StoreLocation({self})")
    }
}

/// `postgres://user:secret@host/db?password=x` → `postgres://user:***@host/db?password=***`.
fn redact_password(url: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let base = match base.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((credentials, host)) if credentials.contains(':') => {
                let user = credentials.split(':').next().unwrap_or_default();
                format!("{scheme}://{user}:***@{host}")
            }
            _ => base.to_owned(),
        },
        None => base.to_owned(),
    };
    let Some(query) = query else { return base };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some(("password", _)) => "password=***".to_owned(),
            _ => pair.to_owned(),
        })
        .collect();
    format!("{base}?{}", query.join("&"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::StoreLocation;

    #[test]
    fn a_snapshot_that_does_not_read_back_is_an_incomplete_one_that_says_so() {
        let snapshot = super::parse_snapshot("live:prod", "{\"resources\": 7}");
        assert_eq!(snapshot.source, "live:prod");
        assert!(!snapshot.complete, "nothing of it may be taken as gone");
        assert!(snapshot.diagnostics[0].message.contains("does not read back"), "{:?}", snapshot.diagnostics);
    }

    #[test]
    fn locations_parse_and_never_show_passwords() {
        let pg: StoreLocation = "postgres://day2:s3cr@t@db:5432/day2?sslmode=require&password=x".parse().unwrap();
        assert_eq!(pg.to_string(), "postgres://day2:***@db:5432/day2?sslmode=require&password=***");
        assert!(!format!("{pg:?}").contains("s3cr"));
        assert_eq!(
            "postgresql://db/day2".parse::<StoreLocation>().map(|l| l.to_string()),
            Ok("postgresql://db/day2".into())
        );
        assert_eq!("day2.db".parse(), Ok(StoreLocation::Sqlite("day2.db".into())));
        assert!("mysql://db/day2".parse::<StoreLocation>().unwrap_err().contains("postgres://"));
        assert!("".parse::<StoreLocation>().is_err());
    }
}

/// Opens (creating and migrating as needed) the store at `location`.
pub async fn open(location: &StoreLocation) -> Result<std::sync::Arc<dyn Store>, StoreError> {
    match location {
        #[cfg(feature = "sqlite")]
        StoreLocation::Sqlite(path) => Ok(std::sync::Arc::new(sqlite::SqliteStore::open(path).await?)),
        #[cfg(not(feature = "sqlite"))]
        StoreLocation::Sqlite(_) => Err(StoreError::NotBuilt("sqlite")),
        #[cfg(feature = "postgres")]
        StoreLocation::Postgres(url) => Ok(std::sync::Arc::new(postgres::PgStore::open(url).await?)),
        #[cfg(not(feature = "postgres"))]
        StoreLocation::Postgres(_) => Err(StoreError::NotBuilt("postgres")),
    }
}

/// A fresh random redaction key.
fn new_key() -> Result<[u8; 32], StoreError> {
    let mut key = [0_u8; 32];
    getrandom::fill(&mut key).map_err(|e| StoreError::Query(format!("no randomness for the redaction key: {e}")))?;
    Ok(key)
}

/// A stored key as 32 bytes.
fn key_of(bytes: &[u8]) -> Result<[u8; 32], StoreError> {
    bytes.try_into().map_err(|_| StoreError::Decode(format!("the redaction key has {} bytes, not 32", bytes.len())))
}

/// Who holds a lease, until when.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct Lease {
    /// What it is for (`job:check`, `notify`, …).
    pub name: String,
    /// The replica holding it.
    pub holder: String,
    /// When it lapses unless renewed.
    pub expires_at: DateTime<Utc>,
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

/// The topology of a run: its relations, and the live copy of each declared object it read on both sides.
#[derive(Debug, Clone, Copy)]
pub struct TopologyRecord<'a> {
    /// When the run started.
    pub started_at: DateTime<Utc>,
    /// Sources read: the relations of a complete one are replaced, an incomplete one's are only added to.
    pub sources: &'a [SourceSummary],
    /// The relations between the run's resources, each with the source that showed it: the live source for what
    /// only live state says, so a run that does not read it does not drop it.
    pub relations: &'a [(day2_model::Relation, String)],
    /// Live copies of declared objects (same id as a declared resource), each under its live source.
    pub live_copies: &'a [Resource],
}

impl TopologyRecord<'_> {
    /// The names of the complete sources: their relations are replaced, and their live copies forgotten unless seen
    /// again.
    pub(crate) fn complete(&self) -> Vec<&str> {
        self.sources.iter().filter(|s| s.complete).map(|s| s.name.as_str()).collect()
    }
}

/// One collection a job hands to the store: the snapshot of its source, and when and by whom it was taken.
#[derive(Debug, Clone, Copy)]
pub struct SnapshotRecord<'a> {
    /// What the source holds (its `source` is the source's name).
    pub snapshot: &'a day2_model::Snapshot,
    /// Whether the source is declared or live.
    pub side: day2_model::Side,
    /// The replica that collected it.
    pub holder: &'a str,
    /// When the collection started.
    pub started_at: DateTime<Utc>,
    /// When it finished.
    pub finished_at: DateTime<Utc>,
}

impl SnapshotRecord<'_> {
    /// The snapshot as stored (JSON) and its digest (SHA-256, hex): equal digests mean the source held the same.
    /// The digest leaves out when each live object was read (`origin.observed_at`, new at every read), so a cluster
    /// that did not change is not analyzed again.
    pub(crate) fn encode(&self) -> Result<(String, String), StoreError> {
        use sha2::Digest as _;
        let data = lifecycle::json(self.snapshot)?;
        let mut contents = serde_json::to_value(self.snapshot).map_err(|e| StoreError::Decode(e.to_string()))?;
        let resources = contents.get_mut("resources").and_then(serde_json::Value::as_array_mut);
        for resource in resources.into_iter().flatten() {
            if let Some(origin) = resource.get_mut("origin").and_then(serde_json::Value::as_object_mut) {
                origin.remove("observed_at");
            }
        }
        let digest = sha2::Sha256::digest(contents.to_string().as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
        Ok((data, digest))
    }
}

/// The latest stored snapshot of a source, without its contents.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct SnapshotHead {
    /// The source's name.
    pub source: String,
    /// SHA-256 of the stored snapshot.
    pub digest: String,
    /// When its collection finished.
    pub taken_at: DateTime<Utc>,
    /// The replica that collected it.
    pub holder: String,
}

/// Whether a snapshot about to be stored is older than the one stored by another replica.
pub(crate) fn superseded(record: &SnapshotRecord<'_>, stored: Option<(&str, DateTime<Utc>)>) -> Result<(), StoreError> {
    match stored {
        Some((holder, taken_at)) if holder != record.holder && taken_at > record.started_at => {
            Err(StoreError::Superseded(format!(
                "{} took a snapshot of {} at {taken_at}, after this collection started",
                holder, record.snapshot.source
            )))
        }
        _ => Ok(()),
    }
}

/// One stored resource with both sides of it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct ResourceDetail {
    /// The listing fields.
    #[serde(flatten)]
    pub resource: StoredResource,
    /// The object as declared (secrets redacted), when it is declared.
    pub declared: Option<serde_json::Value>,
    /// The object as it runs (secrets redacted), when a live source read it.
    pub live: Option<serde_json::Value>,
    /// When a live source last read it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live_seen: Option<DateTime<Utc>>,
}

/// A stored snapshot read back. One that does not parse (written by another version) is an incomplete snapshot
/// saying so, so the analyses go on with the other sources and resolve nothing of this one.
pub(crate) fn parse_snapshot(source: &str, data: &str) -> day2_model::Snapshot {
    serde_json::from_str(data).unwrap_or_else(|e| day2_model::Snapshot {
        source: source.to_owned(),
        complete: false,
        diagnostics: vec![day2_model::Diagnostic::new(
            day2_model::DiagnosticKind::Unreadable,
            source,
            None,
            format!("the stored snapshot does not read back ({e}); it is taken again at the next collection"),
        )],
        ..day2_model::Snapshot::default()
    })
}

/// A stored side (`declared`, `live`); unknown for rows recorded before sides were kept.
pub(crate) fn side(stored: Option<&str>) -> Option<day2_model::Side> {
    match stored? {
        "declared" => Some(day2_model::Side::Declared),
        "live" => Some(day2_model::Side::Live),
        _ => None,
    }
}

/// A JSON column read back.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Decode(e.to_string()))
}

/// A relation read back: its kind by the name it was stored under.
pub(crate) fn relation(from: &str, kind: &str, to: &str) -> Result<day2_model::Relation, StoreError> {
    let kind = serde_json::from_value(serde_json::Value::String(kind.to_owned()))
        .map_err(|_| StoreError::Decode(format!("unknown relation kind `{kind}`")))?;
    Ok(day2_model::Relation {
        from: day2_model::ResourceId::from_raw(from),
        kind,
        to: day2_model::ResourceId::from_raw(to),
    })
}

/// A resource's detail from its row: `attrs` is the declared object unless the row is live-only.
pub(crate) fn detail(
    resource: StoredResource,
    attrs: serde_json::Value,
    live_attrs: Option<serde_json::Value>,
    live_seen: Option<DateTime<Utc>>,
) -> ResourceDetail {
    let (declared, live) = match resource.side {
        Some(day2_model::Side::Live) => (None, Some(attrs)),
        _ => (Some(attrs), live_attrs),
    };
    let live_seen = match resource.side {
        Some(day2_model::Side::Live) => Some(resource.last_seen),
        _ => live_seen,
    };
    ResourceDetail { resource, declared, live, live_seen }
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

/// A stored finding's state, as listings filter on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredState {
    /// Active.
    Open,
    /// Active but silenced by a suppression.
    Suppressed,
    /// No longer seen.
    Resolved,
}

impl StoredState {
    /// The state a stored row names; another name is data this version cannot read.
    pub(crate) fn from_stored(name: &str) -> Result<Self, StoreError> {
        match name {
            "open" => Ok(StoredState::Open),
            "suppressed" => Ok(StoredState::Suppressed),
            "resolved" => Ok(StoredState::Resolved),
            other => Err(StoreError::Decode(format!("unknown finding state `{other}`"))),
        }
    }

    /// The name in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            StoredState::Open => "open",
            StoredState::Suppressed => "suppressed",
            StoredState::Resolved => "resolved",
        }
    }
}

/// Which stored findings to list, and which page of them: filters and paging run in the database.
#[derive(Debug, Clone, Default)]
pub struct FindingQuery {
    /// States listed; none given lists the open ones.
    pub states: Vec<StoredState>,
    /// Only this domain.
    pub domain: Option<day2_model::Domain>,
    /// Only this severity.
    pub severity: Option<day2_model::Severity>,
    /// Only findings of resources this team owns.
    pub team: Option<String>,
    /// Only findings about this resource.
    pub resource: Option<String>,
    /// At most this many (most severe first, then by file and line).
    pub limit: Option<u32>,
    /// Skip this many first.
    pub offset: u32,
}

impl FindingQuery {
    /// Every finding, whatever its state.
    pub fn all() -> Self {
        FindingQuery {
            states: vec![StoredState::Open, StoredState::Suppressed, StoredState::Resolved],
            ..FindingQuery::default()
        }
    }

    /// The state names listed.
    pub(crate) fn state_names(&self) -> Vec<&'static str> {
        if self.states.is_empty() { vec!["open"] } else { self.states.iter().map(|s| s.as_str()).collect() }
    }
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

/// Which stored resources to list, and which page of them.
#[derive(Debug, Clone, Default)]
pub struct ResourceQuery {
    /// Only this provider (`k8s`, `tf`, `aws`, `postgres`).
    pub provider: Option<String>,
    /// Only this kind (`apps.Deployment`, `aws_s3_bucket`).
    pub kind: Option<String>,
    /// Only this namespace.
    pub namespace: Option<String>,
    /// Only resources this team owns.
    pub team: Option<String>,
    /// At most this many (by id).
    pub limit: Option<u32>,
    /// Skip this many first.
    pub offset: u32,
}

/// A resource as the store keeps it (its raw object is left out of listings).
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct StoredResource {
    /// Identity.
    pub id: String,
    /// `k8s`, `tf`, `aws`, `postgres`.
    pub provider: String,
    /// Kind.
    pub kind: String,
    /// Namespace (empty when none).
    pub namespace: String,
    /// Name.
    pub name: String,
    /// The source that last saw it.
    pub source: String,
    /// Owner (team, service, environment, owner).
    pub owner: day2_model::Owner,
    /// Declared, or seen only live (unknown for resources recorded before day2 kept it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub side: Option<day2_model::Side>,
    /// When it was first seen.
    pub first_seen: DateTime<Utc>,
    /// When it was last seen.
    pub last_seen: DateTime<Utc>,
}

/// IaC coverage of one live scope, from the latest drift run that read it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct StoredCoverage {
    /// The coverage.
    #[serde(flatten)]
    pub coverage: day2_model::Coverage,
    /// When that drift run started.
    pub at: DateTime<Utc>,
}

/// What [`RunStore::prune`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Pruned {
    /// Lifecycle events.
    pub events: u64,
    /// Resolved findings.
    pub findings: u64,
    /// Resources no longer seen.
    pub resources: u64,
    /// Runs nothing refers to any more.
    pub runs: u64,
}

/// Runs, findings, resources, topology and coverage: what a recorded run writes and what readers ask of it.
#[async_trait::async_trait]
pub trait RunStore: Send + Sync {
    /// Records a run atomically and returns what changed.
    async fn record_run(&self, run: &RunRecord<'_>) -> Result<RunOutcome, StoreError>;
    /// Lists findings, most severe first.
    async fn findings(&self, query: &FindingQuery) -> Result<Vec<Finding>, StoreError>;
    /// Number of recorded runs.
    async fn run_count(&self) -> Result<i64, StoreError>;
    /// The key credentials are tokenized with, made (randomly) the first time it is asked for; replicas sharing the
    /// store get the same one.
    async fn redaction_key(&self) -> Result<[u8; 32], StoreError>;
    /// Runs one `SELECT` over the relations documented in docs/query.md under `limits`, through [`query`]'s gates:
    /// nothing it runs can write, reach the host or outlast its time limit.
    async fn query(&self, sql: &str, limits: &QueryLimits) -> Result<QueryResult, StoreError>;
    /// Lists stored resources, by id.
    async fn resources(&self, query: &ResourceQuery) -> Result<Vec<StoredResource>, StoreError>;
    /// Records a run's topology: replaces the relations of its complete sources, adds those of the others, and
    /// keeps the live copy of each object it read on both sides.
    async fn record_topology(&self, topology: &TopologyRecord<'_>) -> Result<(), StoreError>;
    /// Relations, sorted; with `touching`, only those that start or end at that resource.
    async fn relations(&self, touching: Option<&str>) -> Result<Vec<day2_model::Relation>, StoreError>;
    /// One resource with its declared and live objects; None when the store does not know it.
    async fn resource(&self, id: &str) -> Result<Option<ResourceDetail>, StoreError>;
    /// Records the IaC coverage a drift run measured, replacing what was known of those scopes.
    async fn record_coverage(&self, at: DateTime<Utc>, coverage: &[day2_model::Coverage]) -> Result<(), StoreError>;
    /// The latest coverage of every scope, by scope.
    async fn coverage(&self) -> Result<Vec<StoredCoverage>, StoreError>;
    /// Forgets history from before `before`: findings resolved then, resources last seen then, the lifecycle events
    /// of those findings that every notifier has dealt with, and the runs nothing refers to any more. Open and
    /// suppressed findings stay however old, with every event of theirs (outcomes need an episode's start).
    async fn prune(&self, before: DateTime<Utc>) -> Result<Pruned, StoreError>;
}

/// The notification outbox: the lifecycle log read in order, and each notifier's position in it.
#[async_trait::async_trait]
pub trait OutboxStore: Send + Sync {
    /// Lifecycle events after `after` (an event id), oldest first, at most `limit`.
    async fn events_after(&self, after: i64, limit: u32) -> Result<Vec<FindingEvent>, StoreError>;
    /// The last event a notifier has dealt with. A notifier seen for the first time starts at the newest event, so
    /// adding one does not replay history.
    async fn notifier_cursor(&self, notifier: &str) -> Result<i64, StoreError>;
    /// Records that a notifier has dealt with every event up to `event`.
    async fn advance_notifier(&self, notifier: &str, event: i64) -> Result<(), StoreError>;
}

/// Leases: which replica runs which job.
#[async_trait::async_trait]
pub trait LeaseStore: Send + Sync {
    /// Takes the lease `name` for `holder`, or renews it when `holder` has it, for `ttl`; true when `holder` holds
    /// it afterwards. A lease its holder stopped renewing lapses after `ttl` and goes to whoever asks next. Expiry
    /// is judged by the database's clock, so replicas' clocks need not agree.
    async fn acquire_lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError>;
    /// Gives the lease up if `holder` has it (at shutdown), so another replica takes it at once.
    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError>;
    /// The leases not yet lapsed, by name.
    async fn leases(&self) -> Result<Vec<Lease>, StoreError>;
}

/// Snapshots: what each source held at its latest collection, the hand-over between collection and analysis jobs.
#[async_trait::async_trait]
pub trait SnapshotStore: Send + Sync {
    /// Stores the snapshot a collection took as its source's latest, and logs the collection, in one transaction;
    /// true when the snapshot differs from the one before (so the analyses that read the source run again). A
    /// snapshot another replica took after this collection started is newer: this one is refused
    /// ([`StoreError::Superseded`]), so a holder whose lease lapsed mid-collection cannot overwrite it.
    async fn record_snapshot(&self, snapshot: &SnapshotRecord<'_>) -> Result<bool, StoreError>;
    /// The latest snapshot of every source, without contents, by source.
    async fn snapshot_heads(&self) -> Result<Vec<SnapshotHead>, StoreError>;
    /// The latest snapshots of these sources, with contents, in the order asked (a source never collected is left
    /// out).
    async fn snapshots(&self, sources: &[String]) -> Result<Vec<day2_model::Snapshot>, StoreError>;
}

/// A persistent store: every capability a backend implements, for `Arc<dyn Store>`. Code that needs one capability
/// imports its trait (`use day2_store::LeaseStore`); the audit log of [K] comes as one more.
pub trait Store: RunStore + OutboxStore + LeaseStore + SnapshotStore {}

impl<T: RunStore + OutboxStore + LeaseStore + SnapshotStore> Store for T {}
