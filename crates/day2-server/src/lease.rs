//! Leases: which replica runs which job. Every job has a lease of its own (`job:collect:<source>`, `job:check`,
//! `job:drift`; `notify` with notifiers), and the replicas of one store divide them.
//!
//! Every quarter of `serve.lease_seconds` each replica renews its own membership lease (`replica:<name>`), which
//! says it is alive, and reads the lease table: with N replicas alive and M jobs, its fair share is ⌈M/N⌉. It renews
//! the job leases it holds; gives up those over its share (a job not running at that moment, so nothing is cut
//! short), so that a replica that joins finds work free; and takes free ones (never granted, released, or lapsed)
//! up to its share, each replica trying them in an order of its own so that they do not all race for the same
//! ones. Each grant lasts half the period (a holder may miss one renewal and keep it), so the leases of a dead
//! replica lapse within that and are taken at the next renewal of another replica (a quarter later at most), which
//! runs the job at once: a dead replica's jobs move within three quarters of a lease period. A replica that stops
//! cleanly releases its leases, so the hand-over is immediate.
//! With one replica (the SQLite default) it holds everything.
//!
//! A holder that misses renewals (its store unreachable, the process paused) gives its leases up locally and, before
//! recording a run or a snapshot, renews once more: work whose lease went to another replica meanwhile is not
//! recorded.

use std::collections::BTreeSet;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use day2_engine::config::Config;

use crate::State;

/// The lease of notification delivery.
pub(crate) const NOTIFY: &str = "notify";
/// The prefix of membership leases: one per live replica.
const REPLICA: &str = "replica:";

/// This replica's name, the leases it holds and the jobs it is running.
pub(crate) struct Leases {
    holder: String,
    state: Mutex<Held>,
    /// Told when a lease is gained or lost.
    pub(crate) changed: tokio::sync::Notify,
}

#[derive(Default)]
struct Held {
    leases: BTreeSet<String>,
    running: BTreeSet<String>,
}

impl Leases {
    pub(crate) fn new() -> Self {
        Leases { holder: replica_name(), state: Mutex::default(), changed: tokio::sync::Notify::new() }
    }

