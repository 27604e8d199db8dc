//! Findings: what an analyzer concluded about a resource, with the evidence, the fix and the compliance controls it touches.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::resource::ResourceId;

/// How bad a finding is. Ordered: `Info < Low < Medium < High < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing, no action needed.
    Info,
    /// Hygiene.
    Low,
    /// Fix in the normal course of work.
    Medium,
    /// Fix soon: a real weakness.
    High,
    /// Fix now: exploitable or outage-prone as deployed.
    Critical,
}

impl Severity {
    /// All severities, most severe first (report order).
    pub const DESCENDING: [Severity; 5] =
        [Severity::Critical, Severity::High, Severity::Medium, Severity::Low, Severity::Info];

    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A word that is not one of the known names of an enum; the message lists the accepted ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{given}` (expected one of: {expected})")]
pub struct UnknownName {
    what: &'static str,
    given: String,
    expected: &'static str,
}

impl FromStr for Severity {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "info" => Severity::Info,
            "low" => Severity::Low,
            "medium" => Severity::Medium,
            "high" => Severity::High,
            "critical" => Severity::Critical,
            _ => {
                return Err(UnknownName {
                    what: "severity",
                    given: s.to_owned(),
                    expected: "critical, high, medium, low, info",
                });
            }
        })
    }
}

/// The area of Day-2 operations a finding belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Domain {
    /// Declared and live state disagree.
    Drift,
    /// Attack surface, privileges, exposure, encryption.
    Security,
    /// Availability: probes, replicas, disruption budgets, resources.
    Reliability,
    /// Spend and waste.
    Cost,
    /// Service level objectives and alerting.
    Slo,
    /// TLS certificates and keys.
    Certificates,
    /// Versions, deprecations, end of life, vulnerabilities.
    Lifecycle,
    /// Backups and restores.
    Backup,
}

impl Domain {
    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Domain::Drift => "drift",
            Domain::Security => "security",
            Domain::Reliability => "reliability",
            Domain::Cost => "cost",
            Domain::Slo => "slo",
            Domain::Certificates => "certificates",
            Domain::Lifecycle => "lifecycle",
            Domain::Backup => "backup",
        }
    }
}

impl FromStr for Domain {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const ALL: [Domain; 8] = [
            Domain::Drift,
            Domain::Security,
            Domain::Reliability,
            Domain::Cost,
            Domain::Slo,
            Domain::Certificates,
            Domain::Lifecycle,
            Domain::Backup,
        ];
        ALL.into_iter().find(|d| d.as_str().eq_ignore_ascii_case(s)).ok_or_else(|| UnknownName {
            what: "domain",
            given: s.to_owned(),
            expected: "drift, security, reliability, cost, slo, certificates, lifecycle, backup",
        })
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Compliance frameworks day2 maps findings to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Framework {
    /// CIS Kubernetes Benchmark (section 5, policies).
    CisK8s,
    /// CIS Amazon Web Services Foundations Benchmark.
    CisAws,
    /// NSA-CISA Kubernetes Hardening Guide.
    Nsa,
    /// Pod Security Standards, baseline profile.
    PssBaseline,
    /// Pod Security Standards, restricted profile.
    PssRestricted,
    /// SOC 2 Trust Services Criteria (common criteria).
    Soc2,
    /// NIS2 Directive, Article 21(2).
    Nis2,
    /// DORA (Regulation (EU) 2022/2554), ICT risk management.
    Dora,
}

impl Framework {
    /// The kebab-case id used on the command line and in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Framework::CisK8s => "cis-k8s",
            Framework::CisAws => "cis-aws",
            Framework::Nsa => "nsa",
            Framework::PssBaseline => "pss-baseline",
            Framework::PssRestricted => "pss-restricted",
            Framework::Soc2 => "soc2",
            Framework::Nis2 => "nis2",
            Framework::Dora => "dora",
        }
    }
}

impl fmt::Display for Framework {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One compliance control a rule maps to, e.g. `cis-k8s 5.2.2`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
pub struct ControlRef {
    /// The framework.
    pub framework: Framework,
    /// The control id within it (`5.2.2`, `CC6.1`, `21(2)(d)`, `Art.9`).
    pub control: String,
}

impl fmt::Display for ControlRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.framework, self.control)
    }
}

/// A fact that supports a finding: where in the object, what was expected, what was found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Evidence {
    /// JSON pointer into the resource's attrs (`/spec/template/spec/containers/0/securityContext/privileged`).
    pub path: String,
    /// What a passing object has there, when one value says it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<crate::Attr>,
    /// What this object has there (`null` when absent).
    pub actual: crate::Attr,
}

/// A machine-applicable fix: an RFC 6902 JSON Patch against the resource's attrs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Fix {
    /// What the patch does, in words.
    pub description: String,
    /// RFC 6902 operations (`[{"op": "add", "path": "...", "value": ...}]`).
    // An `Attr`, as evidence is: a run holds one per finding, and `serde_json::Value`'s maps made findings most of
    // its memory.
    pub patch: crate::Attr,
}

/// A measured consequence, e.g. money: lets later analyzers (cost, carbon) rank findings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Impact {
    /// Unit: `usd_per_month`, `kg_co2e_per_month`, …
    pub unit: String,
    /// Amount in that unit.
    pub amount: f64,
}

/// Who silenced a finding, why, and until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Suppression {
    /// Where the suppression came from: `annotation` or `config:<file>`.
    pub by: String,
    /// Person or team that owns the exception.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Why it is acceptable.
    pub reason: String,
    /// Last day the exception holds (inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<NaiveDate>,
}

/// Lifecycle state of a finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum FindingStatus {
    /// Active. `expired_suppression` is set when a suppression used to cover it and has run out.
    Open {
        /// The suppression that expired, so the report can say why the finding is back.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expired_suppression: Option<Suppression>,
    },
    /// Silenced by a suppression that is still valid.
    Suppressed(Suppression),
    /// No longer observed (only set by stores across runs).
    Resolved,
}

impl FindingStatus {
    /// A plain open finding.
    pub const OPEN: FindingStatus = FindingStatus::Open { expired_suppression: None };

    /// True unless suppressed or resolved.
    pub fn is_active(&self) -> bool {
        matches!(self, FindingStatus::Open { .. })
    }
}

/// Stable finding id: hex SHA-256 (first 16 bytes) of analyzer, rule, resource and subject.
///
/// The same problem on the same object keeps the same id across runs, machines and stores, which is what lets the store
/// track first/last seen, and notifications deduplicate.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct FindingId(String);

impl FindingId {
    /// Computes the id.
    pub fn compute(analyzer: &str, rule: &str, resource: &ResourceId, subject: &str) -> Self {
        let mut h = Sha256::new();
        for part in [analyzer, rule, resource.as_str(), subject] {
            h.update(part.as_bytes());
            h.update([0u8]);
        }
        let digest = h.finalize();
        FindingId(hex::encode(digest.get(..16).unwrap_or(&digest[..])))
    }

    /// Wraps an id read back from a store.
    pub fn from_raw(raw: impl Into<String>) -> Self {
        FindingId(raw.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FindingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What an analyzer concluded about one resource (and, optionally, one part of it: the `subject`, e.g. a container).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Finding {
    /// Stable id, see [`FindingId`].
    pub id: FindingId,
    /// Rule id: `K8S-POD-001`, `TF-S3-002`, …
    pub rule_id: String,
    /// Analyzer that produced it: `checks`, `rego`, `drift`, …
    pub analyzer: String,
    /// Area.
    pub domain: Domain,
    /// Severity after configuration overrides.
    pub severity: Severity,
    /// Short title of the rule.
    // Borrowed from the rule's static metadata where there is one (built-in checks): one copy per rule, not per
    // finding.
    pub title: Cow<'static, str>,
    /// What is wrong with this object, in a sentence.
    pub message: String,
    /// The resource concerned.
    pub resource: ResourceId,
    /// Resource kind (copied for reporters that do not load the inventory).
    pub kind: String,
    /// The part of the resource concerned (`container app`), empty for the whole resource.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subject: String,
    /// Declaring file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Declaring line (1-based).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// Helm template the object was rendered from (`# Source:` in `helm template` output).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// Where the problem was seen: in declared state (`file`/`line` say where), in live state (the resource id names
    /// the cluster or account and the object), or both: one finding, not two.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sides: Vec<crate::Side>,
    /// The source that saw it (the declared one when both sides did): a store resolves it only when this source
    /// was read completely, so a failed cluster read does not resolve what only the cluster showed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
    /// Owner of the resource.
    #[serde(default, skip_serializing_if = "crate::Owner::is_empty")]
    pub owner: crate::Owner,
    /// Supporting facts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<Evidence>,
    /// How to fix it, in words.
    pub remediation: Cow<'static, str>,
    /// How to fix it, as a patch, when mechanical.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<Fix>,
    /// Compliance controls the rule maps to.
    // Shared by every finding of the rule.
    #[serde(default, skip_serializing_if = "no_controls")]
    pub controls: std::sync::Arc<[ControlRef]>,
    /// Measured consequence, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impact: Option<Impact>,
    /// Lifecycle state.
    pub status: FindingStatus,
    /// First time a store saw it (set by stores; equals the run time otherwise).
    pub first_seen: DateTime<Utc>,
    /// Last time it was seen.
    pub last_seen: DateTime<Utc>,
    /// When it stopped being seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<DateTime<Utc>>,
    /// When the object last changed, where its source says (Kubernetes `managedFields` times): time to detect is
    /// measured from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_at: Option<DateTime<Utc>>,
}

