//! conftest-style policies: `deny`, `violation` and `warn` rules (and `deny_*` … variants) in configured namespaces,
//! each a set of strings or of objects with `msg`; severity from `# METADATA` `custom.severity`.

use day2_model::{Diagnostic, DiagnosticKind, Severity};
use regorus::{Engine, Value};
use serde::{Deserialize, Serialize};

use crate::load::{Doc, RegoFile};
use crate::rego::{self, Annotation, RegoVersion};

/// How conftest policies are selected and fed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ConftestConfig {
    /// Packages whose rules run (conftest's `--namespace`); default `main`.
    pub namespaces: Vec<String>,
    /// Run the rules of every package (conftest's `--all-namespaces`).
    pub all_namespaces: bool,
    /// One evaluation over all objects at once, as `[{path, contents}]` (conftest's `--combine`).
    pub combine: bool,
}

impl Default for ConftestConfig {
    fn default() -> Self {
        ConftestConfig { namespaces: vec!["main".to_owned()], all_namespaces: false, combine: false }
    }
}

/// What a rule's results mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleKind {
    /// `deny*` and `violation*`: a failure.
    Deny,
    /// `warn*`: a warning.
    Warn,
}

/// One conftest rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Package without `data.` (`main`).
    pub package: String,
    /// Rule name (`deny`, `warn_no_limits`).
    pub name: String,
    /// Failure or warning.
    pub kind: RuleKind,
    /// Declaring file.
    pub file: String,
    /// Line of the rule's first definition.
    pub line: u32,
    /// Its METADATA annotation, if any.
    pub annotation: Annotation,
}

impl Rule {
    /// The rule id findings carry: the annotation's `custom.id`, else `<package>.<rule>`.
    pub fn rule_id(&self) -> String {
        self.annotation.id.clone().unwrap_or_else(|| format!("{}.{}", self.package, self.name))
    }

    /// `custom.severity`, else high for failures and medium for warnings.
    pub fn severity(&self) -> Severity {
        self.annotation.severity.unwrap_or(match self.kind {
            RuleKind::Deny => Severity::High,
            RuleKind::Warn => Severity::Medium,
        })
    }

    fn path(&self) -> String {
        format!("data.{}.{}", self.package, self.name)
    }
}

/// Compiled conftest policies.
#[derive(Debug, Clone)]
pub struct Conftest {
    /// The engine with every module and data document.
    pub engine: Engine,
    /// Rules to evaluate, in package and name order.
    pub rules: Vec<Rule>,
    /// Packages with an `exception` rule.
    exceptions: Vec<String>,
}

/// One result of one rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Index into [`Conftest::rules`].
    pub rule: usize,
    /// The message.
    pub message: String,
}

fn rule_kind(name: &str) -> Option<RuleKind> {
    let prefix = |p: &str| name == p || name.strip_prefix(p).is_some_and(|rest| rest.starts_with('_'));
    if prefix("deny") || prefix("violation") {
        Some(RuleKind::Deny)
    } else if prefix("warn") {
        Some(RuleKind::Warn)
    } else {
        None
    }
}

impl Rule {
    /// The name conftest's `exception` rules refer to: `deny_run_as_root` → `run_as_root`, `deny` → `""`.
    fn exception_name(&self) -> &str {
        ["deny", "violation", "warn"]
            .iter()
            .find_map(|p| self.name.strip_prefix(p))
            .map_or("", |rest| rest.trim_start_matches('_'))
    }
}

