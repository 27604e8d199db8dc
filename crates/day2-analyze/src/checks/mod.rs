//! Built-in checks. Each check is one static [`Check`]: id, metadata, compliance mappings and an `eval` function that
//! returns [`Hit`]s for one resource. The lists below are the index: adding a check is one entry in one area file.
//!
//! Every check has a failing and a passing fixture under `tests/fixtures/checks/<ID>/` (see `tests/check_fixtures.rs`),
//! and where the fix is mechanical, its RFC 6902 patch is applied to the failing fixture and must make the check pass.

pub mod k8s;
pub mod tf;

use std::collections::{BTreeMap, BTreeSet};

use day2_model::{
    ControlRef, Domain, Evidence, Finding, FindingId, Fix, Framework, Inventory, Provider, Resource, RuleMeta, Severity,
};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::{Analysis, Analyzer, Context, Inputs};

const ANALYZER: &str = "checks";

/// Which resources a check looks at.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    /// Kubernetes kinds that run pods (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, …).
    Workloads,
    /// Kubernetes objects of these base kinds (`Service`, `ClusterRoleBinding`); empty slice = every Kubernetes object.
    K8sKinds(&'static [&'static str]),
    /// Terraform resources of these types (`aws_s3_bucket`); empty slice = every Terraform resource.
    TfTypes(&'static [&'static str]),
}

/// What targets need to know about a resource, computed once per resource rather than once per check.
struct Facts<'a> {
    provider: Provider,
    base_kind: &'a str,
    workload: bool,
}

impl<'a> Facts<'a> {
    fn of(r: &'a Resource) -> Self {
        Facts {
            provider: r.provider,
            base_kind: day2_model::k8s::base_kind(&r.kind),
            workload: r.provider == Provider::K8s && day2_model::k8s::pod_spec(r).is_some(),
        }
    }
}

impl Target {
    /// Does this target cover the resource these facts describe?
    fn covers(&self, f: &Facts<'_>) -> bool {
        match self {
            Target::Workloads => f.workload,
            Target::K8sKinds(kinds) => {
                f.provider == Provider::K8s && (kinds.is_empty() || kinds.contains(&f.base_kind))
            }
            // AWS objects read live are shaped as the Terraform resources that declare them, so the same checks apply.
            Target::TfTypes(types) => {
                matches!(f.provider, Provider::Tf | Provider::Aws) && (types.is_empty() || types.contains(&f.base_kind))
            }
        }
    }

    /// The provider this target belongs to.
    pub fn provider(&self) -> Provider {
        match self {
            Target::Workloads | Target::K8sKinds(_) => Provider::K8s,
            Target::TfTypes(_) => Provider::Tf,
        }
    }
}

/// One problem found by a check on one resource.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Hit {
    /// Part of the resource (`container app`), empty for the whole resource. Part of the finding id.
    pub subject: String,
    /// Sentence saying what is wrong with this object.
    pub message: String,
    /// Supporting facts.
    pub evidence: Vec<Evidence>,
    /// Mechanical fix, when there is one.
    pub fix: Option<Fix>,
}

impl Hit {
    /// A hit with a message only.
    pub fn new(message: impl Into<String>) -> Self {
        Hit { message: message.into(), ..Hit::default() }
    }

    /// Sets the subject.
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = subject.into();
        self
    }

    /// Adds evidence: at `path`, `actual` was found (`expected` when one value says what would pass).
    pub fn evidence(
        mut self,
        path: impl Into<String>,
        actual: impl Into<day2_model::Attr>,
        expected: Option<serde_json::Value>,
    ) -> Self {
        self.evidence.push(Evidence {
            path: path.into(),
            expected: expected.map(day2_model::Attr::from),
            actual: actual.into(),
        });
        self
    }

    /// Sets the fix.
    pub fn fix(mut self, description: impl Into<String>, patch: serde_json::Value) -> Self {
        self.fix = Some(Fix { description: description.into(), patch: patch.into() });
        self
    }
}

/// Tunables some checks read (`checks.params` in day2.yaml).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// Tags every taggable AWS resource must carry (TF-TAG-001). Default: `owner`, `environment`.
    pub required_tags: Vec<String>,
    /// Labels every Kubernetes workload must carry (K8S-META-002). Default: `app.kubernetes.io/name`.
    pub required_labels: Vec<String>,
    /// Environment names treated as production (single-replica and similar checks). Default: `prod`, `production`.
    pub production_environments: Vec<String>,
    /// Registries images may come from (K8S-IMG-004). Empty: any registry, as long as the image names one explicitly
    /// (an image without a registry host silently means docker.io).
    pub allowed_registries: Vec<String>,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            required_tags: vec!["owner".into(), "environment".into()],
            required_labels: vec!["app.kubernetes.io/name".into()],
            production_environments: vec!["prod".into(), "production".into()],
            allowed_registries: Vec::new(),
        }
    }
}

