//! Drift: declared state against live state, paired by resource id, in three classes.
//!
//! - **missing** (`DRIFT-MISSING`): declared, not live. Only reported for scopes whose live collection was complete:
//!   a partial collection is not a deletion.
//! - **unmanaged** (`DRIFT-UNMANAGED`): live, declared nowhere. Objects owned by other objects (ReplicaSets, Pods,
//!   EndpointSlices) and the cluster's own objects are not counted; ignore globs (like driftctl's `.driftignore`) add more.
//! - **changed** (`DRIFT-CHANGED`): both, with field-level differences ([`diff`]) traced to the declaring file and line.
//!
//! Noise control: ignore rules by JSON pointer with a resource selector, fields owned by named field managers
//! (`metadata.managedFields`, e.g. the HPA owning `spec.replicas`), and a [`baseline`] of accepted drift.

pub mod baseline;
pub mod diff;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use day2_model::{
    Attr, Coverage, Domain, Evidence, Examined, Finding, Inventory, Provider, Resource, RuleMeta, Severity,
};
use globset::{Glob, GlobMatcher};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Analysis, Analyzer, Context, Inputs};

/// Rule id of declared objects absent from the live scope.
pub const MISSING: &str = "DRIFT-MISSING";
/// Rule id of live objects declared nowhere.
pub const UNMANAGED: &str = "DRIFT-UNMANAGED";
/// Rule id of objects whose live fields differ from the declaration.
pub const CHANGED: &str = "DRIFT-CHANGED";

const ANALYZER: &str = "drift";

/// The `drift:` section of day2.yaml.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct DriftConfig {
    /// Fields never reported as changed, for the resources a rule selects.
    pub ignore: Vec<IgnoreRule>,
    /// Field managers whose fields are not drift (`kube-controller-manager` for HPA-managed replicas, an operator).
    pub ignore_managers: Vec<String>,
    /// Resource id globs never reported as unmanaged (and not counted in coverage), like `.driftignore`:
    /// `k8s/*/Secret/*/sh.helm.release.*`.
    pub unmanaged_ignore: Vec<String>,
    /// A baseline of accepted drift (written by `day2 drift --write-baseline`), relative to day2.yaml: its findings
    /// are reported as suppressed, by `day2 drift` and `day2 serve` alike. `--baseline` replaces it.
    pub baseline: Option<std::path::PathBuf>,
}

/// One ignore rule: a JSON pointer (a `*` segment matches any key or index) on the resources it selects.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct IgnoreRule {
    /// Pointer prefix: `/spec/replicas`, `/spec/template/spec/containers/*/image`.
    pub pointer: String,
    /// Kind glob (`apps.Deployment`, `*`); default every kind.
    pub kind: Option<String>,
    /// Name glob; default every name.
    pub name: Option<String>,
    /// Labels the resource must carry.
    pub labels: BTreeMap<String, String>,
}

/// A drift configuration problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("drift.{field}: invalid `{value}`: {reason}")]
pub struct DriftConfigError {
    field: &'static str,
    value: String,
    reason: String,
}

/// A live scope that was collected: its provider and scope, and whether everything in it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveScope {
    /// Provider.
    pub provider: Provider,
    /// Scope (cluster, account/region).
    pub scope: String,
    /// Whether the collection was complete.
    pub complete: bool,
    /// What the collection looked at.
    pub examined: Examined,
}

/// What a drift comparison produced.
#[derive(Debug, Default)]
pub struct DriftOutcome {
    /// Findings of the three classes.
    pub findings: Vec<Finding>,
    /// Coverage per live scope.
    pub coverage: Vec<Coverage>,
}

/// The kinds and namespaces a live collection looked at (see [`Examined`]), as sets to test declared objects against.
struct Seen {
    everything: bool,
    kinds: BTreeSet<String>,
    /// `None`: every namespace.
    namespaces: Option<BTreeSet<String>>,
}

