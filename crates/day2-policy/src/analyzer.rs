//! Rego policies as an analyzer: Gatekeeper constraints and conftest rules over the inventory's Kubernetes objects,
//! producing findings like the built-in checks (same suppressions, reporters and store).

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use day2_analyze::{Analysis, Analyzer, Context, Inputs};
use day2_model::{
    Diagnostic, DiagnosticKind, Domain, Finding, FindingId, Inventory, Provider, Resource, ResourceId, RuleMeta,
    Severity,
};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::conftest::{Conftest, ConftestConfig, RuleKind};
use crate::gatekeeper::{self, Library, Object, constraint};
use crate::rego::{self, RegoVersion};

/// The `policies:` section of day2.yaml.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    /// Files and directories of policies: `.rego` modules, ConstraintTemplates and Constraints (YAML), and data
    /// documents (YAML/JSON without `kind`, merged into `data` as conftest's `--data`), relative to the
    /// configuration file; `--policy PATH` adds to it. `*_test.rego` files and other Kubernetes objects are skipped.
    /// An OPA bundle (a directory with a `.manifest`, or a `.tar.gz`) follows OPA's rules instead: only
    /// `data.json`/`data.yaml` are data, under their directory's path, and the manifest's `rego_version` applies.
    pub paths: Vec<PathBuf>,
    /// Rego syntax: `auto` (per file), `v0` or `v1`.
    pub rego_version: RegoVersion,
    /// conftest rules: namespaces and combine mode.
    pub conftest: ConftestConfig,
    /// Present each workload's pod template to Pod constraints as an implied Pod, as Gatekeeper's expansion does.
    pub expand_workloads: bool,
    /// Severity per rule id (`K8sRequiredLabels/must-have-owner`, `main.deny`), overriding annotations.
    pub severity: BTreeMap<String, Severity>,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            paths: Vec::new(),
            rego_version: RegoVersion::Auto,
            conftest: ConftestConfig::default(),
            expand_workloads: true,
            severity: BTreeMap::new(),
        }
    }
}

/// Loaded policies, ready to run.
#[derive(Debug, Clone, Default)]
pub struct Policies {
    /// Gatekeeper templates and constraints.
    pub gatekeeper: Library,
    /// conftest rules, if any module declares one in the selected namespaces.
    pub conftest: Option<Conftest>,
    config: PolicyConfig,
}

/// What one run of the policies produced.
#[derive(Debug, Default)]
pub struct PolicyRun {
    /// Findings.
    pub findings: Vec<Finding>,
    /// Evaluation errors, one per (rule, error).
    pub diagnostics: Vec<Diagnostic>,
    /// Policy evaluations performed ((object, constraint) pairs plus conftest inputs × rules).
    pub evaluations: usize,
    /// Rules that applied to at least one object.
    pub applicable: BTreeSet<String>,
    /// Rules whose evaluation failed on at least one object: their results are incomplete, so a store must not
    /// resolve their findings and a compliance control must not pass on them.
    pub errored: BTreeSet<String>,
}

const ANALYZER: &str = "rego";

impl Policies {
    /// Loads every policy under `config.paths`. Problems (unreadable files, Rego that does not compile, constraints
    /// without a template) are returned as diagnostics naming file and line; everything else loads.
    pub fn load(config: &PolicyConfig) -> (Policies, Vec<Diagnostic>) {
        let mut diagnostics = Vec::new();
        let files = crate::discover::read(&config.paths, &mut diagnostics);
        let gatekeeper = Library::from_docs(&files.templates, &files.constraints, &mut diagnostics);
        let conftest =
            Conftest::build(&files.modules, &files.data, &config.conftest, config.rego_version, &mut diagnostics);
        (Policies { gatekeeper, conftest, config: config.clone() }, diagnostics)
    }