/// What a check's `eval` receives.
pub struct Input<'a> {
    /// The resource under check.
    pub resource: &'a Resource,
    /// The whole inventory, for checks that look across objects.
    pub inventory: &'a Inventory,
    /// Tunables.
    pub params: &'a Params,
}

/// A built-in check.
pub struct Check {
    /// Stable id: `K8S-POD-001`. Never reused.
    pub id: &'static str,
    /// Short title.
    pub title: &'static str,
    /// Area.
    pub domain: Domain,
    /// Default severity (overridable in config).
    pub severity: Severity,
    /// Resources looked at.
    pub target: Target,
    /// Why it matters.
    pub rationale: &'static str,
    /// How to fix it.
    pub remediation: &'static str,
    /// Compliance controls.
    pub controls: &'static [(Framework, &'static str)],
    /// Further reading.
    pub references: &'static [&'static str],
    /// The test itself.
    pub eval: fn(&Input<'_>) -> Vec<Hit>,
}

impl std::fmt::Debug for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Check").field("id", &self.id).finish_non_exhaustive()
    }
}

impl Check {
    /// Compliance controls as model values.
    pub fn control_refs(&self) -> Vec<ControlRef> {
        self.controls.iter().map(|(f, c)| ControlRef { framework: *f, control: (*c).to_owned() }).collect()
    }

    /// The check's metadata, for reports.
    pub fn meta(&self) -> RuleMeta {
        RuleMeta {
            id: self.id.to_owned(),
            title: self.title.to_owned(),
            domain: self.domain,
            severity: self.severity,
            rationale: self.rationale.to_owned(),
            remediation: self.remediation.to_owned(),
            references: self.references.iter().map(|s| (*s).to_owned()).collect(),
            controls: self.control_refs(),
        }
    }
}

/// Every built-in check, Kubernetes first, in id order within each area.
pub fn all() -> impl Iterator<Item = &'static Check> {
    k8s::CHECKS.iter().flat_map(|list| list.iter()).chain(tf::CHECKS.iter().flat_map(|list| list.iter()))
}

/// A check by id (case-insensitive).
pub fn find(id: &str) -> Option<&'static Check> {
    all().find(|c| c.id.eq_ignore_ascii_case(id))
}

/// Which checks run and how (`checks` in day2.yaml).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ChecksConfig {
    /// Run only these check ids (empty = all; `--check ID` adds to it). Example: `[K8S-POD-001, TF-S3-001]`.
    pub enable: Vec<String>,
    /// Never run these check ids (`--skip ID` adds to it). Example: `[K8S-IMG-003]`.
    pub disable: Vec<String>,
    /// Severity overrides by id. Example: `{K8S-REL-001: critical}`.
    pub severity: BTreeMap<String, Severity>,
    /// Tunables.
    pub params: Params,
}

/// A configuration entry naming a check that does not exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("checks.{field}: unknown check id `{id}` (see `day2 checks list`)")]
pub struct UnknownCheck {
    /// Config field.
    pub field: &'static str,
    /// The id given.
    pub id: String,
}

/// The built-in checks analyzer.
#[derive(Debug)]
pub struct Checks {
    enabled: Vec<&'static Check>,
    /// The compliance controls of each enabled check (same order), shared by all its findings.
    controls: Vec<std::sync::Arc<[ControlRef]>>,
    severity: BTreeMap<&'static str, Severity>,
    params: Params,
}

impl Checks {
    /// Validates the config (unknown ids are errors) and selects the checks to run.
    pub fn new(config: &ChecksConfig) -> Result<Self, Vec<UnknownCheck>> {
        let mut errors = Vec::new();
        let mut resolve = |field: &'static str, ids: &[String]| -> BTreeSet<&'static str> {
            ids.iter()
                .filter_map(|id| {
                    let found = find(id).map(|c| c.id);
                    if found.is_none() {
                        errors.push(UnknownCheck { field, id: id.clone() });
                    }
                    found
                })
                .collect()
        };
        let enable = resolve("enable", &config.enable);
        let disable = resolve("disable", &config.disable);
        let overrides: Vec<(String, Severity)> = config.severity.iter().map(|(k, v)| (k.clone(), *v)).collect();
        let keys: Vec<String> = overrides.iter().map(|(k, _)| k.clone()).collect();
        let resolved = resolve("severity", &keys);
        if !errors.is_empty() {
            return Err(errors);
        }
        let severity = overrides
            .into_iter()
            .filter_map(|(k, s)| resolved.iter().find(|id| id.eq_ignore_ascii_case(&k)).map(|id| (*id, s)))
            .collect();
        let enabled: Vec<&'static Check> =
            all().filter(|c| (enable.is_empty() || enable.contains(c.id)) && !disable.contains(c.id)).collect();
        let controls = enabled.iter().map(|check| check.control_refs().into()).collect();
        Ok(Checks { enabled, controls, severity, params: config.params.clone() })
    }

