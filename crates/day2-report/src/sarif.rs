//! SARIF 2.1.0: one run, rules with full metadata (severity as `security-severity`, compliance controls as tags),
//! results with file:line locations and the resource as a logical location, stable `partialFingerprints` from finding
//! ids, suppressions with their justification, and input errors as tool execution notifications.
//!
//! Validated against the official OASIS schema in `tests/sarif_schema.rs`.

use std::io::Write;

use day2_model::{Finding, FindingStatus, Report, RuleMeta, Severity};
use serde_json::{Value, json};

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

/// Sets `key` on a JSON object (no-op on other values, which these builders never produce).
fn set(v: &mut Value, key: &str, value: Value) {
    if let Some(o) = v.as_object_mut() {
        o.insert(key.to_owned(), value);
    }
}

fn rule(r: &RuleMeta) -> Value {
    let mut tags: Vec<String> = vec![r.domain.to_string()];
    tags.extend(r.controls.iter().map(|c| c.to_string()));
    let mut help = format!("{}\n\nRemediation: {}", r.rationale, r.remediation);
    for link in &r.references {
        help.push_str(&format!("\n{link}"));
    }
    let mut v = json!({
        "id": r.id,
        "name": r.title.split_whitespace().map(|w| {
            let mut c = w.chars();
            c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
        }).collect::<String>().chars().filter(char::is_ascii_alphanumeric).collect::<String>(),
        "shortDescription": {"text": r.title},
        "fullDescription": {"text": r.rationale},
        "help": {"text": help},
        "defaultConfiguration": {"level": level(r.severity)},
        "properties": {"tags": tags, "security-severity": security_severity(r.severity), "precision": "very-high"},
    });
    if let Some(link) = r.references.first() {
        set(&mut v, "helpUri", json!(link));
    }
    v
}

fn result(f: &Finding, rule_index: Option<usize>) -> Value {
    let mut properties = json!({"severity": f.severity, "domain": f.domain, "resource": f.resource.as_str()});
    let mut v = json!({
        "ruleId": f.rule_id,
        "level": level(f.severity),
        "message": {"text": f.message},
        "partialFingerprints": {"day2FindingId/v1": f.id.as_str()},
    });
    if let Some(i) = rule_index {
        set(&mut v, "ruleIndex", json!(i));
    }
    let mut location = json!({"logicalLocations": [{"fullyQualifiedName": f.resource.as_str(), "kind": "resource"}]});
    // Rendered Helm from stdin has no file worth pointing at; the chart template it came from is.
    let artifact = match (&f.file, &f.template) {
        (Some(file), Some(template)) if file == "-" => Some(template),
        (file, _) => file.as_ref(),
    };
    if let Some(file) = artifact {
        set(
            &mut location,
            "physicalLocation",
            json!({"artifactLocation": {"uri": uri(file)}, "region": {"startLine": f.line.unwrap_or(1).max(1)}}),
        );
    }
    if let Some(t) = &f.template {
        set(&mut properties, "helmTemplate", json!(t));
    }
    set(&mut v, "locations", json!([location]));
    if let Some(fix) = &f.fix {
        set(&mut properties, "fix", json!({"description": fix.description, "jsonPatch": fix.patch}));
    }
    match &f.status {
        FindingStatus::Suppressed(s) => {
            let kind = if s.by == "annotation" { "inSource" } else { "external" };
            set(&mut v, "suppressions", json!([{"kind": kind, "status": "accepted", "justification": s.reason}]));
        }
        FindingStatus::Resolved => {
            // Listed by `day2 findings --all`: a result that used to be reported and is gone.
            set(&mut v, "kind", json!("pass"));
            set(&mut v, "level", json!("none"));
            set(&mut v, "baselineState", json!("absent"));
        }
        FindingStatus::Open { expired_suppression: Some(s) } => {
            set(&mut properties, "expiredSuppression", json!({"reason": s.reason, "expires": s.expires}));
        }
        _ => {}
    }
    set(&mut v, "properties", properties);
    v
}

impl Reporter for Sarif {
    fn render(&self, report: &Report, _: &Options, out: &mut dyn Write) -> Result<(), RenderError> {
        let rules: Vec<Value> = report.rules.iter().map(rule).collect();
        let results: Vec<Value> =
            report.findings.iter().map(|f| result(f, report.rules.iter().position(|r| r.id == f.rule_id))).collect();
        let notifications: Vec<Value> = report
            .diagnostics
            .iter()
            .filter(|d| d.kind.is_error())
            .map(|d| {
                let mut n = json!({"level": "error", "message": {"text": d.message}, "descriptor": {"id": format!("input/{}", serde_json::to_value(d.kind).ok().and_then(|k| k.as_str().map(str::to_owned)).unwrap_or_default())}});
                let mut phys = json!({"artifactLocation": {"uri": uri(&d.file)}});
                if let Some(line) = d.line {
                    set(&mut phys, "region", json!({"startLine": line.max(1)}));
                }
                set(&mut n, "locations", json!([{"physicalLocation": phys}]));
                n
            })
            .collect();
        let doc = json!({
            "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
            "version": "2.1.0",
            "runs": [{
                "tool": {"driver": {
                    "name": "day2",
                    "version": report.tool_version,
                    "semanticVersion": report.tool_version,
                    "informationUri": "https://github.com/day2-dev/day2",
                    "rules": rules,
                }},
                "invocations": [{
                    "executionSuccessful": notifications.is_empty(),
                    "startTimeUtc": report.started_at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                    "toolExecutionNotifications": notifications,
                }],
                "results": results,
            }],
        });
        serde_json::to_writer_pretty(&mut *out, &doc)
            .map_err(|e| RenderError::Encode { format: "sarif", message: e.to_string() })?;
        writeln!(out)?;
        Ok(())
    }
}
