//! Kubernetes manifests: files, directories and stdin; YAML and JSON; multi-document streams; `kind: List`;
//! Helm-rendered output (the `# Source:` template path is kept) and Kustomize build output.
//!
//! Every object keeps its file and 1-based line. Documents that are not Kubernetes objects (no `apiVersion`/`kind`) are
//! skipped with an informational diagnostic. A syntax error in one document costs that document only: the file is
//! re-read document by document so the others are still scanned. Secret values are masked here, at collection.
//!
//! Not here: relations and ownership (see [`crate::link`]), judging anything (day2-analyze).

use std::collections::BTreeMap;
use std::path::PathBuf;

use day2_model::redact;
use day2_model::{Diagnostic, DiagnosticKind, Origin, Provider, Resource, ResourceId, Snapshot};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_saphyr::Spanned;

use crate::Limits;
use crate::files::{self, FileFilter};

/// True for objects as the API server returns them: only the server assigns `uid` and `resourceVersion`, so a
/// declaration never carries both (an exported `kubectl get -o yaml` does).
fn is_live_object(object: &Value) -> bool {
    let meta = object.get("metadata");
    meta.and_then(|m| m.get("uid")).is_some() && meta.and_then(|m| m.get("resourceVersion")).is_some()
}

/// One manifests source (`- manifests: {…}` in `sources`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ManifestsConfig {
    /// Name of this source in reports and the store (findings resolve per source, so keep it stable).
    /// Default: `manifests:<paths>`.
    pub source_name: Option<String>,
    /// Files, directories (walked recursively) or `-` for stdin. Example: `[k8s/, rendered/helm.yaml]`.
    pub paths: Vec<PathBuf>,
    /// Globs a file found in a directory must match (relative to that directory). Default: `**/*.yaml`, `**/*.yml`,
    /// `**/*.json`.
    pub include: Vec<String>,
    /// Globs that exclude files found in a directory. Example: `[charts/**/templates/**]`.
    pub exclude: Vec<String>,
    /// Cluster name used as the scope of resource ids, so declared objects pair with the live cluster. Default `default`.
    pub cluster: String,
    /// Namespace assumed for namespaced objects that name none. Default `default`, as kubectl does.
    pub default_namespace: String,
    /// Input limits.
    pub limits: Limits,
    /// Accept live API objects (recorded state read by [`crate::recorded`]); declared sources skip them.
    #[serde(skip)]
    pub live_objects: bool,
}

impl Default for ManifestsConfig {
    fn default() -> Self {
        ManifestsConfig {
            source_name: None,
            paths: Vec::new(),
            include: vec!["**/*.yaml".into(), "**/*.yml".into(), "**/*.json".into()],
            exclude: Vec::new(),
            cluster: "default".into(),
            default_namespace: "default".into(),
            limits: Limits::default(),
            live_objects: false,
        }
    }
}

/// What one file yielded.
#[derive(Debug, Default)]
pub struct Parsed {
    /// Objects found, in file order.
    pub resources: Vec<Resource>,
    /// Problems and skipped documents.
    pub diagnostics: Vec<Diagnostic>,
}

/// Reads every configured path in parallel and returns one snapshot. Bad files become diagnostics; the rest is read.
pub fn collect(config: &ManifestsConfig) -> Snapshot {
    let source = crate::source::Source::name(config);
    let mut snapshot = Snapshot { source, complete: true, ..Snapshot::default() };
    let filter = match FileFilter::new(&config.include, &config.exclude) {
        Ok(f) => f,
        Err(e) => {
            snapshot.complete = false;
            snapshot.diagnostics.push(Diagnostic::new(DiagnosticKind::Config, "day2.yaml", None, e.to_string()));
            return snapshot;
        }
    };
    let files::Expanded { inputs, errors, notes } = files::expand(&config.paths, &filter);
    let found = errors
        .into_iter()
        .map(|e| (DiagnosticKind::Unreadable, e))
        .chain(notes.into_iter().map(|n| (DiagnosticKind::NotRead, n)));
    for (kind, (path, message)) in found {
        snapshot.diagnostics.push(Diagnostic::new(kind, path.display().to_string(), None, message));
    }
    snapshot.files = inputs.len();
    let parse_one = |input: &files::Input| {
        let name = input.display();
        match files::read_text(input, config.limits.max_file_bytes) {
            Ok(text) => parse(&text, &name, &snapshot.source, config),
            Err(message) => Parsed {
                resources: Vec::new(),
                diagnostics: vec![Diagnostic::new(DiagnosticKind::Unreadable, name, None, message)],
            },
        }
    };
    let per_file: Vec<Parsed> = match crate::parse_pool() {
        Some(pool) => pool.install(|| inputs.par_iter().map(parse_one).collect()),
        None => inputs.iter().map(parse_one).collect(),
    };
    for parsed in per_file {
        snapshot.resources.extend(parsed.resources);
        snapshot.diagnostics.extend(parsed.diagnostics);
    }
    report_duplicates(&mut snapshot);
    snapshot.complete = !snapshot.diagnostics.iter().any(|d| d.kind.is_error());
    snapshot
}

