//! Compliance frameworks as data: controls (id, title, description) mapped to rule ids, and a control-level report
//! (pass / fail / not applicable, with the findings as evidence) computed from a run.
//!
//! A control's rules are the built-in checks that name it in their `controls` plus the rule ids and globs listed
//! under its `checks:` in the framework file (Rego rules, or anything for a user's own framework). The bundled
//! frameworks live in `policies/compliance/` and are compiled in; users pass their own files.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use day2_model::{ControlRef, Finding, Severity};
use globset::Glob;
use serde::{Deserialize, Serialize};

/// The frameworks day2 ships, as (id, YAML text).
pub const BUNDLED: &[(&str, &str)] = &[
    ("cis-k8s", include_str!("../../../policies/compliance/cis-k8s.yaml")),
    ("cis-aws", include_str!("../../../policies/compliance/cis-aws.yaml")),
    ("nsa", include_str!("../../../policies/compliance/nsa.yaml")),
    ("pss-baseline", include_str!("../../../policies/compliance/pss-baseline.yaml")),
    ("pss-restricted", include_str!("../../../policies/compliance/pss-restricted.yaml")),
    ("soc2", include_str!("../../../policies/compliance/soc2.yaml")),
    ("nis2", include_str!("../../../policies/compliance/nis2.yaml")),
    ("dora", include_str!("../../../policies/compliance/dora.yaml")),
];

/// A framework file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Framework {
    /// Id used on the command line (`nis2`).
    pub id: String,
    /// Full title.
    pub title: String,
    /// Version or edition.
    #[serde(default)]
    pub version: Option<String>,
    /// Where the text is published.
    #[serde(default)]
    pub url: Option<String>,
    /// What it is and what day2 can evidence.
    #[serde(default)]
    pub description: Option<String>,
    /// Frameworks whose controls this one includes first (PSS restricted includes baseline): bundled ids.
    #[serde(default)]
    pub extends: Vec<String>,
    /// Controls, in framework order.
    pub controls: Vec<Control>,
}

/// One control.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Control {
    /// Control id within the framework (`21(2)(d)`, `5.2.2`).
    pub id: String,
    /// Short title.
    pub title: String,
    /// What it requires.
    #[serde(default)]
    pub description: Option<String>,
    /// Rule ids or globs (`K8sPSPPrivilegedContainer/*`) mapped to it besides the built-in checks that name it.
    #[serde(default)]
    pub checks: Vec<String>,
    /// The framework that defines it, when included through `extends` (built-in checks map to that one's ids).
    #[serde(skip)]
    pub defined_in: Option<String>,
}

/// A framework file that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameworkError {
    /// No bundled framework with that id, and no such file.
    #[error("unknown framework `{0}` (bundled: {bundled}; or give the path of a framework file)", bundled = bundled_ids())]
    Unknown(String),
    /// Unreadable file.
    #[error("{0}: {1}")]
    Read(String, std::io::Error),
    /// Invalid YAML or fields.
    #[error("{0}: {1}")]
    Parse(String, String),
}

fn bundled_ids() -> String {
    BUNDLED.iter().map(|(id, _)| *id).collect::<Vec<_>>().join(", ")
}

impl Framework {
    /// A bundled framework by id, or a framework file by path.
    pub fn load(id_or_path: &str) -> Result<Framework, FrameworkError> {
        if let Some((id, text)) = BUNDLED.iter().find(|(id, _)| *id == id_or_path) {
            return Framework::parse(text, &format!("policies/compliance/{id}.yaml"));
        }
        let path = Path::new(id_or_path);
        if !path.exists() {
            return Err(FrameworkError::Unknown(id_or_path.to_owned()));
        }
        let text = std::fs::read_to_string(path).map_err(|e| FrameworkError::Read(id_or_path.to_owned(), e))?;
        Framework::parse(&text, id_or_path)
    }

