//! Gatekeeper-style policies: ConstraintTemplates (Rego with `violation[{"msg", "details"}]`) and Constraints.
//!
//! Each object is presented as Gatekeeper presents it: `input.review` (kind {group, version, kind}, name, namespace,
//! operation, object, oldObject, userInfo) and `input.parameters`; referential policies read
//! `data.inventory.cluster[groupVersion][kind][name]` and `data.inventory.namespace[ns][groupVersion][kind][name]`.
//! Each template has its own engine, so two templates may use the same package name, as in Gatekeeper.

pub mod constraint;
pub mod template;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use day2_model::{Diagnostic, DiagnosticKind};
use rayon::prelude::*;
use regorus::{Engine, Value};

pub use constraint::{Constraint, EnforcementAction};
pub use template::Template;

use crate::load::Doc;
use crate::rego::{self, object, to_value};

/// Compiled templates and the constraints that instantiate them.
#[derive(Debug, Clone, Default)]
pub struct Library {
    /// Templates that compiled, by constraint kind.
    pub templates: Vec<Template>,
    /// Constraints whose template compiled.
    pub constraints: Vec<Constraint>,
}

impl Library {
    /// Compiles templates and parses constraints; every problem is a diagnostic and the rest still loads.
    pub(crate) fn from_docs(templates: &[Doc], constraints: &[Doc], diagnostics: &mut Vec<Diagnostic>) -> Library {
        let mut library = Library::default();
        for parsed in templates.par_iter().map(template::parse).collect::<Vec<_>>() {
            diagnostics.extend(parsed.notes);
            match parsed.template {
                Ok(t) if library.template(&t.kind).is_some() => diagnostics.push(Diagnostic::new(
                    DiagnosticKind::Duplicate,
                    &t.file,
                    Some(t.line),
                    format!("a ConstraintTemplate for kind {} is already loaded; this one is ignored", t.kind),
                )),
                Ok(t) => library.templates.push(t),
                Err(d) => diagnostics.push(d),
            }
        }
        library.templates.sort_by(|a, b| a.kind.cmp(&b.kind));
        let mut seen = BTreeSet::new();
        for doc in constraints {
            match constraint::parse(doc) {
                Ok(c) if library.template(&c.kind).is_none() => diagnostics.push(Diagnostic::new(
                    DiagnosticKind::Policy,
                    &c.file,
                    Some(c.line),
                    format!(
                        "Constraint {}: no ConstraintTemplate for kind {} was loaded; it is skipped",
                        c.rule_id(),
                        c.kind
                    ),
                )),
                Ok(c)
                    if let Err(d) = constraint::check_parameters(
                        &c,
                        library.template(&c.kind).and_then(|t| t.parameters_schema.as_ref()),
                    ) =>
                {
                    diagnostics.push(d)
                }
                Ok(c) if !seen.insert(c.rule_id()) => diagnostics.push(Diagnostic::new(
                    DiagnosticKind::Duplicate,
                    &c.file,
                    Some(c.line),
                    format!("Constraint {} is declared twice; this one is ignored", c.rule_id()),
                )),
                Ok(c) => library.constraints.push(c),
                Err(d) => diagnostics.push(d),
            }
        }
        library
    }

    /// The template for a constraint kind.
    pub fn template(&self, kind: &str) -> Option<&Template> {
        self.templates.iter().find(|t| t.kind == kind)
    }

    /// True when there is nothing to evaluate.
    pub fn is_empty(&self) -> bool {
        self.constraints.is_empty()
    }

