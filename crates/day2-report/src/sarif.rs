//! SARIF 2.1.0: one run, rules with full metadata (severity as `security-severity`, compliance controls as tags),
//! results with file:line locations and the resource as a logical location, stable `partialFingerprints` from finding
//! ids, suppressions with their justification, and input errors as tool execution notifications.
//!
//! Validated against the official OASIS schema in `tests/sarif_schema.rs`.

use std::collections::HashMap;
use std::io::Write;

use day2_model::{Finding, FindingStatus, Report, RuleMeta, Severity};
use serde::Serialize;

use crate::{Options, RenderError, Reporter};

pub(crate) struct Sarif;

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

/// GitHub code scanning reads `security-severity` (0–10) to rank results.
fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Info => "0.0",
    }
}

/// A relative URI reference for a path: forward slashes, reserved characters percent-encoded.
fn uri(path: &str) -> String {
    if path == "-" {
        return "stdin".into();
    }
    let mut out = String::with_capacity(path.len());
    for b in path.trim_start_matches("./").bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => out.push(b as char),
            b'\\' => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The SARIF log, serialized straight to the output: results are built one at a time from the findings as they are
/// written, so memory does not grow with the report (a document of `serde_json::Value`s took 2.4 GiB at 20,000 files).
#[derive(Serialize)]
struct Log<'a> {
    #[serde(rename = "$schema")]
    schema: &'static str,
    version: &'static str,
    runs: [Run<'a>; 1],
}

#[derive(Serialize)]
struct Run<'a> {
    tool: Tool<'a>,
    invocations: [Invocation<'a>; 1],
    results: Results<'a>,
}

#[derive(Serialize)]
struct Tool<'a> {
    driver: Driver<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Driver<'a> {
    name: &'static str,
    version: &'a str,
    semantic_version: &'a str,
    information_uri: &'static str,
    rules: Vec<Rule<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Rule<'a> {
    id: &'a str,
    name: String,
    short_description: Text<'a>,
    full_description: Text<'a>,
    help: Text<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    help_uri: Option<&'a str>,
    default_configuration: Level,
    properties: RuleProperties<'a>,
}

#[derive(Serialize)]
struct Text<'a> {
    text: std::borrow::Cow<'a, str>,
}

impl<'a> Text<'a> {
    fn new(text: impl Into<std::borrow::Cow<'a, str>>) -> Self {
        Text { text: text.into() }
    }
}

#[derive(Serialize)]
struct Level {
    level: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct RuleProperties<'a> {
    tags: Vec<std::borrow::Cow<'a, str>>,
    security_severity: &'static str,
    precision: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Invocation<'a> {
    execution_successful: bool,
    start_time_utc: String,
    tool_execution_notifications: Vec<Notification<'a>>,
}

#[derive(Serialize)]
struct Notification<'a> {
    level: &'static str,
    message: Text<'a>,
    descriptor: Descriptor,
    locations: [NotificationLocation; 1],
}

#[derive(Serialize)]
struct Descriptor {
    id: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NotificationLocation {
    physical_location: PhysicalLocation,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PhysicalLocation {
    artifact_location: ArtifactLocation,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<Region>,
}

#[derive(Serialize)]
struct ArtifactLocation {
    uri: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Region {
    start_line: u32,
}

/// The results, produced lazily while serializing.
struct Results<'a> {
    findings: &'a [Finding],
    rule_index: HashMap<&'a str, usize>,
}

impl Serialize for Results<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer
            .collect_seq(self.findings.iter().map(|f| result(f, self.rule_index.get(f.rule_id.as_str()).copied())))
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult<'a> {
    rule_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    rule_index: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    level: &'static str,
    message: Text<'a>,
    partial_fingerprints: Fingerprints<'a>,
    locations: [Location<'a>; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    suppressions: Option<[SarifSuppression<'a>; 1]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    baseline_state: Option<&'static str>,
    properties: ResultProperties<'a>,
}

#[derive(Serialize)]
struct Fingerprints<'a> {
    #[serde(rename = "day2FindingId/v1")]
    finding_id: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Location<'a> {
    logical_locations: [LogicalLocation<'a>; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    physical_location: Option<PhysicalLocation>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LogicalLocation<'a> {
    fully_qualified_name: &'a str,
    kind: &'static str,
}

#[derive(Serialize)]
struct SarifSuppression<'a> {
    kind: &'static str,
    status: &'static str,
    justification: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResultProperties<'a> {
    severity: Severity,
    domain: day2_model::Domain,
    resource: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    helm_template: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fix: Option<SarifFix<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expired_suppression: Option<ExpiredSuppression<'a>>,
}

/// The exception that ran out: its reason and last day (`null` when it had none), not who configured it where.
#[derive(Serialize)]
struct ExpiredSuppression<'a> {
    reason: &'a str,
    expires: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifFix<'a> {
    description: &'a str,
    json_patch: &'a day2_model::Attr,
}