/// Keeps the first of several objects with the same identity and reports the others with both locations.
fn report_duplicates(snapshot: &mut Snapshot) {
    let mut first: std::collections::HashMap<ResourceId, (String, u32)> = std::collections::HashMap::new();
    let mut kept = Vec::with_capacity(snapshot.resources.len());
    for r in std::mem::take(&mut snapshot.resources) {
        let (file, line) = r.location().map(|(f, l)| (f.to_owned(), l)).unwrap_or_default();
        match first.get(&r.id) {
            Some((f0, l0)) => snapshot.diagnostics.push(Diagnostic::new(
                DiagnosticKind::Duplicate,
                file,
                Some(line),
                format!(
                    "duplicate object {} {}: first declared at {f0}:{l0}; this copy is ignored",
                    r.kind,
                    display_name(&r)
                ),
            )),
            None => {
                first.insert(r.id.clone(), (file, line));
                kept.push(r);
            }
        }
    }
    snapshot.resources = kept;
}

fn display_name(r: &Resource) -> String {
    if r.namespace.is_empty() { r.name.clone() } else { format!("{}/{}", r.namespace, r.name) }
}

/// Parses one file's text. `file` names it in locations and diagnostics; `source` names the snapshot.
pub fn parse(text: &str, file: &str, source: &str, config: &ManifestsConfig) -> Parsed {
    let mut out = Parsed::default();
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        return out;
    }
    let docs = documents(text, file, &config.limits, &mut out.diagnostics);
    let templates = HelmSources::scan(text);
    let ctx = DocContext { file, source, config, templates: &templates, text };
    for (value, line) in docs {
        ctx.object(value, line, &mut out);
    }
    out
}

/// The documents of a YAML stream or JSON file, each with the line it starts on. Syntax errors and exceeded limits
/// become diagnostics naming the file and line; the documents around a bad one are still returned.
pub fn documents(text: &str, file: &str, limits: &Limits, diagnostics: &mut Vec<Diagnostic>) -> Vec<(Value, u32)> {
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        return Vec::new();
    }
    let is_json =
        file.ends_with(".json") || (trimmed.starts_with('{') && !file.ends_with(".yaml") && !file.ends_with(".yml"));
    if is_json { parse_json(text, file, limits, diagnostics) } else { parse_yaml(text, file, limits, diagnostics) }
}

fn parse_json(text: &str, file: &str, limits: &Limits, diagnostics: &mut Vec<Diagnostic>) -> Vec<(Value, u32)> {
    match crate::json::from_str(text) {
        Ok(v) if crate::depth_exceeds(&v, limits.max_depth) => {
            diagnostics.push(depth_diagnostic(file, 1, limits.max_depth));
            Vec::new()
        }
        Ok(v) => vec![(v, first_content_line(text))],
        Err(e) => {
            diagnostics.push(Diagnostic::new(
                DiagnosticKind::Syntax,
                file,
                u32::try_from(e.line()).ok(),
                format!("invalid JSON: {e}"),
            ));
            Vec::new()
        }
    }
}

fn depth_diagnostic(file: &str, line: u32, limit: usize) -> Diagnostic {
    Diagnostic::new(
        DiagnosticKind::Limit,
        file,
        Some(line),
        format!("document nests deeper than the limit of {limit} levels (limits.max_depth); skipped"),
    )
}

