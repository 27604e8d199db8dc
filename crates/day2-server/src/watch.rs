//! Detection in seconds: a change runs the job it concerns at once instead of at its next start.
//!
//! - Files: every path a source reads (`Source::watched_paths`: manifests, Terraform, PostgreSQL declarations,
//!   recordings), the policies and the drift baseline are watched (directories recursively). A change to a file of a
//!   format day2 reads (`.yaml`, `.yml`, `.json`, `.tfstate`, `.tf`, `.tfvars`, `.rego`) collects the source that reads it;
//!   a change to a policy or the baseline runs the analyses. A change to day2.yaml itself reloads it first. Other
//!   files (the store, editor swap files) are ignored, so the store may sit next to the sources.
//! - Sources with a watch of their own (`Source::watch`: a Kubernetes cluster read from its API), watched by the
//!   replica that collects them: any object added, modified or deleted collects the source.
//!
//! Wakes coalesce (a job's `Notify` holds at most one), so a burst of changes costs one run, and one more when a
//! change lands during a run. The watchers follow reloads and lease changes: the set of watched paths and clusters is
//! rebuilt each time.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use day2_engine::config::Config;
use notify::{RecommendedWatcher, RecursiveMode, Watcher};

use crate::State;

/// Extensions of the files day2 reads.
const READ_EXTENSIONS: &[&str] = &["yaml", "yml", "json", "tfstate", "tf", "tfvars", "rego"];

/// Watches files and clusters for as long as the server runs, rebuilding the watch set after every reload, and
/// the sources' own watches when the set this replica collects changes (not on every lease that changes hands: a
/// rebuilt cluster watch lists everything again).
pub(crate) async fn run(state: Arc<State>) {
    loop {
        let config = state.loaded();
        let _files = watch_files(&state, &config.config);
        let reloaded = loop {
            let collected = collected_here(&state, &config.config);
            let sources = watch_sources(&state, &config.config, &collected);
            let moved = async {
                while collected_here(&state, &config.config) == collected {
                    state.leases.changed.notified().await;
                }
            };
            tokio::select! {
                () = sources => {}
                () = state.reloaded.notified() => break true,
                () = moved => tracing::debug!("Rebuilding source watches: this replica collects other sources now."),
            }
        };
        if reloaded {
            tracing::debug!("Rebuilding watches after a reload.");
        }
    }
}

/// The names of the sources with a watch of their own that this replica collects.
fn collected_here(state: &State, config: &Config) -> BTreeSet<String> {
    config
        .sources
        .iter()
        .map(|entry| entry.source())
        // A watch future does nothing until polled: asking for one only tells whether the source has one.
        .filter(|source| source.watch(&|| {}).is_some())
        .map(|source| source.name())
        .filter(|name| state.leases.holds(&crate::jobs::lease_of(&crate::jobs::collection(name))))
        .collect()
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
        for job in jobs_reading(&handler_state.loaded().config, &event.paths) {
            handler_state.wake_job(&job);
        }
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

/// The jobs a change to `paths` concerns: the collections of the sources that read them, the analyses for policies
/// and the baseline, and every job for day2.yaml or a path no source claims.
fn jobs_reading(config: &Config, paths: &[PathBuf]) -> BTreeSet<String> {
    let canonical = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_owned());
    let under = |path: &Path, watched: &[PathBuf]| {
        let path = canonical(path);
        watched.iter().any(|w| path.starts_with(canonical(w)))
    };
    let analyses: Vec<PathBuf> = day2_collect::source::files_to_watch(&config.policies.paths)
        .into_iter()
        .chain(config.drift.baseline.iter().cloned())
        .collect();
    let all = || crate::jobs::of(config).into_iter().map(|job| job.name).collect::<BTreeSet<String>>();
    let mut jobs = BTreeSet::new();
    for path in paths {
        let readers: Vec<String> = config
            .sources
            .iter()
            .map(|entry| entry.source())
            .filter(|source| under(path, &source.watched_paths()))
            .map(|source| crate::jobs::collection(&source.name()))
            .collect();
        if !readers.is_empty() {
            jobs.extend(readers);
        } else if under(path, &analyses) {
            jobs.extend(["check".to_owned(), "drift".to_owned()]);
        } else {
            return all();
        }
    }
    jobs
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

/// Runs the watch of every source this replica collects that has one of its own (a cluster read from its API) until
/// the watch set is rebuilt; a watch that cannot start is tried again, less and less often.
async fn watch_sources(state: &Arc<State>, config: &Config, collected: &BTreeSet<String>) {
    let watches = config.sources.iter().filter(|entry| collected.contains(&entry.source().name())).map(|entry| async move {
        let source = entry.source();
        let job = crate::jobs::collection(&source.name());
        let changed = || state.wake_job(&job);
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
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn only_files_day2_reads_wake_it() {
        assert!(read_by_day2(Path::new("/fleet/k8s/cart.yaml")));
        assert!(read_by_day2(Path::new("/fleet/tf/terraform.tfstate")));
        assert!(!read_by_day2(Path::new("/fleet/day2.db-wal")));
        assert!(!read_by_day2(Path::new("/fleet/k8s/.cart.yaml.swp")));
    }

    #[test]
    fn a_change_runs_the_jobs_that_read_it() {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["k8s", "tf", "policies"] {
            std::fs::create_dir(dir.path().join(sub)).unwrap();
        }
        let text =
            "sources:\n  - manifests: {paths: [k8s]}\n  - terraform: {paths: [tf]}\npolicies:\n  paths: [policies]\n";
        let config_path = dir.path().join("day2.yaml");
        std::fs::write(&config_path, text).unwrap();
        let config = Config::load(&config_path).unwrap();
        let jobs = |path: &str| jobs_reading(&config, &[dir.path().join(path)]).into_iter().collect::<Vec<_>>();
        let manifests = format!("collect:{}", config.sources[0].source().name());
        assert_eq!(jobs("k8s/web.yaml"), std::slice::from_ref(&manifests));
        assert_eq!(jobs("policies/p.rego"), ["check", "drift"]);
        let everything = jobs("elsewhere.yaml");
        assert_eq!(everything.len(), 3, "a path no source claims runs every job: {everything:?}");
        assert!(everything.contains(&manifests));
    }
}
