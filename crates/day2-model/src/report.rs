//! The result of one run, as handed to reporters and stores.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::diagnostic::Diagnostic;
use crate::finding::{ControlRef, Domain, Finding, Severity};

/// Metadata of a rule that produced findings in this report (SARIF `rules`, Markdown details, API consumers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RuleMeta {
    /// Rule id.
    pub id: String,
    /// Short title.
    pub title: String,
    /// Area.
    pub domain: Domain,
    /// Default severity.
    pub severity: Severity,
    /// Why it matters.
    pub rationale: String,
    /// How to fix it.
    pub remediation: String,
    /// Further reading (URLs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<String>,
    /// Compliance controls.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub controls: Vec<ControlRef>,
}

/// What one source contributed to the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SourceSummary {
    /// Source name.
    pub name: String,
    /// Whether everything in scope was read.
    pub complete: bool,
    /// Files read.
    pub files: usize,
    /// Resources produced.
    pub resources: usize,
}

/// Counts for the report header and footer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Summary {
    /// Files read.
    pub files: usize,
    /// Resources scanned.
    pub resources: usize,
    /// Active findings by severity.
    pub by_severity: BTreeMap<Severity, usize>,
    /// Active findings.
    pub active: usize,
    /// Suppressed findings.
    pub suppressed: usize,
    /// Input errors (exit code 2 when non-zero).
    pub errors: usize,
    /// Findings new since the previous stored run (only with a store).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new: Option<usize>,
    /// Findings resolved since the previous stored run (only with a store).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved: Option<usize>,
}

/// How much of what runs in one live scope is declared (IaC coverage), from a drift run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Coverage {
    /// Provider and scope: `k8s/prod-eu`, `aws/123456789012:eu-west-1`.
    pub scope: String,
    /// Live objects considered (after ignore rules; objects owned by other objects are not counted).
    pub live: usize,
    /// Of those, how many are declared.
    pub declared: usize,
    /// `declared / live` in percent (100 when nothing runs).
    pub percent: f64,
    /// Whether the live collection was complete (when not, nothing was reported missing).
    pub complete: bool,
}

/// Everything a run produced. This is the document `-o json` prints (see docs/report-schema.json).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Report {
    /// Schema version of this document; bumped on incompatible change.
    pub schema_version: u32,
    /// day2 version that produced it.
    pub tool_version: String,
    /// When the run started.
    pub started_at: DateTime<Utc>,
    /// Severity at or above which the run fails.
    pub fail_on: Severity,
    /// Counts.
    pub summary: Summary,
    /// Sources read.
    pub sources: Vec<SourceSummary>,
    /// Findings, most severe first, suppressed ones included (see `status`).
    pub findings: Vec<Finding>,
    /// Findings the store saw before and no longer sees (only with a store).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resolved: Vec<Finding>,
    /// Input problems.
    pub diagnostics: Vec<Diagnostic>,
    /// Metadata of every rule that appears in `findings`.
    pub rules: Vec<RuleMeta>,
    /// IaC coverage per live scope (drift runs only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub coverage: Vec<Coverage>,
}

impl Report {
    /// Current schema version of the JSON report.
    pub const SCHEMA_VERSION: u32 = 1;

    /// Recomputes the summary counts from findings and diagnostics (keeps files/resources/new/resolved).
    pub fn recount(&mut self) {
        let s = &mut self.summary;
        s.by_severity.clear();
        s.active = 0;
        s.suppressed = 0;
        for f in &self.findings {
            if f.status.is_active() {
                s.active += 1;
                *s.by_severity.entry(f.severity).or_default() += 1;
            } else {
                s.suppressed += 1;
            }
        }
        s.errors = self.diagnostics.iter().filter(|d| d.kind.is_error()).count();
    }

    /// Active findings at or above the fail-on threshold.
    pub fn failing(&self) -> usize {
        self.findings.iter().filter(|f| f.fails(self.fail_on)).count()
    }
}

/// JSON Schema (draft 2020-12) of the [`Report`] document; committed as docs/report-schema.json.
pub fn report_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Report)).unwrap_or_default()
}
