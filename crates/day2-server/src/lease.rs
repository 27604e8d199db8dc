//! Leases: which replica runs which job. Every job has a lease of its own (`job:collect:<source>`, `job:check`,
//! `job:drift`; `notify` with notifiers), and the replicas of one store divide them.
//!
//! Every quarter of `serve.lease_seconds` each replica renews its own membership lease (`replica:<name>`), which
//! says it is alive, and reads the lease table: with N replicas alive and M jobs, its fair share is ⌈M/N⌉. It renews
//! the job leases it holds; gives up those over its share (a job not running at that moment, so nothing is cut
//! short), so that a replica that joins finds work free; and takes free ones (never granted, released, or lapsed)
//! up to its share, each replica trying them in an order of its own so that they do not all race for the same
//! ones (a lease the table says this replica holds is taken back, so nothing is orphaned when it forgot one). A
//! replica gives leases up only on the second renewal in a row that finds it over its share, so one slow renewal
//! elsewhere does not make jobs bounce. Renewals keep a fixed cadence; each grant lasts half the period (two
//! renewals), so the leases of a dead replica lapse within that and are taken at the next renewal of another replica
//! (a quarter later at most), which runs the job at once: a dead replica's jobs move within three quarters of a
//! lease period. A replica that stops cleanly releases the leases of its idle jobs at once and the rest as their
//! runs end, so the hand-over is immediate.
//!
//! Each replica also keeps, per lease, when its last grant ends by its own clock: past that it starts no run of the
//! job, even while the store does not answer (so a replica cut off from the store stops on its own before another
//! takes over), and picks up again when a renewal succeeds.
//! With one replica (the SQLite default) it holds everything.
//!
//! A holder that misses renewals (its store unreachable, the process paused) gives its leases up locally and, before
//! recording a run or a snapshot, renews once more: work whose lease went to another replica meanwhile is not
//! recorded.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

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
    /// Each lease held, until when this replica may count on it: the last grant's end by this replica's clock
    /// (taken from before the request was sent). Past it the job is not started, even while the store does not
    /// answer and nothing can be renewed.
    leases: BTreeMap<String, Instant>,
    running: BTreeSet<String>,
    /// Renewals in a row that found this replica over its share: leases are given up on the second, so a slow
    /// renewal elsewhere does not make jobs bounce.
    over: u32,
    /// Shutting down: no lease is taken any more.
    stopping: bool,
}

impl Held {
    fn valid(&self, lease: &str) -> bool {
        self.leases.get(lease).is_some_and(|until| Instant::now() < *until)
    }