fn first_content_line(text: &str) -> u32 {
    let skipped = text.len() - text.trim_start().len();
    1 + text.get(..skipped).map_or(0, |s| s.matches('\n').count()) as u32
}

fn yaml_options(limits: &Limits) -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = limits.max_depth;
    budget.max_documents = limits.max_documents;
    budget.max_nodes = limits.max_nodes;
    budget.max_events = limits.max_nodes.saturating_mul(2);
    budget.max_reader_input_bytes = Some(usize::try_from(limits.max_file_bytes).unwrap_or(usize::MAX));
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options.with_snippet = false;
    // Aliases may replay at most 100,000 events per file (the parser allows a million): real manifests replay a few
    // dozen, and an alias bomb is cut off in milliseconds rather than seconds.
    options.alias_limits.max_total_replayed_events = limits.max_nodes.min(100_000);
    // Kubernetes reads manifests as YAML 1.1, where `defaultMode: 0644` is octal (420): read them the same way.
    options.legacy_octal_numbers = true;
    options
}

/// Parses a YAML stream. On error, re-parses document by document (split at `---` lines) so that one bad document
/// does not hide the others, and reports the error with its absolute line.
fn parse_yaml(text: &str, file: &str, limits: &Limits, diagnostics: &mut Vec<Diagnostic>) -> Vec<(Value, u32)> {
    match serde_saphyr::from_multiple_with_options::<Spanned<Value>>(text, yaml_options(limits)) {
        Ok(docs) => docs.into_iter().map(|d| (d.value, line_of(&d.referenced))).collect(),
        // A limit applies to the whole file: re-reading it in pieces would give each piece a fresh budget.
        Err(e) if e.without_snippet().to_string().contains("budget") => {
            diagnostics.push(yaml_diagnostic(&e, file, 0, text));
            Vec::new()
        }
        Err(_) => {
            let mut docs = Vec::new();
            for (offset, chunk) in split_documents(text) {
                match serde_saphyr::from_multiple_with_options::<Spanned<Value>>(chunk, yaml_options(limits)) {
                    Ok(parsed) => docs.extend(parsed.into_iter().map(|d| (d.value, line_of(&d.referenced) + offset))),
                    Err(e) => diagnostics.push(yaml_diagnostic(&e, file, offset, chunk)),
                }
            }
            docs
        }
    }
}

fn line_of(loc: &serde_saphyr::Location) -> u32 {
    u32::try_from(loc.line()).unwrap_or(u32::MAX).max(1)
}

/// A budget breach in words, not as the parser's debug struct (`Documents { documents: 3 }`).
fn budget_breach(e: &serde_saphyr::Error) -> Option<String> {
    use serde_saphyr::budget::BudgetBreach;
    let serde_saphyr::Error::Budget { breach, .. } = e.without_snippet() else { return None };
    Some(match breach {
        BudgetBreach::Documents { documents } => {
            format!("the file holds more YAML documents than limits.max_documents allows ({documents} read)")
        }
        BudgetBreach::Nodes { nodes } => format!("the file holds more YAML nodes than the parser allows ({nodes})"),
        BudgetBreach::ScalarBytes { total_scalar_bytes } => {
            format!("the file's scalars exceed the parser's size budget ({total_scalar_bytes} bytes)")
        }
        BudgetBreach::Events { events } => format!("the file exceeds the parser's event budget ({events} events)"),
        BudgetBreach::MergeKeys { merge_keys } => format!("the file uses too many YAML merge keys ({merge_keys})"),
        other => format!("the file exceeds a YAML parser limit ({})", breach_name(other)),
    })
}

/// The variant name of a breach, for the rare ones without a message of their own.
fn breach_name(breach: &serde_saphyr::budget::BudgetBreach) -> String {
    let debug = format!("{breach:?}");
    debug.split([' ', '{', '(']).next().unwrap_or_default().to_owned()
}

