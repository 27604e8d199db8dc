//! Rego modules into regorus engines: syntax version per file, errors at `file:line`, values, METADATA annotations.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use day2_model::{Attr, Diagnostic, DiagnosticKind, Severity};
use regorus::{Engine, Value};
use serde::{Deserialize, Serialize};

/// Which Rego syntax a module is written in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RegoVersion {
    /// Try v1 (OPA 1.0's default) and fall back to v0 (Gatekeeper, conftest before 0.56), per file.
    #[default]
    Auto,
    /// Rego v0: `deny[msg] { … }`, future keywords only when imported.
    V0,
    /// Rego v1: `deny contains msg if { … }`.
    V1,
}

/// Longest one evaluation may run: a runaway policy must not hang a scan (typical evaluations take microseconds).
const EVALUATION_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// A fresh engine with the settings every day2 policy runs under: builtin errors make an expression undefined, as
/// in OPA (a policy author's `to_number("x")` must not abort the whole evaluation), and evaluations are time-limited.
pub fn new_engine() -> Engine {
    let mut engine = Engine::new();
    engine.set_strict_builtin_errors(false);
    if let Some(check_interval) = std::num::NonZeroU32::new(1024) {
        engine.set_execution_timer_config(regorus::utils::limits::ExecutionTimerConfig {
            limit: EVALUATION_LIMIT,
            check_interval,
        });
    }
    engine
}

/// Analyses the loaded modules as the first evaluation would, so semantic errors (unsafe variables, recursion,
/// conflicting rules) surface when policies load rather than on every object. It also spares every clone of the
/// engine that work.
pub fn prepare(engine: &mut Engine) -> Result<(), RegoError> {
    engine.eval_query("true".to_owned(), false).map(|_| ()).map_err(|e| RegoError::parse(&e.to_string()))
}

/// Merges data documents into `engine`'s `data`; a document that conflicts with an earlier one is reported.
pub(crate) fn add_data(engine: &mut Engine, data: &[crate::load::Doc], diagnostics: &mut Vec<Diagnostic>) {
    for doc in data {
        if let Err(e) = engine.add_data(to_value(&doc.value)) {
            diagnostics.push(Diagnostic::new(
                DiagnosticKind::Policy,
                &doc.file,
                Some(doc.line),
                format!("data document not merged: {}", RegoError::parse(&e.to_string()).describe()),
            ));
        }
    }
}

/// The top-level rule heads of a module, with their 1-based lines: `deny contains msg if {` → `deny`,
/// `default allow := false` → `allow`. Rules are at column 0 in every style guide and formatter (`opa fmt`).
pub fn rule_heads(text: &str) -> Vec<(&str, u32)> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.starts_with(char::is_whitespace))
        .map(|(i, line)| (rule_name(line.strip_prefix("default ").unwrap_or(line)), i as u32 + 1))
        .filter(|(name, _)| !name.is_empty() && !matches!(*name, "package" | "import" | "default"))
        .collect()
}

/// Where Rego text sits in the file it was read from, so errors name the file's own lines (a template's Rego is a
/// block inside YAML).
#[derive(Debug, Clone, Copy)]
pub struct Placement<'a> {
    /// The file, as the user named it.
    pub file: &'a str,
    /// Line of the file on which the Rego text's first line sits (1 for a `.rego` file).
    pub first_line: u32,
}

/// Adds one module to `engine` and returns its package (`data.main`). On a syntax error the engine is unchanged and
/// the diagnostic names the file and line.
pub fn add_module(
    engine: &mut Engine,
    text: &str,
    at: Placement<'_>,
    version: RegoVersion,
) -> Result<String, Diagnostic> {
    if let Some((depth, line)) = too_deep(text) {
        return Err(Diagnostic::new(
            DiagnosticKind::Policy,
            at.file,
            Some(at.first_line + line - 1),
            format!(
                "Rego nests brackets {depth} levels deep (limit {MAX_NESTING}): regorus parses deep nesting in exponential time; build deep values in steps"
            ),
        ));
    }
    // What OPA reads differently from regorus is rewritten first, on the same lines.
    let text = crate::rego_syntax::as_opa_reads(text);
    // The module's name carries its placement, so run-time errors can be traced to the enclosing file's line too.
    let name = format!("{}{MARK}{}", at.file, at.first_line);
    let mut attempt = |v0: bool| {
        engine.set_rego_v0(v0);
        engine.add_policy(name.clone(), text.clone().into_owned())
    };
    let result = match version {
        RegoVersion::V0 => attempt(true),
        RegoVersion::V1 => attempt(false),
        RegoVersion::Auto => match attempt(false) {
            Ok(package) => Ok(package),
            Err(v1_error) => attempt(true).map_err(|v0_error| {
                // Report the attempt that got further into the file: that is the syntax the author wrote in.
                let line = |e: &dyn std::fmt::Display| RegoError::parse(&e.to_string()).line;
                if line(&v0_error) > line(&v1_error) { v0_error } else { v1_error }
            }),
        },
    };
    result.map_err(|e| {
        let error = RegoError::parse(&e.to_string());
        Diagnostic::new(
            DiagnosticKind::Policy,
            at.file,
            error.line,
            format!("Rego does not compile: {}", error.message),
        )
    })
}

