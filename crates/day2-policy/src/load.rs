//! Reading policy directories: Rego modules, Rego tests, ConstraintTemplates, Constraints and data documents, sorted
//! by what they are. Unreadable files become diagnostics; everything else is still read.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use day2_collect::Limits;
use day2_model::{Diagnostic, DiagnosticKind};
use serde_json::Value;

/// One YAML/JSON document with where it came from.
#[derive(Debug, Clone)]
pub(crate) struct Doc {
    pub file: String,
    pub line: u32,
    pub value: Value,
    /// The whole file, to locate Rego blocks inside it.
    pub text: Arc<str>,
}

/// A Rego file.
#[derive(Debug, Clone)]
pub(crate) struct RegoFile {
    pub file: String,
    pub text: String,
}

/// Everything found under the policy paths.
#[derive(Debug, Default)]
pub(crate) struct PolicyFiles {
    pub modules: Vec<RegoFile>,
    pub tests: Vec<RegoFile>,
    pub templates: Vec<Doc>,
    pub constraints: Vec<Doc>,
    /// Documents without `apiVersion`/`kind`: merged into `data`, as conftest's `--data` files are.
    pub data: Vec<Doc>,
}

/// True for a Gatekeeper Constraint (any kind in the constraints group).
pub(crate) fn is_constraint(doc: &Value) -> bool {
    doc.get("apiVersion").and_then(Value::as_str).is_some_and(|v| v.starts_with("constraints.gatekeeper.sh/"))
}

pub(crate) fn is_template(doc: &Value) -> bool {
    doc.get("kind").and_then(Value::as_str) == Some("ConstraintTemplate")
}

/// Files under `paths` (directories walked in name order, hidden entries skipped).
pub(crate) fn files(paths: &[PathBuf], diagnostics: &mut Vec<Diagnostic>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for path in paths {
        if path.is_file() {
            out.push(path.clone());
            continue;
        }
        if !path.exists() {
            diagnostics.push(Diagnostic::new(
                DiagnosticKind::Unreadable,
                display(path),
                None,
                "no such file or directory",
            ));
            continue;
        }
        let walk = walkdir::WalkDir::new(path).sort_by_file_name().into_iter();
        for entry in walk.filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.')) {
            match entry {
                Ok(e) if e.file_type().is_file() => out.push(e.into_path()),
                Ok(_) => {}
                Err(e) => diagnostics.push(Diagnostic::new(
                    DiagnosticKind::Unreadable,
                    e.path().map(display).unwrap_or_else(|| display(path)),
                    None,
                    e.to_string(),
                )),
            }
        }
    }
    out
}

pub(crate) fn display(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

pub(crate) fn read_text(path: &Path, diagnostics: &mut Vec<Diagnostic>) -> Option<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Some(text.strip_prefix('\u{feff}').map(str::to_owned).unwrap_or(text)),
        Err(e) => {
            diagnostics.push(Diagnostic::new(DiagnosticKind::Unreadable, display(path), None, e.to_string()));
            None
        }
    }
}

/// The documents of one YAML/JSON file.
pub(crate) fn documents(path: &Path, diagnostics: &mut Vec<Diagnostic>) -> Vec<Doc> {
    let Some(text) = read_text(path, diagnostics) else { return Vec::new() };
    let file = display(path);
    let text: Arc<str> = Arc::from(text);
    day2_collect::manifests::documents(&text, &file, &Limits::default(), diagnostics)
        .into_iter()
        .filter(|(v, _)| !v.is_null())
        .map(|(value, line)| Doc { file: file.clone(), line, value, text: Arc::clone(&text) })
        .collect()
}

fn is_yaml_or_json(path: &Path) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml" | "json"))
}

/// Reads and sorts every policy file under `paths`.
pub(crate) fn read(paths: &[PathBuf], diagnostics: &mut Vec<Diagnostic>) -> PolicyFiles {
    let mut out = PolicyFiles::default();
    for path in files(paths, diagnostics) {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if name.ends_with(".rego") {
            let Some(text) = read_text(&path, diagnostics) else { continue };
            let file = RegoFile { file: display(&path), text };
            if name.ends_with("_test.rego") { out.tests.push(file) } else { out.modules.push(file) }
        } else if is_yaml_or_json(&path) {
            for doc in documents(&path, diagnostics) {
                if is_template(&doc.value) {
                    out.templates.push(doc);
                } else if is_constraint(&doc.value) {
                    out.constraints.push(doc);
                } else if doc.value.is_object()
                    && doc.value.get("kind").is_none()
                    && doc.value.get("apiVersion").is_none()
                {
                    out.data.push(doc);
                }
                // Other Kubernetes objects (samples, suites) are not policy.
            }
        }
    }
    out
}
