//! `day2 serve`: the continuous Day-2 loop.
//!
//! Module charter:
//! - [`serve`] validates everything it can before any I/O (configuration, store, listen address), then runs the
//!   scheduler and the HTTP server until shutdown.
//! - `jobs`: what a configuration runs, as data: a collection job per source, and the check and drift analyses.
//! - `scheduler`: each job on its schedule, as a task of its own: collections store snapshots, and the analyses (the
//!   same pipeline as `day2 check` and `day2 drift`, over the stored snapshots) run when those change and record the
//!   run, so findings move new → open → resolved → reopened with timestamps. A job's run never overlaps its next; a
//!   failed run is kept as the job's error and the loop goes on.
//! - `api`: health and readiness, findings (filtered), sources and jobs, Prometheus metrics at `/metrics`, and the
//!   mutating endpoints (start a run, reload the configuration), each behind the role it needs.
//! - `auth`: bearer tokens (stored hashed in day2.yaml) and roles.
//! - `metrics`: the exported series, refreshed from the store after each run so they say what the store says.
//!
//! - `watch`: a change to a watched file or cluster collects its source at once (and the analyses follow).
//! - `notify`: the findings' lifecycle, delivered to webhooks, Slack, PagerDuty and Alertmanager from a durable outbox.
//! - `lease`: replicas sharing one PostgreSQL store divide the jobs, each taking its fair share; each job runs on
//!   one of them at a time (started only within its grant, recorded only by its holder), and a dead replica's jobs
//!   move within one lease period.
//!
//! SIGHUP, like `POST /api/v1/config/reload`, reloads day2.yaml: a configuration that does not load is logged and the
//! running one is kept.
//!
//! Later steps of this capability (issue [D]) plug in here: outcomes.

mod api;
pub mod auth;
mod http;
mod jobs;
mod lease;
mod metrics;
pub mod notify;
mod openapi;
mod scheduler;
mod watch;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use day2_engine::config::{Config, ConfigError};
use day2_store::{Store, StoreError, StoreLocation};
use serde::Serialize;
use tokio::sync::RwLock;

/// Settings of one `day2 serve` process.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The configuration file (`day2.yaml`).
    pub config: PathBuf,
    /// Address the HTTP API listens on.
    pub listen: SocketAddr,
    /// The store: a SQLite file, or a PostgreSQL database that replicas share.
    pub store: StoreLocation,
    /// Time between the starts of a job's runs, unless `serve.schedule` says otherwise.
    pub interval: Duration,
    /// Serve HTTPS with this certificate and key rather than plain HTTP.
    pub tls: Option<TlsFiles>,
    /// Serve a non-loopback address without API tokens (read-only, to anyone who can reach it).
    pub allow_anonymous_reads: bool,
}

/// Where the API listens and whether it may do so without tokens: checked at start and on every reload.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Exposure {
    listen: SocketAddr,
    allow_anonymous_reads: bool,
}

impl Exposure {
    /// Refuses a configuration without tokens on an address other hosts can reach, unless allowed explicitly.
    fn check(&self, config: &Config) -> Result<(), ServeError> {
        if config.serve.tokens.is_empty() && !self.listen.ip().is_loopback() && !self.allow_anonymous_reads {
            return Err(ServeError::Unsafe(format!(
                "refusing to serve {} without API tokens: anyone who can reach it would read every finding and \
                 resource. Add a token (`day2 token create`, then serve.tokens in day2.yaml), listen on a loopback \
                 address (--listen 127.0.0.1:{}), or pass --allow-anonymous-reads",
                self.listen,
                self.listen.port()
            )));
        }
        Ok(())
    }

    /// How callers are authenticated, for the log.
    fn auth_mode(config: &Config) -> String {
        match config.serve.tokens.len() {
            0 => "none: read-only for anyone who can connect".to_owned(),
            n => format!("bearer tokens ({n})"),
        }
    }
}

/// A PEM certificate chain and its private key (PKCS#8, PKCS#1 or SEC1), re-read on SIGHUP and on
/// `POST /api/v1/config/reload`, so a renewed certificate is served without a restart.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// The private key.
    pub key: PathBuf,
}