    /// Evaluates every constraint on every object it matches, in parallel. `inventory` is what referential policies
    /// see as `data.inventory` (see [`inventory_data`]); `namespace_labels` serves `namespaceSelector`.
    pub fn evaluate(
        &self,
        objects: &[Object<'_>],
        inventory: &Value,
        namespace_labels: &BTreeMap<String, serde_json::Value>,
    ) -> Evaluation {
        // Per constraint: its template's position, and the parameters as a Rego value, converted once.
        let bound: Vec<(usize, Value)> = self
            .constraints
            .iter()
            .filter_map(|c| {
                let t = self.templates.iter().position(|t| t.kind == c.kind)?;
                Some((t, to_value(&c.parameters)))
            })
            .collect();
        let engines: Vec<Engine> = self
            .templates
            .iter()
            .map(|t| {
                let mut engine = t.engine.clone();
                if t.uses_inventory {
                    // The data root is `{"inventory": …}`; add_data merges it next to nothing else.
                    let _ = engine.add_data(object([("inventory", inventory.clone())]));
                }
                // regorus analyses the modules on the first evaluation; doing it here, once, spares every worker's
                // clone that work. The result of this empty review does not matter.
                let _ = engine.eval_rule(t.rule.clone());
                engine
            })
            .collect();
        let lookup = |ns: &str| namespace_labels.get(ns).cloned();
        let chunk = (objects.len() / (rayon::current_num_threads() * 8)).clamp(16, 1024);
        let parts: Vec<Evaluation> = objects
            .par_chunks(chunk)
            .map(|objects| {
                let mut engines = engines.clone();
                let mut out = Evaluation { matched: vec![0; self.constraints.len()], ..Evaluation::default() };
                for (object_index, o) in objects.iter().enumerate() {
                    for (ci, c) in self.constraints.iter().enumerate() {
                        let Some((ti, parameters)) = bound.get(ci) else { continue };
                        if !c.matcher.matches(&o.subject(), &lookup) {
                            continue;
                        }
                        let (Some(engine), Some(t)) = (engines.get_mut(*ti), self.templates.get(*ti)) else { continue };
                        out.evaluations += 1;
                        if let Some(m) = out.matched.get_mut(ci) {
                            *m += 1;
                        }
                        engine.set_input(object([("review", o.review.clone()), ("parameters", parameters.clone())]));
                        match engine.eval_rule(t.rule.clone()) {
                            Ok(result) => {
                                out.violations.extend(rego::messages(&result).into_iter().map(|(message, details)| {
                                    Violation { constraint: ci, object: o.origin, message, details }
                                }));
                            }
                            Err(e) => out.errors.push(EvalError {
                                constraint: ci,
                                object: objects.get(object_index).map(|o| o.label()).unwrap_or_default(),
                                error: rego::RegoError::parse(&e.to_string()),
                            }),
                        }
                    }
                }
                out
            })
            .collect();
        let mut all = Evaluation { matched: vec![0; self.constraints.len()], ..Evaluation::default() };
        for part in parts {
            all.evaluations += part.evaluations;
            for (total, m) in all.matched.iter_mut().zip(part.matched) {
                *total += m;
            }
            all.violations.extend(part.violations);
            all.errors.extend(part.errors);
        }
        all
    }

    /// One diagnostic per (constraint, error) among `errors`, at the failing line of the template file (or the
    /// template's first line when regorus does not say).
    pub fn error_diagnostics(&self, errors: &[EvalError]) -> Vec<Diagnostic> {
        let mut seen: BTreeMap<(usize, &rego::RegoError), (&str, usize)> = BTreeMap::new();
        for e in errors {
            seen.entry((e.constraint, &e.error)).or_insert((&e.object, 0)).1 += 1;
        }
        seen.into_iter()
            .filter_map(|((ci, error), (object, count))| {
                let c = self.constraints.get(ci)?;
                let t = self.template(&c.kind)?;
                let more = if count > 1 { format!(" (and {} more objects)", count - 1) } else { String::new() };
                Some(Diagnostic::new(
                    DiagnosticKind::Policy,
                    error.file.as_deref().unwrap_or(&t.file),
                    error.line.or(Some(t.line)),
                    format!(
                        "ConstraintTemplate {} failed on {object} for constraint {}{more}: {}",
                        t.kind,
                        c.rule_id(),
                        error.message
                    ),
                ))
            })
            .collect()
    }
}

/// What [`Library::evaluate`] found.
#[derive(Debug, Default)]
pub struct Evaluation {
    /// Violations, in no particular order.
    pub violations: Vec<Violation>,
    /// Evaluations that failed.
    pub errors: Vec<EvalError>,
    /// (object, constraint) pairs evaluated.
    pub evaluations: usize,
    /// Objects each constraint matched, by constraint index.
    pub matched: Vec<usize>,
}

/// One `violation` result.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    /// Index into [`Library::constraints`].
    pub constraint: usize,
    /// The caller's index of the object ([`Object::origin`]).
    pub object: usize,
    /// `msg`.
    pub message: String,
    /// `details`, null when absent.
    pub details: serde_json::Value,
}

/// An evaluation that raised an error.
#[derive(Debug, Clone)]
pub struct EvalError {
    /// Index into [`Library::constraints`].
    pub constraint: usize,
    /// The object, as `Kind namespace/name`.
    pub object: String,
    /// The error, with its place in the policy file when regorus gives one.
    pub error: rego::RegoError,
}

/// An object prepared for review: its identity and `input.review`, built once and shared by every constraint.
#[derive(Debug, Clone)]
pub struct Object<'a> {
    /// API group (`""` for core).
    pub group: String,
    /// Kind.
    pub kind: String,
    /// Name.
    pub name: String,
    /// Namespace (empty when cluster-scoped).
    pub namespace: String,
    /// The raw object (for match selectors), borrowed from the inventory when it can be.
    pub json: Cow<'a, serde_json::Value>,
    /// `input.review`.
    pub review: Value,
    /// The caller's index (e.g. of the inventory resource), carried into violations.
    pub origin: usize,
    /// For a Pod implied by a workload's template: the workload's kind (`Deployment`).
    pub implied_by: Option<String>,
}

impl<'a> Object<'a> {
    /// Prepares an object; `namespace` overrides `metadata.namespace` (manifests without one get the source's default
    /// namespace). None when the object has no `apiVersion` or `kind`.
    pub fn new(json: Cow<'a, serde_json::Value>, namespace: Option<&str>, origin: usize) -> Option<Self> {
        let value = to_value(json.as_ref());
        Object::with_value(json, value, namespace, origin)
    }

