//! ConstraintTemplates: the Rego (and libs) of the admission target, in both forms Gatekeeper accepts.

use day2_model::{Diagnostic, DiagnosticKind};
use regorus::Engine;
use serde_json::Value;

use crate::load::Doc;
use crate::rego::{self, Placement, RegoVersion};

/// The only target day2 evaluates (Gatekeeper's Kubernetes admission target).
pub const ADMISSION_TARGET: &str = "admission.k8s.gatekeeper.sh";

/// A compiled ConstraintTemplate.
#[derive(Debug, Clone)]
pub struct Template {
    /// The constraint kind it defines (`spec.crd.spec.names.kind`).
    pub kind: String,
    /// `metadata.name`.
    pub name: String,
    /// Declaring file and line.
    pub file: String,
    /// Line of the template document.
    pub line: u32,
    /// `metadata.gatekeeper.sh/title` annotation.
    pub title: Option<String>,
    /// `description` annotation.
    pub description: Option<String>,
    /// The engine holding the template's Rego and libs.
    pub engine: Engine,
    /// The rule to evaluate: `data.<package>.violation`.
    pub rule: String,
    /// Whether the Rego reads `data.inventory` (only then is the inventory handed to it).
    pub uses_inventory: bool,
    /// `spec.crd.spec.validation.openAPIV3Schema`, to check constraint parameters against.
    pub parameters_schema: Option<Value>,
}

/// What a template yields: the compiled template, or why not; and notes about entries skipped on the way.
pub struct Parsed {
    /// The template, or the reason it cannot run.
    pub template: Result<Template, Diagnostic>,
    /// Informational notes (a CEL entry skipped because a Rego entry exists).
    pub notes: Vec<Diagnostic>,
}

struct RegoSource<'a> {
    rego: &'a str,
    libs: Vec<&'a str>,
    version: RegoVersion,
}

/// Compiles a ConstraintTemplate document.
pub(crate) fn parse(doc: &Doc) -> Parsed {
    let mut notes = Vec::new();
    let template = compile(doc, &mut notes);
    Parsed { template, notes }
}

fn compile(doc: &Doc, notes: &mut Vec<Diagnostic>) -> Result<Template, Diagnostic> {
    let v = &doc.value;
    let problem = |message: String| Diagnostic::new(DiagnosticKind::Policy, &doc.file, Some(doc.line), message);
    let name = v.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_owned();
    let kind = v
        .pointer("/spec/crd/spec/names/kind")
        .and_then(Value::as_str)
        .ok_or_else(|| problem(format!("ConstraintTemplate `{name}` has no spec.crd.spec.names.kind")))?
        .to_owned();
    let targets = v.pointer("/spec/targets").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let target = targets
        .iter()
        .find(|t| t.get("target").and_then(Value::as_str) == Some(ADMISSION_TARGET))
        .ok_or_else(|| problem(format!("ConstraintTemplate `{name}` has no `{ADMISSION_TARGET}` target")))?;
    let source = rego_source(target, &name, &doc.file, doc.line, notes).map_err(problem)?;

    let mut engine = rego::new_engine();
    for lib in &source.libs {
        let at = Placement { file: &doc.file, first_line: rego::locate_block(&doc.text, doc.line, lib) };
        let package = rego::add_module(&mut engine, lib, at, source.version)?;
        if !package.starts_with("data.lib.") && package != "data.lib" {
            return Err(problem(format!(
                "ConstraintTemplate `{name}`: a lib must be in a package under `lib` (Gatekeeper's rule), found `{}`",
                package.trim_start_matches("data.")
            )));
        }
    }
    let at = Placement { file: &doc.file, first_line: rego::locate_block(&doc.text, doc.line, source.rego) };
    let package = rego::add_module(&mut engine, source.rego, at, source.version)?;
    rego::prepare(&mut engine).map_err(|e| {
        Diagnostic::new(
            DiagnosticKind::Policy,
            e.file.as_deref().unwrap_or(&doc.file),
            e.line.or(Some(doc.line)),
            format!("ConstraintTemplate `{name}`: Rego does not compile: {}", e.message),
        )
    })?;
    let rule = format!("{package}.violation");
    if !declares_violation(source.rego) {
        return Err(problem(format!("ConstraintTemplate `{name}`: its Rego declares no `violation` rule")));
    }
    let annotation = |key: &str| {
        v.pointer("/metadata/annotations").and_then(|a| a.get(key)).and_then(Value::as_str).map(str::to_owned)
    };
    Ok(Template {
        kind,
        name,
        file: doc.file.clone(),
        line: doc.line,
        title: annotation("metadata.gatekeeper.sh/title"),
        description: annotation("description"),
        uses_inventory: std::iter::once(source.rego)
            .chain(source.libs.iter().copied())
            .any(|t| t.contains("data.inventory")),
        engine,
        rule,
        parameters_schema: v.pointer("/spec/crd/spec/validation/openAPIV3Schema").cloned(),
    })
}

fn declares_violation(rego: &str) -> bool {
    rego.lines().any(|l| !l.starts_with(char::is_whitespace) && rego::rule_name(l) == "violation")
}

/// The Rego entry of a target: `rego` + `libs`, or the `code[]` entry with `engine: Rego`. A CEL
/// (`K8sNativeValidation`) entry next to a Rego one is noted and skipped; a template with only CEL cannot run here.
fn rego_source<'a>(
    target: &'a Value,
    name: &str,
    file: &str,
    line: u32,
    notes: &mut Vec<Diagnostic>,
) -> Result<RegoSource<'a>, String> {
    let strings = |v: Option<&'a Value>| -> Vec<&'a str> {
        v.and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect()
    };
    if let Some(rego) = target.get("rego").and_then(Value::as_str) {
        return Ok(RegoSource { rego, libs: strings(target.get("libs")), version: RegoVersion::Auto });
    }
    let code = target.get("code").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let engine_of = |c: &Value| c.get("engine").and_then(Value::as_str).unwrap_or_default().to_owned();
    let rego_entry = code.iter().find(|c| engine_of(c) == "Rego");
    let others: Vec<String> = code.iter().map(engine_of).filter(|e| e != "Rego").collect();
    match rego_entry {
        Some(entry) => {
            for other in &others {
                notes.push(Diagnostic::new(
                    DiagnosticKind::Skipped,
                    file,
                    Some(line),
                    format!(
                        "ConstraintTemplate `{name}`: the `{other}` entry is skipped (no CEL engine in day2 yet); its Rego entry is used"
                    ),
                ));
            }
            let source = entry.get("source").unwrap_or(&Value::Null);
            let rego = source
                .get("rego")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("ConstraintTemplate `{name}`: the Rego code entry has no source.rego"))?;
            let version = match source.get("version").and_then(Value::as_str) {
                Some("v1") => RegoVersion::V1,
                Some("v0") => RegoVersion::V0,
                _ => RegoVersion::Auto,
            };
            Ok(RegoSource { rego, libs: strings(source.get("libs")), version })
        }
        None if !others.is_empty() => Err(format!(
            "ConstraintTemplate `{name}` is unsupported: it has only `{}` code, and day2 runs Rego (no CEL engine yet)",
            others.join("`, `")
        )),
        None => {
            Err(format!("ConstraintTemplate `{name}`: the `{ADMISSION_TARGET}` target has neither `rego` nor `code`"))
        }
    }
}