    /// Parses a framework file's text and includes the controls of the frameworks it extends.
    pub fn parse(text: &str, file: &str) -> Result<Framework, FrameworkError> {
        let mut framework: Framework =
            serde_saphyr::from_str(text).map_err(|e| FrameworkError::Parse(file.to_owned(), e.to_string()))?;
        let mut inherited = Vec::new();
        for base in &framework.extends {
            let Some((id, text)) = BUNDLED.iter().find(|(id, _)| id == base) else {
                return Err(FrameworkError::Parse(
                    file.to_owned(),
                    format!("extends: {}", FrameworkError::Unknown(base.clone())),
                ));
            };
            // Bundled frameworks extend only frameworks without `extends`, so this recursion ends.
            let base = Framework::parse(text, id)?;
            inherited.extend(base.controls.into_iter().map(|mut c| {
                c.defined_in.get_or_insert_with(|| base.id.clone());
                c
            }));
        }
        for control in &framework.controls {
            for pattern in &control.checks {
                Glob::new(pattern).map_err(|e| {
                    FrameworkError::Parse(file.to_owned(), format!("control {}: checks: {e}", control.id))
                })?;
            }
        }
        inherited.append(&mut framework.controls);
        framework.controls = inherited;
        Ok(framework)
    }
}

/// The bundled frameworks' `checks:` globs, compiled once: (framework, control id, glob).
static BUNDLED_GLOBS: LazyLock<Vec<(day2_model::Framework, String, globset::GlobMatcher)>> = LazyLock::new(|| {
    let mut out = Vec::new();
    for (id, text) in BUNDLED {
        let (Ok(framework), Ok(spec)) =
            (serde_json::from_value(serde_json::Value::String((*id).to_owned())), Framework::parse(text, id))
        else {
            continue;
        };
        for control in spec.controls.iter().filter(|c| c.defined_in.is_none()) {
            for pattern in &control.checks {
                if let Ok(glob) = Glob::new(pattern) {
                    out.push((framework, control.id.clone(), glob.compile_matcher()));
                }
            }
        }
    }
    out
});

/// The bundled frameworks' controls that map a policy rule (`K8sAllowedRepos/prod` matches `K8sAllowedRepos/*`),
/// so Rego findings carry compliance controls like built-in checks do.
pub fn controls_for(rule_id: &str) -> Vec<ControlRef> {
    let mut controls: Vec<ControlRef> = BUNDLED_GLOBS
        .iter()
        .filter(|(_, _, glob)| glob.is_match(rule_id))
        .map(|(framework, control, _)| ControlRef { framework: *framework, control: control.clone() })
        .collect();
    controls.sort();
    controls.dedup();
    controls
}

/// Control status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ControlStatus {
    /// An active finding of a mapped rule.
    Fail,
    /// Every mapped rule ran on matching resources and found nothing active.
    Pass,
    /// Some mapped rules ran and found nothing, others saw no resource to check: not enough to pass.
    Partial,
    /// No mapped rule ran on a matching resource, or no automated rule maps to the control.
    NotApplicable,
}

impl ControlStatus {
    /// The word reports use.
    pub fn as_str(self) -> &'static str {
        match self {
            ControlStatus::Fail => "fail",
            ControlStatus::Pass => "pass",
            ControlStatus::Partial => "partial",
            ControlStatus::NotApplicable => "not applicable",
        }
    }
}

/// One finding cited as evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvidenceItem {
    /// Rule.
    pub rule_id: String,
    /// Severity.
    pub severity: Severity,
    /// Resource id.
    pub resource: String,
    /// `file:line`, when declared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// The finding's message.
    pub message: String,
}

/// One control's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControlResult {
    /// Control id.
    pub id: String,
    /// The framework that defines the control, when included from another (`extends`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defined_in: Option<String>,
    /// Title.
    pub title: String,
    /// Status.
    pub status: ControlStatus,
    /// Why, in a sentence.
    pub reason: String,
    /// Mapped rules that applied to at least one resource.
    pub rules_evaluated: Vec<String>,
    /// Mapped rules that ran but matched no resource, or are not loaded.
    pub rules_not_applicable: Vec<String>,
    /// Active findings of the mapped rules.
    pub evidence: Vec<EvidenceItem>,
}