fn yaml_diagnostic(e: &serde_saphyr::Error, file: &str, offset: u32, chunk: &str) -> Diagnostic {
    let raw = e.without_snippet().to_string();
    // The parser appends positions relative to the chunk it saw; the diagnostic carries the absolute line instead.
    let message =
        raw.split(" at line ").next().unwrap_or(&raw).replace(", set DuplicateKeyPolicy in Options if acceptable", "");
    let message = message.trim_end_matches(|c: char| c == ',' || c.is_whitespace());
    let (kind, message) = if raw.contains("Depth {") {
        (
            DiagnosticKind::Limit,
            "document nests deeper than the depth limit (limits.max_depth); document skipped".to_owned(),
        )
    } else if raw.contains("Alias") || raw.contains("alias replay") || raw.contains("Anchor") {
        (DiagnosticKind::Limit, "YAML aliases expand beyond the limit (an alias bomb?); document skipped".to_owned())
    } else if let Some(breach) = budget_breach(e) {
        (DiagnosticKind::Limit, format!("{breach} (limits in day2.yaml); file skipped"))
    } else {
        (DiagnosticKind::Syntax, format!("invalid YAML: {message}"))
    };
    let line = e.location().map(|l| line_of(&l) + offset).unwrap_or(offset + first_content_line(chunk));
    Diagnostic::new(kind, file, Some(line), message)
}

/// Splits a YAML stream at document separator lines. Returns (lines before the chunk, chunk text).
fn split_documents(text: &str) -> Vec<(u32, &str)> {
    let mut chunks = Vec::new();
    let mut start = 0usize;
    let mut start_line = 0u32;
    let mut pos = 0usize;
    for (line_no, line) in (0u32..).zip(text.split_inclusive('\n')) {
        let is_separator =
            line.starts_with("---") && line.get(3..).is_none_or(|r| r.trim().is_empty() || r.starts_with(' '));
        if is_separator && pos > start {
            chunks.push((start_line, text.get(start..pos).unwrap_or("")));
            start = pos;
            start_line = line_no;
        }
        pos += line.len();
    }
    if start < text.len() {
        chunks.push((start_line, text.get(start..).unwrap_or("")));
    }
    chunks
}

/// `# Source: <template>` comments in Helm output, with the separator lines that delimit documents.
struct HelmSources {
    /// (line, template) of each `# Source:` comment.
    sources: Vec<(u32, String)>,
    /// Lines of `---` separators.
    separators: Vec<u32>,
}

impl HelmSources {
    fn scan(text: &str) -> Self {
        let mut hs = HelmSources { sources: Vec::new(), separators: Vec::new() };
        if !text.contains("# Source:") {
            return hs;
        }
        for (i, line) in text.lines().enumerate() {
            let n = i as u32 + 1;
            if let Some(t) = line.strip_prefix("# Source:") {
                hs.sources.push((n, t.trim().to_owned()));
            } else if line.starts_with("---") {
                hs.separators.push(n);
            }
        }
        hs
    }

    /// The template of the document starting at `line`: the `# Source:` between the preceding separator and the line.
    fn template_for(&self, line: u32) -> Option<String> {
        let floor = self.separators.iter().rev().find(|&&s| s < line).copied().unwrap_or(0);
        self.sources.iter().rev().find(|(l, _)| *l < line && *l > floor).map(|(_, t)| t.clone())
    }
}

struct DocContext<'a> {
    file: &'a str,
    source: &'a str,
    config: &'a ManifestsConfig,
    templates: &'a HelmSources,
    text: &'a str,
}

