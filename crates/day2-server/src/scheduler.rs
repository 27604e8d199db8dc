//! The loop: every job of the configuration (`jobs::of`) runs as a task of its own, and a replica runs only the
//! jobs it holds the lease of (see `lease`).
//!
//! - A collection job reads its source on its schedule (an interval or a cron expression, with jitter), at once
//!   when a watch sees its source change or a run is asked for, and when this replica takes its lease over; it
//!   stores the snapshot. Collections of different sources run side by side, so a slow cloud API does not hold up a
//!   cluster's watch events.
//! - An analysis job (check, drift) runs when a snapshot it reads changed (told at once when this replica stored it,
//!   seen within a second when another replica did), and at least on its own schedule; it reads every source's
//!   latest snapshot from the store, so no source is read twice for two analyses, and records the run. Its first run
//!   waits until every source has a snapshot taken by a live replica (not one left by a previous process), for at
//!   most one lease period.
//!
//! Pipelines are blocking (rayon inside), so they run on the blocking pool. A collection still running after
//! `serve.collection_timeout_seconds` is abandoned (a blocking read cannot be cancelled) and reported as the job's
//! error; the source is read again on the next attempt once the abandoned read has ended, never twice at once. A
//! reload rebuilds the jobs after the running ones finish; at shutdown every running job finishes first.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use day2_engine::config::Schedule;
use day2_engine::pipeline::{self, Analyzers, RunKind, Settings};
use day2_engine::sources::SourceConfig;
use tokio::sync::watch;

use crate::jobs::{self, Job, Work};
use crate::{JobHealth, SourceHealth, State, lease};

/// How often an analysis job looks for snapshots other replicas stored; also the least time between two of its
/// runs, so a burst of collections costs one analysis.
const POLL: Duration = Duration::from_secs(1);
/// How long a job waits after a run that could not read or record, at first; doubled on each failure.
const RETRY: Duration = Duration::from_secs(1);
/// At most this long between retries.
const MAX_RETRY: Duration = Duration::from_secs(60);
/// Collections of one replica at once (each reads a source on a thread of its own).
pub(crate) const COLLECTIONS_AT_ONCE: usize = 4;

pub(crate) async fn run(
    config_name: String,
    interval: Duration,
    state: Arc<State>,
    mut stopped: watch::Receiver<bool>,
) {
    let housekeeping = tokio::spawn(housekeep(state.clone(), interval));
    loop {
        let jobs = jobs::of(&state.loaded().config);
        state.expect_first_runs(jobs.iter().map(|j| j.name.clone()));
        let (stop, stop_jobs) = watch::channel(false);
        let mut tasks = tokio::task::JoinSet::new();
        for job in jobs {
            let runner = Runner { job, config_name: config_name.clone(), interval, state: state.clone() };
            tasks.spawn(runner.run(stop_jobs.clone()));
        }
        let reloaded = tokio::select! {
            () = state.reloaded_jobs.notified() => true,
            _ = stopped.changed() => false,
        };
        let _ = stop.send(true);
        if !reloaded {
            // Other replicas take the idle jobs now, the running ones as they finish.
            state.leases.stop_taking();
            lease::release_idle(&state).await;
        }
        while tasks.join_next().await.is_some() {}
        if !reloaded || *stopped.borrow() {
            break;
        }
        tracing::info!("Jobs rebuilt after a reload.");
    }
    housekeeping.abort();
}

/// Metrics from the store every interval (every replica's say what the store says, whichever replica ran the
/// jobs), and pruning every hour by the replica that runs the checks.
async fn housekeep(state: Arc<State>, interval: Duration) {
    let mut last_prune: Option<Instant> = None;
    loop {
        refresh_metrics(&state).await;
        if state.leases.holds(&jobs::lease_of("check")) && last_prune.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
            prune(&state, state.loaded().config.serve.retention_days).await;
            last_prune = Some(Instant::now());
        }
        tokio::time::sleep(interval.min(Duration::from_secs(60))).await;
    }
}

/// One job's task.
struct Runner {
    job: Job,
    config_name: String,
    interval: Duration,
    state: Arc<State>,
}