impl Seen {
    fn of<'r>(examined: &Examined, live: impl Iterator<Item = &'r Resource>) -> Seen {
        match examined {
            Examined::Everything => Seen { everything: true, kinds: BTreeSet::new(), namespaces: None },
            Examined::WhatIsPresent => {
                let (mut kinds, mut namespaces) = (BTreeSet::new(), BTreeSet::new());
                for r in live {
                    kinds.insert(r.kind.clone());
                    namespaces.insert(r.namespace.clone());
                }
                Seen { everything: false, kinds, namespaces: Some(namespaces) }
            }
            Examined::Listed { kinds, namespaces } => {
                Seen { everything: false, kinds: kinds.clone(), namespaces: namespaces.clone() }
            }
        }
    }

    fn covers(&self, declared: &Resource) -> bool {
        // A Namespace is in the namespaces it names: with a filter, only those listed were read.
        let namespace = if declared.kind == "Namespace" { &declared.name } else { &declared.namespace };
        self.everything
            || (self.kinds.contains(&declared.kind)
                && (namespace.is_empty() || self.namespaces.as_ref().is_none_or(|n| n.contains(namespace))))
    }
}

/// Unmanaged live objects that belong to the platform rather than to anyone's declarations.
const PLATFORM: &[&str] = &[
    "k8s/*/*/kube-system/*",
    "k8s/*/*/kube-public/*",
    "k8s/*/*/kube-node-lease/*",
    "k8s/*/Namespace//kube-*",
    "k8s/*/Namespace//default",
    "k8s/*/ServiceAccount/*/default",
    "k8s/*/ConfigMap/*/kube-root-ca.crt",
    "k8s/*/Service/default/kubernetes",
    "k8s/*/events.k8s.io.Event/*/*",
    "k8s/*/Event/*/*",
    "k8s/*/coordination.k8s.io.Lease/*/*",
    "k8s/*/discovery.k8s.io.EndpointSlice/*/*",
    "k8s/*/Endpoints/*/*",
    "k8s/*/Secret/*/sh.helm.release.*",
    "k8s/*/Node//*",
    "k8s/*/storage.k8s.io.CSINode//*",
    "k8s/*/apiregistration.k8s.io.APIService//*",
    "k8s/*/flowcontrol.apiserver.k8s.io.FlowSchema//*",
    "k8s/*/flowcontrol.apiserver.k8s.io.PriorityLevelConfiguration//*",
    "k8s/*/scheduling.k8s.io.PriorityClass//system-*",
    "k8s/*/rbac.authorization.k8s.io.ClusterRole//system:*",
    "k8s/*/rbac.authorization.k8s.io.ClusterRoleBinding//system:*",
    "postgres/*/Role//pg_*",
    "postgres/*/Role//postgres",
    "postgres/*/Database//postgres",
    "postgres/*/Database//template0",
    "postgres/*/Database//template1",
    "postgres/*/Extension/*/plpgsql",
    "postgres/*/Schema/*/public",
    // A bucket's settings belong to the bucket: an undeclared bucket is reported once, not once per setting.
    "aws/*/aws_s3_bucket_acl//*",
    "aws/*/aws_s3_bucket_public_access_block//*",
    "aws/*/aws_s3_bucket_server_side_encryption_configuration//*",
    "aws/*/aws_s3_bucket_versioning//*",
];

/// An [`IgnoreRule`] ready to match.
struct CompiledIgnore {
    segments: Vec<String>,
    kind: Option<GlobMatcher>,
    name: Option<GlobMatcher>,
    labels: BTreeMap<String, String>,
}

/// A compiled [`DriftConfig`].
pub struct Drift {
    ignore: Vec<CompiledIgnore>,
    managers: BTreeSet<String>,
    unmanaged_ignore: globset::GlobSet,
}

fn glob(field: &'static str, pattern: &str) -> Result<Glob, DriftConfigError> {
    Glob::new(pattern).map_err(|e| DriftConfigError { field, value: pattern.to_owned(), reason: e.kind().to_string() })
}

impl Drift {
    /// Validates and compiles the configuration.
    pub fn new(config: &DriftConfig) -> Result<Drift, DriftConfigError> {
        let mut ignore = Vec::new();
        for rule in &config.ignore {
            if !rule.pointer.starts_with('/') || rule.pointer.len() < 2 {
                return Err(DriftConfigError {
                    field: "ignore.pointer",
                    value: rule.pointer.clone(),
                    reason: "expected a JSON pointer such as /spec/replicas (write `/` inside a key as ~1)".to_owned(),
                });
            }
            let segments = rule.pointer.split('/').skip(1).map(str::to_owned).collect();
            let matcher = |field, pattern: &Option<String>| {
                pattern.as_deref().map(|p| glob(field, p).map(|g| g.compile_matcher())).transpose()
            };
            let (kind, name) = (matcher("ignore.kind", &rule.kind)?, matcher("ignore.name", &rule.name)?);
            ignore.push(CompiledIgnore { segments, kind, name, labels: rule.labels.clone() });
        }
        let mut set = globset::GlobSetBuilder::new();
        for pattern in PLATFORM.iter().copied().chain(config.unmanaged_ignore.iter().map(String::as_str)) {
            set.add(glob("unmanaged_ignore", pattern)?);
        }
        let unmanaged_ignore = set.build().map_err(|e| DriftConfigError {
            field: "unmanaged_ignore",
            value: String::new(),
            reason: e.to_string(),
        })?;
        Ok(Drift { ignore, managers: config.ignore_managers.iter().cloned().collect(), unmanaged_ignore })
    }

