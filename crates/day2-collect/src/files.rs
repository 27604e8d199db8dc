//! Finding input files: paths, directories (recursive) and stdin, filtered by include/exclude globs.

use std::path::{Path, PathBuf};

use globset::{Glob, GlobSet, GlobSetBuilder};
use thiserror::Error;

/// A glob that does not parse.
#[derive(Debug, Error)]
#[error("invalid glob `{glob}`: {source}")]
pub struct GlobError {
    glob: String,
    #[source]
    source: globset::Error,
}

/// Include/exclude filter for files found while walking directories. Files named explicitly are always taken.
#[derive(Debug, Clone)]
pub struct FileFilter {
    include: GlobSet,
    exclude: GlobSet,
}

fn build(globs: &[String]) -> Result<GlobSet, GlobError> {
    let mut b = GlobSetBuilder::new();
    for g in globs {
        b.add(Glob::new(g).map_err(|source| GlobError { glob: g.clone(), source })?);
    }
    b.build().map_err(|source| GlobError { glob: globs.join(","), source })
}

impl FileFilter {
    /// Builds a filter. Globs match the path relative to the walked directory (`**/*.yaml`, `charts/**`).
    pub fn new(include: &[String], exclude: &[String]) -> Result<Self, GlobError> {
        Ok(FileFilter { include: build(include)?, exclude: build(exclude)? })
    }

    fn accepts(&self, relative: &Path) -> bool {
        self.include.is_match(relative) && !self.exclude.is_match(relative)
    }
}

/// One input: a file on disk or standard input.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Input {
    /// A file.
    File(PathBuf),
    /// Standard input (`-`).
    Stdin,
}

impl Input {
    /// Display name used in diagnostics and finding locations.
    pub fn display(&self) -> String {
        match self {
            Input::File(p) => p.display().to_string(),
            Input::Stdin => "-".to_owned(),
        }
    }
}

/// Expands paths into inputs: `-` is stdin, a file is itself, a directory is walked (sorted, symlinks not followed,
/// hidden directories such as `.git` skipped). Paths that do not exist are returned as errors, one per path.
pub fn expand(paths: &[PathBuf], filter: &FileFilter) -> (Vec<Input>, Vec<(PathBuf, String)>) {
    let mut inputs = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            inputs.push(Input::Stdin);
            continue;
        }
        match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => walk_dir(path, filter, &mut inputs, &mut errors),
            Ok(_) => inputs.push(Input::File(path.clone())),
            Err(e) => errors.push((path.clone(), format!("cannot read path: {e}"))),
        }
    }
    (inputs, errors)
}

fn walk_dir(root: &Path, filter: &FileFilter, inputs: &mut Vec<Input>, errors: &mut Vec<(PathBuf, String)>) {
    let walker = walkdir::WalkDir::new(root).sort_by_file_name().into_iter().filter_entry(|e| {
        e.depth() == 0 || !e.file_name().to_str().is_some_and(|n| n.starts_with('.'))
    });
    for entry in walker {
        match entry {
            Ok(e) if e.file_type().is_file() => {
                let rel = e.path().strip_prefix(root).unwrap_or(e.path());
                if filter.accepts(rel) {
                    inputs.push(Input::File(e.into_path()));
                }
            }
            Ok(_) => {}
            Err(e) => {
                let p = e.path().map(Path::to_path_buf).unwrap_or_else(|| root.to_path_buf());
                errors.push((p, format!("cannot read directory entry: {e}")));
            }
        }
    }
}

/// Reads an input as UTF-8 text within a size limit. Binary (NUL bytes) and non-UTF-8 files are refused with a reason.
pub fn read_text(input: &Input, max_bytes: u64) -> Result<String, String> {
    use std::io::Read;
    let mut bytes = Vec::new();
    let read = match input {
        Input::File(p) => std::fs::File::open(p).and_then(|f| f.take(max_bytes + 1).read_to_end(&mut bytes)),
        Input::Stdin => std::io::stdin().lock().take(max_bytes + 1).read_to_end(&mut bytes),
    };
    read.map_err(|e| format!("cannot read file: {e}"))?;
    if bytes.len() as u64 > max_bytes {
        return Err(format!("file is larger than the limit of {max_bytes} bytes (limits.max_file_bytes); skipped"));
    }
    if let Some(pos) = bytes.iter().take(8192).position(|&b| b == 0) {
        return Err(format!("binary file (NUL byte at offset {pos}); skipped"));
    }
    String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        format!("not UTF-8 text (invalid byte at offset {offset}); skipped")
    })
}
