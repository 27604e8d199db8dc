//! conftest-style policies: `deny`, `violation` and `warn` rules (and `deny_*` … variants) in configured namespaces,
//! each a set of strings or of objects with `msg`; severity from `# METADATA` `custom.severity`.

use day2_model::{Diagnostic, DiagnosticKind, Severity};
use regorus::{Engine, Value};
use serde::{Deserialize, Serialize};

use crate::load::{Doc, RegoFile};
use crate::rego::{self, Annotation, Placement, RegoVersion};

/// How conftest policies are selected and fed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

impl Conftest {
    /// Compiles `modules` with `data`; None when no module declares a rule in the selected namespaces.
    pub(crate) fn build(
        modules: &[RegoFile],
        data: &[Doc],
        config: &ConftestConfig,
        version: RegoVersion,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Option<Conftest> {
        let mut engine = rego::new_engine();
        add_data(&mut engine, data, diagnostics);
        let mut rules: Vec<Rule> = Vec::new();
        for m in modules {
            let at = Placement { file: &m.file, first_line: 1 };
            let package = match rego::add_module(&mut engine, &m.text, at, m.version.unwrap_or(version)) {
                Ok(p) => p.trim_start_matches("data.").to_owned(),
                Err(d) => {
                    diagnostics.push(d);
                    continue;
                }
            };
            if !config.all_namespaces && !config.namespaces.contains(&package) {
                continue;
            }
            let annotations = rego::annotations(&m.text);
            for (i, line) in m.text.lines().enumerate() {
                if line.starts_with(char::is_whitespace) {
                    continue;
                }
                let name = rego::rule_name(line);
                let Some(kind) = rule_kind(name) else { continue };
                if rules.iter().any(|r| r.package == package && r.name == name) {
                    continue;
                }
                rules.push(Rule {
                    package: package.clone(),
                    name: name.to_owned(),
                    kind,
                    file: m.file.clone(),
                    line: i as u32 + 1,
                    annotation: annotations.get(name).cloned().unwrap_or_default(),
                });
            }
        }
        rules.sort_by(|a, b| (&a.package, &a.name).cmp(&(&b.package, &b.name)));
        // Analyse the modules once here rather than on every worker's clone (the result does not matter).
        if let Some(rule) = rules.first() {
            let _ = engine.eval_rule(rule.path());
        }
        (!rules.is_empty()).then_some(Conftest { engine, rules })
    }

    /// Evaluates every rule on one input with `engine` (a clone of [`Conftest::engine`]). Failed rules are returned
    /// as (rule index, error) next to the results of the others.
    pub fn evaluate(&self, engine: &mut Engine, input: Value) -> (Vec<Outcome>, Vec<(usize, String)>) {
        engine.set_input(input);
        let (mut outcomes, mut errors) = (Vec::new(), Vec::new());
        for (i, rule) in self.rules.iter().enumerate() {
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

/// Merges data documents into `engine`'s `data`; a document that conflicts with an earlier one is reported.
pub(crate) fn add_data(engine: &mut Engine, data: &[Doc], diagnostics: &mut Vec<Diagnostic>) {
    for doc in data {
        if let Err(e) = engine.add_data(rego::to_value(&doc.value)) {
            diagnostics.push(Diagnostic::new(
                DiagnosticKind::Policy,
                &doc.file,
                Some(doc.line),
                format!("data document not merged: {}", rego::RegoError::parse(&e.to_string()).describe()),
            ));
        }
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
