//! Terraform declared state: configuration (`.tf` files, read by [`configuration`]), state v4 files (`terraform.tfstate`) and
//! the JSON of `terraform show -json` for state and for saved plans.
//!
//! Every managed resource instance becomes a [`Resource`] with its full address (modules, `count` and `for_each` keys)
//! as its name and its attribute values as attrs; sensitive values are masked. From plans, `planned_values` are the
//! resources, `resource_changes` and `resource_drift` are kept as [`Change`]s, and `configuration` gives references and
//! `depends_on` as relations. State files give `dependencies` as relations.
//!
//! Not here: provider-specific meaning (that is in the checks) or pairing with live cloud objects (the drift analyzer).

mod configuration;
mod functions;
mod json_syntax;
mod types;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use day2_model::redact;
use day2_model::{
    Change, DeclaredAttributes, Diagnostic, DiagnosticKind, Origin, Provider, Relation, RelationKind, Resource,
    ResourceId, Snapshot,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use day2_input::Limits;
use day2_input::files::{self, Input};

/// One Terraform source (`- terraform: {…}` in `sources`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TerraformConfig {
    /// Configuration folders and `.tf` files, state files, or `terraform show -json` outputs (state or plan).
    /// Folders are searched for `.tf`, `.tfstate` and `.tfstate.json` files. Example: `[infra/, plan.json]`.
    pub paths: Vec<PathBuf>,
    /// Variable files read after `terraform.tfvars` and `*.auto.tfvars` (as `terraform plan -var-file`), for every
    /// configuration root of this source. Example: `[env/prod.tfvars]`.
    pub var_files: Vec<PathBuf>,
    /// Variable values, read last (as `terraform plan -var`). Example: `{region: eu-west-1, replicas: 3}`.
    pub vars: BTreeMap<String, serde_json::Value>,
    /// Scope used in resource ids (`tf/<scope>/…`). Default: the file name without extension; when several files of
    /// this source share a name (`prod/terraform.tfstate`, `stage/terraform.tfstate`), their folders are prepended
    /// (`prod.terraform`, `stage.terraform`).
    pub name: Option<String>,
    /// Name of this source in reports and the store (findings resolve per source, so keep it stable).
    /// Default: `terraform:<paths>`.
    pub source_name: Option<String>,
    /// Input limits.
    pub limits: Limits,
}

/// What one Terraform file yielded.
#[derive(Debug, Default)]
pub struct Parsed {
    /// Managed resource instances.
    pub resources: Vec<Resource>,
    /// References and dependencies.
    pub relations: Vec<Relation>,
    /// Planned changes and detected drift (plans only).
    pub changes: Vec<Change>,
    /// Problems.
    pub diagnostics: Vec<Diagnostic>,
}

/// Reads every configured file into one snapshot.
pub fn collect(config: &TerraformConfig) -> Snapshot {
    let source = config.source_name.clone().unwrap_or_else(|| crate::source_name("terraform", &config.paths));
    let (documents, configuration, notes) = inputs(&config.paths);
    // Scopes are chosen over documents and configuration folders together, so none of them share one.
    let folders: Vec<PathBuf> = configuration.iter().filter_map(|f| f.parent().map(Path::to_path_buf)).collect();
    let mut units: Vec<PathBuf> = documents.clone();
    for folder in folders.iter().map(|d| if d.as_os_str().is_empty() { PathBuf::from(".") } else { d.clone() }) {
        if !units.contains(&folder) {
            units.push(folder);
        }
    }
    let scopes: HashMap<PathBuf, String> = units.iter().cloned().zip(default_scopes(&units)).collect();
    let mut snap = Snapshot {
        source: source.clone(),
        complete: true,
        files: documents.len() + configuration.len(),
        diagnostics: notes,
        ..Snapshot::default()
    };
    let scope_of = |p: &Path| {
        let key = if p.as_os_str().is_empty() { Path::new(".") } else { p };
        config.name.clone().or_else(|| scopes.get(key).cloned()).unwrap_or_else(|| "terraform".to_owned())
    };
    if !configuration.is_empty() {
        let parsed = configuration::read_files(&configuration, config, &source, &scope_of);
        snap.resources.extend(parsed.resources);
        snap.relations.extend(parsed.relations);
        snap.diagnostics.extend(parsed.diagnostics);
    }
    for path in &documents {
        let default = scope_of(path);
        let input = if path.as_os_str() == "-" { Input::Stdin } else { Input::File(path.clone()) };
        let file = input.display();
        let scope = default;
        let parsed = match files::read_text(&input, config.limits.max_file_bytes) {
            Ok(text) => parse(&text, &file, &scope, &source, &config.limits),
            Err(error) => Parsed {
                diagnostics: vec![Diagnostic::new(DiagnosticKind::Unreadable, file, None, error.to_string())],
                ..Parsed::default()
            },
        };
        snap.resources.extend(parsed.resources);
        snap.relations.extend(parsed.relations);
        snap.changes.extend(parsed.changes);
        snap.diagnostics.extend(parsed.diagnostics);
    }
    snap.complete = !snap.diagnostics.iter().any(|d| d.kind.is_error());
    snap
}