    /// Ids of every rule these policies can report, sorted.
    pub fn rule_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.gatekeeper.constraints.iter().map(|c| c.rule_id()).collect();
        ids.extend(self.conftest.iter().flat_map(|c| c.rules.iter().map(|r| r.rule_id())));
        ids.sort();
        ids.dedup();
        ids
    }

    /// Metadata of a rule, for reports.
    pub fn rule_meta(&self, id: &str) -> Option<RuleMeta> {
        if let Some(c) = self.gatekeeper.constraints.iter().find(|c| c.rule_id() == id) {
            let t = self.gatekeeper.template(&c.kind)?;
            return Some(RuleMeta {
                id: id.to_owned(),
                title: t.title.clone().unwrap_or_else(|| t.kind.clone()),
                domain: Domain::Security,
                severity: self.severity(id, c.severity),
                rationale: t.description.clone().unwrap_or_default(),
                remediation: format!(
                    "Change the object so that constraint {id} ({}, enforcementAction {}) allows it.",
                    c.file,
                    c.action.as_str()
                ),
                references: Vec::new(),
                controls: crate::compliance::controls_for(id),
            });
        }
        let rule = self.conftest.as_ref()?.rules.iter().find(|r| r.rule_id() == id)?;
        Some(RuleMeta {
            id: id.to_owned(),
            title: rule.annotation.title.clone().unwrap_or_else(|| format!("{}.{}", rule.package, rule.name)),
            domain: Domain::Security,
            severity: self.severity(id, rule.severity()),
            rationale: rule.annotation.description.clone().unwrap_or_default(),
            remediation: format!("Change the object so that rule {} ({}:{}) passes.", id, rule.file, rule.line),
            references: Vec::new(),
            controls: crate::compliance::controls_for(id),
        })
    }

    fn severity(&self, rule_id: &str, default: Severity) -> Severity {
        self.config.severity.get(rule_id).copied().unwrap_or(default)
    }

    /// Runs every policy over the inventory's Kubernetes objects.
    pub fn run(&self, inventory: &Inventory, context: &Context) -> PolicyRun {
        self.run_on(inventory, &|_| true, context)
    }

    /// Runs every policy over the Kubernetes objects of the inventory that `include` accepts.
    fn run_on(
        &self,
        inventory: &Inventory,
        include: &(dyn Fn(&Resource) -> bool + Sync),
        context: &Context,
    ) -> PolicyRun {
        let resources: Vec<&Resource> = inventory
            .resources()
            .iter()
            .filter(|r| r.provider == Provider::K8s && r.attrs.is_object() && include(r))
            .collect();
        let mut run = PolicyRun::default();
        // Each object becomes a Rego value once, for both kinds of policy.
        let objects: Vec<Object> = resources
            .par_iter()
            .enumerate()
            .filter_map(|(i, r)| Object::new(Cow::Borrowed(&r.attrs), Some(&r.namespace), i))
            .collect();
        if let Some(conftest) = &self.conftest {
            self.run_conftest(conftest, &resources, &objects, context, &mut run);
        }
        if !self.gatekeeper.is_empty() {
            self.run_gatekeeper(&resources, objects, context, &mut run);
        }
        // A constraint matching both a workload and its implied Pod can report the same message twice.
        run.findings.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        run.findings.dedup_by(|a, b| a.id == b.id);
        run
    }

    fn run_gatekeeper(
        &self,
        resources: &[&Resource],
        objects: Vec<Object<'_>>,
        context: &Context,
        run: &mut PolicyRun,
    ) {
        let inventory = if self.gatekeeper.templates.iter().any(|t| t.uses_inventory) {
            gatekeeper::inventory_data(objects.iter())
        } else {
            regorus::Value::new_object()
        };
        let namespaces = constraint::namespace_labels(objects.iter().map(|o| o.json.as_ref()));
        let implied: Vec<Object> = if self.config.expand_workloads {
            objects.par_iter().filter_map(Object::implied_pod).collect()
        } else {
            Vec::new()
        };
        let mut all = objects;
        all.extend(implied);
        let evaluation = self.gatekeeper.evaluate(&all, &inventory, &namespaces);
        run.evaluations += evaluation.evaluations;
        for (c, matched) in self.gatekeeper.constraints.iter().zip(&evaluation.matched) {
            if *matched > 0 {
                run.applicable.insert(c.rule_id());
            }
        }
        run.diagnostics.extend(self.gatekeeper.diagnostics(&evaluation));
        run.errored.extend(
            evaluation.errors.iter().filter_map(|e| self.gatekeeper.constraints.get(e.constraint)).map(|c| c.rule_id()),
        );
        for v in evaluation.violations {
            let (Some(c), Some(r)) = (self.gatekeeper.constraints.get(v.constraint), resources.get(v.object)) else {
                continue;
            };
            let title =
                self.gatekeeper.template(&c.kind).and_then(|t| t.title.clone()).unwrap_or_else(|| c.kind.clone());
            let rule_id = c.rule_id();
            let severity = self.severity(&rule_id, c.severity);
            let remediation = format!("Change the object so that constraint {rule_id} allows it.");
            run.findings.push(finding(r, rule_id, severity, title, v.message, remediation, context));
        }
    }

    fn run_conftest(
        &self,
        conftest: &Conftest,
        resources: &[&Resource],
        objects: &[Object<'_>],
        context: &Context,
        run: &mut PolicyRun,
    ) {
        let inputs: Vec<(Option<&Resource>, regorus::Value)> = if self.config.conftest.combine {
            let combined: Vec<serde_json::Value> = resources
                .iter()
                .map(|r| serde_json::json!({"path": r.location().map(|(f, _)| f).unwrap_or_default(), "contents": r.attrs}))
                .collect();
            vec![(None, rego::to_value(&serde_json::Value::Array(combined)))]
        } else {
            objects.iter().map(|o| (resources.get(o.origin).copied(), o.review["object"].clone())).collect()
        };
        run.evaluations += inputs.len() * conftest.rules.len();
        if !inputs.is_empty() {
            run.applicable.extend(conftest.rules.iter().map(|r| r.rule_id()));
        }
        let results: Vec<_> = inputs
            .into_par_iter()
            .map_init(
                || conftest.engine.clone(),
                |engine, (resource, input)| {
                    let (outcomes, errors) = conftest.evaluate(engine, input);
                    (resource, outcomes, errors)
                },
            )
            .collect();
        let mut errors: BTreeMap<(usize, String), usize> = BTreeMap::new();
        for (resource, outcomes, failed) in results {
            for (rule, message) in failed {
                *errors.entry((rule, message)).or_default() += 1;
            }
            for o in outcomes {
                let Some(rule) = conftest.rules.get(o.rule) else { continue };
                let rule_id = rule.rule_id();
                let severity = self.severity(&rule_id, rule.severity());
                let title = rule.annotation.title.clone().unwrap_or_else(|| rule_id.clone());
                let remediation =
                    format!("Change the object so that rule {rule_id} ({}:{}) passes.", rule.file, rule.line);
                let message = match rule.kind {
                    RuleKind::Deny => o.message,
                    RuleKind::Warn => format!("warning: {}", o.message),
                };
                let combined;
                let r = match resource {
                    Some(r) => r,
                    None => {
                        combined = combined_resource(rule);
                        &combined
                    }
                };
                run.findings.push(finding(r, rule_id, severity, title, message, remediation, context));
            }
        }
        for ((rule, message), count) in errors {
            let Some(rule) = conftest.rules.get(rule) else { continue };
            run.errored.insert(rule.rule_id());
            let more = if count > 1 { format!(" (on {count} objects)") } else { String::new() };
            run.diagnostics.push(Diagnostic::new(
                DiagnosticKind::Policy,
                &rule.file,
                Some(rule.line),
                format!("rule {} failed{more}: {message}", rule.rule_id()),
            ));
        }
    }
}