    /// Compares the declared inventory with the live one, scope by scope.
    pub fn compare(
        &self,
        declared: &Inventory,
        live: &Inventory,
        scopes: &[LiveScope],
        context: &Context,
    ) -> DriftOutcome {
        let mut outcome = DriftOutcome::default();
        for scope in scopes {
            let in_scope = |r: &&Resource| r.provider == scope.provider && r.scope == scope.scope;
            let declared_here: Vec<&Resource> = declared.resources().iter().filter(in_scope).collect();
            let seen = Seen::of(&scope.examined, live.resources().iter().filter(in_scope));
            let findings: Vec<Finding> = declared_here
                .par_iter()
                .filter_map(|d| match live.get(&d.id) {
                    Some(l) => self.changed(d, l, context).map(|f| Finding { changed_at: last_change(l), ..f }),
                    None if scope.complete && seen.covers(d) => Some(missing(d, &scope.scope, context)),
                    None => None,
                })
                .collect();
            outcome.findings.extend(findings);
            let counted: Vec<&Resource> =
                live.resources().iter().filter(in_scope).filter(|l| self.counts_for_coverage(l)).collect();
            let (managed, handmade): (Vec<&Resource>, Vec<&Resource>) =
                counted.iter().partition(|l| declared.get(&l.id).is_some());
            outcome.findings.extend(handmade.iter().map(|l| unmanaged(l, &scope.scope, context)));
            let managed = managed.len();
            outcome.coverage.push(Coverage {
                scope: format!("{}/{}", scope.provider.as_str(), scope.scope),
                live: counted.len(),
                declared: managed,
                percent: if counted.is_empty() { 100.0 } else { 100.0 * managed as f64 / counted.len() as f64 },
                complete: scope.complete,
            });
        }
        outcome
    }

    /// Whether drift was looked for at all: a live scope was read, or Terraform declares something a plan may have
    /// refreshed.
    fn compared_anything(inputs: &Inputs<'_>) -> bool {
        !inputs.scopes.is_empty() || inputs.declared.resources().iter().any(|r| r.provider == Provider::Tf)
    }

    /// Drift a Terraform plan found by refreshing (`resource_drift`): resources changed or deleted outside Terraform,
    /// reported like live drift, field by field (state as recorded → as found), traced to the resource in the plan.
    pub fn plan_drift(&self, declared: &Inventory, context: &Context) -> Vec<Finding> {
        let mut out = Vec::new();
        for change in declared.changes().iter().filter(|c| c.drift) {
            let Some(resource) = declared.get(&change.id) else { continue };
            if change.actions.iter().any(|a| a == "delete") {
                let message = format!("{} was deleted outside Terraform (plan resource_drift)", resource.name);
                out.push(finding(resource, MISSING, Severity::High, message, Vec::new(), context));
                continue;
            }
            let diffs: Vec<diff::FieldDiff> = diff::diff_exact(&Attr::from(&change.before), &Attr::from(&change.after))
                .into_iter()
                .filter(|d| !self.ignored(resource, &d.pointer))
                .collect();
            if let Some(f) =
                changed_finding(resource, diffs, "changed outside Terraform (plan resource_drift)", context)
            {
                out.push(f);
            }
        }
        out
    }