/// Splits configured paths into JSON documents (state, `show -json` output; standard input) and configuration
/// (`.tf`) files. Folders are walked for both; what cannot be walked comes back as notes.
fn inputs(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<PathBuf>, Vec<Diagnostic>) {
    let (mut documents, mut configuration, mut notes) = (Vec::new(), Vec::new(), Vec::new());
    for path in paths {
        if path.as_os_str() == "-" || !path.is_dir() {
            if is_configuration(path) {
                configuration.push(path.clone())
            } else {
                documents.push(path.clone())
            }
            continue;
        }
        let Ok(filter) = files::FileFilter::new(&FOLDER_GLOBS.map(str::to_owned), &[]) else { continue };
        let found = files::expand(std::slice::from_ref(path), &filter);
        for input in found.inputs {
            let Input::File(file) = input else { continue };
            if is_configuration(&file) { configuration.push(file) } else { documents.push(file) }
        }
        notes.extend(
            found
                .notes
                .into_iter()
                .map(|(path, why)| Diagnostic::new(DiagnosticKind::NotRead, path.display().to_string(), None, why)),
        );
    }
    // A state file beside the configuration it records describes the same resources twice: the configuration is
    // read, the state only from a source of its own.
    let configured: BTreeSet<PathBuf> =
        configuration.iter().filter_map(|f| f.parent().map(Path::to_path_buf)).collect();
    documents.retain(|d| {
        let beside =
            d.extension().is_some_and(|e| e == "tfstate") && d.parent().is_some_and(|p| configured.contains(p));
        if beside {
            let why = "a state file beside the configuration it records: the configuration is read; give the state \
                       file a source of its own to read it too";
            notes.push(Diagnostic::new(DiagnosticKind::NotRead, d.display().to_string(), None, why));
        }
        !beside
    });
    (documents, configuration, notes)
}

/// What a Terraform folder is searched for.
const FOLDER_GLOBS: [&str; 4] = ["**/*.tf", "**/*.tf.json", "**/*.tfstate", "**/*.tfstate.json"];

/// A Terraform configuration file (`main.tf`, `main.tf.json`), as opposed to a state or plan document.
pub fn is_configuration(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    name.ends_with(".tf") || name.ends_with(".tf.json")
}

/// Default scopes for a source's files: the file name without extension (`infra/prod.tfstate` → `prod`), with as many
/// parent folders prepended as it takes to tell files of the same name apart (`prod.terraform`, `stage.terraform`).
fn default_scopes(paths: &[PathBuf]) -> Vec<String> {
    let parts: Vec<Vec<String>> = paths
        .iter()
        .map(|p| {
            let mut parts: Vec<String> = p.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
            if let Some(last) = parts.last_mut() {
                let stem =
                    last.trim_end_matches(".json").trim_end_matches(".tfstate").trim_end_matches(".tfplan").to_owned();
                // `.` is named after the folder it is (`day2 check .` in `infra/` gives scope `infra`).
                let stem = if stem == "." {
                    std::fs::canonicalize(p)
                        .ok()
                        .and_then(|c| c.file_name().map(|n| n.to_string_lossy().into_owned()))
                        .unwrap_or_else(|| "root".to_owned())
                } else {
                    stem
                };
                *last = if p.as_os_str() == "-" { "stdin".to_owned() } else { stem };
            }
            parts
        })
        .collect();
    let scope = |p: &Vec<String>, depth: usize| p.iter().rev().take(depth).rev().cloned().collect::<Vec<_>>().join(".");
    let mut depth = vec![1usize; parts.len()];
    loop {
        let scopes: Vec<String> = parts.iter().zip(&depth).map(|(p, &d)| scope(p, d)).collect();
        let mut changed = false;
        for (i, s) in scopes.iter().enumerate() {
            let clash = scopes.iter().enumerate().any(|(j, t)| j != i && t == s);
            if clash
                && depth.get(i).copied().unwrap_or(0) < parts.get(i).map_or(0, Vec::len)
                && let Some(d) = depth.get_mut(i)
            {
                *d += 1;
                changed = true;
            }
        }
        if !changed {
            return scopes;
        }
    }
}

