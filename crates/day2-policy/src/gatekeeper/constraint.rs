//! Constraints: which objects a template applies to (`spec.match`), with what parameters, and what a violation means.

use std::collections::BTreeMap;

use day2_model::k8s::selector_matches;
use day2_model::{Diagnostic, DiagnosticKind, Severity};
use serde_json::Value;

use crate::load::Doc;

/// `spec.enforcementAction`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum EnforcementAction {
    /// Admission would reject the object.
    Deny,
    /// Admission would warn.
    Warn,
    /// Only recorded by audit.
    Dryrun,
}

impl EnforcementAction {
    /// Gatekeeper's word.
    pub fn as_str(self) -> &'static str {
        match self {
            EnforcementAction::Deny => "deny",
            EnforcementAction::Warn => "warn",
            EnforcementAction::Dryrun => "dryrun",
        }
    }

    /// Severity of a violation when the constraint does not say (`day2.dev/severity` annotation).
    pub fn default_severity(self) -> Severity {
        match self {
            EnforcementAction::Deny => Severity::High,
            EnforcementAction::Warn => Severity::Medium,
            EnforcementAction::Dryrun => Severity::Low,
        }
    }
}

/// A parsed Constraint.
#[derive(Debug, Clone)]
pub struct Constraint {
    /// Kind (the template's constraint kind).
    pub kind: String,
    /// `metadata.name`.
    pub name: String,
    /// Declaring file.
    pub file: String,
    /// Declaring line.
    pub line: u32,
    /// `spec.match`.
    pub matcher: Match,
    /// `spec.parameters` (an empty object when absent).
    pub parameters: Value,
    /// `spec.enforcementAction`.
    pub action: EnforcementAction,
    /// `metadata.annotations["day2.dev/severity"]`, else by enforcement action.
    pub severity: Severity,
}

impl Constraint {
    /// The rule id findings carry: `<Kind>/<name>`.
    pub fn rule_id(&self) -> String {
        format!("{}/{}", self.kind, self.name)
    }
}

/// `spec.match`, with Gatekeeper's semantics.
#[derive(Debug, Clone, Default)]
pub struct Match {
    kinds: Vec<(Vec<String>, Vec<String>)>,
    namespaces: Vec<String>,
    excluded_namespaces: Vec<String>,
    label_selector: Option<Value>,
    namespace_selector: Option<Value>,
    scope: Scope,
    name: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Scope {
    #[default]
    All,
    Cluster,
    Namespaced,
}

/// What matching needs to know about an object.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// API group (`""` for core).
    pub group: &'a str,
    /// Kind.
    pub kind: &'a str,
    /// Name.
    pub name: &'a str,
    /// Namespace; empty for cluster-scoped objects.
    pub namespace: &'a str,
    /// The object (for its labels).
    pub object: &'a Value,
}

impl Match {
    /// Does the constraint apply to `subject`? `namespace_labels` gives the labels of a namespace when its Namespace
    /// object is known.
    pub fn matches(&self, s: &Subject<'_>, namespace_labels: &dyn Fn(&str) -> Option<Value>) -> bool {
        let is_namespace = s.group.is_empty() && s.kind == "Namespace";
        let cluster_scoped = s.namespace.is_empty() && !is_namespace;
        // A Namespace is matched by namespace rules against its own name, as Gatekeeper does.
        let namespace = if is_namespace { s.name } else { s.namespace };
        let kind_ok = self.kinds.is_empty()
            || self.kinds.iter().any(|(groups, kinds)| {
                (groups.is_empty() || groups.iter().any(|g| g == "*" || g == s.group))
                    && (kinds.is_empty() || kinds.iter().any(|k| k == "*" || k == s.kind))
            });
        let scope_ok = match self.scope {
            Scope::All => true,
            Scope::Cluster => s.namespace.is_empty(),
            Scope::Namespaced => !s.namespace.is_empty(),
        };
        let namespaces_ok = cluster_scoped
            || ((self.namespaces.is_empty() || self.namespaces.iter().any(|p| glob_match(p, namespace)))
                && !self.excluded_namespaces.iter().any(|p| glob_match(p, namespace)));
        let labels_ok = self
            .label_selector
            .as_ref()
            .is_none_or(|sel| selector_matches(sel, s.object.pointer("/metadata/labels").and_then(Value::as_object)));
        let namespace_selector_ok = cluster_scoped
            || self.namespace_selector.as_ref().is_none_or(|sel| {
                let labels = if is_namespace {
                    s.object.pointer("/metadata/labels").cloned()
                } else {
                    namespace_labels(namespace)
                };
                labels.is_some_and(|l| selector_matches(sel, l.as_object()))
            });
        let name_ok = self.name.as_deref().is_none_or(|p| glob_match(p, s.name));
        kind_ok && scope_ok && namespaces_ok && labels_ok && namespace_selector_ok && name_ok
    }
}

