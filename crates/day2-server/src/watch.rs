//! Detection in seconds: changes start a cycle at once instead of at the next interval.
//!
//! - Files: every path a source reads (`Source::watched_paths`: manifests, Terraform, PostgreSQL declarations,
//!   recordings), the policies and the drift baseline are watched (directories recursively); a change to a file of a format day2 reads (`.yaml`, `.yml`,
//!   `.json`, `.tfstate`, `.tf.json`, `.rego`) wakes the scheduler. A change to day2.yaml itself reloads it first.
//!   Other files (the store, editor swap files) are ignored, so the store may sit next to the sources.
//! - Sources with a watch of their own (`Source::watch`: a Kubernetes cluster read from its API): any object added,
//!   modified or deleted wakes the scheduler.
//!
//! Wakes coalesce (`Notify` holds at most one), so a burst of changes costs one cycle, and one more when a change
//! lands during a run. The watchers follow reloads: the set of watched paths and clusters is rebuilt each time.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use day2_engine::config::Config;
use notify::{RecommendedWatcher, RecursiveMode, Watcher};

use crate::State;

/// Extensions of the files day2 reads.
const READ_EXTENSIONS: &[&str] = &["yaml", "yml", "json", "tfstate", "rego"];

/// Watches files and clusters for as long as the server runs, rebuilding the watch set after every reload.
pub(crate) async fn run(state: Arc<State>) {
    loop {
        let config = state.loaded();
        let _files = watch_files(&state, &config.config);
        let sources = watch_sources(&state, &config.config);
        tokio::select! {
            () = sources => {}
            () = state.reloaded.notified() => tracing::debug!("Rebuilding watches after a reload."),
        }
    }
}

/// The paths whose changes matter: what each source reads, policies, the drift baseline, and day2.yaml.
fn watched_paths(config: &Config, config_path: &Path) -> BTreeSet<PathBuf> {
    let mut paths: BTreeSet<PathBuf> = config.sources.iter().flat_map(|s| s.source().watched_paths()).collect();
    paths.extend(day2_collect::source::files_to_watch(&config.policies.paths));
    paths.extend(config.drift.baseline.iter().cloned());
    paths.insert(config_path.to_owned());
    paths
}

/// A watcher over the configuration's files, or None when the platform offers none (logged; the interval still runs).
fn watch_files(state: &Arc<State>, config: &Config) -> Option<RecommendedWatcher> {
    let config_path = state.config_path.clone();
    let handler_state = Arc::clone(state);
    let handler = move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if matches!(event.kind, notify::EventKind::Access(_)) {
            return;
        }
        if event.paths.iter().any(|p| same_file(p, &config_path)) {
            // Editors write in steps (truncate, then write): read the file once the burst is over.
            std::thread::sleep(std::time::Duration::from_millis(200));
            if let Err(e) = handler_state.reload() {
                tracing::error!(error = %e, "day2.yaml changed but does not load; the running configuration is kept");
                return;
            }
        } else if !event.paths.iter().any(|p| read_by_day2(p)) {
            return;
        }
        tracing::debug!(paths = ?event.paths, "A watched file changed.");
        handler_state.wake.notify_one();
    };
    let mut watcher = match notify::recommended_watcher(handler) {
        Ok(watcher) => watcher,
        Err(e) => {
            tracing::warn!(error = %e, "Cannot watch files; changes are seen at the next interval.");
            return None;
        }
    };
    for path in watched_paths(config, &state.config_path) {
        if let Err(e) = watcher.watch(&path, RecursiveMode::Recursive) {
            tracing::warn!(path = %path.display(), error = %e, "Cannot watch this path; its changes are seen at the next interval.");
        }
    }
    Some(watcher)
}

fn read_by_day2(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| READ_EXTENSIONS.contains(&e))
}

/// Whether two paths name one file (events carry absolute paths; the configuration may be relative).
fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Runs the watch of every source that has one of its own (a cluster read from its API) until the watch set is
/// rebuilt; a watch that cannot start is tried again, less and less often.
async fn watch_sources(state: &Arc<State>, config: &Config) {
    let changed = || state.wake.notify_one();
    let watches = config.sources.iter().map(|entry| async move {
        let source = entry.source();
        let mut pause = std::time::Duration::from_secs(5);
        while let Some(Err(e)) = match source.watch(&changed) {
            Some(watch) => Some(watch.await),
            None => None,
        } {
            tracing::warn!(source = %source.name(), error = %e, retry_in_s = pause.as_secs(), "Cannot watch the source yet; changes are seen at the next interval meanwhile.");
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(std::time::Duration::from_secs(300));
        }
    });
    futures::future::join_all(watches).await;
    // Nothing to watch (or every watch ended): wait for a reload.
    std::future::pending::<()>().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_files_day2_reads_wake_it() {
        assert!(read_by_day2(Path::new("/fleet/k8s/cart.yaml")));
        assert!(read_by_day2(Path::new("/fleet/tf/terraform.tfstate")));
        assert!(!read_by_day2(Path::new("/fleet/day2.db-wal")));
        assert!(!read_by_day2(Path::new("/fleet/k8s/.cart.yaml.swp")));
    }
}