/// Parses one configuration (`.tf`) file as a root module: the HCL reader's entry for tests and fuzzing.
pub fn parse_configuration(text: &str, file: &str, scope: &str, source: &str, config: &TerraformConfig) -> Parsed {
    configuration::parse(text, file, scope, source, config)
}

/// Parses one file. The format is recognised from its content, not its name.
pub fn parse(text: &str, file: &str, scope: &str, source: &str, limits: &Limits) -> Parsed {
    let mut out = Parsed::default();
    let doc: Value = match day2_input::json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            let hint = if text.trim_start().starts_with("resource ") || text.contains("provider \"") {
                " (this looks like HCL: name the `.tf` file or its folder, which day2 reads as Terraform configuration)"
            } else {
                ""
            };
            out.diagnostics.push(Diagnostic::new(
                DiagnosticKind::Syntax,
                file,
                u32::try_from(e.line()).ok(),
                format!("invalid JSON: {e}{hint}"),
            ));
            return out;
        }
    };
    if day2_input::depth_exceeds(&doc, limits.max_depth) {
        out.diagnostics.push(Diagnostic::new(
            DiagnosticKind::Limit,
            file,
            Some(1),
            format!("document nests deeper than the limit of {} levels (limits.max_depth); skipped", limits.max_depth),
        ));
        return out;
    }
    let mut reader =
        Reader { file, scope, source, lines: LineIndex::new(text), out, by_config_address: HashMap::new() };
    if doc.get("version").and_then(Value::as_u64) == Some(4) && doc.get("resources").is_some() {
        reader.state_v4(&doc);
    } else if doc.get("format_version").is_some() {
        reader.show_json(&doc);
    } else {
        let what = match doc.get("version").and_then(Value::as_u64) {
            Some(v) => format!("state format version {v} is not supported (only version 4, Terraform ≥ 0.12)"),
            None => {
                "not a Terraform state (no `version: 4`) nor `terraform show -json` output (no `format_version`)".into()
            }
        };
        reader.out.diagnostics.push(Diagnostic::new(DiagnosticKind::Schema, file, Some(1), what));
    }
    reader.out
}

struct Reader<'a> {
    file: &'a str,
    scope: &'a str,
    source: &'a str,
    lines: LineIndex<'a>,
    out: Parsed,
    /// Configuration address (no instance keys) → instance ids, to resolve references.
    by_config_address: HashMap<String, Vec<ResourceId>>,
}