    /// Live objects that someone should have declared: not owned by another object, not the platform's, not ignored.
    fn counts_for_coverage(&self, live: &Resource) -> bool {
        let owned =
            live.attrs.pointer("/metadata/ownerReferences").and_then(Attr::as_array).is_some_and(|o| !o.is_empty());
        // The cluster's own: default RBAC, and volumes a provisioner made for a claim.
        let bootstrap = live.labels.get("kubernetes.io/bootstrapping").is_some_and(|v| v == "rbac-defaults")
            || live.attrs.pointer("/metadata/annotations/pv.kubernetes.io~1provisioned-by").is_some();
        // A PostgreSQL setting nobody set (built-in default or computed) is not something to declare.
        let unset = live.provider == Provider::Postgres
            && live.kind == "Setting"
            && matches!(
                live.attrs.get("source").and_then(Attr::as_str),
                Some("default" | "override" | "client" | "session")
            );
        !owned && !bootstrap && !unset && !self.unmanaged_ignore.is_match(live.id.as_str())
    }

    fn changed(&self, declared: &Resource, live: &Resource, context: &Context) -> Option<Finding> {
        if declared.provider == Provider::Postgres && declared.kind == "Setting" {
            return self.changed_setting(declared, live, context);
        }
        let owned = self.managed_pointers(live);
        // AWS objects are compared in one canonical shape (day2_model::aws::project): every difference
        // counts. Kubernetes declarations name a subset of what the server holds.
        let diffs = if declared.provider == Provider::Aws {
            let canonical = |r: &Resource| match day2_model::aws::spec(&r.kind) {
                Some(spec) => Attr::from(&day2_model::aws::project(spec, &r.attrs.to_value())),
                None => r.attrs.clone(),
            };
            diff::diff_exact(&canonical(declared), &canonical(live))
        } else {
            diff::diff(&declared.attrs, &live.attrs)
        };
        let diffs: Vec<diff::FieldDiff> = diffs
            .into_iter()
            .filter(|d| !self.ignored(declared, &d.pointer) && !owned.iter().any(|p| prefix_matches(p, &d.pointer)))
            .collect();
        if declared.provider == Provider::Aws {
            // Named by its AWS id, declared at a Terraform address: say which.
            let what = format!("changed since the declaration ({})", declared.name);
            return changed_finding(declared, diffs, &what, context);
        }
        changed_finding(declared, diffs, "changed since the declaration", context)
    }

    /// A PostgreSQL setting differs when its declared value does not hold in the live setting's unit.
    fn changed_setting(&self, declared: &Resource, live: &Resource, context: &Context) -> Option<Finding> {
        let text = |r: &Resource| r.attrs.get("value").and_then(Attr::as_str).unwrap_or_default().to_owned();
        let unit = live.attrs.get("unit").and_then(Attr::as_str);
        if diff::same_setting(&text(declared), &text(live), unit) || self.ignored(declared, "/value") {
            return None;
        }
        let live_value = match unit {
            Some(unit) => Value::String(format!("{} ({unit})", text(live))),
            None => Value::String(text(live)),
        };
        let diffs = vec![diff::FieldDiff {
            pointer: "/value".to_owned(),
            declared: Value::String(text(declared)),
            live: live_value,
        }];
        changed_finding(declared, diffs, "changed since the declaration", context)
    }

    fn ignored(&self, resource: &Resource, pointer: &str) -> bool {
        self.ignore.iter().any(|rule| {
            rule.kind.as_ref().is_none_or(|k| k.is_match(&resource.kind))
                && rule.name.as_ref().is_none_or(|n| n.is_match(&resource.name))
                && rule.labels.iter().all(|(k, v)| resource.labels.get(k) == Some(v))
                && prefix_matches(&rule.segments, pointer)
        })
    }

    /// Pointers (as segments, `*` for any list entry) of the fields the ignored managers own, from the live object's
    /// `metadata.managedFields`.
    fn managed_pointers(&self, live: &Resource) -> Vec<Vec<String>> {
        if self.managers.is_empty() {
            return Vec::new();
        }
        let mut out = Vec::new();
        for entry in live.attrs.pointer("/metadata/managedFields").and_then(Attr::as_array).into_iter().flatten() {
            let manager = entry.get("manager").and_then(Attr::as_str).unwrap_or_default();
            if let Some(fields) = entry.get("fieldsV1").filter(|_| self.managers.contains(manager)) {
                field_set_pointers(fields, &mut String::new(), &mut out);
            }
        }
        out.iter().map(|p| p.split('/').skip(1).map(str::to_owned).collect()).collect()
    }
}