    /// This replica's name in the lease table: host, process id and a random suffix (two processes on one host with
    /// recycled process ids stay apart).
    pub(crate) fn holder(&self) -> &str {
        &self.holder
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Held> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn holds(&self, lease: &str) -> bool {
        self.held().leases.contains(lease)
    }

    /// Marks the job of `lease` running if this replica holds it: true when it may run. A running job's lease is
    /// not given up to rebalance.
    pub(crate) fn start(&self, lease: &str) -> bool {
        let mut held = self.held();
        held.leases.contains(lease) && held.running.insert(lease.to_owned())
    }

    /// The job of `lease` finished.
    pub(crate) fn finish(&self, lease: &str) {
        self.held().running.remove(lease);
    }

    /// How many leases this replica holds.
    fn count(&self) -> usize {
        self.held().leases.len()
    }

    fn set(&self, lease: &str, held: bool) -> bool {
        let mut state = self.held();
        if held { state.leases.insert(lease.to_owned()) } else { state.leases.remove(lease) }
    }

    /// Gives up `lease` locally unless its job is running: true when given up.
    fn drop_idle(&self, lease: &str) -> bool {
        let mut state = self.held();
        !state.running.contains(lease) && state.leases.remove(lease)
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
    Duration::from_secs(config.serve.lease_seconds) / 2
}

/// How often leases are asked for (renewed by their holder).
pub(crate) fn renewal_period(config: &Config) -> Duration {
    Duration::from_secs(config.serve.lease_seconds) / 4
}

/// The leases a configuration's jobs need, sorted.
fn wanted(config: &Config) -> BTreeSet<String> {
    let mut leases: BTreeSet<String> = crate::jobs::of(config).iter().map(crate::jobs::Job::lease).collect();
    if !config.notifications.is_empty() {
        leases.insert(NOTIFY.to_owned());
    }
    leases
}

/// A replica's fair share of `jobs` among `replicas`: ⌈jobs / replicas⌉.
fn fair_share(jobs: usize, replicas: usize) -> usize {
    jobs.div_ceil(replicas.max(1))
}

/// The order in which `holder` tries free leases: its own shuffle, the same at every renewal.
fn preference(holder: &str, lease: &str) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    (holder, lease).hash(&mut hasher);
    hasher.finish()
}

/// One renewal: says this replica is alive, renews what it holds, gives up what it no longer needs or holds over its
/// share, and takes free leases up to its share. With `wake`, a job just taken runs at once (not at start-up, where
/// every job is about to run anyway).
pub(crate) async fn renew(state: &State, wake: bool) {
    let config = &state.loaded().config;
    let (ttl, wanted) = (ttl(config), wanted(config));
    let me = state.leases.holder().to_owned();
    let alive = match state.store.acquire_lease(&format!("{REPLICA}{me}"), &me, ttl).await {
        Ok(alive) => alive,
        Err(e) => {
            tracing::warn!(error = %e, "Cannot reach the store to renew leases; giving them up until it answers.");
            false
        }
    };
    let table = if alive { state.store.leases().await.ok() } else { None };
    let Some(table) = table else {
        // The store does not answer: another replica may take the jobs once the grants lapse, so stop running them.
        let held: Vec<String> = state.leases.held().leases.iter().cloned().collect();
        for lease in held {
            lost(state, &lease);
        }
        return;
    };
    let replicas = table.iter().filter(|l| l.name.starts_with(REPLICA)).count().max(1);
    let share = fair_share(wanted.len(), replicas);
    let taken: BTreeSet<&str> = table.iter().map(|l| l.name.as_str()).collect();

    // Renew what this replica holds, giving up what the configuration no longer has.
    let held: Vec<String> = state.leases.held().leases.iter().cloned().collect();
    for lease in held {
        if !wanted.contains(&lease) {
            release(state, &lease).await;
        } else if !acquire(state, &lease, ttl).await {
            lost(state, &lease);
        }
    }
    // Over the share (a replica joined): give up idle jobs, the last of this replica's order first.
    let mut held: Vec<String> = state.leases.held().leases.iter().cloned().collect();
    held.sort_by_key(|lease| std::cmp::Reverse(preference(&me, lease)));
    let mut over = state.leases.count().saturating_sub(share);
    for lease in held.iter().filter(|lease| lease.as_str() != NOTIFY) {
        if over == 0 {
            break;
        }
        if state.leases.drop_idle(lease) {
            release(state, lease).await;
            tracing::info!(lease = %lease, replica = %me, replicas, share, "Lease given up to rebalance.");
            state.leases.changed.notify_waiters();
            over -= 1;
        }
    }
    // Under the share: take free jobs, in this replica's order.
    let mut free: Vec<&String> = wanted.iter().filter(|lease| !taken.contains(lease.as_str())).collect();
    free.sort_by_key(|lease| preference(&me, lease));
    let mut gained = Vec::new();
    for lease in free {
        if state.leases.count() >= share {
            break;
        }
        if acquire(state, lease, ttl).await {
            state.leases.set(lease, true);
            tracing::info!(lease = %lease, replica = %me, replicas, share, "Lease taken.");
            gained.push(lease.clone());
        }
    }
    if !gained.is_empty() {
        state.leases.changed.notify_waiters();
        // A job taken over from a replica that died (or gave it up) runs now rather than at its next start.
        if wake {
            for lease in gained {
                if let Some(job) = lease.strip_prefix("job:") {
                    state.wake_job(job);
                }
            }
        }
    }
}

async fn acquire(state: &State, lease: &str, ttl: Duration) -> bool {
    match state.store.acquire_lease(lease, state.leases.holder(), ttl).await {
        Ok(held) => held,
        Err(e) => {
            tracing::warn!(lease, error = %e, "Cannot renew a lease; giving it up until the store answers.");
            false
        }
    }
}

/// A lease this replica no longer holds (lapsed, or taken by another): its job stops being run here.
fn lost(state: &State, lease: &str) {
    if state.leases.set(lease, false) {
        tracing::info!(lease, replica = state.leases.holder(), "Lease lost.");
        state.leases.changed.notify_waiters();
    }
}

/// True when this replica still holds `lease` (renewing it): asked right before a run or a snapshot is recorded.
pub(crate) async fn still_held(state: &State, lease: &str) -> bool {
    let ttl = ttl(&state.loaded().config);
    let held = state.store.acquire_lease(lease, state.leases.holder(), ttl).await.unwrap_or(false);
    if !held {
        lost(state, lease);
    }
    held
}

async fn release(state: &State, lease: &str) {
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

/// Releases every lease held, and the membership (at shutdown, after the last run was recorded).
pub(crate) async fn release_all(state: &State) {
    let held: Vec<String> = state.leases.held().leases.iter().cloned().collect();
    for lease in held {
        release(state, &lease).await;
    }
    release(state, &format!("{REPLICA}{}", state.leases.holder())).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fair_shares_cover_every_job() {
        assert_eq!(fair_share(31, 3), 11);
        assert_eq!(fair_share(31, 2), 16);
        assert_eq!(fair_share(3, 5), 1);
        assert_eq!(fair_share(4, 0), 4, "no replica seen yet: this one");
    }

    #[test]
    fn replicas_prefer_different_leases() {
        let leases: Vec<String> = (0..30).map(|i| format!("job:collect:s{i}")).collect();
        let first = |holder: &str| leases.iter().min_by_key(|l| preference(holder, l)).cloned();
        let firsts: BTreeSet<Option<String>> = ["a:1:00", "b:2:01", "c:3:02"].iter().map(|h| first(h)).collect();
        assert!(firsts.len() > 1, "three replicas all start at the same lease: {firsts:?}");
    }
}
