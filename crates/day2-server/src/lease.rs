//! Leases: which replica runs which job. Every replica of one store asks for the leases of the jobs its
//! configuration has (`job:check`; `job:drift` with live sources; `notify` with notifiers) every quarter of
//! `serve.lease_seconds`, and runs only the jobs it holds. The holder renews; a replica that dies stops renewing. Each
//! grant lasts two thirds of the period, so the leases of a dead replica lapse within that and are taken by the next
//! replica to ask (a quarter later at most), which runs the job at once: the jobs move within one lease period. The
//! holder can miss a renewal and keep its leases. A replica that stops cleanly releases its leases, so the hand-over
//! is immediate. With one replica (the SQLite default) it holds everything.
//!
//! A holder that misses renewals (its store unreachable, the process paused) gives its leases up locally and, before
//! recording a run, renews once more: a run whose lease went to another replica meanwhile is not recorded.

use std::collections::BTreeSet;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use day2_engine::config::Config;

use crate::State;

/// The lease of the `check` job.
pub(crate) const CHECK: &str = "job:check";
/// The lease of the `drift` job.
pub(crate) const DRIFT: &str = "job:drift";
/// The lease of notification delivery.
pub(crate) const NOTIFY: &str = "notify";

/// This replica's name and the leases it holds.
pub(crate) struct Leases {
    holder: String,
    held: RwLock<BTreeSet<&'static str>>,
    /// Told when a lease is gained or lost.
    pub(crate) changed: tokio::sync::Notify,
}

impl Leases {
    pub(crate) fn new() -> Self {
        Leases { holder: replica_name(), held: RwLock::default(), changed: tokio::sync::Notify::new() }
    }

    /// This replica's name in the lease table: host, process id and a random suffix (two processes on one host with
    /// recycled process ids stay apart).
    pub(crate) fn holder(&self) -> &str {
        &self.holder
    }

    pub(crate) fn holds(&self, lease: &str) -> bool {
        self.held.read().unwrap_or_else(PoisonError::into_inner).contains(lease)
    }

    fn set(&self, lease: &'static str, held: bool) -> bool {
        let mut leases = self.held.write().unwrap_or_else(PoisonError::into_inner);
        if held { leases.insert(lease) } else { leases.remove(lease) }
    }
}

fn replica_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "day2".to_owned());
    let mut suffix = [0u8; 3];
    let suffix = match getrandom::fill(&mut suffix) {
        Ok(()) => suffix.iter().map(|b| format!("{b:02x}")).collect::<String>(),
        Err(_) => "0".to_owned(),
    };
    format!("{host}:{}:{suffix}", std::process::id())
}

/// How long one grant of a lease lasts.
pub(crate) fn ttl(config: &Config) -> Duration {
    Duration::from_secs(config.serve.lease_seconds) * 2 / 3
}

/// How often leases are asked for (renewed by their holder).
fn renewal_period(config: &Config) -> Duration {
    Duration::from_secs(config.serve.lease_seconds) / 4
}

/// The leases a configuration's jobs need.
fn wanted(config: &Config) -> Vec<&'static str> {
    let mut leases = vec![CHECK];
    if config.has_live_sources() {
        leases.push(DRIFT);
    }
    if !config.notifications.is_empty() {
        leases.push(NOTIFY);
    }
    leases
}

/// Asks for (or renews) every lease the configuration needs, once; gives up the ones it no longer needs. With
/// `wake`, a job just taken over runs at once (not at start-up, where the first cycle is about to run anyway).
pub(crate) async fn renew(state: &State, wake: bool) {
    let config = &state.loaded().config;
    let (ttl, wanted) = (ttl(config), wanted(config));
    let mut gained_job = false;
    for lease in [CHECK, DRIFT, NOTIFY] {
        let held = if wanted.contains(&lease) {
            match state.store.acquire_lease(lease, state.leases.holder(), ttl).await {
                Ok(held) => held,
                Err(e) => {
                    tracing::warn!(lease, error = %e, "Cannot renew a lease; giving it up until the store answers.");
                    false
                }
            }
        } else {
            if state.leases.holds(lease) {
                release(state, lease).await;
            }
            false
        };
        if held != state.leases.holds(lease) {
            state.leases.set(lease, held);
            tracing::info!(lease, replica = state.leases.holder(), held, "Lease changed hands.");
            gained_job |= held && lease != NOTIFY;
            state.leases.changed.notify_waiters();
        }
    }
    // A job taken over from a replica that died runs now rather than at the next interval.
    if gained_job && wake {
        state.wake.notify_one();
    }
}

/// True when this replica still holds `lease` (renewing it): asked right before a run is recorded.
pub(crate) async fn still_held(state: &State, lease: &'static str) -> bool {
    let ttl = ttl(&state.loaded().config);
    let held = state.store.acquire_lease(lease, state.leases.holder(), ttl).await.unwrap_or(false);
    if !held && state.leases.set(lease, false) {
        state.leases.changed.notify_waiters();
    }
    held
}

async fn release(state: &State, lease: &'static str) {
    if let Err(e) = state.store.release_lease(lease, state.leases.holder()).await {
        tracing::warn!(lease, error = %e, "Cannot release a lease; it lapses on its own.");
    }
    state.leases.set(lease, false);
}

/// Asks for and renews leases until `stopped` (after the last run is recorded, so a run finishing during shutdown
/// keeps its lease).
pub(crate) async fn keep(state: Arc<State>, mut stopped: tokio::sync::watch::Receiver<bool>) {
    loop {
        let period = renewal_period(&state.loaded().config);
        tokio::select! {
            () = tokio::time::sleep(period) => renew(&state, true).await,
            _ = stopped.changed() => break,
        }
    }
}

/// Releases every lease held (at shutdown, after the last run was recorded).
pub(crate) async fn release_all(state: &State) {
    for lease in [CHECK, DRIFT, NOTIFY] {
        if state.leases.holds(lease) {
            release(state, lease).await;
        }
    }
}