/// The resource a `combine: true` result is about: all objects at once, located at the rule.
fn combined_resource(rule: &crate::conftest::Rule) -> Resource {
    Resource {
        id: ResourceId::from_raw(format!("k8s/combined/{}", rule.package)),
        provider: Provider::K8s,
        scope: "combined".to_owned(),
        kind: "Combined".to_owned(),
        api_version: String::new(),
        namespace: String::new(),
        name: rule.package.clone(),
        labels: BTreeMap::new(),
        owner: Default::default(),
        attrs: day2_model::Attr::Null,
        origin: day2_model::Origin::Declared {
            file: rule.file.clone(),
            line: rule.line,
            template: None,
            module: None,
            attributes: Default::default(),
        },
        source: "policies".to_owned(),
    }
}

fn finding(
    r: &Resource,
    rule_id: String,
    severity: Severity,
    title: String,
    message: String,
    remediation: String,
    context: &Context,
) -> Finding {
    let controls = crate::compliance::controls_for(&rule_id);
    // The message is part of the id: one constraint can report several distinct problems about one object.
    let about = Finding::about(r, ANALYZER, &rule_id, &message, context.now);
    Finding {
        rule_id,
        severity,
        title: title.into(),
        message,
        remediation: remediation.into(),
        controls: controls.into(),
        subject: String::new(),
        ..about
    }
}

impl Analyzer for Policies {
    fn name(&self) -> &'static str {
        ANALYZER
    }

    fn analyze(&self, inputs: &Inputs<'_>, context: &Context) -> Analysis {
        let analysis = day2_analyze::posture::both_sides(
            inputs,
            |inventory, include| {
                let run = self.run_on(inventory, include, context);
                tracing::info!(evaluations = run.evaluations, findings = run.findings.len(), "Ran Rego policies.");
                // A rule that failed to evaluate somewhere has incomplete results: not "run", not "applicable".
                let complete = |id: &String| !run.errored.contains(id);
                Analysis {
                    rules_run: self.rule_ids().into_iter().filter(complete).collect(),
                    applicable: run.applicable.iter().filter(|id| complete(id)).cloned().collect(),
                    diagnostics: run.diagnostics,
                    findings: run.findings,
                    ..Analysis::default()
                }
            },
            |finding, id| FindingId::compute(ANALYZER, &finding.rule_id, id, &finding.message),
        );
        let fired: BTreeSet<&str> = analysis.findings.iter().map(|f| f.rule_id.as_str()).collect();
        let rules = fired.into_iter().filter_map(|id| self.rule_meta(id)).collect();
        Analysis { rules, ..analysis }
    }
}