/// Counts per status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComplianceSummary {
    /// Controls passed.
    pub pass: usize,
    /// Controls failed.
    pub fail: usize,
    /// Controls some of whose rules saw nothing to check.
    #[serde(default)]
    pub partial: usize,
    /// Controls not applicable.
    pub not_applicable: usize,
}

/// A control-level compliance report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComplianceReport {
    /// Framework id.
    pub framework: String,
    /// Framework title.
    pub title: String,
    /// Framework version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// When the underlying run started.
    pub generated_at: DateTime<Utc>,
    /// Counts.
    pub summary: ComplianceSummary,
    /// Controls in framework order.
    pub controls: Vec<ControlResult>,
}

/// What a run tells the compliance report.
pub struct RunFacts<'a> {
    /// When the run started.
    pub started_at: DateTime<Utc>,
    /// Findings of the run (suppressed ones do not fail a control).
    pub findings: &'a [Finding],
    /// Rules that ran.
    pub rules_run: &'a [String],
    /// Rules that applied to at least one resource.
    pub applicable: &'a BTreeSet<String>,
    /// Built-in mapping: (framework id, control id, rule id) for every check that names a control.
    pub builtin: &'a [(String, String, String)],
}

/// Computes the report of `framework` for one run.
pub fn report(framework: &Framework, run: &RunFacts<'_>) -> ComplianceReport {
    let mut summary = ComplianceSummary::default();
    let controls: Vec<ControlResult> = framework
        .controls
        .iter()
        .map(|control| {
            let result = control_result(control.defined_in.as_deref().unwrap_or(&framework.id), control, run);
            match result.status {
                ControlStatus::Pass => summary.pass += 1,
                ControlStatus::Fail => summary.fail += 1,
                ControlStatus::Partial => summary.partial += 1,
                ControlStatus::NotApplicable => summary.not_applicable += 1,
            }
            result
        })
        .collect();
    ComplianceReport {
        framework: framework.id.clone(),
        title: framework.title.clone(),
        version: framework.version.clone(),
        generated_at: run.started_at,
        summary,
        controls,
    }
}

fn control_result(framework: &str, control: &Control, run: &RunFacts<'_>) -> ControlResult {
    let globs: Vec<globset::GlobMatcher> =
        control.checks.iter().filter_map(|p| Glob::new(p).ok()).map(|g| g.compile_matcher()).collect();
    let mapped = |rule: &str| {
        globs.iter().any(|g| g.is_match(rule))
            || run.builtin.iter().any(|(f, c, r)| f == framework && c == &control.id && r == rule)
    };
    let mut rules: BTreeSet<&str> = run.rules_run.iter().map(String::as_str).filter(|r| mapped(r)).collect();
    // Rules named explicitly but not loaded still show up, as not applicable.
    rules.extend(control.checks.iter().map(String::as_str).filter(|c| !c.contains(['*', '?', '['])));
    let (evaluated, not_applicable): (Vec<&str>, Vec<&str>) = rules.iter().partition(|r| run.applicable.contains(**r));
    let evidence: Vec<EvidenceItem> = run
        .findings
        .iter()
        .filter(|f| f.status.is_active() && mapped(&f.rule_id))
        .map(|f| EvidenceItem {
            rule_id: f.rule_id.clone(),
            severity: f.severity,
            resource: f.resource.as_str().to_owned(),
            location: f.file.as_ref().map(|file| match f.line {
                Some(line) => format!("{file}:{line}"),
                None => file.clone(),
            }),
            message: f.message.clone(),
        })
        .collect();
    let (status, reason) = if !evidence.is_empty() {
        (
            ControlStatus::Fail,
            format!("{} active finding(s) from {} rule(s)", evidence.len(), distinct_rules(&evidence)),
        )
    } else if !evaluated.is_empty() && not_applicable.is_empty() {
        (ControlStatus::Pass, format!("all {} mapped rule(s) evaluated, no active finding", evaluated.len()))
    } else if !evaluated.is_empty() {
        // A control passes only on what its rules could see: one that checked nothing proves nothing.
        (
            ControlStatus::Partial,
            format!(
                "{} mapped rule(s) evaluated without a finding; {} saw no resource to check ({})",
                evaluated.len(),
                not_applicable.len(),
                not_applicable.join(", ")
            ),
        )
    } else if rules.is_empty() {
        (ControlStatus::NotApplicable, "no automated rule maps to this control; collect other evidence".to_owned())
    } else {
        (ControlStatus::NotApplicable, "the mapped rules matched no resource in this inventory".to_owned())
    };
    ControlResult {
        id: control.id.clone(),
        defined_in: control.defined_in.clone(),
        title: control.title.clone(),
        status,
        reason,
        rules_evaluated: evaluated.into_iter().map(str::to_owned).collect(),
        rules_not_applicable: not_applicable.into_iter().map(str::to_owned).collect(),
        evidence,
    }
}