    fn names(&self) -> Vec<String> {
        self.leases.keys().cloned().collect()
    }
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
        self.held().valid(lease)
    }

    /// Marks the job of `lease` running if this replica holds it: true when it may run. A running job's lease is
    /// not given up to rebalance.
    pub(crate) fn start(&self, lease: &str) -> bool {
        let mut held = self.held();
        held.valid(lease) && held.running.insert(lease.to_owned())
    }

    /// The job of `lease` finished.
    pub(crate) fn finish(&self, lease: &str) {
        self.held().running.remove(lease);
    }

    /// Takes no more leases (shutting down).
    pub(crate) fn stop_taking(&self) {
        self.held().stopping = true;
    }

    /// The leases held (some maybe past their grant, until renewed or forgotten).
    fn names(&self) -> Vec<String> {
        self.held().names()
    }

    /// How many leases this replica holds.
    fn count(&self) -> usize {
        self.held().leases.len()
    }

    /// Records a grant that lasts `ttl` from `asked` (when the request was sent).
    fn granted(&self, lease: &str, asked: Instant, ttl: Duration) {
        self.held().leases.insert(lease.to_owned(), asked + ttl);
    }

    /// Forgets `lease`; true when it was held.
    fn forget(&self, lease: &str) -> bool {
        self.held().leases.remove(lease).is_some()
    }

    /// Gives up `lease` locally unless its job is running: true when given up.
    fn drop_idle(&self, lease: &str) -> bool {
        let mut state = self.held();
        !state.running.contains(lease) && state.leases.remove(lease).is_some()
    }

    /// Counts a renewal that found this replica over its share (or not); true on the second in a row.
    fn over_share(&self, over: bool) -> bool {
        let mut state = self.held();
        state.over = if over { state.over.saturating_add(1) } else { 0 };
        state.over >= 2
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

/// The replicas alive by a lease table: the holders of membership leases.
pub(crate) fn replicas(table: &[day2_store::Lease]) -> impl Iterator<Item = &str> {
    table.iter().filter_map(|l| l.name.strip_prefix(REPLICA))
}

/// Asks the store for `lease` (or renews it) and, when granted, records locally until when it holds; Ok(false) when
/// another replica holds it.
async fn grant(state: &State, lease: &str, ttl: Duration) -> Result<bool, day2_store::StoreError> {
    let asked = Instant::now();
    let granted = state.store.acquire_lease(lease, state.leases.holder(), ttl).await?;
    if granted {
        state.leases.granted(lease, asked, ttl);
    }
    Ok(granted)
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
/// every job is about to run anyway). When the store does not answer, nothing is given up: the leases held run out
/// locally at the end of their last grant, and are renewed if the store answers before.
pub(crate) async fn renew(state: &State, wake: bool) {
    let config = &state.loaded().config;
    let (ttl, wanted) = (ttl(config), wanted(config));
    let me = state.leases.holder().to_owned();
    let alive = match state.store.acquire_lease(&format!("{REPLICA}{me}"), &me, ttl).await {
        Ok(alive) => alive,
        Err(e) => {
            tracing::warn!(error = %e, "Cannot reach the store to renew leases; jobs stop when their grants end.");
            return;
        }
    };
    let table = match state.store.leases().await {
        Ok(table) if alive => table,
        Ok(_) => return,
        Err(e) => {
            tracing::warn!(error = %e, "Cannot read the leases; jobs stop when their grants end.");
            return;
        }
    };
    let replicas = replicas(&table).count().max(1);
    let share = fair_share(wanted.len(), replicas);
    // Held by another replica; a lease the table gives to this one but this one had forgotten is taken back below.
    let theirs: BTreeSet<&str> = table.iter().filter(|l| l.holder != me).map(|l| l.name.as_str()).collect();

    // Renew what this replica holds, giving up what the configuration no longer has.
    for lease in state.leases.names() {
        if !wanted.contains(&lease) {
            release(state, &lease).await;
            continue;
        }
        match grant(state, &lease, ttl).await {
            Ok(true) => {}
            Ok(false) => lost(state, &lease).await,
            Err(e) => tracing::warn!(lease, error = %e, "Cannot renew a lease; it runs out at the end of its grant."),
        }
    }
    // Over the share (a replica joined) on two renewals in a row: give up idle jobs, the last of this replica's
    // order first.
    let over = state.leases.count().saturating_sub(share);
    if state.leases.over_share(over > 0) {
        let mut held = state.leases.names();
        held.sort_by_key(|lease| std::cmp::Reverse(preference(&me, lease)));
        let mut over = over;
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
    }
    // Under the share: take free jobs, in this replica's order.
    let taking = !state.leases.held().stopping;
    let mut free: Vec<&String> =
        wanted.iter().filter(|l| taking && !theirs.contains(l.as_str()) && !state.leases.holds(l)).collect();
    free.sort_by_key(|lease| preference(&me, lease));
    let mut gained = Vec::new();
    for lease in free {
        if state.leases.count() >= share {
            break;
        }
        if matches!(grant(state, lease, ttl).await, Ok(true)) {
            tracing::info!(lease = %lease, replica = %me, replicas, share, "Lease taken.");
            gained.push(lease.clone());
        }
    }
    if !gained.is_empty() {
        state.leases.changed.notify_waiters();
        // A job taken over from a replica that died (or gave it up) runs now rather than at its next start.
        if wake {
            for lease in gained {
                if let Some(job) = crate::jobs::job_of(&lease) {
                    state.wake_job(job);
                }
            }
        }
    }
}

/// A lease another replica holds now (this one's lapsed): its job stops here, and its health and metrics go.
async fn lost(state: &State, lease: &str) {
    if state.leases.forget(lease) {
        tracing::info!(lease, replica = state.leases.holder(), "Lease lost.");
        state.leases.changed.notify_waiters();
        forget_job(state, lease).await;
    }
}

/// What this replica reported about a job it no longer runs: the replica that runs it now reports it.
async fn forget_job(state: &State, lease: &str) {
    if let Some(job) = crate::jobs::job_of(lease) {
        state.forget_job(job).await;
    }
}

/// True when this replica still holds `lease` (renewing it): asked right before a run or a snapshot is recorded.
pub(crate) async fn still_held(state: &State, lease: &str) -> bool {
    match grant(state, lease, ttl(&state.loaded().config)).await {
        Ok(true) => true,
        Ok(false) => {
            lost(state, lease).await;
            false
        }
        // Not known to be held: not recorded (the next renewal tells).
        Err(_) => false,
    }
}

/// Gives `lease` up, in the store and here, with what this replica reported of its job.
async fn release(state: &State, lease: &str) {
    if let Err(e) = state.store.release_lease(lease, state.leases.holder()).await {
        tracing::warn!(lease, error = %e, "Cannot release a lease; it lapses on its own.");
    }
    state.leases.forget(lease);
    forget_job(state, lease).await;
}

/// Asks for and renews leases until `stopped` (after the last run is recorded, so a run finishing during shutdown
/// keeps its lease).
pub(crate) async fn keep(state: Arc<State>, mut stopped: tokio::sync::watch::Receiver<bool>) {
    // A fixed cadence, whatever a renewal takes (a slow renewal must not stretch the time between grants).
    let mut next = tokio::time::Instant::now();
    loop {
        next += renewal_period(&state.loaded().config);
        tokio::select! {
            () = tokio::time::sleep_until(next) => renew(&state, true).await,
            _ = stopped.changed() => break,
        }
        next = next.max(tokio::time::Instant::now() - renewal_period(&state.loaded().config));
    }
}

/// Gives up the leases of jobs not running now (at shutdown, so other replicas take them while the running ones
/// finish).
pub(crate) async fn release_idle(state: &State) {
    for lease in state.leases.names() {
        if lease != NOTIFY && state.leases.drop_idle(&lease) {
            release(state, &lease).await;
        }
    }
}

/// Releases every lease held, and the membership (at shutdown, after the last run was recorded).
pub(crate) async fn release_all(state: &State) {
    for lease in state.leases.names() {
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
