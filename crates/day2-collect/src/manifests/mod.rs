//! Kubernetes manifests: files, directories and stdin; YAML and JSON; multi-document streams; `kind: List`;
//! Helm-rendered output (the `# Source:` template path is kept) and Kustomize build output.
//!
//! Every object keeps its file and 1-based line. Documents that are not Kubernetes objects (no `apiVersion`/`kind`) are
//! skipped with an informational diagnostic. A syntax error in one document costs that document only: the file is
//! re-read document by document so the others are still scanned. Secret values are masked here, at collection.
//!
//! Here: the source (config, collection in parallel, duplicates) and declared documents read as objects (Lists,
//! top-level sequences, build-time tool configurations, live objects given as declarations). Beside it: [`helm`]
//! (template paths of Helm output), [`render`] (chart and Kustomize folders rendered by their tools) and [`objects`]
//! (Kubernetes objects shaped into resources, Secrets masked). YAML
//! and JSON reading within limits is day2-input's.
//!
//! Not here: relations and ownership (see [`crate::link`]), judging anything (day2-analyze).

mod helm;
pub mod objects;
mod render;

use std::path::PathBuf;

use day2_input::Limits;
use day2_input::documents::{documents, element_lines};
use day2_input::files::{self, FileFilter};
use day2_model::{Diagnostic, DiagnosticKind, Origin, Resource, ResourceId, Snapshot};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use helm::HelmSources;
use objects::{Object, is_live_object};
pub use objects::{ObjectError, is_cluster_scoped, live_resource, qualified_kind};
pub use render::ChartConfig;

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
    /// Render Helm chart folders (`Chart.yaml`) with `helm template` and Kustomize folders (`kustomization.yaml`)
    /// with `kubectl kustomize`, and check the output, instead of reading their files one by one. Default `true`.
    pub render: bool,
    /// Settings of chart folders (values files, `--set` values, release name). Charts found without an entry here
    /// are rendered with their own `values.yaml`.
    pub charts: Vec<ChartConfig>,
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
            render: true,
            charts: Vec::new(),
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
    let files::Expanded { mut inputs, errors, notes } = files::expand(&config.paths, &filter);
    let found = errors
        .into_iter()
        .map(|e| (DiagnosticKind::Unreadable, e))
        .chain(notes.into_iter().map(|n| (DiagnosticKind::NotRead, n)));
    for (kind, (path, message)) in found {
        snapshot.diagnostics.push(Diagnostic::new(kind, path.display().to_string(), None, message));
    }
    let rendered = if config.render { render_folders(&mut inputs, config, &snapshot.source) } else { Vec::new() };
    snapshot.files = inputs.len() + rendered.len();
    let parse_one = |input: &files::Input| {
        let name = input.display();
        tracing::trace!(target: crate::source::PROGRESS, file = %name);
        match files::read_text(input, config.limits.max_file_bytes) {
            Ok(text) => parse(&text, &name, &snapshot.source, config),
            Err(error) => Parsed {
                resources: Vec::new(),
                diagnostics: vec![Diagnostic::new(DiagnosticKind::Unreadable, name, None, error.to_string())],
            },
        }
    };
    let per_file: Vec<Parsed> = match crate::parse_pool() {
        Some(pool) => pool.install(|| inputs.par_iter().map(parse_one).collect()),
        None => inputs.iter().map(parse_one).collect(),
    };
    for parsed in rendered.into_iter().chain(per_file) {
        snapshot.resources.extend(parsed.resources);
        snapshot.diagnostics.extend(parsed.diagnostics);
    }
    report_duplicates(&mut snapshot);
    snapshot.complete = !snapshot.diagnostics.iter().any(|d| d.kind.is_error());
    snapshot
}