impl Runner {
    async fn run(self, mut stop: watch::Receiver<bool>) {
        let (state, lease) = (&self.state, self.job.lease());
        let wake = state.job_waker(&self.job.name);
        let started = Instant::now();
        let mut due = self.next_start();
        // Asked to run (due, woken, or at start).
        let mut wanted = true;
        // The digests of the snapshots the last analysis read.
        let mut analyzed: Option<Vec<(String, String)>> = None;
        let mut last_run: Option<Instant> = None;
        // The analyzers compiled for the last analysis, with the policy files they were compiled from.
        let mut compiled: Option<Compiled> = None;
        // After a run that could not read or record: not before then, and the wait after the next failure.
        let (mut not_before, mut backoff) = (Instant::now(), RETRY);
        loop {
            if *stop.borrow() {
                return;
            }
            let mut outcome = None;
            match &self.job.work {
                Work::Collect(source) => {
                    if wanted && Instant::now() >= not_before && state.leases.start(&lease) {
                        outcome = Some(self.collect(source, &mut stop).await);
                        state.leases.finish(&lease);
                    }
                    if outcome.is_some() || !state.leases.holds(&lease) {
                        state.first_run_done(&self.job.name);
                    }
                }
                Work::Analyze(kind) => {
                    let rested = last_run.is_none_or(|at| at.elapsed() >= POLL) && Instant::now() >= not_before;
                    if !state.leases.holds(&lease) {
                        wanted = false;
                        state.first_run_done(&self.job.name);
                    } else if rested
                        && let Some(inputs) = self.inputs(analyzed.is_none(), started).await
                        && (wanted || analyzed.as_ref() != Some(&inputs))
                        && state.leases.start(&lease)
                    {
                        let done = self.analyze(*kind, &mut compiled).await;
                        state.leases.finish(&lease);
                        last_run = Some(Instant::now());
                        if done {
                            analyzed = Some(inputs);
                        }
                        outcome = Some(done);
                        state.first_run_done(&self.job.name);
                    }
                }
            }
            match outcome {
                Some(true) => (wanted, backoff) = (false, RETRY),
                // Could not read or record: tried again after a pause that doubles.
                Some(false) => {
                    not_before = Instant::now() + backoff;
                    backoff = (backoff * 2).min(MAX_RETRY);
                }
                None if matches!(self.job.work, Work::Collect(_)) && Instant::now() >= not_before => wanted = false,
                None => {}
            }
            let analysis = matches!(self.job.work, Work::Analyze(_));
            let retrying = wanted && not_before > Instant::now();
            tokio::select! {
                () = tokio::time::sleep_until(due.into()) => {
                    wanted = true;
                    due = self.next_start();
                }
                () = wake.notified() => {
                    // A burst of changes (an editor's writes, a rollout's events) costs one run.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    let _ = tokio::time::timeout(Duration::ZERO, wake.notified()).await;
                    wanted = true;
                }
                () = state.inputs_changed.notified(), if analysis => {}
                () = tokio::time::sleep(POLL), if analysis => {}
                () = tokio::time::sleep_until(not_before.into()), if retrying => {}
                _ = stop.changed() => return,
            }
        }
    }

    /// When the job is due again: by its schedule, else every `interval`; plus a random part of the jitter.
    fn next_start(&self) -> Instant {
        let jitter = self.state.loaded().config.serve.schedule.jitter_seconds;
        next_start(Instant::now(), self.job.schedule.as_deref(), self.interval, jitter)
    }

    /// The digests of the snapshots an analysis reads, by source; None while a first analysis should wait (a
    /// source has no snapshot yet from a live replica, for at most one lease period) or the store does not answer.
    async fn inputs(&self, first: bool, started: Instant) -> Option<Vec<(String, String)>> {
        let state = &self.state;
        let config = &state.loaded().config;
        let names = source_names(&config.sources);
        let heads = match state.store.snapshot_heads().await {
            Ok(heads) => heads,
            Err(e) => {
                tracing::warn!(job = %self.job.name, error = %e, "Cannot read the snapshots; trying again.");
                return None;
            }
        };
        let inputs: Vec<(String, String)> =
            heads.iter().filter(|h| names.contains(&h.source)).map(|h| (h.source.clone(), h.digest.clone())).collect();
        let waited_enough = started.elapsed() >= Duration::from_secs(config.serve.lease_seconds);
        if first && !waited_enough {
            let Ok(table) = state.store.leases().await else { return None };
            let live: BTreeSet<&str> = lease::replicas(&table).collect();
            let current = |name: &String| heads.iter().any(|h| &h.source == name && live.contains(h.holder.as_str()));
            if !names.iter().all(current) {
                return None;
            }
        }
        Some(inputs)
    }