impl Reader<'_> {
    fn schema_error(&mut self, field: &str, message: &str) {
        let line = self.lines.find(&format!("\"{field}\"")).unwrap_or(1);
        self.out.diagnostics.push(Diagnostic::new(
            DiagnosticKind::Schema,
            self.file,
            Some(line),
            format!("`{field}`: {message}"),
        ));
    }

    fn id(&self, kind: &str, address: &str) -> ResourceId {
        ResourceId::new(Provider::Tf, self.scope, kind, "", address)
    }

    /// State v4: `resources[]` with `instances[]`, attributes, `sensitive_attributes`, `dependencies`.
    fn state_v4(&mut self, doc: &Value) {
        let Some(resources) = doc.get("resources").and_then(Value::as_array) else {
            return self.schema_error("resources", "must be an array");
        };
        let mut deps = Vec::new();
        for (i, r) in resources.iter().enumerate() {
            if r.get("mode").and_then(Value::as_str) != Some("managed") {
                continue;
            }
            let (Some(kind), Some(name)) =
                (r.get("type").and_then(Value::as_str), r.get("name").and_then(Value::as_str))
            else {
                self.schema_error("resources", &format!("entry {i} has no string `type` and `name`"));
                continue;
            };
            let module = r.get("module").and_then(Value::as_str).filter(|m| !m.is_empty());
            let provider = r.get("provider").and_then(Value::as_str).map(provider_name).unwrap_or_default();
            let line = self.lines.type_name(kind, name);
            for inst in r.get("instances").and_then(Value::as_array).into_iter().flatten() {
                let address = instance_address(module, kind, name, inst.get("index_key"));
                let mut attrs = inst.get("attributes").cloned().unwrap_or(Value::Null);
                for path in inst.get("sensitive_attributes").and_then(Value::as_array).into_iter().flatten() {
                    mask_path(&mut attrs, path);
                }
                let id = self.push_resource(kind, &address, module, &provider, attrs, line);
                for dep in
                    inst.get("dependencies").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str)
                {
                    deps.push((id.clone(), dep.to_owned()));
                }
            }
        }
        self.resolve(deps, RelationKind::DependsOn);
    }

    /// `terraform show -json`: a state (`values`) or a plan (`planned_values`, `resource_changes`, `resource_drift`,
    /// `configuration`).
    fn show_json(&mut self, doc: &Value) {
        let values = doc.get("planned_values").or_else(|| doc.get("values"));
        let mut deps = Vec::new();
        if let Some(root) = values.and_then(|v| v.get("root_module")) {
            self.module_values(root, &mut deps);
        }
        for (field, drift) in [("resource_changes", false), ("resource_drift", true)] {
            for rc in doc.get(field).and_then(Value::as_array).into_iter().flatten() {
                self.change(rc, drift);
            }
        }
        self.mark_unknown(doc);
        self.resolve(deps, RelationKind::DependsOn);
        if let Some(root) = doc.get("configuration").and_then(|c| c.get("root_module")) {
            let mut refs = Vec::new();
            self.configuration(root, "", &mut refs);
            self.resolve_config(refs, RelationKind::References);
        }
    }

    fn module_values(&mut self, module: &Value, deps: &mut Vec<(ResourceId, String)>) {
        for r in module.get("resources").and_then(Value::as_array).into_iter().flatten() {
            if r.get("mode").and_then(Value::as_str) != Some("managed") {
                continue;
            }
            let (Some(address), Some(kind)) =
                (r.get("address").and_then(Value::as_str), r.get("type").and_then(Value::as_str))
            else {
                self.schema_error("address", "resource entry has no string `address` and `type`");
                continue;
            };
            let mut attrs = r.get("values").cloned().unwrap_or(Value::Null);
            if let Some(sensitive) = r.get("sensitive_values") {
                mask_tree(&mut attrs, sensitive);
            }
            let module_addr = module.get("address").and_then(Value::as_str);
            let provider = r.get("provider_name").and_then(Value::as_str).unwrap_or_default().to_owned();
            let line = self.lines.address(address);
            let id = self.push_resource(kind, address, module_addr, &provider, attrs, line);
            for dep in r.get("depends_on").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
                deps.push((id.clone(), dep.to_owned()));
            }
        }
        for child in module.get("child_modules").and_then(Value::as_array).into_iter().flatten() {
            self.module_values(child, deps);
        }
    }

    fn change(&mut self, rc: &Value, drift: bool) {
        if rc.get("mode").and_then(Value::as_str) != Some("managed") {
            return;
        }
        let (Some(address), Some(kind)) =
            (rc.get("address").and_then(Value::as_str), rc.get("type").and_then(Value::as_str))
        else {
            return;
        };
        let change = rc.get("change").cloned().unwrap_or(Value::Null);
        let mut before = change.get("before").cloned().unwrap_or(Value::Null);
        let mut after = change.get("after").cloned().unwrap_or(Value::Null);
        if let Some(s) = change.get("before_sensitive") {
            mask_tree(&mut before, s);
        }
        if let Some(s) = change.get("after_sensitive") {
            mask_tree(&mut after, s);
        }
        // Credential-named attributes Terraform did not mark sensitive (`password = "…"` in an old provider).
        redact::redact_tree(redact::Redactor::process(), &mut before);
        redact::redact_tree(redact::Redactor::process(), &mut after);
        let actions = change
            .get("actions")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default();
        self.out.changes.push(Change { id: self.id(kind, address), actions, before, after, drift });
    }

    /// A plan's `after_unknown` trees mark the attributes known only after apply; the resources of those
    /// addresses keep them, so checks do not read their absence from the planned values as "not set".
    fn mark_unknown(&mut self, doc: &Value) {
        let mut unknown: HashMap<&str, Vec<String>> = HashMap::new();
        for rc in doc.get("resource_changes").and_then(Value::as_array).into_iter().flatten() {
            let (Some(address), Some(tree)) =
                (rc.get("address").and_then(Value::as_str), rc.pointer("/change/after_unknown"))
            else {
                continue;
            };
            let mut pointers = Vec::new();
            true_leaves(tree, String::new(), &mut pointers);
            if !pointers.is_empty() {
                unknown.insert(address, pointers);
            }
        }
        for r in &mut self.out.resources {
            if let (Some(pointers), Origin::Declared { attributes, .. }) = (unknown.get(r.name.as_str()), &mut r.origin)
            {
                attributes.unknown.extend(pointers.iter().cloned());
            }
        }
    }

    /// Walks `configuration.root_module` and its `module_calls`, collecting references and `depends_on` by config address.
    fn configuration(&self, module: &Value, prefix: &str, refs: &mut Vec<(String, String)>) {
        for r in module.get("resources").and_then(Value::as_array).into_iter().flatten() {
            if r.get("mode").and_then(Value::as_str) != Some("managed") {
                continue;
            }
            let Some(address) = r.get("address").and_then(Value::as_str) else { continue };
            let from = format!("{prefix}{address}");
            let mut targets = Vec::new();
            collect_references(r.get("expressions").unwrap_or(&Value::Null), &mut targets);
            for t in targets.into_iter().filter_map(|t| reference_target(&t)) {
                refs.push((from.clone(), format!("{prefix}{t}")));
            }
            for d in r.get("depends_on").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
                if let Some(t) = reference_target(d) {
                    refs.push((from.clone(), format!("{prefix}{t}\u{0}depends_on")));
                }
            }
        }
        for (name, call) in module.get("module_calls").and_then(Value::as_object).into_iter().flatten() {
            if let Some(child) = call.get("module") {
                self.configuration(child, &format!("{prefix}module.{name}."), refs);
            }
        }
    }

    fn resolve_config(&mut self, refs: Vec<(String, String)>, kind: RelationKind) {
        let mut seen = std::collections::HashSet::new();
        for (from, to) in refs {
            let (to, rel) = match to.strip_suffix("\u{0}depends_on") {
                Some(t) => (t.to_owned(), RelationKind::DependsOn),
                None => (to, kind),
            };
            let (Some(froms), Some(tos)) = (self.by_config_address.get(&from), self.by_config_address.get(&to)) else {
                continue;
            };
            for f in froms {
                for t in tos {
                    if f != t && seen.insert((f.clone(), rel, t.clone())) {
                        self.out.relations.push(Relation { from: f.clone(), kind: rel, to: t.clone() });
                    }
                }
            }
        }
    }

    /// Resolves instance-level `dependencies` / `depends_on` (config addresses) to relations.
    fn resolve(&mut self, deps: Vec<(ResourceId, String)>, kind: RelationKind) {
        for (from, dep) in deps {
            for to in self.by_config_address.get(&config_address(&dep)).into_iter().flatten() {
                self.out.relations.push(Relation { from: from.clone(), kind, to: to.clone() });
            }
        }
    }

    fn push_resource(
        &mut self,
        kind: &str,
        address: &str,
        module: Option<&str>,
        provider: &str,
        attrs: Value,
        line: Option<u32>,
    ) -> ResourceId {
        let declared = Declared {
            scope: self.scope,
            source: self.source,
            kind,
            address,
            module,
            provider,
            file: self.file,
            line: line.unwrap_or(1),
            attributes: DeclaredAttributes::default(),
        };
        let id = declared_resource(&mut self.out.resources, declared, attrs);
        self.by_config_address.entry(config_address(address)).or_default().push(id.clone());
        id
    }
}