/// Renders the chart and Kustomize folders among `inputs` and removes the files they cover from `inputs`. A
/// Kustomize folder that cannot be rendered for want of kubectl is read file by file, as before rendering existed.
fn render_folders(inputs: &mut Vec<files::Input>, config: &ManifestsConfig, source: &str) -> Vec<Parsed> {
    let folders = render::Folders::find(inputs);
    let mut out = Vec::new();
    let mut kustomize_rendered = true;
    let noted = |kind: DiagnosticKind, dir: &std::path::Path, why: String| Parsed {
        resources: Vec::new(),
        diagnostics: vec![Diagnostic::new(kind, dir.display().to_string(), None, why)],
    };
    let failed = |dir: &std::path::Path, e: render::RenderError| noted(DiagnosticKind::Unreadable, dir, e.to_string());
    for dir in &folders.overlays {
        match render::kustomize(dir, config.limits.max_file_bytes) {
            Ok(text) => out.push(parse(&text, &dir.display().to_string(), source, config)),
            // Read file by file instead, as before rendering existed: a note, not an input error.
            Err(e @ render::RenderError::NoTool { .. }) => {
                kustomize_rendered = false;
                out.push(noted(DiagnosticKind::NotRead, dir, format!("{e}; its files are read one by one")));
            }
            Err(e) => out.push(failed(dir, e)),
        }
    }
    for dir in &folders.charts {
        let canonical = std::fs::canonicalize(dir).ok();
        let chart = config
            .charts
            .iter()
            .find(|c| std::fs::canonicalize(&c.path).ok() == canonical)
            .cloned()
            .unwrap_or_default();
        if let Some(why) = render::unrenderable_chart(dir) {
            out.push(noted(DiagnosticKind::NotRead, dir, why));
            continue;
        }
        match render::helm(dir, &chart, &config.default_namespace, config.limits.max_file_bytes) {
            Ok(text) => {
                // Objects the chart leaves without a namespace are in the release's.
                let in_release = ManifestsConfig {
                    default_namespace: chart.namespace.clone().unwrap_or_else(|| config.default_namespace.clone()),
                    ..config.clone()
                };
                out.push(parse(&text, &dir.display().to_string(), source, &in_release));
            }
            Err(e) => out.push(failed(dir, e)),
        }
    }
    inputs.retain(|i| !matches!(i, files::Input::File(f) if folders.covers(f, kustomize_rendered)));
    out
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
        if let Some(directive) = map.get("$patch").and_then(Value::as_str) {
            // A Kustomize strategic-merge patch (`$patch: delete`) names an object of a base; it is not a second one.
            let why = format!("a Kustomize patch (`$patch: {directive}`), not an object");
            out.diagnostics.push(self.skipped(line, &why));
            return;
        }
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
            Err(error) => out.diagnostics.push(self.schema(line, &error.to_string())),
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
    /// (a top-level sequence).
    fn item_lines(&self, doc_line: u32, list_kind: bool) -> Vec<u32> {
        element_lines(self.text, doc_line, list_kind, &self.config.limits)
    }

    fn resource(&self, value: Value, api_version: String, kind: String, line: u32) -> Result<Resource, ObjectError> {
        let origin = Origin::Declared {
            file: self.file.to_owned(),
            line,
            template: self.templates.template_for(line),
            module: None,
            attributes: Default::default(),
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
        for chart in &mut self.charts {
            chart.path = crate::source::resolve(base, &chart.path);
            crate::source::resolve_all(base, &mut chart.values);
        }
    }

    fn watched_paths(&self) -> Vec<std::path::PathBuf> {
        let mut paths = self.paths.clone();
        paths.extend(self.charts.iter().flat_map(|c| c.values.iter().cloned()));
        crate::source::files_to_watch(&paths)
    }

    fn collect(&self) -> crate::source::Collecting<'_, Snapshot> {
        Box::pin(async move { collect(self) })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use day2_model::redact;

    fn parse_str(text: &str) -> Parsed {
        parse(text, "t.yaml", "test", &ManifestsConfig::default())
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
    fn kustomize_delete_patches_are_skipped_not_duplicates() {
        let text = "apiVersion: v1\nkind: Service\nmetadata: {name: a, namespace: shop}\n---\n$patch: delete\napiVersion: v1\nkind: Service\nmetadata: {name: a, namespace: shop}\n";
        let p = parse(text, "f.yaml", "s", &ManifestsConfig::default());
        assert_eq!(p.resources.len(), 1);
        assert_eq!(p.diagnostics.len(), 1, "{:?}", p.diagnostics);
        assert_eq!(p.diagnostics[0].kind, DiagnosticKind::Skipped);
        assert!(p.diagnostics[0].message.contains("`$patch: delete`"), "{:?}", p.diagnostics);
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