impl DocContext<'_> {
    fn object(&self, value: Value, line: u32, out: &mut Parsed) {
        if let Value::Array(items) = value {
            // A top-level sequence of objects (`[{...}, {...}]`) is read like the items of a List.
            let lines = self.item_lines(line, false);
            for (i, item) in items.into_iter().enumerate() {
                self.object(item, lines.get(i).copied().unwrap_or(line), out);
            }
            return;
        }
        let Value::Object(map) = &value else {
            if !value.is_null() {
                out.diagnostics.push(self.skipped(line, "document is not a mapping, so not a Kubernetes object"));
            }
            return;
        };
        let (Some(api_version), Some(kind)) = (map.get("apiVersion"), map.get("kind")) else {
            out.diagnostics.push(self.skipped(line, "document has no apiVersion/kind, so not a Kubernetes object"));
            return;
        };
        let (Some(api_version), Some(kind)) = (api_version.as_str(), kind.as_str()) else {
            out.diagnostics.push(self.schema(line, "fields `apiVersion` and `kind` must be strings"));
            return;
        };
        if let Some(what) = build_time_config(api_version, kind) {
            out.diagnostics.push(self.skipped(line, &format!("{api_version} {kind} is {what}, not a cluster object")));
            return;
        }
        let is_list = kind == "List" || (kind.ends_with("List") && map.get("items").is_some_and(Value::is_array));
        let (api_version, kind) = (api_version.to_owned(), kind.to_owned());
        if is_list {
            self.list(value, line, out);
            return;
        }
        if !self.config.live_objects && is_live_object(&value) {
            out.diagnostics.push(self.skipped(
                line,
                "a live API object (it carries a server-assigned uid and resourceVersion), not a declaration; give recorded live state to `day2 drift --live`",
            ));
            return;
        }
        let name = value.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_owned();
        for problem in crate::field_types::wrong_types(&kind, &value) {
            out.diagnostics.push(self.schema(line, &format!("{kind} {name}: {problem}")));
        }
        match self.resource(value, api_version, kind, line) {
            Ok(r) => out.resources.push(r),
            Err(message) => out.diagnostics.push(self.schema(line, &message)),
        }
    }

    /// Items of a `kind: List`. Their lines come from a second, span-only parse of the file (Lists are rare).
    fn list(&self, value: Value, line: u32, out: &mut Parsed) {
        let Value::Object(mut map) = value else { return };
        let Some(Value::Array(items)) = map.remove("items") else {
            out.diagnostics.push(self.schema(line, "`items` of a List must be a sequence"));
            return;
        };
        let lines = self.item_lines(line, true);
        for (i, item) in items.into_iter().enumerate() {
            let item_line = lines.get(i).copied().unwrap_or(line);
            self.object(item, item_line, out);
        }
    }

    /// Lines of the elements of the list document starting at `doc_line`: its `items` (a List) or the document itself
    /// (a top-level sequence). Read by a second, span-only parse of the file, as such documents are rare.
    fn item_lines(&self, doc_line: u32, list_kind: bool) -> Vec<u32> {
        let docs = serde_saphyr::from_multiple_with_options::<Spanned<ElementLines>>(
            self.text,
            yaml_options(&self.config.limits),
        );
        docs.ok()
            .and_then(|docs| docs.into_iter().find(|d| line_of(&d.referenced) == doc_line))
            .filter(|d| d.value.from_items == list_kind)
            .map(|d| d.value.lines)
            .unwrap_or_default()
    }

    fn resource(&self, value: Value, api_version: String, kind: String, line: u32) -> Result<Resource, String> {
        let origin = Origin::Declared {
            file: self.file.to_owned(),
            line,
            template: self.templates.template_for(line),
            module: None,
        };
        let object = Object { cluster: &self.config.cluster, default_namespace: &self.config.default_namespace };
        // Each apply of a `generateName` object creates a new one, so these are told apart by where they are declared.
        object.resource(value, api_version, kind, &format!("@{}:{line}", self.file), origin, self.source)
    }

    fn skipped(&self, line: u32, why: &str) -> Diagnostic {
        tracing::debug!(file = self.file, line, "Skipping document: {why}.");
        Diagnostic::new(DiagnosticKind::Skipped, self.file, Some(line), why)
    }

    fn schema(&self, line: u32, message: &str) -> Diagnostic {
        Diagnostic::new(DiagnosticKind::Schema, self.file, Some(line), message)
    }
}

/// Files that carry `apiVersion`/`kind` but configure tools rather than describe cluster objects.
fn build_time_config(api_version: &str, kind: &str) -> Option<&'static str> {
    let group = api_version.split('/').next().unwrap_or_default();
    match (group, kind) {
        ("kustomize.config.k8s.io", _) => Some("a Kustomize build file"),
        (g, _) if g.starts_with("skaffold") => Some("a Skaffold configuration"),
        ("kind.x-k8s.io", _) => Some("a kind cluster configuration"),
        ("kubeadm.k8s.io", _) => Some("a kubeadm configuration"),
        ("v1", "Config") => Some("a kubeconfig file"),
        ("helm.cattle.io" | "config.kubernetes.io", "Config" | "ResourceList") => Some("a tool configuration"),
        _ => None,
    }
}

/// The lines of a document's elements: a sequence's entries, or a mapping's `items` entries. Written as a visitor
/// because serde's buffering (`untagged`, `flatten`) would lose the spans.
struct ElementLines {
    lines: Vec<u32>,
    from_items: bool,
}