/// Gatekeeper's namespace and name patterns: exact, or with one `*` at the start or the end.
fn glob_match(pattern: &str, value: &str) -> bool {
    if let Some(prefix) = pattern.strip_suffix('*') {
        value.starts_with(prefix)
    } else if let Some(suffix) = pattern.strip_prefix('*') {
        value.ends_with(suffix)
    } else {
        pattern == value
    }
}

/// Checks a constraint's parameters against its template's `openAPIV3Schema`, as Gatekeeper does when the
/// constraint is created: a mistyped or misspelled parameter would otherwise silently change what the policy checks.
pub(crate) fn check_parameters(c: &Constraint, schema: Option<&Value>) -> Result<(), Diagnostic> {
    let Some(schema) = schema else { return Ok(()) };
    let problem = |message: String| Diagnostic::new(DiagnosticKind::Policy, &c.file, Some(c.line), message);
    let validator = jsonschema::validator_for(schema).map_err(|e| {
        problem(format!("Constraint {}: the template's parameters schema is not valid: {e}", c.rule_id()))
    })?;
    let errors: Vec<String> = validator
        .iter_errors(&c.parameters)
        .take(5)
        .map(|e| format!("spec.parameters{}: {e}", e.instance_path().as_str().replace('/', ".")))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(problem(format!(
            "Constraint {} does not match its template's parameters schema: {}",
            c.rule_id(),
            errors.join("; ")
        )))
    }
}

/// Parses a Constraint document.
pub(crate) fn parse(doc: &Doc) -> Result<Constraint, Diagnostic> {
    let v = &doc.value;
    let problem = |message: String| Diagnostic::new(DiagnosticKind::Policy, &doc.file, Some(doc.line), message);
    let kind = v.get("kind").and_then(Value::as_str).unwrap_or_default().to_owned();
    let name = v.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_owned();
    if kind.is_empty() || name.is_empty() {
        return Err(problem("a Constraint needs `kind` and `metadata.name`".to_owned()));
    }
    let spec = v.get("spec").unwrap_or(&Value::Null);
    let action = match spec.get("enforcementAction").and_then(Value::as_str).unwrap_or("deny") {
        "deny" => EnforcementAction::Deny,
        "warn" => EnforcementAction::Warn,
        "dryrun" => EnforcementAction::Dryrun,
        other => {
            return Err(problem(format!(
                "Constraint {kind}/{name}: unknown enforcementAction `{other}` (expected deny, warn or dryrun)"
            )));
        }
    };
    let severity = match v.pointer("/metadata/annotations/day2.dev~1severity").and_then(Value::as_str) {
        Some(s) => {
            s.parse().map_err(|e| problem(format!("Constraint {kind}/{name}: annotation day2.dev/severity: {e}")))?
        }
        None => action.default_severity(),
    };
    let matcher = parse_match(spec.get("match").unwrap_or(&Value::Null))
        .map_err(|e| problem(format!("Constraint {kind}/{name}: spec.match.{e}")))?;
    Ok(Constraint {
        kind,
        name,
        file: doc.file.clone(),
        line: doc.line,
        matcher,
        parameters: spec.get("parameters").cloned().unwrap_or_else(|| Value::Object(serde_json::Map::new())),
        action,
        severity,
    })
}