/// Deepest bracket nesting a module may have. regorus' parser takes time exponential in the nesting depth of
/// literals (about 0.2 s at 12 levels, 3 s at 16, 13 s at 18 in a release build): a deeper module could stall a scan.
const MAX_NESTING: usize = 14;

/// The nesting depth and 1-based line where `text` first nests `(`, `[` or `{` deeper than [`MAX_NESTING`], outside
/// strings and comments.
fn too_deep(text: &str) -> Option<(usize, u32)> {
    let (mut depth, mut line) = (0usize, 1u32);
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\n' => line += 1,
            '#' => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        line += 1;
                        break;
                    }
                }
            }
            '"' => {
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        '"' | '\n' => {
                            line += u32::from(c == '\n');
                            break;
                        }
                        _ => {}
                    }
                }
            }
            '`' => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        line += 1;
                    } else if c == '`' {
                        break;
                    }
                }
            }
            '(' | '[' | '{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Some((depth, line));
                }
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// Separates a file name from the line its Rego starts on, in the module names given to regorus.
const MARK: &str = "@@";

static LOCATION: LazyLock<Option<regex::Regex>> =
    LazyLock::new(|| regex::Regex::new(r"--> (.*?)@@(\d+):(\d+):\d+").ok());

/// A regorus error (`--> module:line:col`, a code excerpt, `error: message`) as one line and a place in the
/// enclosing file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RegoError {
    /// The file the failing module was read from.
    pub file: Option<String>,
    /// The line in that file.
    pub line: Option<u32>,
    /// The message, on one line.
    pub message: String,
}

impl RegoError {
    /// Parses regorus' error text.
    pub fn parse(raw: &str) -> RegoError {
        let message = raw.lines().rev().find(|l| l.starts_with("error: ")).map_or_else(
            || raw.lines().find(|l| !l.trim().is_empty()).unwrap_or(raw).trim().to_owned(),
            |l| l.trim_start_matches("error: ").to_owned(),
        );
        let captures = LOCATION.as_ref().and_then(|re| re.captures(raw));
        let number = |i: usize| captures.as_ref().and_then(|c| c.get(i)).and_then(|m| m.as_str().parse::<u32>().ok());
        let file = captures.as_ref().and_then(|c| c.get(1)).map(|m| m.as_str().to_owned());
        let line = number(2).zip(number(3)).map(|(first, line)| first + line.saturating_sub(1));
        RegoError { file, line, message }
    }

    /// `message (at file:line)`.
    pub fn describe(&self) -> String {
        match (&self.file, self.line) {
            (Some(file), Some(line)) => format!("{} (at {file}:{line})", self.message),
            _ => self.message.clone(),
        }
    }
}

/// Finds the line of `file_text` (1-based, searching from `from_line`) where the embedded `block` starts: YAML block
/// scalars lose their position when parsed, and errors should point into the file.
pub fn locate_block(file_text: &str, from_line: u32, block: &str) -> u32 {
    let Some((skip, first)) = block.lines().enumerate().find(|(_, l)| !l.trim().is_empty()) else { return from_line };
    let first = first.trim();
    file_text
        .lines()
        .enumerate()
        .skip(from_line.saturating_sub(1) as usize)
        .find(|(_, l)| l.trim() == first)
        .map_or(from_line, |(i, _)| (i + 1 - skip.min(i)) as u32)
}