impl<'de> Deserialize<'de> for ElementLines {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ElementLinesVisitor)
    }
}

struct ElementLinesVisitor;

/// A scalar document: no elements.
const NO_ELEMENTS: ElementLines = ElementLines { lines: Vec::new(), from_items: false };

fn spanned_lines<'de, A: serde::de::SeqAccess<'de>>(mut seq: A) -> Result<Vec<u32>, A::Error> {
    let mut lines = Vec::new();
    while let Some(item) = seq.next_element::<Spanned<serde::de::IgnoredAny>>()? {
        lines.push(line_of(&item.referenced));
    }
    Ok(lines)
}

/// The `items` value of a List: a sequence whose element lines are wanted.
struct ItemLines(Vec<u32>);

impl<'de> Deserialize<'de> for ItemLines {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ElementLinesVisitor).map(|e| ItemLines(if e.from_items { Vec::new() } else { e.lines }))
    }
}

impl<'de> serde::de::Visitor<'de> for ElementLinesVisitor {
    type Value = ElementLines;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<ElementLines, A::Error> {
        Ok(ElementLines { lines: spanned_lines(seq)?, from_items: false })
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<ElementLines, A::Error> {
        let mut lines = Vec::new();
        while let Some(key) = map.next_key::<Value>()? {
            if key == "items" {
                lines = map.next_value::<ItemLines>()?.0;
            } else {
                map.next_value::<serde::de::IgnoredAny>()?;
            }
        }
        Ok(ElementLines { lines, from_items: true })
    }

    fn visit_bool<E>(self, _: bool) -> Result<ElementLines, E> {
        Ok(NO_ELEMENTS)
    }
    fn visit_i64<E>(self, _: i64) -> Result<ElementLines, E> {
        Ok(NO_ELEMENTS)
    }
    fn visit_u64<E>(self, _: u64) -> Result<ElementLines, E> {
        Ok(NO_ELEMENTS)
    }
    fn visit_f64<E>(self, _: f64) -> Result<ElementLines, E> {
        Ok(NO_ELEMENTS)
    }
    fn visit_str<E>(self, _: &str) -> Result<ElementLines, E> {
        Ok(NO_ELEMENTS)
    }
    fn visit_unit<E>(self) -> Result<ElementLines, E> {
        Ok(NO_ELEMENTS)
    }
    fn visit_none<E>(self) -> Result<ElementLines, E> {
        Ok(NO_ELEMENTS)
    }
}

/// Where Kubernetes objects are read from: the cluster that scopes their ids and the namespace of objects that name none.
struct Object<'a> {
    cluster: &'a str,
    default_namespace: &'a str,
}

impl Object<'_> {
    /// Builds the resource of one object, masking Secret values. `generated` tells apart objects that only carry a
    /// `generateName`.
    fn resource(
        &self,
        mut value: Value,
        api_version: String,
        kind: String,
        generated: &str,
        origin: Origin,
        source: &str,
    ) -> Result<Resource, String> {
        let metadata = match value.get("metadata") {
            None => return Err(format!("{kind} has no `metadata`")),
            Some(Value::Object(m)) => m,
            Some(_) => return Err(format!("{kind}: `metadata` must be a mapping")),
        };
        let name = match (metadata.get("name"), metadata.get("generateName")) {
            (Some(Value::String(n)), _) if !n.is_empty() => n.clone(),
            (None, Some(Value::String(g))) => format!("{g}*{generated}"),
            (Some(_), _) => return Err(format!("{kind}: `metadata.name` must be a non-empty string")),
            (None, _) => return Err(format!("{kind} has no `metadata.name`")),
        };
        let namespace = match metadata.get("namespace") {
            Some(Value::String(ns)) => ns.clone(),
            Some(_) => return Err(format!("{kind} {name}: `metadata.namespace` must be a string")),
            None if is_cluster_scoped(&kind) => String::new(),
            None => self.default_namespace.to_owned(),
        };
        let labels = string_map(metadata.get("labels"))
            .map_err(|k| format!("{kind} {name}: label `{k}` must be a string (quote the value)"))?;
        string_map(metadata.get("annotations"))
            .map_err(|k| format!("{kind} {name}: annotation `{k}` must be a string (quote the value)"))?;
        // Credentials become tokens before anything else sees the object (day2_model::redact).
        redact::redact_kubernetes(redact::Redactor::process(), &mut value);
        let kind_id = qualified_kind(&api_version, &kind);
        Ok(Resource {
            id: ResourceId::new(Provider::K8s, self.cluster, &kind_id, &namespace, &name),
            provider: Provider::K8s,
            scope: self.cluster.to_owned(),
            kind: kind_id,
            api_version,
            namespace,
            name,
            labels,
            owner: Default::default(),
            attrs: value.into(),
            origin,
            source: source.to_owned(),
        })
    }
}