/// Where a resource instance is declared, whichever format it was read from.
struct Declared<'a> {
    scope: &'a str,
    source: &'a str,
    kind: &'a str,
    /// Full instance address (`module.net.aws_subnet.a[0]`).
    address: &'a str,
    /// Module address, `None` for the root module.
    module: Option<&'a str>,
    /// Provider source address (`registry.terraform.io/hashicorp/aws`).
    provider: &'a str,
    file: &'a str,
    line: u32,
    /// Attribute lines (configuration) and attributes known only after apply.
    attributes: DeclaredAttributes,
}

/// Adds a resource instance to `resources` and returns its id. Credential-named attributes Terraform did not mark
/// sensitive (`password = "…"` in an old provider or in configuration) are redacted here.
fn declared_resource(resources: &mut Vec<Resource>, at: Declared<'_>, mut attrs: Value) -> ResourceId {
    redact::redact_tree(redact::Redactor::process(), &mut attrs);
    let id = ResourceId::new(Provider::Tf, at.scope, at.kind, "", at.address);
    let labels = tags(&attrs);
    resources.push(Resource {
        id: id.clone(),
        provider: Provider::Tf,
        scope: at.scope.to_owned(),
        kind: at.kind.to_owned(),
        api_version: at.provider.to_owned(),
        namespace: String::new(),
        name: at.address.to_owned(),
        labels,
        owner: Default::default(),
        attrs: attrs.into(),
        origin: Origin::Declared {
            file: at.file.to_owned(),
            line: at.line,
            template: None,
            module: at.module.map(str::to_owned),
            attributes: at.attributes,
        },
        source: at.source.to_owned(),
    });
    id
}

