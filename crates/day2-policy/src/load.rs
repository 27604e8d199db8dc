//! Reading policy directories: Rego modules, Rego tests, ConstraintTemplates, Constraints and data documents, sorted
//! by what they are. Unreadable files become diagnostics; everything else is still read.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use day2_input::Limits;
use day2_input::files::{Input, read_text as read_input};
use day2_model::{Diagnostic, DiagnosticKind};

use crate::rego::RegoVersion;
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
    /// The syntax its bundle's manifest declares, if any.
    pub version: Option<RegoVersion>,
}

impl RegoFile {
    /// A `.rego` file's text starts on its first line.
    pub fn placement(&self) -> crate::rego::Placement<'_> {
        crate::rego::Placement { file: &self.file, first_line: 1 }
    }
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
    // A policy file or bundle entry of 16 MiB is far past any real one; a FIFO is refused, not waited on.
    match read_input(&Input::File(path.to_owned()), 16 << 20) {
        Ok(text) => Some(text),
        Err(error) => {
            diagnostics.push(Diagnostic::new(DiagnosticKind::Unreadable, display(path), None, error.to_string()));
            None
        }
    }
}

/// The documents of one YAML/JSON file.
pub(crate) fn documents(path: &Path, diagnostics: &mut Vec<Diagnostic>) -> Vec<Doc> {
    let Some(text) = read_text(path, diagnostics) else { return Vec::new() };
    parse_documents(display(path), text, diagnostics)
}

fn parse_documents(file: String, text: String, diagnostics: &mut Vec<Diagnostic>) -> Vec<Doc> {
    let text: Arc<str> = Arc::from(text);
    day2_input::documents::documents(&text, &file, &Limits::default(), diagnostics)
        .into_iter()
        .filter(|(v, _)| !v.is_null())
        .map(|(value, line)| Doc { file: file.clone(), line, value, text: Arc::clone(&text) })
        .collect()
}

pub(crate) fn is_yaml_or_json(name: &str) -> bool {
    [".yaml", ".yml", ".json"].iter().any(|ext| name.ends_with(ext))
}

/// Where a data document goes in `data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DataPlacement<'a> {
    /// Any YAML/JSON document without `kind` is merged at the root of `data` (conftest's `--data`).
    Root,
    /// OPA bundle: only `data.json` / `data.yaml` files, placed under the path of their directory in the bundle.
    Bundle(&'a [&'a str]),
}

impl PolicyFiles {
    /// Sorts one file into modules, tests, templates, constraints and data.
    pub(crate) fn add(
        &mut self,
        file: String,
        text: String,
        placement: DataPlacement<'_>,
        version: Option<RegoVersion>,
        diagnostics: &mut Vec<Diagnostic>,
    ) {
        if file.ends_with(".rego") {
            let rego = RegoFile { file: file.clone(), text, version };
            if file.ends_with("_test.rego") {
                self.tests.push(rego)
            } else {
                self.modules.push(rego)
            }
            return;
        }
        let base = file.rsplit('/').next().unwrap_or(&file);
        let is_bundle_data = matches!(base, "data.json" | "data.yaml" | "data.yml");
        for mut doc in parse_documents(file.clone(), text, diagnostics) {
            if is_template(&doc.value) {
                self.templates.push(doc);
            } else if is_constraint(&doc.value) {
                self.constraints.push(doc);
            } else {
                match placement {
                    DataPlacement::Root
                        if doc.value.is_object()
                            && doc.value.get("kind").is_none()
                            && doc.value.get("apiVersion").is_none() =>
                    {
                        self.data.push(doc)
                    }
                    DataPlacement::Bundle(dirs) if is_bundle_data => {
                        doc.value = dirs.iter().rev().fold(doc.value, |inner, dir| serde_json::json!({ *dir: inner }));
                        self.data.push(doc)
                    }
                    // Other Kubernetes objects (samples, suites) are not policy.
                    _ => {}
                }
            }
        }
    }
}