/// The resource of one object read from a cluster's API (`apiVersion` and `kind` set): ids scoped by `cluster`,
/// Secret values masked. Cluster-scoped objects carry no namespace, so none is defaulted.
pub fn live_resource(value: Value, cluster: &str, origin: Origin, source: &str) -> Result<Resource, String> {
    let api_version = value.get("apiVersion").and_then(Value::as_str).unwrap_or_default().to_owned();
    let kind = value.get("kind").and_then(Value::as_str).unwrap_or_default().to_owned();
    if api_version.is_empty() || kind.is_empty() {
        return Err("object has no apiVersion/kind".to_owned());
    }
    Object { cluster, default_namespace: "" }.resource(value, api_version, kind, "", origin, source)
}

pub use day2_model::k8s::qualified_kind;

/// Kinds that live outside namespaces (built-in API plus common CRDs).
pub fn is_cluster_scoped(kind: &str) -> bool {
    matches!(
        kind,
        "Namespace"
            | "Node"
            | "PersistentVolume"
            | "ClusterRole"
            | "ClusterRoleBinding"
            | "StorageClass"
            | "CustomResourceDefinition"
            | "PriorityClass"
            | "ValidatingWebhookConfiguration"
            | "MutatingWebhookConfiguration"
            | "ValidatingAdmissionPolicy"
            | "ValidatingAdmissionPolicyBinding"
            | "APIService"
            | "IngressClass"
            | "RuntimeClass"
            | "CSIDriver"
            | "CSINode"
            | "VolumeAttachment"
            | "PodSecurityPolicy"
            | "VolumeSnapshotClass"
            | "ClusterIssuer"
            | "ConstraintTemplate"
            | "FlowSchema"
            | "PriorityLevelConfiguration"
            | "CertificateSigningRequest"
    )
}

fn string_map(value: Option<&Value>) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    if let Some(Value::Object(m)) = value {
        for (k, v) in m {
            match v {
                Value::String(s) => {
                    out.insert(k.clone(), s.clone());
                }
                Value::Null => {
                    out.insert(k.clone(), String::new());
                }
                _ => return Err(k.clone()),
            }
        }
    }
    Ok(out)
}

impl crate::source::Source for ManifestsConfig {
    fn name(&self) -> String {
        self.source_name.clone().unwrap_or_else(|| crate::source_name("manifests", &self.paths))
    }

    fn side(&self) -> day2_model::Side {
        day2_model::Side::Declared
    }

    fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    fn validate(&self) -> Vec<String> {
        FileFilter::new(&self.include, &self.exclude).err().map(|e| e.to_string()).into_iter().collect()
    }

    fn resolve_paths(&mut self, base: &std::path::Path) {
        crate::source::resolve_all(base, &mut self.paths);
    }

    fn watched_paths(&self) -> Vec<std::path::PathBuf> {
        crate::source::files_to_watch(&self.paths)
    }

    fn collect(&self) -> crate::source::Collecting<'_, Snapshot> {
        Box::pin(async move { collect(self) })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Parsed {
        parse(text, "t.yaml", "test", &ManifestsConfig::default())
    }

    #[test]
    fn file_modes_are_octal_as_kubernetes_reads_them() {
        let p = parse_str(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  volumes:\n  - name: v\n    secret: {secretName: s, defaultMode: 0644}\n",
        );
        assert_eq!(p.resources[0].attrs["spec"]["volumes"][0]["secret"]["defaultMode"], 420);
    }