fn no_controls(controls: &std::sync::Arc<[ControlRef]>) -> bool {
    controls.is_empty()
}

impl Finding {
    /// An open finding of `analyzer`'s `rule_id` about `resource` (and its `subject`, part of the id), seen `now`:
    /// id, location, side and owner come from the resource. Analyzers set the rest with struct update syntax
    /// (`Finding { severity, title, message, ..Finding::about(…) }`).
    pub fn about(resource: &crate::Resource, analyzer: &str, rule_id: &str, subject: &str, now: DateTime<Utc>) -> Self {
        let (file, line) = resource.location().map(|(f, l)| (Some(f.to_owned()), Some(l))).unwrap_or((None, None));
        Finding {
            id: FindingId::compute(analyzer, rule_id, &resource.id, subject),
            rule_id: rule_id.to_owned(),
            analyzer: analyzer.to_owned(),
            domain: Domain::Security,
            severity: Severity::Medium,
            title: Cow::Borrowed(""),
            message: String::new(),
            resource: resource.id.clone(),
            kind: resource.kind.clone(),
            subject: subject.to_owned(),
            file,
            line,
            template: resource.template().map(str::to_owned),
            sides: vec![resource.origin.side()],
            source: resource.source.clone(),
            owner: resource.owner.clone(),
            evidence: Vec::new(),
            remediation: Cow::Borrowed(""),
            fix: None,
            controls: std::sync::Arc::default(),
            impact: None,
            status: FindingStatus::OPEN,
            first_seen: now,
            last_seen: now,
            resolved_at: None,
            changed_at: None,
        }
    }

    /// True when the finding is active and at or above `threshold`.
    pub fn fails(&self, threshold: Severity) -> bool {
        self.status.is_active() && self.severity >= threshold
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn finding_id_is_stable_and_separates_parts() {
        let r = ResourceId::from_raw("k8s/c/Pod/ns/a");
        let a = FindingId::compute("checks", "R1", &r, "x");
        assert_eq!(a, FindingId::compute("checks", "R1", &r, "x"));
        assert_eq!(a.as_str().len(), 32);
        // "R1"+"x" must not collide with "R1x"+"" thanks to the separators.
        assert_ne!(a, FindingId::compute("checks", "R1x", &r, ""));
    }

    #[test]
    fn severity_orders_and_parses() {
        assert!(Severity::Critical > Severity::High && Severity::Low > Severity::Info);
        assert_eq!("HIGH".parse::<Severity>(), Ok(Severity::High));
        assert!("urgent".parse::<Severity>().unwrap_err().to_string().contains("critical, high"));
    }
}