fn parse_match(m: &Value) -> Result<Match, String> {
    let strings = |field: &str, v: Option<&Value>| -> Result<Vec<String>, String> {
        match v {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| i.as_str().map(str::to_owned).ok_or_else(|| format!("{field}: expected a list of strings")))
                .collect(),
            Some(_) => Err(format!("{field}: expected a list of strings")),
        }
    };
    let mut kinds = Vec::new();
    for entry in m.get("kinds").and_then(Value::as_array).into_iter().flatten() {
        kinds.push((strings("kinds.apiGroups", entry.get("apiGroups"))?, strings("kinds.kinds", entry.get("kinds"))?));
    }
    let scope = match m.get("scope").and_then(Value::as_str) {
        None | Some("*") => Scope::All,
        Some("Cluster") => Scope::Cluster,
        Some("Namespaced") => Scope::Namespaced,
        Some(other) => return Err(format!("scope: unknown value `{other}` (expected *, Cluster or Namespaced)")),
    };
    Ok(Match {
        kinds,
        namespaces: strings("namespaces", m.get("namespaces"))?,
        excluded_namespaces: strings("excludedNamespaces", m.get("excludedNamespaces"))?,
        label_selector: m.get("labelSelector").filter(|v| !v.is_null()).cloned(),
        namespace_selector: m.get("namespaceSelector").filter(|v| !v.is_null()).cloned(),
        scope,
        name: m.get("name").and_then(Value::as_str).map(str::to_owned),
    })
}

/// Labels of the namespaces among `objects`, for `namespaceSelector`.
pub fn namespace_labels<'a>(objects: impl Iterator<Item = &'a Value>) -> BTreeMap<String, Value> {
    objects
        .filter(|o| o.get("kind").and_then(Value::as_str) == Some("Namespace"))
        .filter_map(|o| {
            let name = o.pointer("/metadata/name")?.as_str()?.to_owned();
            let labels = o.pointer("/metadata/labels").cloned().unwrap_or_else(|| Value::Object(Default::default()));
            Some((name, labels))
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

    fn matcher(m: Value) -> Match {
        parse_match(&m).unwrap()
    }

    fn pod(namespace: &str, labels: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": namespace, "labels": labels}})
    }

    fn check(m: &Match, object: &Value, group: &str, kind: &str) -> bool {
        let namespaces = BTreeMap::from([("prod".to_owned(), json!({"env": "prod"}))]);
        let name = object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
        let namespace = object.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or_default();
        m.matches(&Subject { group, kind, name, namespace, object }, &|ns| namespaces.get(ns).cloned())
    }

    #[test]
    fn kinds_namespaces_and_selectors_follow_gatekeeper() {
        let m = matcher(json!({
            "kinds": [{"apiGroups": [""], "kinds": ["Pod"]}],
            "excludedNamespaces": ["kube-*"],
            "labelSelector": {"matchExpressions": [{"key": "app", "operator": "Exists"}]},
            "namespaceSelector": {"matchLabels": {"env": "prod"}}
        }));
        assert!(check(&m, &pod("prod", json!({"app": "a"})), "", "Pod"));
        assert!(!check(&m, &pod("prod", json!({})), "", "Pod"), "label selector");
        assert!(!check(&m, &pod("dev", json!({"app": "a"})), "", "Pod"), "unknown namespace fails namespaceSelector");
        assert!(!check(&m, &pod("kube-system", json!({"app": "a"})), "", "Pod"), "excluded by prefix glob");
        assert!(!check(&m, &pod("prod", json!({"app": "a"})), "apps", "Pod"), "group must match");
    }

    #[test]
    fn namespace_rules_ignore_cluster_scoped_objects_and_apply_to_namespaces_by_name() {
        let m = matcher(json!({"namespaces": ["team-*"], "scope": "*"}));
        let role = json!({"kind": "ClusterRole", "metadata": {"name": "r"}});
        assert!(check(&m, &role, "rbac.authorization.k8s.io", "ClusterRole"));
        let ns = json!({"kind": "Namespace", "metadata": {"name": "team-a"}});
        assert!(check(&m, &ns, "", "Namespace"));
        let other = json!({"kind": "Namespace", "metadata": {"name": "default"}});
        assert!(!check(&m, &other, "", "Namespace"));
        let cluster_only = matcher(json!({"scope": "Cluster"}));
        assert!(!check(&cluster_only, &pod("prod", json!({})), "", "Pod"));
    }

    #[test]
    fn bad_match_fields_are_named() {
        assert!(parse_match(&json!({"namespaces": "prod"})).unwrap_err().contains("namespaces"));
        assert!(parse_match(&json!({"scope": "Everything"})).unwrap_err().contains("scope"));
    }
}