/// Why serving could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The store cannot be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The address cannot be listened on.
    #[error("cannot listen on {addr}: {message}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The error (once: not also as an error source, which would print it twice).
        message: String,
    },
    /// The TLS certificate or key cannot be read or do not match.
    #[error("TLS certificate {cert} and key {key}: {message}")]
    Tls {
        /// Certificate file.
        cert: String,
        /// Key file.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A notifier cannot be set up (a secret's variable is not set).
    #[error(transparent)]
    Notifier(#[from] notify::NotifierError),
    /// The HTTP server failed.
    #[error("HTTP server: {0}")]
    Http(std::io::Error),
    /// The settings would expose the fleet: serving is refused rather than warned about.
    #[error("{0}")]
    Unsafe(String),
}

/// How the last run of a job went (`collect:<source>`, `check`, `drift`).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub(crate) struct JobHealth {
    job: String,
    started_at: DateTime<Utc>,
    duration_seconds: f64,
    /// Resources the run read (a collection: what its source holds; an analysis: both inventories).
    resources: usize,
    findings: usize,
    new: usize,
    resolved: usize,
    /// The run or its recording failed: why.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

impl JobHealth {
    fn new(job: &str, started_at: DateTime<Utc>) -> Self {
        JobHealth {
            job: job.to_owned(),
            started_at,
            duration_seconds: 0.0,
            resources: 0,
            findings: 0,
            new: 0,
            resolved: 0,
            error: None,
        }
    }
}

/// How the last collection of a source went.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub(crate) struct SourceHealth {
    /// The collection job (`collect:<source>`).
    job: String,
    name: String,
    complete: bool,
    resources: usize,
    last_run: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_complete: Option<DateTime<Utc>>,
}

/// The configuration in force, with its tokens: replaced whole on reload.
pub(crate) struct Loaded {
    config: Config,
    tokens: auth::Tokens,
}

/// What the scheduler and the API share.
pub(crate) struct State {
    store: Arc<dyn Store>,
    /// This replica's leases: the jobs it runs.
    leases: lease::Leases,
    config_path: PathBuf,
    exposure: Exposure,
    loaded: std::sync::RwLock<Arc<Loaded>>,
    jobs: RwLock<BTreeMap<String, JobHealth>>,
    /// By source name.
    sources: RwLock<BTreeMap<String, SourceHealth>>,
    /// Set once every job this replica held at start has run once.
    ready: AtomicBool,
    /// The jobs that have not yet had their first turn (run, or found held by another replica).
    first_runs: std::sync::Mutex<BTreeSet<String>>,
    /// Each job's wake-up, by job name: a watched change, a lease taken over or `POST /api/v1/runs` runs it now.
    job_wakers: std::sync::Mutex<BTreeMap<String, Arc<tokio::sync::Notify>>>,
    /// Turns to collect: a few sources are read at once, not every one this replica holds. A read abandoned after
    /// its timeout gives its turn back (so hung sources do not stop the others); there is at most one per source.
    collecting: tokio::sync::Semaphore,
    /// Collections abandoned after their timeout and still running, by job name: kept here, not in the job's
    /// runner, so a reload that rebuilds the runners does not start a second read beside a hung one.
    abandoned: std::sync::Mutex<BTreeMap<String, tokio::task::JoinHandle<day2_model::Snapshot>>>,
    /// Told when this replica stored a changed snapshot: the analyses look at once.
    inputs_changed: tokio::sync::Notify,
    /// Tells the watchers that the configuration changed.
    reloaded: tokio::sync::Notify,
    /// Tells the scheduler that the configuration changed (its jobs are rebuilt).
    reloaded_jobs: tokio::sync::Notify,
    /// Held while a reload reads and swaps the configuration.
    reloading: std::sync::Mutex<()>,
    /// Tells the notifiers that the configuration changed.
    reloaded_notifiers: tokio::sync::Notify,
    /// Tells the notifiers that a run was recorded (its lifecycle events are in the store).
    recorded: tokio::sync::Notify,
    metrics: metrics::Metrics,
    /// The TLS certificate in force, with the files it is re-read from.
    tls: Option<(axum_server::tls_rustls::RustlsConfig, TlsFiles)>,
}