    #[test]
    fn live_api_objects_are_not_declarations() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  uid: 1f0c\n  resourceVersion: \"42\"\n";
        let p = parse_str(text);
        assert!(p.resources.is_empty());
        assert_eq!(p.diagnostics[0].kind, DiagnosticKind::Skipped);
        assert!(p.diagnostics[0].message.contains("day2 drift --live"), "{:?}", p.diagnostics[0]);
        let live = parse(text, "t.yaml", "test", &ManifestsConfig { live_objects: true, ..ManifestsConfig::default() });
        assert_eq!(live.resources.len(), 1);
    }

    #[test]
    fn multi_document_stream_keeps_lines_and_ids() {
        let p = parse_str(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  namespace: shop\n---\n# c\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: b\n",
        );
        assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
        let ids: Vec<_> = p.resources.iter().map(|r| (r.id.as_str().to_owned(), r.location().unwrap().1)).collect();
        assert_eq!(
            ids,
            [("k8s/default/Service/shop/a".to_owned(), 1), ("k8s/default/apps.Deployment/default/b".to_owned(), 8)]
        );
    }

    #[test]
    fn helm_source_comment_is_kept_per_document() {
        let text = "---\n# Source: shop/templates/svc.yaml\napiVersion: v1\nkind: Service\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n";
        let p = parse_str(text);
        let t: Vec<_> = p
            .resources
            .iter()
            .map(|r| match &r.origin {
                Origin::Declared { template, .. } => template.clone(),
                _ => None,
            })
            .collect();
        assert_eq!(t, [Some("shop/templates/svc.yaml".to_owned()), None]);
    }

    #[test]
    fn list_items_get_their_own_lines() {
        let text = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: one\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: two\n";
        let p = parse_str(text);
        let lines: Vec<_> = p.resources.iter().map(|r| (r.name.clone(), r.location().unwrap().1)).collect();
        assert_eq!(lines, [("one".to_owned(), 4), ("two".to_owned(), 8)]);
    }

    #[test]
    fn one_bad_document_does_not_hide_the_others() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ok\n---\nkey: [unclosed\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ok2\n";
        let p = parse_str(text);
        assert_eq!(p.resources.len(), 2);
        assert_eq!(p.diagnostics.len(), 1);
        assert_eq!(p.diagnostics[0].kind, DiagnosticKind::Syntax);
        assert!(p.diagnostics[0].line.unwrap() >= 6, "{:?}", p.diagnostics[0]);
    }

    #[test]
    fn top_level_sequences_and_generate_name_objects_are_kept_apart() {
        let p = parse_str(
            "- apiVersion: batch/v1\n  kind: Job\n  metadata: {generateName: migrate-}\n- apiVersion: batch/v1\n  kind: Job\n  metadata: {generateName: migrate-}\n",
        );
        let lines: Vec<_> = p.resources.iter().map(|r| (r.name.clone(), r.location().unwrap().1)).collect();
        assert_eq!(lines, [("migrate-*@t.yaml:1".to_owned(), 1), ("migrate-*@t.yaml:4".to_owned(), 4)]);
    }

    #[test]
    fn document_limits_apply_to_the_whole_file() {
        let config =
            ManifestsConfig { limits: Limits { max_documents: 2, ..Limits::default() }, ..ManifestsConfig::default() };
        let doc = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n";
        let p = parse(&doc.repeat(3), "t.yaml", "test", &config);
        assert!(p.resources.is_empty());
        assert_eq!(p.diagnostics[0].kind, DiagnosticKind::Limit, "{:?}", p.diagnostics);
        let message = &p.diagnostics[0].message;
        assert!(
            message.starts_with("the file holds more YAML documents than limits.max_documents allows"),
            "{message}"
        );
        assert!(!message.contains('{'), "no debug struct: {message}");
    }

    #[test]
    fn secrets_are_redacted_and_non_k8s_yaml_is_skipped() {
        let p = parse_str(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  annotations:\n    kubectl.kubernetes.io/last-applied-configuration: '{\"data\":{\"password\":\"aHVudGVyMg==\"}}'\ndata:\n  password: aHVudGVyMg==\n---\nfoo: bar\n",
        );
        assert!(p.resources[0].attrs["data"]["password"].as_str().is_some_and(redact::is_token));
        assert!(!p.resources[0].attrs.to_string().contains("aHVudGVyMg"));
        assert_eq!(p.diagnostics[0].kind, DiagnosticKind::Skipped);
    }
}
