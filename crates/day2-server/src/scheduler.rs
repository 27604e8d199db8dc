//! The loop: each cycle runs the check job, then the drift job when live sources are configured, records each run in
//! the store and refreshes health and metrics. A replica runs only the jobs it holds the lease of (see `lease`).
//! Pipelines are blocking (rayon inside), so they run on the blocking pool.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use chrono::Utc;
use day2_engine::config::Config;
use day2_engine::pipeline::{self, Run, Settings};
use day2_store::RunRecord;

use crate::{JobHealth, SourceHealth, State, lease};

pub(crate) async fn run(
    config_name: String,
    interval: Duration,
    state: Arc<State>,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let mut last_prune = None;
    loop {
        let cycle = Instant::now();
        // The configuration in force at the start of the cycle (a reload takes effect at the next one).
        let config: &Config = &state.loaded().config;
        let settings = Settings::new(config, &[], &config_name);
        if state.leases.holds(lease::CHECK) {
            job(&state, "check", settings.clone(), |s| pipeline::run(&s)).await;
        }
        // A shutdown asked for during the check is not kept waiting by the drift job.
        if config.has_live_sources() && !*stopped.borrow() && state.leases.holds(lease::DRIFT) {
            job(&state, "drift", settings, |s| pipeline::drift(&s)).await;
        }
        // Pruning is one replica's job too: the one that runs the checks.
        if state.leases.holds(lease::CHECK) && last_prune.is_none_or(|at: Instant| at.elapsed() >= PRUNE_EVERY) {
            prune(&state, config.serve.retention_days).await;
            last_prune = Some(Instant::now());
        }
        // Every replica's metrics say what the store says, whichever replica ran the jobs.
        refresh_metrics(&state).await;
        state.ready.store(true, Ordering::Release);
        if *stopped.borrow() {
            break;
        }
        let wait = interval.saturating_sub(cycle.elapsed());
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = state.wake.notified() => {
                // A change was seen (or a run asked for): let a burst of writes settle before reading, and let the
                // one run cover every wake-up of the burst.
                tokio::time::sleep(Duration::from_millis(100)).await;
                let _ = tokio::time::timeout(Duration::ZERO, state.wake.notified()).await;
                tracing::info!("Running now: a watched source changed or a run was asked for.");
            }
            _ = stopped.changed() => break,
        }
        if *stopped.borrow() {
            break;
        }
    }
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

/// Runs one job, records it and updates health and metrics; failures are kept as the job's error.
async fn job(state: &State, name: &'static str, settings: Settings, pipeline: fn(Settings) -> Run) {
    let started_at = Utc::now();
    let clock = Instant::now();
    let outcome = tokio::task::spawn_blocking(move || pipeline(settings)).await;
    let mut health =
        JobHealth { job: name, started_at, duration_seconds: 0.0, findings: 0, new: 0, resolved: 0, error: None };
    match outcome {
        Ok(run) => {
            health.findings = run.report.findings.len();
            let record = RunRecord {
                started_at: run.report.started_at,
                sources: &run.report.sources,
                resources: run.inventory.resources(),
                findings: &run.report.findings,
                rules_run: &run.rules_run,
            };
            let lease = if name == "drift" { lease::DRIFT } else { lease::CHECK };
            let recorded = if lease::still_held(state, lease).await {
                state.store.record_run(&record).await.map_err(|e| format!("recording the run: {e}"))
            } else {
                Err("not recorded: another replica took the job over during the run".to_owned())
            };
            match recorded {
                Ok(recorded) => {
                    health.new = recorded.new.len();
                    health.resolved = recorded.resolved.len();
                    state.recorded.notify_waiters();
                    if let Err(e) = state.store.record_coverage(run.report.started_at, &run.report.coverage).await {
                        health.error = Some(format!("recording coverage: {e}"));
                    }
                }
                Err(e) => health.error = Some(e),
            }
            let mut sources = state.sources.write().await;
            for s in &run.report.sources {
                let key = (name, s.name.clone());
                let previous = sources.get(&key).and_then(|h| h.last_complete);
                sources.insert(
                    key,
                    SourceHealth {
                        job: name,
                        name: s.name.clone(),
                        complete: s.complete,
                        resources: s.resources,
                        last_run: started_at,
                        last_complete: if s.complete { Some(started_at) } else { previous },
                    },
                );
                state.metrics.source(name, &s.name, s.complete, s.resources);
            }
            let errors = run.report.diagnostics.iter().filter(|d| d.kind.is_error()).count();
            if errors > 0 && health.error.is_none() {
                health.error = Some(format!("{errors} input or collection errors (see the run's diagnostics)"));
            }
        }
        Err(e) => health.error = Some(format!("the run failed: {e}")),
    }
    health.duration_seconds = clock.elapsed().as_secs_f64();
    state.metrics.job(name, health.duration_seconds, health.error.is_none());
    if let Some(error) = &health.error {
        tracing::warn!(job = name, error, "Run finished with errors.");
    } else {
        tracing::info!(
            job = name,
            findings = health.findings,
            new = health.new,
            resolved = health.resolved,
            "Run recorded."
        );
    }
    state.jobs.write().await.insert(name, health);
}