/// Pointers of the leaves of a server-side-apply field set (`{"f:spec": {"f:replicas": {}}}` → `/spec/replicas`).
/// A keyed list entry (`k:{"name":"app"}`) or value entry (`v:…`) stands for the whole list: its pointer is the list.
fn field_set_pointers(fields: &Attr, path: &mut String, out: &mut Vec<String>) {
    let Some(map) = fields.as_object() else { return };
    let len = path.len();
    let mut leaf = true;
    for (key, child) in map {
        if let Some(name) = key.strip_prefix("f:") {
            leaf = false;
            path.push('/');
            path.push_str(&diff::escape(name));
            field_set_pointers(child, path, out);
            path.truncate(len);
        } else if key.starts_with("k:") || key.starts_with("v:") || key.starts_with("i:") {
            // A list entry, identified by key or value rather than index: the fields under it are owned in whichever
            // entry it is, which a `*` segment says without the live object's indices.
            leaf = false;
            path.push_str("/*");
            field_set_pointers(child, path, out);
            path.truncate(len);
        }
    }
    if leaf && !path.is_empty() {
        out.push(path.clone());
    }
}

/// A DRIFT-CHANGED finding listing the first differences in its message and all of them as evidence.
fn changed_finding(resource: &Resource, diffs: Vec<diff::FieldDiff>, what: &str, context: &Context) -> Option<Finding> {
    if diffs.is_empty() {
        return None;
    }
    let shown: Vec<String> = diffs
        .iter()
        .take(3)
        .map(|d| match (secret(&d.declared), secret(&d.live)) {
            (true, true) => format!("{} value changed; both sides are secret", d.pointer),
            _ => format!("{} declared {} live {}", d.pointer, short(&d.declared), short(&d.live)),
        })
        .collect();
    let more = if diffs.len() > 3 { format!("; and {} more", diffs.len() - 3) } else { String::new() };
    let count = if diffs.len() == 1 { "1 field".to_owned() } else { format!("{} fields", diffs.len()) };
    let message = format!("{count} {what}: {}{more}", shown.join("; "));
    let hidden = |v: Value| if secret(&v) { Attr::from("(secret)") } else { Attr::from(v) };
    let evidence = diffs
        .into_iter()
        .map(|d| Evidence { path: d.pointer, expected: Some(hidden(d.declared)), actual: hidden(d.live) })
        .collect();
    Some(finding(resource, CHANGED, Severity::Medium, message, evidence, context))
}

/// A redaction token: the value was a credential (day2_model::redact).
fn secret(value: &Value) -> bool {
    value.as_str().is_some_and(day2_model::redact::is_token)
}

fn prefix_matches(segments: &[String], pointer: &str) -> bool {
    let actual: Vec<&str> = pointer.split('/').skip(1).collect();
    actual.len() >= segments.len() && segments.iter().zip(&actual).all(|(want, got)| want == "*" || want == got)
}

/// A value in a message: short JSON, cut at 60 characters.
fn short(v: &Value) -> String {
    let text = if v.is_null() { "(absent)".to_owned() } else { v.to_string() };
    if text.chars().count() > 60 { format!("{}…", text.chars().take(59).collect::<String>()) } else { text }
}

fn missing(declared: &Resource, scope: &str, context: &Context) -> Finding {
    let message = format!("{} {} is declared but does not exist in {scope}", declared.kind, display_name(declared));
    finding(declared, MISSING, Severity::High, message, Vec::new(), context)
}

fn unmanaged(live: &Resource, scope: &str, context: &Context) -> Finding {
    let message = format!("{} {} runs in {scope} but is declared nowhere", live.kind, display_name(live));
    Finding { changed_at: last_change(live), ..finding(live, UNMANAGED, Severity::Low, message, Vec::new(), context) }
}

