//! The [`Source`] trait: what the engine needs of every source, declared or live.
//!
//! A source is a configuration struct (one per kind, deserialized from one entry of `sources:` in day2.yaml) that
//! implements this trait in its own module. The engine's registry (`day2_engine::sources`) lists the kinds once; path
//! resolution, validation, collection, watching, scheduling and health derive from this trait, so a new source is
//! one module, one line in that list, and its tests.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use day2_model::{Provider, Resource, ResourceId, Side, Snapshot};

/// The `tracing` target of progress events: `stage = "…"` when a run moves on, `file = …` for each input file read.
/// `day2 check` turns them into a spinner on a terminal; they are trace-level log lines otherwise.
pub const PROGRESS: &str = "day2::progress";

/// A future a source returns; boxed so the trait stays object-safe.
pub type Collecting<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a source cannot watch (yet): its own error, boxed so each source keeps its type.
pub type WatchError = Box<dyn std::error::Error + Send + Sync>;

/// One configured source.
pub trait Source: Send + Sync {
    /// Its name in reports, the store and job leases. Stable across runs: findings resolve per source.
    fn name(&self) -> String;

    /// Declared state (compared against live, checked before it is applied) or live state.
    fn side(&self) -> Side;

    /// For a live source: the provider and scope its snapshot covers, which drift compares declared objects of.
    fn scope(&self) -> Option<(Provider, String)> {
        None
    }

    /// True when it names nothing to read (a file source with no paths): it is left out of runs.
    fn is_empty(&self) -> bool {
        false
    }

    /// Problems its fields have that serde cannot see, each starting with the field it names
    /// (`region: required …`). Called once, when the configuration is loaded.
    fn validate(&self) -> Vec<String> {
        Vec::new()
    }

    /// Makes its relative paths relative to `base`, the folder of day2.yaml.
    fn resolve_paths(&mut self, _base: &Path) {}

    /// Files and folders whose changes change what it reads (`day2 serve` watches them).
    fn watched_paths(&self) -> Vec<PathBuf> {
        Vec::new()
    }

    /// Declared objects in this live source's own shape, for a source whose objects are declared under other ids (AWS
    /// objects, by Terraform addresses), each with the id of the declaration it views: drift pairs them with what
    /// it reads, and a problem seen on both sides is one finding.
    fn declared_view(&self, _declared: &[Resource]) -> Vec<(ResourceId, Resource)> {
        Vec::new()
    }

    /// Reads it. Never fails: what goes wrong is a diagnostic in a snapshot marked incomplete, so nothing it did
    /// not see is called missing or resolved.
    fn collect(&self) -> Collecting<'_, Snapshot>;

    /// Calls `changed` whenever what it reads changes, until dropped; an error says why it cannot watch (yet).
    /// None: it has no watch of its own (its files are watched, and its schedule reads it).
    fn watch<'a>(&'a self, _changed: &'a (dyn Fn() + Sync)) -> Option<Collecting<'a, Result<(), WatchError>>> {
        None
    }
}

/// Makes `path` relative to `base` unless it is absolute or stdin (`-`).
pub fn resolve(base: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() || path.as_os_str() == "-" || base.as_os_str().is_empty() {
        path.to_owned()
    } else {
        base.join(path)
    }
}

/// Resolves every path of a list (see [`resolve`]).
pub fn resolve_all(base: &Path, paths: &mut [PathBuf]) {
    for path in paths {
        *path = resolve(base, path);
    }
}

/// The paths of a file source other than stdin, for watching.
pub fn files_to_watch(paths: &[PathBuf]) -> Vec<PathBuf> {
    paths.iter().filter(|p| p.as_os_str() != "-").cloned().collect()
}

/// The canonical form of a path (symbolic links resolved), or the path itself when it does not exist; the empty
/// path is the current directory.
pub(crate) fn canonical(p: &Path) -> PathBuf {
    let p = if p.as_os_str().is_empty() { Path::new(".") } else { p };
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Lexically removes `.` and `dir/..` steps (for paths shown to people; symbolic links are not resolved).
pub(crate) fn normalize(p: &Path) -> PathBuf {
    let mut out: Vec<std::path::Component<'_>> = Vec::new();
    for c in p.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir if matches!(out.last(), Some(std::path::Component::Normal(_))) => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out.iter().collect()
}