/// A rule's SARIF name: its title in PascalCase, letters and digits only.
fn pascal_case(title: &str) -> String {
    let mut name = String::with_capacity(title.len());
    for word in title.split_whitespace() {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            name.extend(first.to_uppercase());
            name.push_str(chars.as_str());
        }
    }
    name.retain(|c| c.is_ascii_alphanumeric());
    name
}

fn rule(r: &RuleMeta) -> Rule<'_> {
    let mut tags: Vec<std::borrow::Cow<'_, str>> = vec![r.domain.to_string().into()];
    tags.extend(r.controls.iter().map(|c| c.to_string().into()));
    let mut help = format!("{}\n\nRemediation: {}", r.rationale, r.remediation);
    for link in &r.references {
        help.push('\n');
        help.push_str(link);
    }
    Rule {
        id: &r.id,
        name: pascal_case(&r.title),
        short_description: Text::new(r.title.as_str()),
        full_description: Text::new(r.rationale.as_str()),
        help: Text::new(help),
        help_uri: r.references.first().map(String::as_str),
        default_configuration: Level { level: level(r.severity) },
        properties: RuleProperties { tags, security_severity: security_severity(r.severity), precision: "very-high" },
    }
}

fn result(f: &Finding, rule_index: Option<usize>) -> SarifResult<'_> {
    // Rendered Helm from stdin has no file worth pointing at; the chart template it came from is.
    let artifact = match (&f.file, &f.template) {
        (Some(file), Some(template)) if file == "-" => Some(template),
        (file, _) => file.as_ref(),
    };
    let physical_location = artifact.map(|file| PhysicalLocation {
        artifact_location: ArtifactLocation { uri: uri(file) },
        region: Some(Region { start_line: f.line.unwrap_or(1).max(1) }),
    });
    let mut result = SarifResult {
        rule_id: &f.rule_id,
        rule_index,
        kind: None,
        level: level(f.severity),
        message: Text::new(f.message.as_str()),
        partial_fingerprints: Fingerprints { finding_id: f.id.as_str() },
        locations: [Location {
            logical_locations: [LogicalLocation { fully_qualified_name: f.resource.as_str(), kind: "resource" }],
            physical_location,
        }],
        suppressions: None,
        baseline_state: None,
        properties: ResultProperties {
            severity: f.severity,
            domain: f.domain,
            resource: f.resource.as_str(),
            helm_template: f.template.as_deref(),
            fix: f.fix.as_ref().map(|fix| SarifFix { description: &fix.description, json_patch: &fix.patch }),
            expired_suppression: None,
        },
    };
    match &f.status {
        FindingStatus::Suppressed(s) => {
            let kind = if s.by == "annotation" { "inSource" } else { "external" };
            result.suppressions = Some([SarifSuppression { kind, status: "accepted", justification: &s.reason }]);
        }
        FindingStatus::Resolved => {
            // Listed by `day2 findings --all`: a result that used to be reported and is gone.
            result.kind = Some("pass");
            result.level = "none";
            result.baseline_state = Some("absent");
        }
        FindingStatus::Open { expired_suppression: Some(s) } => {
            let expires = s.expires.map(|day| day.to_string());
            result.properties.expired_suppression = Some(ExpiredSuppression { reason: &s.reason, expires });
        }
        FindingStatus::Open { expired_suppression: None } => {}
    }
    result
}

fn notification(d: &day2_model::Diagnostic) -> Notification<'_> {
    let kind = serde_json::to_value(d.kind).ok().and_then(|k| k.as_str().map(str::to_owned)).unwrap_or_default();
    Notification {
        level: "error",
        message: Text::new(d.message.as_str()),
        descriptor: Descriptor { id: format!("input/{kind}") },
        locations: [NotificationLocation {
            physical_location: PhysicalLocation {
                artifact_location: ArtifactLocation { uri: uri(&d.file) },
                region: d.line.map(|line| Region { start_line: line.max(1) }),
            },
        }],
    }
}

impl Reporter for Sarif {
    fn render(&self, report: &Report, _: &Options, out: &mut dyn Write) -> Result<(), RenderError> {
        let notifications: Vec<Notification<'_>> =
            report.diagnostics.iter().filter(|d| d.kind.is_error()).map(notification).collect();
        let log = Log {
            schema: "https://json.schemastore.org/sarif-2.1.0.json",
            version: "2.1.0",
            runs: [Run {
                tool: Tool {
                    driver: Driver {
                        name: "day2",
                        version: &report.tool_version,
                        semantic_version: &report.tool_version,
                        information_uri: "https://github.com/day2-dev/day2",
                        rules: report.rules.iter().map(rule).collect(),
                    },
                },
                invocations: [Invocation {
                    execution_successful: notifications.is_empty(),
                    start_time_utc: report.started_at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                    tool_execution_notifications: notifications,
                }],
                results: Results {
                    findings: &report.findings,
                    // First rule of an id wins, as a linear search would find it.
                    rule_index: report.rules.iter().enumerate().rev().map(|(i, r)| (r.id.as_str(), i)).collect(),
                },
            }],
        };
        serde_json::to_writer_pretty(&mut *out, &log)
            .map_err(|e| RenderError::Encode { format: "sarif", message: e.to_string() })?;
        writeln!(out)?;
        Ok(())
    }
}
