//! A small report with every feature reporters must handle, shared by the format tests.

use chrono::{NaiveDate, TimeZone, Utc};
use day2_model::*;

pub(crate) fn report() -> Report {
    let now = Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).single().unwrap_or_default();
    let finding = |rule: &str, sev: Severity, file: &str, status: FindingStatus| {
        let resource = ResourceId::from_raw("k8s/default/apps.Deployment/shop/cart");
        Finding {
            id: FindingId::compute("checks", rule, &resource, ""),
            rule_id: rule.into(),
            analyzer: "checks".into(),
            domain: Domain::Security,
            severity: sev,
            title: "Container runs privileged".into(),
            message: "container `cart` runs privileged | with <xml> & \"quotes\" \x1b]0;title\x07".into(),
            resource,
            kind: "apps.Deployment".into(),
            subject: "container cart".into(),
            file: Some(file.into()),
            line: Some(12),
            template: Some("shop/templates/deployment.yaml".into()),
            sides: vec![Side::Declared],
            source: "manifests:k8s".into(),
            owner: Owner { team: Some("payments".into()), ..Owner::default() },
            evidence: vec![Evidence { path: "/spec/x".into(), expected: Some(false.into()), actual: true.into() }],
            remediation: "Remove privileged.".into(),
            fix: Some(Fix {
                description: "Set privileged false".into(),
                patch: serde_json::json!([{"op": "replace", "path": "/spec/x", "value": false}]).into(),
            }),
            controls: vec![ControlRef { framework: Framework::CisK8s, control: "5.2.2".into() }].into(),
            impact: None,
            status,
            first_seen: now,
            last_seen: now,
            resolved_at: None,
            changed_at: None,
        }
    };
    let suppression = Suppression {
        by: "config:day2.yaml".into(),
        owner: Some("alice".into()),
        reason: "vendor agent".into(),
        expires: NaiveDate::from_ymd_opt(2027, 1, 31),
    };
    let mut report = Report {
        schema_version: Report::SCHEMA_VERSION,
        tool_version: "0.1.0".into(),
        started_at: now,
        fail_on: Severity::High,
        summary: Summary { files: 3, resources: 7, ..Summary::default() },
        sources: vec![SourceSummary { name: "manifests:k8s".into(), complete: true, files: 3, resources: 7 }],
        findings: vec![
            finding("K8S-POD-001", Severity::Critical, "k8s/my app/cart.yaml", FindingStatus::OPEN),
            finding("K8S-POD-011", Severity::Low, "k8s/cart.yaml", FindingStatus::Suppressed(suppression.clone())),
            finding(
                "K8S-POD-008",
                Severity::Medium,
                "k8s/cart.yaml",
                FindingStatus::Open { expired_suppression: Some(suppression) },
            ),
        ],
        resolved: vec![],
        diagnostics: vec![Diagnostic::new(
            DiagnosticKind::Syntax,
            "k8s/bad.yaml",
            Some(3),
            "invalid YAML: mapping values are not allowed",
        )],
        rules: ["K8S-POD-001", "K8S-POD-011", "K8S-POD-008"]
            .iter()
            .map(|id| RuleMeta {
                id: (*id).into(),
                title: "Container runs privileged".into(),
                domain: Domain::Security,
                severity: Severity::High,
                rationale: "Because.".into(),
                remediation: "Fix it.".into(),
                references: vec!["https://kubernetes.io/docs/concepts/security/pod-security-standards/".into()],
                controls: vec![ControlRef {
                    framework: Framework::PssBaseline,
                    control: "privileged-containers".into(),
                }],
            })
            .collect(),
        coverage: Vec::new(),
    };
    report.recount();
    report
}