impl State {
    /// The configuration in force.
    pub(crate) fn loaded(&self) -> Arc<Loaded> {
        self.loaded.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Reads day2.yaml again; the running configuration stays when the new one does not load or names a secret
    /// variable that is not set. Reloads (file watch, SIGHUP, API) take turns, so the last file read is the one kept.
    pub(crate) fn reload(&self) -> Result<(), String> {
        let _turn = self.reloading.lock().unwrap_or_else(PoisonError::into_inner);
        let config = Config::load(&self.config_path).map_err(|e| e.to_string())?;
        self.exposure.check(&config).map_err(|e| e.to_string())?;
        for notifier in &config.notifications {
            notify::Notifier::new(notifier).map_err(|e| e.to_string())?;
        }
        let tokens = auth::Tokens::new(&config.serve);
        *self.loaded.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(Loaded { config, tokens });
        self.reloaded.notify_one();
        self.reloaded_jobs.notify_one();
        self.reloaded_notifiers.notify_one();
        tracing::info!(config = %self.config_path.display(), "Configuration reloaded.");
        Ok(())
    }

    /// The wake-up of a job, made the first time it is asked for.
    pub(crate) fn job_waker(&self, job: &str) -> Arc<tokio::sync::Notify> {
        let mut wakers = self.job_wakers.lock().unwrap_or_else(PoisonError::into_inner);
        wakers.entry(job.to_owned()).or_default().clone()
    }

    /// Runs a job now (if this replica holds it; a job busy now runs once more when done).
    pub(crate) fn wake_job(&self, job: &str) {
        if let Some(waker) = self.job_wakers.lock().unwrap_or_else(PoisonError::into_inner).get(job) {
            waker.notify_one();
        }
    }

    /// Runs every job this replica holds now.
    pub(crate) fn wake_all(&self) {
        for waker in self.job_wakers.lock().unwrap_or_else(PoisonError::into_inner).values() {
            waker.notify_one();
        }
    }

    /// Forgets what this replica reported of a job it no longer runs (its lease went to another replica).
    pub(crate) async fn forget_job(&self, job: &str) {
        self.jobs.write().await.remove(job);
        if let Some(source) = jobs::collected_source(job) {
            self.sources.write().await.remove(source);
            self.metrics.forget_source(job, source);
        }
    }

    /// The jobs whose first turn readiness waits for (only at start: a reload does not make a server unready).
    pub(crate) fn expect_first_runs(&self, jobs: impl Iterator<Item = String>) {
        if !self.ready.load(std::sync::atomic::Ordering::Acquire) {
            *self.first_runs.lock().unwrap_or_else(PoisonError::into_inner) = jobs.collect();
        }
    }

    /// A job had its first turn; the server is ready once every job has.
    pub(crate) fn first_run_done(&self, job: &str) {
        let mut waiting = self.first_runs.lock().unwrap_or_else(PoisonError::into_inner);
        if waiting.remove(job) && waiting.is_empty() {
            self.ready.store(true, std::sync::atomic::Ordering::Release);
            tracing::info!("Ready: every job had its first turn.");
        }
    }

    /// Reads the TLS certificate and key again (a renewed certificate); the one in force stays when they do not load.
    pub(crate) async fn reload_tls(&self) -> Result<(), String> {
        let Some((config, files)) = &self.tls else { return Ok(()) };
        config.reload_from_pem_file(&files.cert, &files.key).await.map_err(|e| tls_error(files, &e).to_string())?;
        tracing::info!(cert = %files.cert.display(), "TLS certificate reloaded.");
        Ok(())
    }
}

fn tls_error(files: &TlsFiles, e: &dyn std::fmt::Display) -> ServeError {
    ServeError::Tls {
        cert: files.cert.display().to_string(),
        key: files.key.display().to_string(),
        message: e.to_string(),
    }
}

/// Loads the certificate and key, before anything listens: a bad pair stops the start, naming the files.
async fn load_tls(files: &TlsFiles) -> Result<axum_server::tls_rustls::RustlsConfig, ServeError> {
    // One crypto provider for every rustls user in the process (aws-lc-rs); an error means one is installed already.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    axum_server::tls_rustls::RustlsConfig::from_pem_file(&files.cert, &files.key)
        .await
        .map_err(|e| tls_error(files, &e))
}

/// Serves until `shutdown` completes: the scheduler finishes its current run first, so nothing acknowledged is lost.
pub async fn serve(
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let config = Config::load(&options.config)?;
    let exposure = Exposure { listen: options.listen, allow_anonymous_reads: options.allow_anonymous_reads };
    exposure.check(&config)?;
    // Secrets of notifiers come from the environment: a missing one stops the start, naming the variable.
    for notifier in &config.notifications {
        notify::Notifier::new(notifier)?;
    }
    let tls = match &options.tls {
        Some(files) => Some((load_tls(files).await?, files.clone())),
        None => None,
    };
    let store = day2_store::open(&options.store).await?;
    // Credentials are tokenized with the store's key, the same on every replica and across restarts.
    day2_model::redact::Redactor::install(store.redaction_key().await?);
    // Each notifier's place in the lifecycle log is fixed before the first run, so that run's findings are delivered.
    for notifier in &config.notifications {
        store.notifier_cursor(&notifier.name).await?;
    }
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|e| ServeError::Listen { addr: options.listen, message: e.to_string() })?;
    let addr =
        listener.local_addr().map_err(|e| ServeError::Listen { addr: options.listen, message: e.to_string() })?;
    let tokens = auth::Tokens::new(&config.serve);
    let auth_mode = Exposure::auth_mode(&config);
    let state = Arc::new(State {
        store,
        leases: lease::Leases::new(),
        config_path: options.config.clone(),
        exposure,
        loaded: std::sync::RwLock::new(Arc::new(Loaded { config, tokens })),
        jobs: RwLock::default(),
        sources: RwLock::default(),
        ready: AtomicBool::new(false),
        first_runs: std::sync::Mutex::default(),
        job_wakers: std::sync::Mutex::default(),
        collecting: tokio::sync::Semaphore::new(scheduler::COLLECTIONS_AT_ONCE),
        abandoned: std::sync::Mutex::default(),
        inputs_changed: tokio::sync::Notify::new(),
        reloaded: tokio::sync::Notify::new(),
        reloaded_jobs: tokio::sync::Notify::new(),
        reloaded_notifiers: tokio::sync::Notify::new(),
        reloading: std::sync::Mutex::new(()),
        recorded: tokio::sync::Notify::new(),
        metrics: metrics::Metrics::new(),
        tls,
    });
    // The outcome histograms count what happens from now on: the history only tells which episodes are open.
    state.metrics.follow_log(state.store.as_ref()).await;
    // The first runs are only of the jobs this replica holds the leases of.
    lease::renew(&state, false).await;
    let scheme = if state.tls.is_some() { "https" } else { "http" };
    tracing::info!(
        listen = %format!("{scheme}://{addr}"),
        auth = %auth_mode,
        store = %options.store,
        interval_s = options.interval.as_secs(),
        replica = state.leases.holder(),
        "Serving."
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let config_name = options.config.display().to_string();
    let scheduler = tokio::spawn(scheduler::run(config_name, options.interval, state.clone(), stopped));
    let (stop_leases, leases_stopped) = tokio::sync::watch::channel(false);
    let leases = tokio::spawn(lease::keep(state.clone(), leases_stopped));
    tokio::spawn(reload_on_sighup(state.clone()));
    tokio::spawn(watch::run(state.clone()));
    tokio::spawn(notify::run(state.clone()));
    let stopping = async move {
        shutdown.await;
        tracing::info!("Shutting down: finishing the current run.");
        let _ = stop.send(true);
    };
    let app = api::router(state.clone()).layer(axum::middleware::from_fn_with_state(state.clone(), http::check_host));
    let tls = state.tls.as_ref().map(|(config, _)| config.clone());
    http::serve(listener, app, tls, http::Limits::default(), stopping).await;
    if let Err(e) = scheduler.await {
        tracing::error!(error = %e, "the scheduler stopped abnormally");
    }
    // The last run is recorded: another replica may take the jobs over now.
    let _ = stop_leases.send(true);
    let _ = leases.await;
    lease::release_all(&state).await;
    Ok(())
}

/// SIGHUP reloads the configuration, as daemons do.
async fn reload_on_sighup(state: Arc<State>) {
    #[cfg(unix)]
    {
        let mut hangup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(signal) => signal,
            Err(e) => return tracing::error!(error = %e, "cannot listen for SIGHUP"),
        };
        while hangup.recv().await.is_some() {
            if let Err(e) = state.reload() {
                tracing::error!(error = %e, "SIGHUP: the configuration does not load; the running one is kept");
            }
            if let Err(e) = state.reload_tls().await {
                tracing::error!(error = %e, "SIGHUP: the TLS certificate does not load; the one in force is kept");
            }
        }
    }
    #[cfg(not(unix))]
    drop(state);
}
