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
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
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
    // Overlapping paths (`k8s/ k8s/a.yaml`) must not read a file twice and report it as its own duplicate.
    let mut seen = std::collections::HashSet::new();
    inputs.retain(|i| seen.insert(i.clone()));
    (inputs, errors)
}

fn walk_dir(root: &Path, filter: &FileFilter, inputs: &mut Vec<Input>, errors: &mut Vec<(PathBuf, String)>) {
    let walker = walkdir::WalkDir::new(root)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_str().is_some_and(|n| n.starts_with('.')));
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

/// Reads an input as UTF-8 text within a size limit. Binary (NUL bytes) and non-UTF-8 files are refused with a reason;
/// a leading byte-order mark is dropped. Standard input is read once per process and shared by every reader (so the
/// engine can look at it to pick a source, and the source then reads the same text).
pub fn read_text(input: &Input, max_bytes: u64) -> Result<String, String> {
    use std::io::Read;
    let limit = max_bytes.saturating_add(1);
    let bytes = match input {
        Input::File(p) => {
            let mut bytes = Vec::new();
            std::fs::File::open(p)
                .and_then(|f| f.take(limit).read_to_end(&mut bytes))
                .map_err(|e| format!("cannot read file: {e}"))?;
            bytes
        }
        Input::Stdin => {
            static STDIN: std::sync::OnceLock<Result<Vec<u8>, String>> = std::sync::OnceLock::new();
            STDIN
                .get_or_init(|| {
                    let mut bytes = Vec::new();
                    std::io::stdin()
                        .lock()
                        .take(limit)
                        .read_to_end(&mut bytes)
                        .map(|_| bytes)
                        .map_err(|e| format!("cannot read standard input: {e}"))
                })
                .clone()?
        }
    };
    if bytes.len() as u64 > max_bytes {
        return Err(format!("file is larger than the limit of {max_bytes} bytes (limits.max_file_bytes); skipped"));
    }
    if let Some(pos) = bytes.iter().take(8192).position(|&b| b == 0) {
        return Err(format!("binary file (NUL byte at offset {pos}); skipped"));
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        format!("not UTF-8 text (invalid byte at offset {offset}); skipped")
    })?;
    Ok(match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_owned(),
        None => text,
    })
}

/// Does this text look like Terraform JSON (a state file or `terraform show -json` output)?
pub fn is_terraform_text(head: &str) -> bool {
    head.contains("\"terraform_version\"") || (head.contains("\"format_version\"") && !head.contains("\"apiVersion\""))
}
