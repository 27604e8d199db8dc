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

use day2_model::{Attr, Diagnostic, DiagnosticKind};
use rayon::prelude::*;
use regorus::{Engine, Value};

pub use constraint::{Constraint, EnforcementAction};
pub use template::Template;

use crate::load::Doc;
use crate::rego::{self, attr_to_value, object, to_value};

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
        namespace_labels: &BTreeMap<String, Attr>,
    ) -> Evaluation {
        let mut setup = Vec::new();
        // Per constraint (same index): its template's position and its parameters as a Rego value, converted once.
        let bound: Vec<Option<(usize, Value)>> = self
            .constraints
            .iter()
            .map(|c| Some((self.templates.iter().position(|t| t.kind == c.kind)?, to_value(&c.parameters))))
            .collect();
        let engines: Vec<Engine> = self
            .templates
            .iter()
            .map(|t| {
                let mut engine = t.engine.clone();
                if t.uses_inventory {
                    // The data root is `{"inventory": …}`; add_data merges it next to nothing else.
                    if let Err(e) = engine.add_data(object([("inventory", inventory.clone())])) {
                        setup.push(Diagnostic::new(
                            DiagnosticKind::Policy,
                            &t.file,
                            Some(t.line),
                            format!("ConstraintTemplate {}: data.inventory could not be loaded: {e}", t.kind),
                        ));
                    }
                }
                // Preparing here, once, spares every worker's clone the analysis; the template compiled at load, so
                // an error here would only repeat on every evaluation, where it is reported.
                let _ = rego::prepare(&mut engine);
                engine
            })
            .collect();
        let lookup = |ns: &str| namespace_labels.get(ns);
        let chunk = (objects.len() / (rayon::current_num_threads() * 8)).clamp(16, 1024);
        let parts: Vec<Evaluation> = objects
            .par_chunks(chunk)
            .map(|objects| {
                // Each worker clones a template's engine the first time one of its objects needs it.
                let mut local: Vec<Option<Engine>> = vec![None; engines.len()];
                let mut out = Evaluation::sized(self.constraints.len());
                for o in objects {
                    for (ci, c) in self.constraints.iter().enumerate() {
                        let Some(Some((ti, parameters))) = bound.get(ci) else { continue };
                        match c.matcher.matches(&o.subject(), &lookup) {
                            Ok(true) => {}
                            Ok(false) => continue,
                            Err(undecided) => {
                                out.undecided.insert((ci, undecided));
                                continue;
                            }
                        }
                        let (Some(slot), Some(template), Some(t)) =
                            (local.get_mut(*ti), engines.get(*ti), self.templates.get(*ti))
                        else {
                            continue;
                        };
                        let engine = slot.get_or_insert_with(|| template.clone());
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
                                object: o.label(),
                                error: rego::RegoError::parse(&e.to_string()),
                            }),
                        }
                    }
                }
                out
            })
            .collect();
        let mut all = Evaluation::sized(self.constraints.len());
        all.setup = setup;
        for part in parts {
            all.evaluations += part.evaluations;
            for (total, m) in all.matched.iter_mut().zip(part.matched) {
                *total += m;
            }
            all.violations.extend(part.violations);
            all.errors.extend(part.errors);
            all.undecided.extend(part.undecided);
        }
        all
    }

    /// What went wrong in an evaluation, as diagnostics: one per (constraint, error) at the failing line of the
    /// template file (or the template's first line when regorus does not say), and one note per constraint and
    /// namespace that `namespaceSelector` could not decide.
    pub fn diagnostics(&self, evaluation: &Evaluation) -> Vec<Diagnostic> {
        let mut seen: BTreeMap<(usize, &rego::RegoError), (&str, usize)> = BTreeMap::new();
        for e in &evaluation.errors {
            seen.entry((e.constraint, &e.error)).or_insert((&e.object, 0)).1 += 1;
        }
        let errors = seen.into_iter().filter_map(|((ci, error), (object, count))| {
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
        });
        let undecided = evaluation.undecided.iter().filter_map(|(ci, why)| {
            let c = self.constraints.get(*ci)?;
            let constraint::Undecided::UnknownNamespace(ns) = why;
            Some(Diagnostic::new(
                DiagnosticKind::Skipped,
                &c.file,
                Some(c.line),
                format!(
                    "Constraint {}: objects in namespace `{ns}` are not checked: its namespaceSelector needs the labels of Namespace `{ns}`, which is not among the scanned objects",
                    c.rule_id()
                ),
            ))
        });
        evaluation.setup.iter().cloned().chain(errors).chain(undecided).collect()
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
    /// (constraint, reason) pairs whose match could not be decided.
    pub undecided: BTreeSet<(usize, constraint::Undecided)>,
    /// Problems preparing the evaluation.
    pub setup: Vec<Diagnostic>,
}