/// A resource's attributes as a regorus value.
pub fn attr_to_value(attr: &Attr) -> Value {
    match attr {
        Attr::Null => Value::Null,
        Attr::Bool(b) => Value::Bool(*b),
        Attr::Number(n) => number(n),
        Attr::String(s) => Value::from(&**s),
        Attr::Array(items) => Value::from(items.iter().map(attr_to_value).collect::<Vec<_>>()),
        Attr::Object(fields) => {
            Value::from(fields.iter().map(|(k, v)| (Value::from(k), attr_to_value(v))).collect::<BTreeMap<_, _>>())
        }
    }
}

fn number(n: &serde_json::Number) -> Value {
    if let Some(i) = n.as_i64() {
        Value::from(i)
    } else if let Some(u) = n.as_u64() {
        Value::from(u)
    } else {
        Value::from(n.as_f64().unwrap_or(0.0))
    }
}

/// A JSON value as a regorus value.
pub fn to_value(json: &serde_json::Value) -> Value {
    match json {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => number(n),
        serde_json::Value::String(s) => Value::from(s.as_str()),
        serde_json::Value::Array(items) => Value::from(items.iter().map(to_value).collect::<Vec<_>>()),
        serde_json::Value::Object(map) => {
            let mut object = BTreeMap::new();
            for (k, v) in map {
                object.insert(Value::from(k.as_str()), to_value(v));
            }
            Value::from(object)
        }
    }
}

/// A regorus value as JSON (sets become arrays; undefined becomes null).
pub fn to_json(value: &Value) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

/// An object with the given string keys.
pub fn object<const N: usize>(entries: [(&str, Value); N]) -> Value {
    Value::from(entries.into_iter().map(|(k, v)| (Value::from(k), v)).collect::<BTreeMap<_, _>>())
}

/// The members of a set or array (nothing for other values).
pub fn values(value: &Value) -> Vec<&Value> {
    match value {
        Value::Set(set) => set.iter().collect(),
        Value::Array(items) => items.iter().collect(),
        _ => Vec::new(),
    }
}

/// The messages of a rule result: a set or array of strings, or of objects with `msg` (conftest and Gatekeeper
/// accept both), each with its `details` when given.
pub fn messages(result: &Value) -> Vec<(String, serde_json::Value)> {
    let items: Vec<&Value> = match result {
        Value::Set(_) | Value::Array(_) => values(result),
        Value::Undefined | Value::Null => Vec::new(),
        single => vec![single],
    };
    items
        .into_iter()
        .filter_map(|item| match item {
            Value::String(s) => Some((s.to_string(), serde_json::Value::Null)),
            Value::Object(fields) => {
                let msg = fields.get(&Value::from("msg")).and_then(|m| m.as_string().ok()).map(|s| s.to_string());
                let details = fields.get(&Value::from("details")).map(to_json).unwrap_or(serde_json::Value::Null);
                Some((msg.unwrap_or_else(|| to_json(item).to_string()), details))
            }
            Value::Bool(true) => Some((String::new(), serde_json::Value::Null)),
            _ => None,
        })
        .collect()
}

/// What an OPA `# METADATA` block says about a rule.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Annotation {
    /// `title`.
    pub title: Option<String>,
    /// `description`.
    pub description: Option<String>,
    /// `custom.severity`.
    pub severity: Option<Severity>,
    /// `custom.id`, a stable rule id chosen by the author.
    pub id: Option<String>,
    /// Line of the annotated rule (1-based, in the module text).
    pub line: u32,
}

#[derive(Debug, Default, Deserialize)]
struct MetadataBlock {
    title: Option<String>,
    description: Option<String>,
    scope: Option<String>,
    #[serde(default)]
    custom: BTreeMap<String, serde_json::Value>,
}

/// The METADATA annotations of a module, by rule name; `""` holds the package-scoped one. A block that is not valid
/// YAML is ignored here (OPA reports it; regorus does not read annotations).
pub fn annotations(text: &str) -> BTreeMap<String, Annotation> {
    let mut out = BTreeMap::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        if lines.get(i).map(|l| l.trim()) != Some("# METADATA") {
            i += 1;
            continue;
        }
        let mut yaml = String::new();
        i += 1;
        while let Some(comment) = lines.get(i).and_then(|l| l.trim_start().strip_prefix('#')) {
            yaml.push_str(comment.strip_prefix(' ').unwrap_or(comment));
            yaml.push('\n');
            i += 1;
        }
        let Ok(block) = serde_saphyr::from_str::<MetadataBlock>(&yaml) else { continue };
        let rule_line = (i..lines.len()).find(|&j| lines.get(j).is_some_and(|l| !l.trim().is_empty()));
        let rule = rule_line.and_then(|j| lines.get(j)).map(|l| rule_name(l)).unwrap_or_default();
        let key = if matches!(block.scope.as_deref(), Some("package" | "subpackages")) || rule == "package" {
            String::new()
        } else {
            rule.to_owned()
        };
        let custom = |k: &str| block.custom.get(k).and_then(|v| v.as_str());
        out.entry(key).or_insert(Annotation {
            title: block.title,
            description: block.description,
            severity: custom("severity").and_then(|s| s.parse().ok()),
            id: custom("id").map(str::to_owned),
            line: rule_line.map_or(0, |j| j as u32 + 1),
        });
    }
    out
}