    /// As [`Object::new`], with the object already converted to a Rego value.
    fn with_value(
        json: Cow<'a, serde_json::Value>,
        value: Value,
        namespace: Option<&str>,
        origin: usize,
    ) -> Option<Self> {
        let api_version = json.get("apiVersion")?.as_str()?;
        let kind = json.get("kind")?.as_str()?.to_owned();
        let name = json.pointer("/metadata/name").and_then(serde_json::Value::as_str).unwrap_or_default().to_owned();
        let namespace = namespace
            .map(str::to_owned)
            .or_else(|| json.pointer("/metadata/namespace").and_then(serde_json::Value::as_str).map(str::to_owned))
            .unwrap_or_default();
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let review = object([
            ("kind", object([("group", group.into()), ("version", version.into()), ("kind", kind.as_str().into())])),
            ("name", name.as_str().into()),
            ("namespace", namespace.as_str().into()),
            ("operation", "CREATE".into()),
            ("object", value),
            ("oldObject", Value::Null),
            ("userInfo", object([("username", "day2".into()), ("groups", Value::new_array())])),
            ("dryRun", false.into()),
        ]);
        let group = group.to_owned();
        Some(Object { group, kind, name, namespace, json, review, origin, implied_by: None })
    }

    /// The Pod a workload's template describes, as Gatekeeper's expansion presents it to Pod constraints: named after
    /// the workload, in its namespace, with the template's metadata and spec. The spec is shared with the workload's
    /// review value, not copied.
    pub fn implied_pod(&self) -> Option<Object<'static>> {
        let pointer = day2_model::k8s::pod_spec_pointer(&self.kind).filter(|_| self.kind != "Pod")?;
        let template_pointer = pointer.strip_suffix("/spec")?;
        let template = self.json.pointer(template_pointer)?;
        let mut metadata = template.get("metadata").cloned().unwrap_or_else(|| serde_json::json!({}));
        if let Some(m) = metadata.as_object_mut() {
            m.insert("name".to_owned(), self.name.clone().into());
            m.insert("namespace".to_owned(), self.namespace.clone().into());
        }
        let spec = template_pointer.split('/').skip(1).fold(&self.review["object"], |v, segment| &v[segment]);
        let spec = match &spec["spec"] {
            Value::Undefined => Value::new_object(),
            spec => spec.clone(),
        };
        let value = object([
            ("apiVersion", "v1".into()),
            ("kind", "Pod".into()),
            ("metadata", to_value(&metadata)),
            ("spec", spec),
        ]);
        // Matching reads only the identity and labels, so the JSON side carries no spec.
        let json = serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata});
        let mut implied = Object::with_value(Cow::Owned(json), value, Some(&self.namespace), self.origin)?;
        implied.implied_by = Some(self.kind.clone());
        Some(implied)
    }

    fn subject(&self) -> constraint::Subject<'_> {
        constraint::Subject {
            group: &self.group,
            kind: &self.kind,
            name: &self.name,
            namespace: &self.namespace,
            object: &self.json,
        }
    }

    /// `Kind namespace/name`, for messages.
    pub fn label(&self) -> String {
        if self.namespace.is_empty() {
            format!("{} {}", self.kind, self.name)
        } else {
            format!("{} {}/{}", self.kind, self.namespace, self.name)
        }
    }
}

/// Objects by group-version, kind and name.
type ByGroupVersion = BTreeMap<String, BTreeMap<String, BTreeMap<String, Value>>>;

/// `data.inventory` as Gatekeeper syncs it: `cluster[groupVersion][kind][name]` for cluster-scoped objects,
/// `namespace[ns][groupVersion][kind][name]` for namespaced ones. Built from the objects' review values, which share
/// their storage, so the inventory costs no copy of the objects.
pub fn inventory_data<'o, 'a: 'o>(objects: impl Iterator<Item = &'o Object<'a>>) -> Value {
    let mut cluster = ByGroupVersion::new();
    let mut namespaced: BTreeMap<String, ByGroupVersion> = BTreeMap::new();
    for o in objects.filter(|o| o.implied_by.is_none()) {
        let object = &o.review["object"];
        let group_version = object["apiVersion"].as_string().map(|s| s.to_string()).unwrap_or_default();
        let root =
            if o.namespace.is_empty() { &mut cluster } else { namespaced.entry(o.namespace.clone()).or_default() };
        root.entry(group_version)
            .or_default()
            .entry(o.kind.clone())
            .or_default()
            .insert(o.name.clone(), object.clone());
    }
    let by_group_version = |m: ByGroupVersion| map(m, |kinds| map(kinds, |names| map(names, |object| object)));
    object([("cluster", by_group_version(cluster)), ("namespace", map(namespaced, by_group_version))])
}

fn map<V>(m: BTreeMap<String, V>, value: impl Fn(V) -> Value) -> Value {
    Value::from(m.into_iter().map(|(k, v)| (Value::from(k), value(v))).collect::<BTreeMap<_, _>>())
}
