//! The loop: the check job (checks and policies on declared and live state), and the drift job when live sources
//! are configured, each run on its schedule
//! (`serve.schedule`: an interval or a cron expression, with jitter; else every `--interval`) and at once when a watched
//! source changes; each run is recorded in the store, then health and metrics are refreshed. A replica runs only the jobs it holds the lease of (see `lease`).
//! Pipelines are blocking (rayon inside), so they run on the blocking pool.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use chrono::Utc;
use day2_engine::config::{Config, Schedule};
use day2_engine::pipeline::{self, Run, Settings};

use crate::{JobHealth, SourceHealth, State, lease};

pub(crate) async fn run(
    config_name: String,
    interval: Duration,
    state: Arc<State>,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let mut last_prune = None;
    let mut due = Due { check: Instant::now(), drift: Instant::now() };
    let mut woken = false;
    loop {
        // The configuration in force at the start of the cycle (a reload takes effect at the next one).
        let config: &Config = &state.loaded().config;
        // Posture runs on live state too in the server, whatever `live_posture` says for `day2 check`.
        let settings = Settings { live_posture: true, ..Settings::new(config, &[], &config_name) };
        let schedule = &config.serve.schedule;
        let now = Instant::now();
        if woken || now >= due.check {
            due.check = next_start(now, schedule.check.as_deref(), interval, schedule.jitter_seconds);
            if state.leases.holds(lease::CHECK) {
                job(&state, "check", settings.clone(), |s| pipeline::run(&s)).await;
            }
        }
        // A shutdown asked for during the check is not kept waiting by the drift job.
        if config.has_live_sources() && !*stopped.borrow() && (woken || Instant::now() >= due.drift) {
            due.drift = next_start(Instant::now(), schedule.drift.as_deref(), interval, schedule.jitter_seconds);
            if state.leases.holds(lease::DRIFT) {
                job(&state, "drift", settings, |s| pipeline::drift(&s)).await;
            }
        }
        woken = false;
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
        let next = if config.has_live_sources() { due.check.min(due.drift) } else { due.check };
        tokio::select! {
            () = tokio::time::sleep_until(next.into()) => {}
            () = state.wake.notified() => {
                // A change was seen (or a run asked for): let a burst of writes settle before reading, and let the
                // one run cover every wake-up of the burst.
                tokio::time::sleep(Duration::from_millis(100)).await;
                let _ = tokio::time::timeout(Duration::ZERO, state.wake.notified()).await;
                tracing::info!("Running now: a watched source changed or a run was asked for.");
                woken = true;
            }
            _ = stopped.changed() => break,
        }
        if *stopped.borrow() {
            break;
        }
    }
}

/// When each job is due next.
struct Due {
    check: Instant,
    drift: Instant,
}

/// When a job that starts at `now` is due again: by its schedule (`serve.schedule`, validated at load), else every
/// `interval`; plus a random part of the jitter.
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
            let lease = if name == "drift" { lease::DRIFT } else { lease::CHECK };
            let recorded = if lease::still_held(state, lease).await {
                pipeline::record(state.store.as_ref(), &run).await.map_err(|e| format!("recording the run: {e}"))
            } else {
                Err("not recorded: another replica took the job over during the run".to_owned())
            };
            match recorded {
                Ok(recorded) => {
                    health.new = recorded.new.len();
                    health.resolved = recorded.resolved.len();
                    state.recorded.notify_waiters();
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

#[cfg(test)]
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