/// The rule name a line of Rego starts with (`deny contains msg if {` → `deny`).
pub fn rule_name(line: &str) -> &str {
    let line = line.trim_start();
    let end = line.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(line.len());
    line.get(..end).unwrap_or_default()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;

    const AT: Placement<'static> = Placement { file: "p.rego", first_line: 1 };

    #[test]
    fn detects_v0_and_v1_per_module() {
        let mut engine = new_engine();
        let v1 = "package a\ndeny contains msg if { input.x; msg := \"x\" }\n";
        let v0 = "package b\ndeny[msg] { input.x; msg := \"x\" }\n";
        assert_eq!(add_module(&mut engine, v1, AT, RegoVersion::Auto).unwrap(), "data.a");
        assert_eq!(add_module(&mut engine, v0, AT, RegoVersion::Auto).unwrap(), "data.b");
        engine.set_input(to_value(&serde_json::json!({"x": true})));
        for rule in ["data.a.deny", "data.b.deny"] {
            assert_eq!(messages(&engine.eval_rule(rule.to_owned()).unwrap()).len(), 1, "{rule}");
        }
        assert!(add_module(&mut new_engine(), v0, AT, RegoVersion::V1).is_err());
    }

    #[test]
    fn syntax_errors_name_the_line_of_the_enclosing_file() {
        let text = "package a\n\ndeny contains msg if {\n  input.x ==\n}\n";
        let d = add_module(&mut new_engine(), text, Placement { file: "t.yaml", first_line: 10 }, RegoVersion::Auto)
            .unwrap_err();
        assert_eq!(d.file, "t.yaml");
        let line = d.line.unwrap();
        assert!((12..=14).contains(&line), "{d:?}");
        assert!(d.message.starts_with("Rego does not compile: "), "{}", d.message);
        assert!(!d.message.contains('\n'));
    }

    #[test]
    fn deep_nesting_is_refused_before_the_parser_sees_it() {
        let deep = format!("package a\n\nx := {}1{}\n", "[".repeat(20), "]".repeat(20));
        let d = add_module(&mut new_engine(), &deep, AT, RegoVersion::Auto).unwrap_err();
        assert_eq!(d.line, Some(3));
        assert!(d.message.contains("15 levels deep"), "{}", d.message);
        // Brackets in strings and comments do not count.
        let text = format!("package a\n# {}\nx := \"{}\"\n", "[".repeat(30), "{".repeat(30));
        assert!(add_module(&mut new_engine(), &text, AT, RegoVersion::Auto).is_ok());
    }

    #[test]
    fn reads_metadata_annotations() {
        let text = "package main\n\n# METADATA\n# title: No root\n# custom:\n#   severity: high\n#   id: SEC-1\ndeny contains msg if { false; msg := \"\" }\n";
        let a = &annotations(text)["deny"];
        assert_eq!(a.title.as_deref(), Some("No root"));
        assert_eq!(a.severity, Some(Severity::High));
        assert_eq!(a.id.as_deref(), Some("SEC-1"));
        assert_eq!(a.line, 8);
    }

    #[test]
    fn locates_blocks_inside_yaml() {
        let file = "kind: X\nspec:\n  rego: |\n    package a\n    deny[m] { m := 1 }\n";
        assert_eq!(locate_block(file, 1, "package a\ndeny[m] { m := 1 }\n"), 4);
        assert_eq!(locate_block(file, 1, "\n\npackage a\n"), 2);
    }

    #[test]
    fn converts_values_both_ways() {
        let json = serde_json::json!({"a": [1, -2, 2.5, "s", null, true], "b": {"c": {}}});
        assert_eq!(to_json(&to_value(&json)), json);
    }
}