    /// The checks that will run.
    pub fn enabled(&self) -> &[&'static Check] {
        &self.enabled
    }

    /// Runs the enabled checks on one resource.
    pub fn check_resource(&self, resource: &Resource, inventory: &Inventory, context: &Context) -> Vec<Finding> {
        let mut out = Vec::new();
        self.check_into(resource, inventory, context, &mut out, &mut vec![Seen::default(); self.enabled.len()]);
        out
    }

    /// Runs the enabled checks that cover `resource`, adding their findings to `out` and noting in `seen` (one
    /// entry per enabled check) which applied and which found something: both are known from the same pass.
    fn check_into(
        &self,
        resource: &Resource,
        inventory: &Inventory,
        context: &Context,
        out: &mut Vec<Finding>,
        seen: &mut [Seen],
    ) {
        debug_assert_eq!(seen.len(), self.enabled.len(), "one entry per enabled check");
        let input = Input { resource, inventory, params: &self.params };
        let facts = Facts::of(resource);
        for ((check, controls), seen) in self.enabled.iter().zip(&self.controls).zip(seen.iter_mut()) {
            if check.target.covers(&facts) {
                let before = out.len();
                // A hit whose evidence is an attribute set to a value known only after apply decides nothing, and a
                // check whose every hit is such has not decided about this resource (compliance: not a pass).
                let hits = (check.eval)(&input);
                let found = hits.len();
                let decided: Vec<Hit> =
                    hits.into_iter().filter(|hit| !hit.evidence.iter().any(|e| resource.unknown_at(&e.path))).collect();
                seen.applied |= found == 0 || !decided.is_empty();
                out.extend(decided.into_iter().map(|hit| self.finding(check, controls, resource, hit, context)));
                seen.fired |= out.len() > before;
            }
        }
    }

    fn finding(
        &self,
        check: &Check,
        controls: &std::sync::Arc<[ControlRef]>,
        r: &Resource,
        hit: Hit,
        context: &Context,
    ) -> Finding {
        let about = Finding::about(r, ANALYZER, check.id, &hit.subject, context.now);
        // The line of the attribute the evidence points at, where the format keeps attribute lines.
        let line = hit.evidence.first().and_then(|e| r.line_of(&e.path)).or(about.line);
        Finding {
            line,
            domain: check.domain,
            severity: self.severity.get(check.id).copied().unwrap_or(check.severity),
            title: check.title.into(),
            message: hit.message,
            evidence: hit.evidence,
            remediation: check.remediation.into(),
            fix: hit.fix,
            controls: controls.clone(),
            ..about
        }
    }
}

/// What one pass saw of one enabled check.
#[derive(Debug, Clone, Copy, Default)]
struct Seen {
    /// It covers at least one resource (compliance calls a control whose checks apply to nothing "not applicable").
    applied: bool,
    /// It found something.
    fired: bool,
}

impl Seen {
    fn or(self, other: Seen) -> Seen {
        Seen { applied: self.applied || other.applied, fired: self.fired || other.fired }
    }
}

impl Checks {
    /// Runs the enabled checks on the resources of `inventory` that `include` accepts, in parallel; which checks
    /// applied to at least one resource comes from the same pass, so nothing runs on one thread afterwards.
    fn run(&self, inventory: &Inventory, include: &(dyn Fn(&Resource) -> bool + Sync), context: &Context) -> Analysis {
        let nothing_seen = || (Vec::new(), vec![Seen::default(); self.enabled.len()]);
        let parts: Vec<(Vec<Finding>, Vec<Seen>)> = inventory
            .resources()
            .par_iter()
            .filter(|r| include(r))
            .fold(nothing_seen, |(mut findings, mut seen), r| {
                self.check_into(r, inventory, context, &mut findings, &mut seen);
                (findings, seen)
            })
            .collect();
        // The parts are moved into one buffer of the exact size, each freed once moved: growing the first part
        // instead reallocated it several times over, and the freed copies stayed resident (100 MB at 20,000 files).
        let mut findings = Vec::with_capacity(parts.iter().map(|(part, _)| part.len()).sum());
        let mut seen = vec![Seen::default(); self.enabled.len()];
        for (part, seen_in_part) in parts {
            findings.extend(part);
            seen.iter_mut().zip(seen_in_part).for_each(|(a, b)| *a = a.or(b));
        }
        let of =
            |what: fn(&Seen) -> bool| self.enabled.iter().zip(&seen).filter(move |(_, s)| what(s)).map(|(c, _)| *c);
        Analysis {
            rules: of(|s| s.fired).map(Check::meta).collect(),
            applicable: of(|s| s.applied).map(|c| c.id.to_owned()).collect(),
            rules_run: self.enabled.iter().map(|c| c.id.to_owned()).collect(),
            findings,
            ..Analysis::default()
        }
    }
}

