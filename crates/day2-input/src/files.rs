//! Finding input files: paths, directories (recursive) and stdin, filtered by include/exclude globs.

use std::path::{Path, PathBuf};

use globset::{Glob, GlobSet, GlobSetBuilder};
use thiserror::Error;

/// A glob that does not parse.
#[derive(Debug, Error)]
#[error("invalid glob `{glob}`: {message}")]
pub struct GlobError {
    glob: String,
    /// globset's reason (once: not also as an error source, which would print it twice).
    message: String,
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
        b.add(Glob::new(g).map_err(|e| GlobError { glob: g.clone(), message: e.to_string() })?);
    }
    b.build().map_err(|e| GlobError { glob: globs.join(","), message: e.to_string() })
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

/// What [`expand`] found: the inputs to read, the paths that cannot be read (errors), and the entries of folders
/// that were passed over (notes).
#[derive(Debug, Default)]
pub struct Expanded {
    /// Files (and stdin) to read, each once.
    pub inputs: Vec<Input>,
    /// Paths that cannot be read, with why: missing, not a regular file, an unreadable folder entry.
    pub errors: Vec<(PathBuf, String)>,
    /// Folder entries not read, with why: symbolic links (dangling or not), FIFOs, sockets, devices.
    pub notes: Vec<(PathBuf, String)>,
}

/// What kind of special file `file_type` is, for messages.
fn special_kind(file_type: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if file_type.is_fifo() {
        "a FIFO (named pipe)"
    } else if file_type.is_socket() {
        "a socket"
    } else if file_type.is_block_device() || file_type.is_char_device() {
        "a device"
    } else if file_type.is_symlink() {
        "a symbolic link"
    } else {
        "not a regular file"
    }
}

/// Expands paths into inputs: `-` is stdin, a regular file is itself, a directory is walked (sorted, symlinks not
/// followed, hidden directories such as `.git` skipped). A path given by name that is a FIFO, socket or device is an
/// error and is never opened (reading a FIFO would wait for a writer for ever).
pub fn expand(paths: &[PathBuf], filter: &FileFilter) -> Expanded {
    let mut found = Expanded::default();
    for path in paths {
        if path.as_os_str() == "-" {
            found.inputs.push(Input::Stdin);
            continue;
        }
        match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => walk_dir(path, filter, &mut found),
            Ok(m) if m.is_file() => found.inputs.push(Input::File(path.clone())),
            Ok(m) => found.errors.push((path.clone(), ReadError::NotRegular(special_kind(m.file_type())).to_string())),
            Err(e) => found.errors.push((path.clone(), format!("cannot read path: {}", io_message(&e)))),
        }
    }
    // Overlapping paths (`k8s/ k8s/a.yaml`) must not read a file twice and report it as its own duplicate.
    let mut seen = std::collections::HashSet::new();
    found.inputs.retain(|i| seen.insert(i.clone()));
    found
}

/// An I/O error as a person reads it: "No such file or directory", without the `(os error 2)` tail.
pub fn io_message(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.rfind(" (os error ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

fn walk_dir(root: &Path, filter: &FileFilter, found: &mut Expanded) {
    let walker = walkdir::WalkDir::new(root)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_str().is_some_and(|n| n.starts_with('.')));
    for entry in walker {
        match entry {
            Ok(e) if e.file_type().is_dir() => {}
            Ok(e) => {
                let rel = e.path().strip_prefix(root).unwrap_or(e.path());
                if !filter.accepts(rel) {
                    continue;
                }
                if e.file_type().is_file() {
                    found.inputs.push(Input::File(e.into_path()));
                } else if e.file_type().is_symlink() && std::fs::metadata(e.path()).is_err() {
                    found
                        .notes
                        .push((e.into_path(), "dangling symbolic link (its target is missing): not read".to_owned()));
                } else {
                    let why = format!("{}: not read", special_kind(e.file_type()));
                    found.notes.push((e.into_path(), why));
                }
            }
            Err(e) => {
                let p = e.path().map(Path::to_path_buf).unwrap_or_else(|| root.to_path_buf());
                found.errors.push((p, format!("cannot read directory entry: {e}")));
            }
        }
    }
}

/// Why an input could not be read as text, in words for the person who gave it; the input is not read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReadError {
    /// Opening or reading the file failed (missing, permissions, I/O).
    #[error("cannot read file: {0}")]
    Io(String),
    /// Reading standard input failed.
    #[error("cannot read standard input: {0}")]
    Stdin(String),
    /// A FIFO, socket or device, never opened for reading.
    #[error("{0}, not a regular file: not read")]
    NotRegular(&'static str),
    /// Larger than the configured limit.
    #[error("file is larger than the limit of {limit} bytes (limits.max_file_bytes); skipped")]
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// Holds a NUL byte near its start.
    #[error("binary file (NUL byte at offset {offset}); skipped")]
    Binary {
        /// Where the first NUL byte is.
        offset: usize,
    },
    /// Not valid UTF-8.
    #[error("not UTF-8 text (invalid byte at offset {offset}); skipped")]
    NotUtf8 {
        /// Where the first invalid byte is.
        offset: usize,
    },
}

/// Opens `path` for reading only if it is a regular file. The open does not block (`O_NONBLOCK`), so a FIFO put in
/// place after [`expand`] looked is refused too rather than waited on.
pub fn open_regular(path: &Path) -> Result<std::fs::File, ReadError> {
    use std::os::unix::fs::OpenOptionsExt;
    let io = |e: std::io::Error| ReadError::Io(io_message(&e));
    let file = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path).map_err(io)?;
    let kind = file.metadata().map_err(io)?.file_type();
    if !kind.is_file() {
        return Err(ReadError::NotRegular(special_kind(kind)));
    }
    Ok(file)
}