    /// Reads the source and stores its snapshot (if this replica still holds the job): the analyses that read it run
    /// when it changed. False when the snapshot could not be taken in time or stored (worth trying again soon).
    async fn collect(&self, source: &SourceConfig, stop: &mut watch::Receiver<bool>) -> bool {
        let (state, name) = (&self.state, self.job.name.as_str());
        let Ok(_turn) = state.collecting.acquire().await else { return false };
        let started_at = Utc::now();
        let clock = Instant::now();
        let mut stored = false;
        let timeout = Duration::from_secs(state.loaded().config.serve.collection_timeout_seconds);
        let outcome = self.read(source, timeout, stop).await;
        if outcome.is_err() {
            // A read that did not end leaves its source not complete, as of now.
            let mut sources = state.sources.write().await;
            if let Some(health) = sources.get_mut(&source.source().name()) {
                health.complete = false;
                health.last_run = started_at;
                state.metrics.source(name, &health.name, false, health.resources);
            }
        }
        let mut health = JobHealth::new(name, started_at);
        match outcome {
            Ok(snapshot) => {
                let recorded = if lease::still_held(state, &self.job.lease()).await {
                    let record = day2_store::SnapshotRecord {
                        snapshot: &snapshot,
                        side: source.source().side(),
                        holder: state.leases.holder(),
                        started_at,
                        finished_at: Utc::now(),
                    };
                    state.store.record_snapshot(&record).await.map_err(|e| format!("storing the snapshot: {e}"))
                } else {
                    Err("not recorded: another replica took the job over during the collection".to_owned())
                };
                match recorded {
                    Ok(changed) => {
                        stored = true;
                        if changed {
                            state.inputs_changed.notify_waiters();
                        }
                    }
                    Err(e) => health.error = Some(e),
                }
                let errors = snapshot.diagnostics.iter().filter(|d| d.kind.is_error()).count();
                if errors > 0 && health.error.is_none() {
                    health.error = Some(format!("{errors} input or collection errors (see the run's diagnostics)"));
                }
                let resources = snapshot.resources.len();
                health.resources = resources;
                let mut sources = state.sources.write().await;
                let previous = sources.get(&snapshot.source).and_then(|h| h.last_complete);
                sources.insert(
                    snapshot.source.clone(),
                    SourceHealth {
                        job: name.to_owned(),
                        name: snapshot.source.clone(),
                        complete: snapshot.complete,
                        resources,
                        last_run: started_at,
                        last_complete: if snapshot.complete { Some(started_at) } else { previous },
                    },
                );
                state.metrics.source(name, &snapshot.source, snapshot.complete, resources);
            }
            Err(e) => health.error = Some(e),
        }
        health.duration_seconds = clock.elapsed().as_secs_f64();
        finish(state, health).await;
        stored
    }