impl Evaluation {
    fn sized(constraints: usize) -> Evaluation {
        Evaluation { matched: vec![0; constraints], ..Evaluation::default() }
    }
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
    pub json: Cow<'a, Attr>,
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
    pub fn new(json: Cow<'a, Attr>, namespace: Option<&str>, origin: usize) -> Option<Self> {
        let value = attr_to_value(json.as_ref());
        Object::with_value(json, value, namespace, origin)
    }

    /// As [`Object::new`], with the object already converted to a Rego value.
    fn with_value(json: Cow<'a, Attr>, value: Value, namespace: Option<&str>, origin: usize) -> Option<Self> {
        let api_version = json.get("apiVersion")?.as_str()?;
        let kind = json.get("kind")?.as_str()?.to_owned();
        let name = json.pointer("/metadata/name").and_then(Attr::as_str).unwrap_or_default().to_owned();
        let namespace = namespace
            .map(str::to_owned)
            .or_else(|| json.pointer("/metadata/namespace").and_then(Attr::as_str).map(str::to_owned))
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
        let mut metadata = template.get("metadata").map_or_else(|| serde_json::json!({}), Attr::to_value);
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
        let mut implied = Object::with_value(Cow::Owned(json.into()), value, Some(&self.namespace), self.origin)?;
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
            generated: self.implied_by.is_some(),
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(text: &str) -> Doc {
        let value: serde_json::Value = serde_saphyr::from_str(text).unwrap();
        Doc { file: "t.yaml".to_owned(), line: 1, value, text: std::sync::Arc::from(text) }
    }

    const TEMPLATE: &str = "apiVersion: templates.gatekeeper.sh/v1\nkind: ConstraintTemplate\nmetadata:\n  name: k8sdenyname\nspec:\n  crd:\n    spec:\n      names:\n        kind: K8sDenyName\n  targets:\n    - target: admission.k8s.gatekeeper.sh\n      rego: |\n        package k8sdenyname\n        violation[{\"msg\": msg}] {\n          input.review.object.metadata.name == input.parameters.name\n          msg := sprintf(\"%v %v is denied\", [input.review.kind.kind, input.parameters.name])\n        }\n";

    fn constraint(kind: &str, name: &str, denied: &str) -> Doc {
        doc(&format!(
            "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: {kind}\nmetadata:\n  name: {name}\nspec:\n  parameters:\n    name: {denied}\n"
        ))
    }

    #[test]
    fn constraints_keep_their_own_template_and_parameters_when_one_is_skipped() {
        let mut diagnostics = Vec::new();
        let library = Library::from_docs(
            &[doc(TEMPLATE)],
            &[constraint("K8sMissing", "orphan", "x"), constraint("K8sDenyName", "deny-web", "web")],
            &mut diagnostics,
        );
        assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
        let web = Object::new(
            Cow::Owned(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"}}).into()),
            None,
            7,
        )
        .unwrap();
        let evaluation = library.evaluate(&[web], &Value::new_object(), &BTreeMap::new());
        assert_eq!(evaluation.violations.len(), 1);
        assert_eq!(evaluation.violations[0].object, 7);
        assert_eq!(evaluation.violations[0].message, "Pod web is denied");
        assert_eq!(library.constraints[evaluation.violations[0].constraint].name, "deny-web");
    }

    #[test]
    fn cronjobs_imply_a_pod_from_their_job_template() {
        let cron = json!({
            "apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "nightly", "namespace": "ops"},
            "spec": {"jobTemplate": {"spec": {"template": {"metadata": {"labels": {"app": "n"}},
                "spec": {"containers": [{"name": "c", "image": "i"}]}}}}}
        });
        let object = Object::new(Cow::Owned(cron.into()), None, 3).unwrap();
        let pod = object.implied_pod().unwrap();
        assert_eq!(
            (pod.kind.as_str(), pod.name.as_str(), pod.namespace.as_str(), pod.origin),
            ("Pod", "nightly", "ops", 3)
        );
        assert_eq!(pod.implied_by.as_deref(), Some("CronJob"));
        let review = rego::to_json(&pod.review);
        assert_eq!(review["object"]["spec"]["containers"][0]["image"], "i");
        assert_eq!(review["object"]["metadata"]["labels"]["app"], "n");
        assert_eq!(review["kind"], json!({"group": "", "version": "v1", "kind": "Pod"}));
        assert!(object.implied_pod().unwrap().implied_pod().is_none(), "a Pod implies nothing");
    }

    #[test]
    fn inventory_is_keyed_like_gatekeeper_sync() {
        let objects: Vec<Object<'_>> = [
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "a", "namespace": "shop"}}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "admin"}}),
        ]
        .into_iter()
        .map(|o| Object::new(Cow::Owned(o.into()), None, 0).unwrap())
        .collect();
        let data = rego::to_json(&inventory_data(objects.iter()));
        assert_eq!(data["namespace"]["shop"]["networking.k8s.io/v1"]["Ingress"]["a"]["metadata"]["name"], "a");
        assert_eq!(data["cluster"]["rbac.authorization.k8s.io/v1"]["ClusterRole"]["admin"]["kind"], "ClusterRole");
    }
}