fn distinct_rules(evidence: &[EvidenceItem]) -> usize {
    evidence.iter().map(|e| e.rule_id.as_str()).collect::<BTreeSet<_>>().len()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn bundled_frameworks_parse_and_name_every_control_the_checks_use() {
        for (id, text) in BUNDLED {
            let f = Framework::parse(text, id).unwrap();
            assert_eq!(f.id, *id);
            assert!(!f.controls.is_empty(), "{id}");
        }
        let mut missing = Vec::new();
        for check in day2_analyze::checks::all() {
            for c in check.control_refs() {
                let f = Framework::load(c.framework.as_str()).unwrap();
                if !f.controls.iter().any(|x| x.id == c.control) {
                    missing.push(format!("{} {} ({})", c.framework, c.control, check.id));
                }
            }
        }
        assert!(missing.is_empty(), "controls used by checks but missing from the framework files: {missing:#?}");
    }

    #[test]
    fn restricted_includes_the_baseline_controls_first() {
        let restricted = Framework::load("pss-restricted").unwrap();
        let baseline = Framework::load("pss-baseline").unwrap();
        let inherited: Vec<&str> =
            restricted.controls.iter().take(baseline.controls.len()).map(|c| c.id.as_str()).collect();
        let expected: Vec<&str> = baseline.controls.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(inherited, expected);
        assert!(
            restricted.controls.iter().take(expected.len()).all(|c| c.defined_in.as_deref() == Some("pss-baseline"))
        );
        assert!(restricted.controls.len() > baseline.controls.len());
    }

    #[test]
    fn policy_rules_get_the_controls_of_the_bundled_globs() {
        let controls = controls_for("K8sPSPPrivilegedContainer/psp-privileged-container");
        let ids: Vec<String> = controls.iter().map(ToString::to_string).collect();
        assert!(
            ids.contains(&"cis-k8s 5.2.2".to_owned()) && ids.contains(&"pss-baseline privileged-containers".to_owned()),
            "{ids:?}"
        );
        assert!(controls_for("main.deny").is_empty());
    }

    #[test]
    fn a_control_passes_only_when_every_mapped_rule_saw_something_to_check() {
        let control = |checks: &[&str]| Control {
            id: "c".into(),
            title: "c".into(),
            description: None,
            checks: checks.iter().map(|c| (*c).to_owned()).collect(),
            defined_in: None,
        };
        let rules_run = vec!["A".to_owned(), "B".to_owned()];
        let applicable: BTreeSet<String> = ["A".to_owned()].into();
        let run = RunFacts {
            started_at: Utc::now(),
            findings: &[],
            rules_run: &rules_run,
            applicable: &applicable,
            builtin: &[],
        };
        let partial = control_result("f", &control(&["A", "B"]), &run);
        assert_eq!(partial.status, ControlStatus::Partial);
        assert!(partial.reason.contains("saw no resource to check (B)"), "{}", partial.reason);
        let pass = control_result("f", &control(&["A"]), &run);
        assert_eq!((pass.status, pass.rules_evaluated), (ControlStatus::Pass, vec!["A".to_owned()]));
        assert_eq!(control_result("f", &control(&["B"]), &run).status, ControlStatus::NotApplicable);
    }

    #[test]
    fn unknown_framework_lists_the_bundled_ones() {
        let e = Framework::load("iso27001").unwrap_err().to_string();
        assert!(e.contains("nis2") && e.contains("iso27001"), "{e}");
    }
}