/// Adds each module and keeps it only if the whole set still compiles, so one policy with a semantic error (an
/// unsafe variable, conflicting rules) is reported and left out instead of failing every rule.
fn compile(
    modules: &[RegoFile],
    data: &[Doc],
    version: RegoVersion,
    diagnostics: &mut Vec<Diagnostic>,
) -> (Engine, Vec<(usize, String)>) {
    let fresh = |diagnostics: &mut Vec<Diagnostic>| {
        let mut engine = rego::new_engine();
        rego::add_data(&mut engine, data, diagnostics);
        engine
    };
    let mut engine = fresh(diagnostics);
    let mut kept: Vec<(usize, String)> = Vec::new();
    for (index, m) in modules.iter().enumerate() {
        let package = match rego::add_module(&mut engine, &m.text, m.placement(), m.version.unwrap_or(version)) {
            Ok(p) => p.trim_start_matches("data.").to_owned(),
            Err(d) => {
                diagnostics.push(d);
                continue;
            }
        };
        if let Err(e) = rego::prepare(&mut engine) {
            diagnostics.push(Diagnostic::new(
                DiagnosticKind::Policy,
                e.file.as_deref().unwrap_or(&m.file),
                e.line,
                format!("Rego does not compile: {}; the module is left out", e.message),
            ));
            // regorus cannot unload a module: rebuild from the ones that compiled.
            engine = fresh(&mut Vec::new());
            for (k, _) in &kept {
                if let Some(good) = modules.get(*k) {
                    let _ =
                        rego::add_module(&mut engine, &good.text, good.placement(), good.version.unwrap_or(version));
                }
            }
            continue;
        }
        kept.push((index, package));
    }
    (engine, kept)
}