/// When a live Kubernetes object's spec or metadata was last written, by its `metadata.managedFields` times (the
/// latest of any manager; status writes, which controllers make all the time, do not count): the change that drifted
/// it is at or before that, so time to detect is measured from it.
fn last_change(live: &Resource) -> Option<DateTime<Utc>> {
    let entries = live.attrs.pointer("/metadata/managedFields").and_then(Attr::as_array)?;
    entries
        .iter()
        .filter(|e| e.get("subresource").is_none())
        .filter_map(|e| e.get("time").and_then(Attr::as_str))
        .filter_map(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .max()
}

fn display_name(r: &Resource) -> String {
    let in_cloud = r.id.as_str().rsplit('/').next().unwrap_or_default();
    if r.provider == Provider::Aws && r.name != in_cloud {
        // A Terraform declaration of an AWS object: its address, and the object's name in AWS.
        format!("{} ({in_cloud})", r.name)
    } else if r.namespace.is_empty() {
        r.name.clone()
    } else {
        format!("{}/{}", r.namespace, r.name)
    }
}

fn finding(
    r: &Resource,
    rule: &str,
    severity: Severity,
    message: String,
    evidence: Vec<Evidence>,
    context: &Context,
) -> Finding {
    let (title, remediation) = rule_text(rule).map_or(("", ""), |(title, _, _, remediation)| (title, remediation));
    Finding {
        domain: Domain::Drift,
        severity,
        title: title.into(),
        message,
        evidence,
        remediation: remediation.into(),
        ..Finding::about(r, ANALYZER, rule, "", context.now)
    }
}

impl Analyzer for Drift {
    fn name(&self) -> &'static str {
        ANALYZER
    }

    fn analyze(&self, inputs: &Inputs<'_>, context: &Context) -> Analysis {
        let mut outcome = self.compare(inputs.declared, inputs.live, inputs.scopes, context);
        outcome.findings.extend(self.plan_drift(inputs.declared, context));
        // A store resolves findings of the rules that ran; "missing" did not run where a live collection was partial.
        let all_complete = inputs.scopes.iter().all(|s| s.complete);
        let rules_run = if Self::compared_anything(inputs) {
            RULES.iter().filter(|r| all_complete || **r != MISSING).map(|r| (*r).to_owned()).collect()
        } else {
            BTreeSet::new()
        };
        let fired: BTreeSet<&str> = outcome.findings.iter().map(|f| f.rule_id.as_str()).collect();
        Analysis {
            rules: fired.into_iter().filter_map(rule_meta).collect(),
            rules_run,
            findings: outcome.findings,
            coverage: outcome.coverage,
            ..Analysis::default()
        }
    }
}

/// Metadata of the drift rules, for reports.
pub fn rule_meta(id: &str) -> Option<RuleMeta> {
    let (title, severity, rationale, remediation) = rule_text(id)?;
    Some(RuleMeta {
        id: id.to_owned(),
        title: title.to_owned(),
        domain: Domain::Drift,
        severity,
        rationale: rationale.to_owned(),
        remediation: remediation.to_owned(),
        references: Vec::new(),
        controls: Vec::new(),
    })
}

/// Title, default severity, rationale and remediation of a drift rule.
fn rule_text(id: &str) -> Option<(&'static str, Severity, &'static str, &'static str)> {
    Some(match id {
        MISSING => (
            "Declared object missing from the live environment",
            Severity::High,
            "Something declared is not running: a failed deploy, or a manual deletion that the next apply would undo (or that nobody noticed).",
            "Apply the declaration again, or remove it from the declared state if the deletion was intended.",
        ),
        UNMANAGED => (
            "Live object declared nowhere",
            Severity::Low,
            "Objects created by hand escape review, ownership and rebuilds; after an incident nobody can recreate them.",
            "Declare the object (import it into Git or Terraform), delete it, or list it in drift.unmanaged_ignore.",
        ),
        CHANGED => (
            "Live object differs from its declaration",
            Severity::Medium,
            "A hand edit in production: Git no longer tells the truth, and the next apply silently reverts it.",
            "Re-apply the declaration, or update the declaration to match a change that should stay.",
        ),
        _ => return None,
    })
}

