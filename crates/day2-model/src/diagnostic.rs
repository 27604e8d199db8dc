//! Diagnostics: problems with the input (a bad file, a skipped document), kept apart from findings about resources.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What went wrong with an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DiagnosticKind {
    /// The file could not be read (permissions, not UTF-8, binary, I/O).
    Unreadable,
    /// The file is not valid YAML/JSON.
    Syntax,
    /// Valid syntax, but a field has the wrong type or shape.
    Schema,
    /// A size, depth or count limit was hit.
    Limit,
    /// The same object is declared twice.
    Duplicate,
    /// A configuration problem (unknown check id in config, …).
    Config,
    /// A policy failed to compile or to evaluate, or uses what day2 cannot run.
    Policy,
    /// Not an error: a document that is not a Kubernetes object was skipped.
    Skipped,
    /// Not an error, but shown: an entry of a scanned folder that is not a regular file (a symbolic link, dangling or
    /// not, a FIFO, socket or device) was not read.
    NotRead,
}

impl DiagnosticKind {
    /// True for kinds that mean the input was bad (exit code 2); `Skipped` and `NotRead` are informational.
    pub fn is_error(self) -> bool {
        !matches!(self, DiagnosticKind::Skipped | DiagnosticKind::NotRead)
    }
}

/// A problem with an input, naming the file and line (or field).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Diagnostic {
    /// Kind of problem.
    pub kind: DiagnosticKind,
    /// File concerned.
    pub file: String,
    /// 1-based line, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// What is wrong and, where possible, what to do about it.
    pub message: String,
}

impl Diagnostic {
    /// Builds a diagnostic.
    pub fn new(kind: DiagnosticKind, file: impl Into<String>, line: Option<u32>, message: impl Into<String>) -> Self {
        Diagnostic { kind, file: file.into(), line, message: message.into() }
    }
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.file, line, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}