/// Reads an input as UTF-8 text within a size limit. Binary (NUL bytes) and non-UTF-8 files are refused with a reason;
/// a leading byte-order mark is dropped. Standard input is read once per process and shared by every reader (so the
/// engine can look at it to pick a source, and the source then reads the same text).
pub fn read_text(input: &Input, max_bytes: u64) -> Result<String, ReadError> {
    use std::io::Read;
    let limit = max_bytes.saturating_add(1);
    let bytes = match input {
        Input::File(p) => {
            let file = open_regular(p)?;
            let mut bytes = Vec::new();
            file.take(limit).read_to_end(&mut bytes).map_err(|e| ReadError::Io(io_message(&e)))?;
            bytes
        }
        Input::Stdin => {
            static STDIN: std::sync::OnceLock<Result<Vec<u8>, ReadError>> = std::sync::OnceLock::new();
            STDIN
                .get_or_init(|| {
                    let mut bytes = Vec::new();
                    std::io::stdin()
                        .lock()
                        .take(limit)
                        .read_to_end(&mut bytes)
                        .map(|_| bytes)
                        .map_err(|e| ReadError::Stdin(io_message(&e)))
                })
                .clone()?
        }
    };
    if bytes.len() as u64 > max_bytes {
        return Err(ReadError::TooLarge { limit: max_bytes });
    }
    if let Some(offset) = bytes.iter().take(8192).position(|&b| b == 0) {
        return Err(ReadError::Binary { offset });
    }
    let text = String::from_utf8(bytes).map_err(|e| ReadError::NotUtf8 { offset: e.utf8_error().valid_up_to() })?;
    Ok(match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_owned(),
        None => text,
    })
}

/// Does this text look like Terraform JSON (a state file or `terraform show -json` output)?
pub fn is_terraform_text(head: &str) -> bool {
    head.contains("\"terraform_version\"") || (head.contains("\"format_version\"") && !head.contains("\"apiVersion\""))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn read(bytes: &[u8], limit: u64) -> Result<String, ReadError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.yaml");
        std::fs::write(&path, bytes).unwrap();
        read_text(&Input::File(path), limit)
    }

    #[test]
    fn text_is_read_and_what_is_not_text_says_why() {
        assert_eq!(read(b"\xef\xbb\xbfa: 1\n", 100).unwrap(), "a: 1\n", "the byte-order mark is dropped");
        assert_eq!(read(b"a: 1\n", 3), Err(ReadError::TooLarge { limit: 3 }));
        assert_eq!(read(b"a\0b", 100), Err(ReadError::Binary { offset: 1 }));
        assert_eq!(read(b"ab\xff", 100), Err(ReadError::NotUtf8 { offset: 2 }));
        let missing = read_text(&Input::File("/nonexistent/f.yaml".into()), 100).unwrap_err();
        assert_eq!(missing.to_string(), "cannot read file: No such file or directory");
    }

    #[test]
    fn special_files_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        let error = open_regular(&fifo).unwrap_err();
        assert_eq!(error.to_string(), "a FIFO (named pipe), not a regular file: not read");
        let found = expand(&[dir.path().to_owned()], &FileFilter::new(&["**".into()], &[]).unwrap());
        assert!(found.inputs.is_empty());
        assert_eq!(found.notes.len(), 1, "{:?}", found.notes);
    }
}
