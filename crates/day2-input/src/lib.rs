//! day2's reading of untrusted input, shared by the sources (day2-collect) and policy loading (day2-policy).
//!
//! - [`files`]: paths, directories (walked, filtered by globs) and stdin; reading one input as text within a size
//!   limit, refusing FIFOs, devices, binary and non-UTF-8 files with a typed [`files::ReadError`].
//! - [`documents`]: a YAML stream or JSON file split into documents, each with the line it starts on, within
//!   [`Limits`]; syntax errors and exceeded limits become diagnostics naming file and line.
//! - [`json`]: JSON read strictly (a key given twice is an error), as Kubernetes and OPA read it.
//!
//! Not here: what documents mean (Kubernetes objects, Terraform state: day2-collect; policies: day2-policy).

pub mod documents;
pub mod files;
pub mod json;

/// Limits that keep untrusted input from exhausting memory or time. Documented in docs/configuration.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest file read, in bytes (default 32 MiB). Larger files are reported and skipped.
    pub max_file_bytes: u64,
    /// Deepest nesting of mappings/sequences in a document (default 100).
    pub max_depth: usize,
    /// Most documents in one file (default 10,000).
    pub max_documents: usize,
    /// Most YAML nodes in one file (default 5,000,000).
    pub max_nodes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_file_bytes: 32 * 1024 * 1024, max_depth: 100, max_documents: 10_000, max_nodes: 5_000_000 }
    }
}

/// Depth of a JSON value (a scalar is depth 0), stopping early once `limit` is exceeded.
pub fn depth_exceeds(value: &serde_json::Value, limit: usize) -> bool {
    fn walk(v: &serde_json::Value, depth: usize, limit: usize) -> bool {
        if depth > limit {
            return true;
        }
        match v {
            serde_json::Value::Array(a) => a.iter().any(|x| walk(x, depth + 1, limit)),
            serde_json::Value::Object(o) => o.values().any(|x| walk(x, depth + 1, limit)),
            _ => false,
        }
    }
    walk(value, 0, limit)
}