impl Conftest {
    /// Compiles `modules` with `data`; None when no module declares a rule in the selected namespaces.
    pub(crate) fn build(
        modules: &[RegoFile],
        data: &[Doc],
        config: &ConftestConfig,
        version: RegoVersion,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Option<Conftest> {
        let (mut engine, kept) = compile(modules, data, version, diagnostics);
        let mut rules: Vec<Rule> = Vec::new();
        let mut exceptions = Vec::new();
        for (index, package) in kept {
            let Some(m) = modules.get(index) else { continue };
            if !config.all_namespaces && !config.namespaces.contains(&package) {
                continue;
            }
            let annotations = rego::annotations(&m.text);
            for (name, line) in rego::rule_heads(&m.text) {
                if name == "exception" && !exceptions.contains(&package) {
                    exceptions.push(package.clone());
                }
                let Some(kind) = rule_kind(name) else { continue };
                if rules.iter().any(|r| r.package == package && r.name == name) {
                    continue;
                }
                rules.push(Rule {
                    package: package.clone(),
                    name: name.to_owned(),
                    kind,
                    file: m.file.clone(),
                    line,
                    annotation: annotations.get(name).cloned().unwrap_or_default(),
                });
            }
        }
        rules.sort_by(|a, b| (&a.package, &a.name).cmp(&(&b.package, &b.name)));
        // The engine was prepared by the last successful module; preparing again is a no-op unless it was rebuilt.
        let _ = rego::prepare(&mut engine);
        (!rules.is_empty()).then_some(Conftest { engine, rules, exceptions })
    }

    /// Evaluates every rule on one input with `engine` (a clone of [`Conftest::engine`]). Failed rules are returned
    /// as (rule index, error) next to the results of the others. Results of `deny`/`violation` rules named by the
    /// package's `exception` rule (conftest's exceptions) are dropped.
    pub fn evaluate(&self, engine: &mut Engine, input: Value) -> (Vec<Outcome>, Vec<(usize, String)>) {
        engine.set_input(input);
        let (mut outcomes, mut errors) = (Vec::new(), Vec::new());
        let mut excepted: Vec<(String, String)> = Vec::new();
        for package in &self.exceptions {
            match engine.eval_rule(format!("data.{package}.exception")) {
                Ok(result) => {
                    for names in rego::values(&result) {
                        for name in rego::values(names) {
                            if let Ok(name) = name.as_string() {
                                excepted.push((package.clone(), name.to_string()));
                            }
                        }
                    }
                }
                Err(e) => {
                    // Without its exceptions a package's results would be false positives: report, skip its rules.
                    let error = rego::RegoError::parse(&e.to_string()).describe();
                    for (i, _) in self.rules.iter().enumerate().filter(|(_, r)| &r.package == package) {
                        errors.push((i, format!("its package's exception rule failed: {error}")));
                    }
                }
            }
        }
        for (i, rule) in self.rules.iter().enumerate() {
            if errors.iter().any(|(e, _)| *e == i)
                || (rule.kind == RuleKind::Deny
                    && excepted.iter().any(|(p, n)| *p == rule.package && n == rule.exception_name()))
            {
                continue;
            }
            match engine.eval_rule(rule.path()) {
                Ok(result) => outcomes.extend(rego::messages(&result).into_iter().map(|(message, _)| Outcome {
                    rule: i,
                    message: if message.is_empty() { rule.rule_id() } else { message },
                })),
                Err(e) => errors.push((i, rego::RegoError::parse(&e.to_string()).describe())),
            }
        }
        (outcomes, errors)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;

    fn module(file: &str, text: &str) -> RegoFile {
        RegoFile { file: file.to_owned(), text: text.to_owned(), version: None }
    }

    #[test]
    fn exceptions_drop_named_deny_rules_and_broken_modules_are_left_out() {
        let main = module(
            "main.rego",
            "package main\nimport rego.v1\n\ndeny_run_as_root contains \"root\" if input.root\n\ndeny_latest contains \"latest\" if input.latest\n\nexception contains [\"run_as_root\"] if input.kind == \"Job\"\n",
        );
        let unsafe_var = module("bad.rego", "package main\nimport rego.v1\n\nwarn contains msg if {\n  x == 1\n}\n");
        let mut diagnostics = Vec::new();
        let c =
            Conftest::build(&[main, unsafe_var], &[], &ConftestConfig::default(), RegoVersion::Auto, &mut diagnostics)
                .unwrap();
        assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
        assert_eq!(diagnostics[0].file, "bad.rego");
        assert!(diagnostics[0].message.contains("left out"), "{:?}", diagnostics[0]);
        let mut engine = c.engine.clone();
        let run = |engine: &mut Engine, input: serde_json::Value| {
            let (outcomes, errors) = c.evaluate(engine, rego::to_value(&input));
            assert!(errors.is_empty(), "{errors:?}");
            outcomes.into_iter().map(|o| o.message).collect::<Vec<_>>()
        };
        assert_eq!(
            run(&mut engine, serde_json::json!({"kind": "Pod", "root": true, "latest": true})),
            ["latest", "root"]
        );
        assert_eq!(run(&mut engine, serde_json::json!({"kind": "Job", "root": true, "latest": true})), ["latest"]);
    }

    #[test]
    fn selects_rules_by_namespace_and_prefix_and_reads_severity() {
        let main = module(
            "main.rego",
            "package main\n\n# METADATA\n# custom:\n#   severity: critical\ndeny contains msg if {\n  input.kind == \"Pod\"\n  msg := \"no pods\"\n}\n\nwarn_labels contains {\"msg\": m} if {\n  not input.metadata.labels\n  m := \"no labels\"\n}\n\nhelper := 1\n",
        );
        let other = module("other.rego", "package other\ndeny contains \"other\" if { true }\n");
        let mut diagnostics = Vec::new();
        let c = Conftest::build(&[main, other], &[], &ConftestConfig::default(), RegoVersion::Auto, &mut diagnostics)
            .unwrap();
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        let ids: Vec<String> = c.rules.iter().map(Rule::rule_id).collect();
        assert_eq!(ids, ["main.deny", "main.warn_labels"]);
        assert_eq!(c.rules[0].severity(), Severity::Critical);
        assert_eq!(c.rules[1].severity(), Severity::Medium);
        let mut engine = c.engine.clone();
        let (outcomes, errors) =
            c.evaluate(&mut engine, rego::to_value(&serde_json::json!({"kind": "Pod", "metadata": {}})));
        assert!(errors.is_empty());
        let messages: Vec<&str> = outcomes.iter().map(|o| o.message.as_str()).collect();
        assert_eq!(messages, ["no pods", "no labels"]);
    }
}