/// The drift rule ids.
pub const RULES: [&str; 3] = [CHANGED, MISSING, UNMANAGED];

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;
    use day2_model::{Origin, ResourceId, Snapshot};
    use serde_json::json;

    fn k8s(kind: &str, ns: &str, name: &str, attrs: Value, declared: bool) -> Resource {
        let mut r = resource(kind, ns, name, attrs);
        if !declared {
            r.origin = Origin::Live { source: "live".into(), observed_at: chrono::Utc::now() };
        }
        r
    }

    fn resource(kind: &str, ns: &str, name: &str, attrs: Value) -> Resource {
        Resource {
            id: ResourceId::from_raw(format!("k8s/prod/{kind}/{ns}/{name}")),
            provider: Provider::K8s,
            scope: "prod".into(),
            kind: kind.into(),
            api_version: "v1".into(),
            namespace: ns.into(),
            name: name.into(),
            labels: Default::default(),
            owner: Default::default(),
            attrs: attrs.into(),
            origin: Origin::Declared {
                file: format!("{name}.yaml"),
                line: 1,
                template: None,
                module: None,
                attributes: Default::default(),
            },
            source: "test".into(),
        }
    }

    fn inventory(resources: Vec<Resource>) -> Inventory {
        Inventory::from_snapshots(vec![Snapshot { resources, complete: true, ..Snapshot::default() }]).0
    }

    fn run(config: DriftConfig, complete: bool) -> DriftOutcome {
        let cm =
            |data: Value| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": data});
        let declared = inventory(vec![
            k8s("ConfigMap", "shop", "same", cm(json!({"a": "1"})), true),
            k8s("ConfigMap", "shop", "edited", cm(json!({"a": "1"})), true),
            k8s("ConfigMap", "shop", "gone", cm(json!({"a": "1"})), true),
        ]);
        let mut owned = cm(json!({}));
        owned["metadata"]["ownerReferences"] = json!([{"kind": "Deployment", "name": "d"}]);
        let live = inventory(vec![
            k8s("ConfigMap", "shop", "same", cm(json!({"a": "1"})), false),
            k8s("ConfigMap", "shop", "edited", cm(json!({"a": "2"})), false),
            k8s("ConfigMap", "shop", "handmade", cm(json!({})), false),
            k8s("ConfigMap", "shop", "owned", owned, false),
            k8s("ConfigMap", "kube-system", "coredns", cm(json!({})), false),
        ]);
        let scopes =
            [LiveScope { provider: Provider::K8s, scope: "prod".into(), complete, examined: Examined::WhatIsPresent }];
        Drift::new(&config).unwrap().compare(&declared, &live, &scopes, &Context { now: chrono::Utc::now() })
    }

    fn classes(outcome: &DriftOutcome) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> =
            outcome.findings.iter().map(|f| (f.rule_id.clone(), f.resource.as_str().to_owned())).collect();
        out.sort();
        out
    }

    #[test]
    fn classifies_missing_unmanaged_and_changed_exactly() {
        let outcome = run(DriftConfig::default(), true);
        assert_eq!(
            classes(&outcome),
            [
                (CHANGED.to_owned(), "k8s/prod/ConfigMap/shop/edited".to_owned()),
                (MISSING.to_owned(), "k8s/prod/ConfigMap/shop/gone".to_owned()),
                (UNMANAGED.to_owned(), "k8s/prod/ConfigMap/shop/handmade".to_owned()),
            ]
        );
        let changed = outcome.findings.iter().find(|f| f.rule_id == CHANGED).unwrap();
        assert_eq!(changed.evidence[0].path, "/data/a");
        assert_eq!(changed.file.as_deref(), Some("edited.yaml"));
        assert_eq!(outcome.coverage[0].live, 3, "owned and kube-system objects are not counted");
        assert_eq!(outcome.coverage[0].declared, 2);
    }

    #[test]
    fn a_recording_of_some_kinds_reports_nothing_missing_of_the_others() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {}});
        let deploy = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}});
        let declared = inventory(vec![
            k8s("ConfigMap", "shop", "settings", cm, true),
            k8s("apps.Deployment", "shop", "web", deploy.clone(), true),
            k8s("apps.Deployment", "billing", "api", deploy.clone(), true),
        ]);
        // `kubectl get deploy -n shop`: no ConfigMaps and no other namespace were looked at.
        let live = inventory(vec![k8s("apps.Deployment", "shop", "other", deploy, false)]);
        let scopes = [LiveScope {
            provider: Provider::K8s,
            scope: "prod".into(),
            complete: true,
            examined: Examined::WhatIsPresent,
        }];
        let outcome = Drift::new(&DriftConfig::default()).unwrap().compare(
            &declared,
            &live,
            &scopes,
            &Context { now: chrono::Utc::now() },
        );
        let missing: Vec<&str> =
            outcome.findings.iter().filter(|f| f.rule_id == MISSING).map(|f| f.resource.as_str()).collect();
        assert_eq!(missing, ["k8s/prod/apps.Deployment/shop/web"]);
    }

    #[test]
    fn an_api_listing_reports_missing_for_every_listed_kind_even_when_none_is_live() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {}});
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}});
        let declared = inventory(vec![
            k8s("ConfigMap", "shop", "settings", cm.clone(), true),
            k8s("ConfigMap", "billing", "settings", cm, true),
            k8s("Namespace", "", "shop", ns, true),
            k8s("apps.Deployment", "shop", "web", json!({"kind": "Deployment", "metadata": {"name": "web"}}), true),
        ]);
        // ConfigMaps and Namespaces were listed in `shop` (none found); Deployments were not listed at all.
        let examined = Examined::Listed {
            kinds: ["ConfigMap".to_owned(), "Namespace".to_owned()].into(),
            namespaces: Some(["shop".to_owned()].into()),
        };
        let scopes = [LiveScope { provider: Provider::K8s, scope: "prod".into(), complete: true, examined }];
        let outcome = Drift::new(&DriftConfig::default()).unwrap().compare(
            &declared,
            &inventory(Vec::new()),
            &scopes,
            &Context { now: chrono::Utc::now() },
        );
        let mut missing: Vec<&str> =
            outcome.findings.iter().filter(|f| f.rule_id == MISSING).map(|f| f.resource.as_str()).collect();
        missing.sort();
        assert_eq!(missing, ["k8s/prod/ConfigMap/shop/settings", "k8s/prod/Namespace//shop"]);
    }

    #[test]
    fn an_incomplete_collection_reports_nothing_missing() {
        let outcome = run(DriftConfig::default(), false);
        assert!(outcome.findings.iter().all(|f| f.rule_id != MISSING));
        assert!(!outcome.coverage[0].complete);
    }

    #[test]
    fn ignore_rules_and_unmanaged_globs() {
        let config = DriftConfig {
            ignore: vec![IgnoreRule {
                pointer: "/data/*".into(),
                kind: Some("ConfigMap".into()),
                ..IgnoreRule::default()
            }],
            unmanaged_ignore: vec!["k8s/*/ConfigMap/shop/hand*".into()],
            ..DriftConfig::default()
        };
        let outcome = run(config, true);
        assert_eq!(classes(&outcome), [(MISSING.to_owned(), "k8s/prod/ConfigMap/shop/gone".to_owned())]);
        assert!(Drift::new(&DriftConfig { unmanaged_ignore: vec!["a[".into()], ..DriftConfig::default() }).is_err());
        let relative = DriftConfig {
            ignore: vec![IgnoreRule { pointer: "spec/replicas".into(), ..IgnoreRule::default() }],
            ..DriftConfig::default()
        };
        assert!(Drift::new(&relative).err().unwrap().to_string().contains("JSON pointer"));
    }

    #[test]
    fn ownership_of_a_list_entry_covers_only_its_fields() {
        let drift =
            Drift::new(&DriftConfig { ignore_managers: vec!["cainjector".into()], ..DriftConfig::default() }).unwrap();
        let live = k8s(
            "admissionregistration.k8s.io.ValidatingWebhookConfiguration",
            "",
            "hooks",
            json!({"metadata": {"managedFields": [{"manager": "cainjector",
                "fieldsV1": {"f:webhooks": {"k:{\"name\":\"a\"}": {"f:clientConfig": {"f:caBundle": {}}}}}}]}}),
            false,
        );
        let owned = drift.managed_pointers(&live);
        assert!(owned.iter().any(|p| prefix_matches(p, "/webhooks/0/clientConfig/caBundle")));
        assert!(!owned.iter().any(|p| prefix_matches(p, "/webhooks/0/rules")), "{owned:?}");
    }

    #[test]
    fn fields_owned_by_ignored_managers_are_not_drift() {
        let declared = inventory(vec![k8s(
            "apps.Deployment",
            "shop",
            "web",
            json!({"spec": {"replicas": 2, "paused": false}}),
            true,
        )]);
        let live = inventory(vec![k8s(
            "apps.Deployment",
            "shop",
            "web",
            json!({"metadata": {"managedFields": [{"manager": "kube-controller-manager",
                "fieldsV1": {"f:spec": {"f:replicas": {}}}}]}, "spec": {"replicas": 7, "paused": true}}),
            false,
        )]);
        let scopes = [LiveScope {
            provider: Provider::K8s,
            scope: "prod".into(),
            complete: true,
            examined: Examined::WhatIsPresent,
        }];
        let drift = Drift::new(&DriftConfig {
            ignore_managers: vec!["kube-controller-manager".into()],
            ..DriftConfig::default()
        })
        .unwrap();
        let outcome = drift.compare(&declared, &live, &scopes, &Context { now: chrono::Utc::now() });
        assert_eq!(outcome.findings.len(), 1);
        let paths: Vec<&str> = outcome.findings[0].evidence.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["/spec/paused"], "replicas belong to the HPA's manager");
    }
}