    /// Reads the source on a blocking thread, for at most `timeout` and until the server stops. A read that runs
    /// longer is abandoned (a blocking read cannot be cancelled) and kept in `State::abandoned`; while it runs, the
    /// source is not read again.
    async fn read(
        &self,
        source: &SourceConfig,
        timeout: Duration,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<day2_model::Snapshot, String> {
        let name = &self.job.name;
        let finished = {
            let mut abandoned = self.state.abandoned.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if abandoned.get(name).is_some_and(|reading| !reading.is_finished()) {
                return Err(format!(
                    "a collection abandoned for taking longer than {} s (serve.collection_timeout_seconds) is still \
                     running; not started again until it ends",
                    timeout.as_secs()
                ));
            }
            abandoned.remove(name)
        };
        if let Some(reading) = finished
            && let Err(e) = reading.await
        {
            tracing::warn!(job = %name, error = %e, "An abandoned collection failed.");
        }
        let entry = source.clone();
        let mut reading = tokio::task::spawn_blocking(move || pipeline::collect_source(entry.source()));
        let why = tokio::select! {
            joined = &mut reading => return joined.map_err(|e| format!("the collection failed: {e}")),
            () = tokio::time::sleep(timeout) => format!(
                "the collection took longer than {} s (serve.collection_timeout_seconds); abandoned, tried again later",
                timeout.as_secs()
            ),
            _ = stop.changed() => "the server stopped during the collection; abandoned".to_owned(),
        };
        self.state.abandoned.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(name.clone(), reading);
        Err(why)
    }

    /// Analyzes the stored snapshots of every source and records the run (if this replica still holds the job),
    /// with the analyzers compiled for the last run unless a policy file changed since. False when the snapshots
    /// could not be read or the run not recorded (worth trying again soon).
    async fn analyze(&self, kind: RunKind, compiled: &mut Option<Compiled>) -> bool {
        let (state, name) = (&self.state, self.job.name.as_str());
        let loaded = state.loaded();
        let config = &loaded.config;
        // Posture runs on live state too in the server, whatever `live_posture` says for `day2 check`.
        let settings = Settings { live_posture: true, ..Settings::new(config, &[], &self.config_name) };
        let mut health = JobHealth::new(name, settings.now);
        let clock = Instant::now();
        let snapshots = match state.store.snapshots(&source_names(&config.sources)).await {
            Ok(snapshots) => snapshots,
            Err(e) => {
                health.error = Some(format!("reading the snapshots: {e}"));
                finish(state, health).await;
                return false;
            }
        };
        let mut recorded_ok = false;
        let cached = compiled.take();
        let analysis = tokio::task::spawn_blocking(move || {
            let policies = Analyzers::policy_digest(&settings);
            let analyzers = match cached {
                Some(cached) if Arc::ptr_eq(&cached.config, &loaded) && cached.policies == policies => cached.analyzers,
                _ => Arc::new(Analyzers::new(&settings, kind)),
            };
            let run = pipeline::analyze(&settings, &analyzers, snapshots);
            (run, Compiled { analyzers, config: loaded, policies })
        });
        match analysis.await {
            Ok((run, kept)) => {
                *compiled = Some(kept);
                health.resources = run.report.summary.resources;
                health.findings = run.report.findings.len();
                let recorded = if lease::still_held(state, &self.job.lease()).await {
                    pipeline::record(state.store.as_ref(), &run).await.map_err(|e| format!("recording the run: {e}"))
                } else {
                    Err("not recorded: another replica took the job over during the run".to_owned())
                };
                match recorded {
                    Ok(recorded) => {
                        recorded_ok = true;
                        health.new = recorded.new.len();
                        health.resolved = recorded.resolved.len();
                        state.recorded.notify_waiters();
                        refresh_metrics(state).await;
                    }
                    Err(e) => health.error = Some(e),
                }
            }
            Err(e) => health.error = Some(format!("the run failed: {e}")),
        }
        health.duration_seconds = clock.elapsed().as_secs_f64();
        finish(state, health).await;
        recorded_ok
    }
}

/// Analyzers compiled for an analysis job, with what they were compiled from: the configuration in force and the
/// digest of the policy files. Either changing compiles them again.
struct Compiled {
    analyzers: Arc<Analyzers>,
    config: Arc<crate::Loaded>,
    policies: u64,
}

/// The names of the sources that name something to read: the inputs of the analyses.
fn source_names(sources: &[SourceConfig]) -> Vec<String> {
    sources.iter().map(SourceConfig::source).filter(|s| !s.is_empty()).map(|s| s.name()).collect()
}

/// Logs a job's run and keeps it as the job's health.
async fn finish(state: &State, health: JobHealth) {
    state.metrics.job(&health.job, health.duration_seconds, health.error.is_none());
    if let Some(error) = &health.error {
        tracing::warn!(job = %health.job, error, "Job finished with errors.");
    } else {
        tracing::info!(
            job = %health.job,
            resources = health.resources,
            findings = health.findings,
            new = health.new,
            resolved = health.resolved,
            elapsed_ms = (health.duration_seconds * 1000.0) as u64,
            "Job done."
        );
    }
    state.jobs.write().await.insert(health.job.clone(), health);
}

/// When a job that starts at `now` is due again: by its schedule (validated at load), else every `interval`; plus a
/// random part of the jitter.
fn next_start(now: Instant, schedule: Option<&str>, interval: Duration, jitter_seconds: u64) -> Instant {
    let wait = schedule.and_then(|s| Schedule::parse(s).ok()).map_or(interval, |s| s.wait_from(Utc::now()));
    let mut random = [0u8; 4];
    let fraction = match getrandom::fill(&mut random) {
        Ok(()) => f64::from(u32::from_le_bytes(random)) / f64::from(u32::MAX),
        Err(_) => 0.5,
    };
    let jitter = Duration::from_secs(jitter_seconds).mul_f64(fraction);
    // A schedule that never comes again (a cron date that does not exist) is looked at again in a year.
    now.checked_add(wait.saturating_add(jitter)).unwrap_or_else(|| now + Duration::from_secs(365 * 86_400))
}

async fn refresh_metrics(state: &State) {
    state.metrics.follow_log(state.store.as_ref()).await;
    match state.store.findings(&day2_store::FindingQuery::default()).await {
        Ok(open) => state.metrics.findings(&open),
        Err(e) => tracing::error!(error = %e, "cannot read findings for metrics"),
    }
}

/// How often history older than `serve.retention_days` is pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

async fn prune(state: &State, retention_days: u32) {
    if retention_days == 0 {
        return;
    }
    let Some(before) = Utc::now().checked_sub_signed(chrono::Duration::days(i64::from(retention_days))) else { return };
    match state.store.prune(before).await {
        Ok(pruned) => tracing::info!(?pruned, retention_days, "Pruned history."),
        Err(e) => tracing::warn!(error = %e, "Cannot prune history; trying again in an hour."),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn schedules_interval_cron_and_jitter() {
        let now = Instant::now();
        let minute = Duration::from_secs(60);
        assert_eq!(next_start(now, None, minute, 0), now + minute, "no schedule: the interval");
        assert_eq!(next_start(now, Some("30s"), minute, 0), now + Duration::from_secs(30));
        // Every second (six fields): due within a second.
        let cron = next_start(now, Some("* * * * * *"), minute, 0);
        assert!(cron > now && cron <= now + Duration::from_secs(1), "{:?}", cron - now);
        let jittered = next_start(now, Some("30s"), minute, 10);
        assert!(jittered >= now + Duration::from_secs(30) && jittered <= now + Duration::from_secs(40));
    }
}