/// JSON pointers of the `true` leaves of an `after_unknown` tree.
fn true_leaves(tree: &Value, at: String, out: &mut Vec<String>) {
    match tree {
        Value::Bool(true) => out.push(at),
        Value::Object(m) => {
            m.iter().for_each(|(k, v)| true_leaves(v, format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")), out))
        }
        Value::Array(a) => a.iter().enumerate().for_each(|(i, v)| true_leaves(v, format!("{at}/{i}"), out)),
        _ => {}
    }
}

/// `provider["registry.terraform.io/hashicorp/aws"].east` → `registry.terraform.io/hashicorp/aws`.
fn provider_name(raw: &str) -> String {
    raw.split('"').nth(1).unwrap_or(raw).to_owned()
}

fn json_str(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

/// `module.a`, `aws_x`, `web`, `0` → `module.a.aws_x.web[0]`; string keys are quoted as Terraform does.
fn instance_address(module: Option<&str>, kind: &str, name: &str, key: Option<&Value>) -> String {
    let mut a = String::new();
    if let Some(m) = module {
        a.push_str(m);
        a.push('.');
    }
    a.push_str(kind);
    a.push('.');
    a.push_str(name);
    match key {
        Some(Value::Number(n)) => a.push_str(&format!("[{n}]")),
        Some(Value::String(s)) => a.push_str(&format!("[{}]", json_str(s))),
        _ => {}
    }
    a
}

/// Drops instance keys (`[0]`, `["a"]`, module instance keys) to get the configuration address.
fn config_address(address: &str) -> String {
    let mut out = String::with_capacity(address.len());
    let mut depth = 0u32;
    let mut in_string = false;
    let mut escaped = false;
    for c in address.chars() {
        if depth > 0 {
            if in_string {
                match (escaped, c) {
                    (true, _) => escaped = false,
                    (false, '\\') => escaped = true,
                    (false, '"') => in_string = false,
                    _ => {}
                }
            } else if c == '"' {
                in_string = true;
            } else if c == ']' {
                depth -= 1;
            }
            continue;
        }
        if c == '[' {
            depth += 1;
        } else {
            out.push(c);
        }
    }
    out
}

/// A reference like `aws_s3_bucket.logs.id` or `data.aws_iam_policy_document.p.json` → the resource it names
/// (`aws_s3_bucket.logs`); variables, locals, module outputs and meta-arguments name no resource.
fn reference_target(reference: &str) -> Option<String> {
    let clean = config_address(reference);
    let mut it = clean.split('.');
    let first = it.next()?;
    if matches!(first, "var" | "local" | "each" | "count" | "path" | "self" | "module" | "terraform" | "data") {
        return None;
    }
    let second = it.next()?;
    Some(format!("{first}.{second}"))
}

fn collect_references(expr: &Value, out: &mut Vec<String>) {
    match expr {
        Value::Object(m) => {
            for (k, v) in m {
                if k == "references" {
                    out.extend(v.as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_owned));
                } else {
                    collect_references(v, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| collect_references(v, out)),
        _ => {}
    }
}

/// `tags` (or `tags_all`) of an AWS resource as labels.
fn tags(attrs: &Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for field in ["tags_all", "tags"] {
        if let Some(Value::Object(m)) = attrs.get(field) {
            for (k, v) in m {
                if let Some(s) = v.as_str() {
                    out.insert(k.clone(), s.to_owned());
                }
            }
        }
    }
    out
}

/// Redacts every value that a `sensitive_values` tree marks `true`.
fn mask_tree(value: &mut Value, sensitive: &Value) {
    match sensitive {
        Value::Bool(true) if !value.is_null() => tokenize(value),
        Value::Object(s) => {
            if let Value::Object(v) = value {
                for (k, sv) in s {
                    if let Some(vv) = v.get_mut(k) {
                        mask_tree(vv, sv);
                    }
                }
            }
        }
        Value::Array(s) => {
            if let Value::Array(v) = value {
                for (vv, sv) in v.iter_mut().zip(s) {
                    mask_tree(vv, sv);
                }
            }
        }
        _ => {}
    }
}

/// Redacts the value at a state v4 `sensitive_attributes` path: steps are `{"type":"get_attr","value":"password"}` or
/// `{"type":"index","value":{"value":2,"type":"number"}}` (or a string key). When a step cannot be followed, the
/// deepest value reached is redacted: hiding too much is safe, hiding nothing is not.
fn mask_path(value: &mut Value, path: &Value) {
    let mut cur = value;
    for step in path.as_array().into_iter().flatten() {
        let key = step.get("value").map(|v| v.get("value").unwrap_or(v));
        let found = match (&*cur, key) {
            (Value::Object(m), Some(Value::String(k))) => m.contains_key(k.as_str()),
            (Value::Array(a), Some(Value::Number(n))) => {
                n.as_u64().and_then(|i| usize::try_from(i).ok()).is_some_and(|i| i < a.len())
            }
            _ => false,
        };
        if !found {
            break;
        }
        let next = match (cur, key) {
            (Value::Object(m), Some(Value::String(k))) => m.get_mut(k.as_str()),
            (Value::Array(a), Some(Value::Number(n))) => {
                n.as_u64().and_then(|i| usize::try_from(i).ok()).and_then(|i| a.get_mut(i))
            }
            _ => None,
        };
        match next {
            Some(n) => cur = n,
            None => return,
        }
    }
    if !cur.is_null() {
        tokenize(cur);
    }
}

/// Replaces a sensitive value (of any type) by its redaction token, so a change to it still shows as drift.
fn tokenize(value: &mut Value) {
    redact::Redactor::process().replace(value);
}

/// 1-based lines of resources in pretty-printed JSON, found in one pass over the text (minified JSON puts everything
/// on line 1, which is true). Keys are the raw JSON string contents as they appear in the file.
struct LineIndex<'a> {
    text: &'a str,
    newlines: Vec<usize>,
    /// `"address": "<address>"` → line (show-json and plans).
    addresses: HashMap<&'a str, u32>,
    /// `"type": "<type>"` followed by `"name": "<name>"` → line (state v4).
    type_names: HashMap<(&'a str, &'a str), u32>,
}

impl<'a> LineIndex<'a> {
    fn new(text: &'a str) -> Self {
        let newlines = text.match_indices('\n').map(|(i, _)| i).collect();
        let mut index = LineIndex { text, newlines, addresses: HashMap::new(), type_names: HashMap::new() };
        for (at, _) in text.match_indices("\"address\": \"") {
            if let Some(value) = raw_string_after(text, at + "\"address\": \"".len()) {
                let line = index.line_at(at);
                index.addresses.entry(value).or_insert(line);
            }
        }
        for (at, _) in text.match_indices("\"type\": \"") {
            let start = at + "\"type\": \"".len();
            let Some(kind) = raw_string_after(text, start) else { continue };
            let window_end = (start + kind.len() + 200).min(text.len());
            let Some(window) = text.get(start + kind.len()..window_end) else { continue };
            if let Some(n) = window.find("\"name\": \"")
                && let Some(name) = raw_string_after(text, start + kind.len() + n + "\"name\": \"".len())
            {
                let line = index.line_at(at);
                index.type_names.entry((kind, name)).or_insert(line);
            }
        }
        index
    }

    fn line_at(&self, offset: usize) -> u32 {
        1 + self.newlines.partition_point(|&n| n < offset) as u32
    }

    /// Line of the first occurrence of `needle` (for error messages; not used per resource).
    fn find(&self, needle: &str) -> Option<u32> {
        self.text.find(needle).map(|o| self.line_at(o))
    }

    fn address(&self, address: &str) -> Option<u32> {
        let quoted = json_str(address);
        self.addresses.get(quoted.get(1..quoted.len().saturating_sub(1)).unwrap_or_default()).copied()
    }

    fn type_name(&self, kind: &str, name: &str) -> Option<u32> {
        self.type_names.get(&(kind, name)).copied()
    }
}

/// The raw contents of a JSON string starting at `start` (just after its opening quote), up to the closing quote.
fn raw_string_after(text: &str, start: usize) -> Option<&str> {
    let rest = text.get(start..)?;
    let mut escaped = false;
    for (i, c) in rest.char_indices() {
        match (escaped, c) {
            (true, _) => escaped = false,
            (false, '\\') => escaped = true,
            (false, '"') => return rest.get(..i),
            _ => {}
        }
    }
    None
}

impl crate::source::Source for TerraformConfig {
    fn name(&self) -> String {
        self.source_name.clone().unwrap_or_else(|| crate::source_name("terraform", &self.paths))
    }

    fn side(&self) -> day2_model::Side {
        day2_model::Side::Declared
    }

    fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    fn resolve_paths(&mut self, base: &std::path::Path) {
        crate::source::resolve_all(base, &mut self.paths);
        crate::source::resolve_all(base, &mut self.var_files);
    }

    fn watched_paths(&self) -> Vec<std::path::PathBuf> {
        let mut paths = self.paths.clone();
        paths.extend(self.var_files.iter().cloned());
        crate::source::files_to_watch(&paths)
    }

    fn collect(&self) -> crate::source::Collecting<'_, Snapshot> {
        Box::pin(async move { collect(self) })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_plan_s_after_unknown_marks_attributes_known_only_after_apply() {
        let plan = json!({
            "format_version": "1.2",
            "planned_values": {"root_module": {"resources": [
                {"address": "aws_db_instance.db", "mode": "managed", "type": "aws_db_instance", "name": "db",
                 "values": {"engine": "postgres"}}
            ]}},
            "resource_changes": [
                {"address": "aws_db_instance.db", "mode": "managed", "type": "aws_db_instance", "name": "db",
                 "change": {"actions": ["create"], "before": null, "after": {"engine": "postgres"},
                            "after_unknown": {"storage_encrypted": true, "tags": {"a/b": true}, "id": false}}}
            ]
        });
        let p = parse(&plan.to_string(), "plan.json", "s", "src", &Limits::default());
        let db = &p.resources[0];
        assert!(db.unknown_at("/storage_encrypted"));
        assert!(db.unknown_at("/tags/a~1b"));
        assert!(!db.unknown_at("/id") && !db.unknown_at("/engine") && !db.unknown_at("/storage"));
    }

    #[test]
    fn files_of_the_same_name_get_distinct_scopes() {
        let paths: Vec<PathBuf> = ["live/prod/terraform.tfstate", "live/stage/terraform.tfstate", "edge/plan.json"]
            .iter()
            .map(PathBuf::from)
            .collect();
        assert_eq!(default_scopes(&paths), ["prod.terraform", "stage.terraform", "plan"]);
    }

    #[test]
    fn sensitive_index_steps_are_followed_and_unknown_steps_mask_the_parent() {
        let mut v = json!({"website": [{"routing_rules": "secret"}], "tags": {"Secret": "x", "Name": "n"}});
        mask_path(
            &mut v,
            &json!([{"type": "get_attr", "value": "website"}, {"type": "index", "value": {"value": 0, "type": "number"}}, {"type": "get_attr", "value": "routing_rules"}]),
        );
        mask_path(
            &mut v,
            &json!([{"type": "get_attr", "value": "tags"}, {"type": "index", "value": {"value": "Secret", "type": "string"}}]),
        );
        let token = |v: &str| redact::Redactor::process().token(v);
        assert_eq!(
            v,
            json!({"website": [{"routing_rules": token("secret")}], "tags": {"Secret": token("x"), "Name": "n"}})
        );
        let mut w = json!({"block": {"a": 1}});
        mask_path(&mut w, &json!([{"type": "get_attr", "value": "block"}, {"type": "weird", "value": true}]));
        assert_eq!(w, json!({"block": token("{\"a\":1}")}));
    }
}