impl Analyzer for Checks {
    fn name(&self) -> &'static str {
        ANALYZER
    }

    fn analyze(&self, inputs: &Inputs<'_>, context: &Context) -> Analysis {
        crate::posture::both_sides(
            inputs,
            |inventory, include| self.run(inventory, include, context),
            |finding, id| FindingId::compute(ANALYZER, &finding.rule_id, id, &finding.subject),
        )
    }
}

/// Shorthand for check modules: `json!` and the control-table helpers.
pub(crate) mod prelude {
    pub use day2_model::Framework::{CisAws, CisK8s, Dora, Nis2, Nsa, PssBaseline, PssRestricted, Soc2};
    pub use day2_model::{Domain, Resource, Severity};
    pub use serde_json::{Value, json};

    pub use super::{Check, Hit, Input, Target};
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_well_formed_and_documented() {
        let mut seen = BTreeSet::new();
        for c in all() {
            assert!(seen.insert(c.id), "duplicate check id {}", c.id);
            let prefix_ok = match c.target.provider() {
                Provider::K8s => c.id.starts_with("K8S-"),
                _ => c.id.starts_with("TF-"),
            };
            assert!(prefix_ok, "{} has the wrong prefix for its target", c.id);
            assert!(c.title.len() > 10 && c.rationale.len() > 40 && c.remediation.len() > 20, "{} lacks text", c.id);
            assert!(!c.controls.is_empty(), "{} maps to no compliance control", c.id);
        }
    }

    /// A Terraform resource as a plan shows it, with the attributes at `unknown` known only after apply.
    fn planned(kind: &str, address: &str, attrs: serde_json::Value, unknown: &[&str]) -> Resource {
        Resource {
            id: day2_model::ResourceId::new(Provider::Tf, "plan", kind, "", address),
            provider: Provider::Tf,
            scope: "plan".into(),
            kind: kind.into(),
            api_version: String::new(),
            namespace: String::new(),
            name: address.into(),
            labels: Default::default(),
            owner: Default::default(),
            attrs: attrs.into(),
            origin: day2_model::Origin::Declared {
                file: "plan.json".into(),
                line: 1,
                template: None,
                module: None,
                attributes: day2_model::DeclaredAttributes {
                    unknown: unknown.iter().map(|u| (*u).to_owned()).collect(),
                    ..Default::default()
                },
            },
            source: "plan".into(),
        }
    }

    #[test]
    fn a_hit_on_a_value_known_only_after_apply_decides_nothing() {
        let config = ChecksConfig { enable: vec!["TF-EBS-001".into()], ..ChecksConfig::default() };
        let checks = Checks::new(&config).unwrap();
        let context = Context { now: chrono::Utc::now() };
        let inventory = Inventory::default();
        let volume = |unknown: &[&str]| {
            planned("aws_ebs_volume", "aws_ebs_volume.data", serde_json::json!({"size": 100}), unknown)
        };
        assert_eq!(checks.check_resource(&volume(&[]), &inventory, &context).len(), 1);
        assert!(checks.check_resource(&volume(&["/encrypted"]), &inventory, &context).is_empty());
    }

    #[test]
    fn unknown_ids_in_config_are_reported() {
        let cfg = ChecksConfig { disable: vec!["K8S-NOPE-999".into()], ..ChecksConfig::default() };
        let err = Checks::new(&cfg).unwrap_err();
        assert_eq!(err[0].to_string(), "checks.disable: unknown check id `K8S-NOPE-999` (see `day2 checks list`)");
    }
}

mod examples {
    include!(concat!(env!("OUT_DIR"), "/examples.rs"));
}

/// The failing and passing example of a check (its test fixtures), for `day2 checks explain`.
pub fn examples(id: &str) -> Option<(&'static str, &'static str)> {
    examples::EXAMPLES.iter().find(|(i, _, _)| *i == id).map(|(_, f, p)| (*f, *p))
}
