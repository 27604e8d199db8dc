//! Load balancers: plain-HTTP listeners, outdated TLS policies, classic ELB HTTP listeners, ALB header hygiene and
//! access logs.

use super::{addr, at, blocks, falsy, text, truthy};
use crate::checks::prelude::*;
use day2_model::Attr;

const LISTENERS: &[&str] = &["aws_lb_listener", "aws_alb_listener"];
const LBS: &[&str] = &["aws_lb", "aws_alb"];
const MODERN_POLICY: &str = "ELBSecurityPolicy-TLS13-1-2-2021-06";

/// Does this ELB security policy still negotiate TLS 1.0 or 1.1?
fn outdated_policy(p: &str) -> bool {
    matches!(p, "ELBSecurityPolicy-2016-08" | "ELBSecurityPolicy-2015-05" | "ELBSecurityPolicy-FS-2018-06")
        || ["TLS-1-0", "TLS-1-1", "TLS13-1-0", "TLS13-1-1", "FS-1-1"].iter().any(|m| p.contains(m))
}

/// A default action that keeps traffic off plain HTTP: a redirect to HTTPS, or a fixed response.
fn secure_action(a: &Attr) -> bool {
    match a.get("type").and_then(Attr::as_str) {
        Some("redirect") => {
            a.pointer("/redirect/0/protocol").and_then(Attr::as_str).is_some_and(|p| p.eq_ignore_ascii_case("HTTPS"))
        }
        Some("fixed-response") => true,
        _ => false,
    }
}

pub(super) static CHECKS: &[Check] = &[
    Check {
        id: "TF-ELB-001",
        title: "Load balancer listener serves plain HTTP",
        domain: Domain::Security,
        severity: Severity::Medium,
        target: Target::TfTypes(LISTENERS),
        rationale: "An HTTP listener that forwards to targets carries sessions, credentials and personal data unencrypted, open to interception and tampering on the network path.",
        remediation: "Make the HTTP listener's default action a redirect to HTTPS (`type = \"redirect\"`, `redirect { protocol = \"HTTPS\", port = \"443\", status_code = \"HTTP_301\" }`) and serve traffic on an HTTPS listener.",
        controls: &[(Soc2, "CC6.7"), (Nis2, "21(2)(h)"), (Dora, "Art.9(2)")],
        references: &[
            "https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-listeners.html#redirect-actions",
        ],
        eval: |i| {
            let attrs = &i.resource.attrs;
            if !text(attrs, "/protocol").is_some_and(|p| p.eq_ignore_ascii_case("HTTP")) {
                return Vec::new();
            }
            let actions: Vec<(usize, &Attr)> = blocks(attrs, "default_action").collect();
            if actions.is_empty() || actions.iter().all(|(_, a)| secure_action(a)) {
                return Vec::new();
            }
            let what = actions
                .iter()
                .find(|(_, a)| !secure_action(a))
                .and_then(|(_, a)| a.get("type"))
                .and_then(Attr::as_str)
                .unwrap_or("?");
            vec![
                Hit::new(format!("listener `{}` serves plain HTTP ({what}) instead of redirecting to HTTPS", addr(i)))
                    .evidence("/protocol", at(attrs, "/protocol"), Some(json!("HTTPS")))
                    .evidence("/default_action", at(attrs, "/default_action"), None),
            ]
        },
    },
    Check {
        id: "TF-ELB-002",
        title: "Load balancer listener allows TLS 1.0 or 1.1",
        domain: Domain::Lifecycle,
        severity: Severity::Medium,
        target: Target::TfTypes(LISTENERS),
        rationale: "TLS 1.0 and 1.1 are deprecated (RFC 8996) and weak against downgrade and cipher attacks; security policies such as ELBSecurityPolicy-2016-08 still negotiate them. PCI DSS and most baselines require TLS 1.2 or later.",
        remediation: "Set `ssl_policy = \"ELBSecurityPolicy-TLS13-1-2-2021-06\"` (TLS 1.2 and 1.3), after checking that no client still needs TLS 1.0/1.1.",
        controls: &[(Soc2, "CC6.7"), (Nis2, "21(2)(h)"), (Dora, "Art.9(2)")],
        references: &["https://docs.aws.amazon.com/elasticloadbalancing/latest/application/describe-ssl-policies.html"],
        eval: |i| {
            let attrs = &i.resource.attrs;
            let Some(policy) = text(attrs, "/ssl_policy").filter(|p| outdated_policy(p)) else { return Vec::new() };
            vec![
                Hit::new(format!("listener `{}` uses {policy}, which allows TLS versions below 1.2", addr(i)))
                    .evidence("/ssl_policy", json!(policy), Some(json!(MODERN_POLICY)))
                    .fix(format!("Set ssl_policy to {MODERN_POLICY}"), super::add("/ssl_policy", json!(MODERN_POLICY))),
            ]
        },
    },
    Check {
        id: "TF-ELB-003",
        title: "Classic load balancer has a plain HTTP listener",
        domain: Domain::Security,
        severity: Severity::Medium,
        target: Target::TfTypes(&["aws_elb"]),
        rationale: "A classic ELB listener with lb_protocol http carries traffic unencrypted and cannot redirect to HTTPS by itself; classic load balancers are also a legacy product.",
        remediation: "Serve the listener over HTTPS/SSL with an ACM certificate, or migrate to an Application Load Balancer with an HTTP→HTTPS redirect.",
        controls: &[(Soc2, "CC6.7"), (Nis2, "21(2)(h)"), (Dora, "Art.9(2)")],
        references: &["https://docs.aws.amazon.com/elasticloadbalancing/latest/classic/elb-listener-config.html"],
        eval: |i| {
            blocks(&i.resource.attrs, "listener")
                .filter(|(_, l)| text(l, "/lb_protocol").is_some_and(|p| p.eq_ignore_ascii_case("http")))
                .map(|(n, l)| {
                    let port = l.get("lb_port").map_or_else(|| "?".to_owned(), Attr::to_string);
                    Hit::new(format!("classic load balancer `{}` listens on plain HTTP port {port}", addr(i)))
                        .subject(format!("listener {port}"))
                        .evidence(format!("/listener/{n}/lb_protocol"), at(l, "/lb_protocol"), Some(json!("https")))
                })
                .collect()
        },
    },
    Check {
        id: "TF-ELB-004",
        title: "Internet-facing ALB does not drop invalid HTTP headers",
        domain: Domain::Security,
        severity: Severity::Low,
        target: Target::TfTypes(LBS),
        rationale: "Header names that are not valid HTTP (e.g. with underscores or odd characters) are a request smuggling and header injection vector against back ends that parse them differently; ALBs pass them through unless told to drop them.",
        remediation: "Set `drop_invalid_header_fields = true` on the load balancer (check that no client relies on non-standard header names).",
        controls: &[(Soc2, "CC6.6"), (Nis2, "21(2)(e)")],
        references: &[
            "https://docs.aws.amazon.com/elasticloadbalancing/latest/application/application-load-balancers.html#load-balancer-attributes",
        ],
        eval: |i| {
            let attrs = &i.resource.attrs;
            let application = text(attrs, "/load_balancer_type").is_none_or(|t| t == "application");
            if !application || truthy(attrs.get("internal")) || truthy(attrs.get("drop_invalid_header_fields")) {
                return Vec::new();
            }
            vec![
                Hit::new(format!("internet-facing load balancer `{}` forwards invalid HTTP header fields", addr(i)))
                    .evidence(
                        "/drop_invalid_header_fields",
                        at(attrs, "/drop_invalid_header_fields"),
                        Some(json!(true)),
                    )
                    .fix(
                        "Set drop_invalid_header_fields to true",
                        super::add("/drop_invalid_header_fields", json!(true)),
                    ),
            ]
        },
    },
    Check {
        id: "TF-ELB-005",
        title: "Load balancer access logs are disabled",
        domain: Domain::Security,
        severity: Severity::Low,
        target: Target::TfTypes(&["aws_lb", "aws_alb", "aws_elb"]),
        rationale: "Access logs record every request with client IP, path, status and TLS details; without them there is no record to investigate attacks, abuse or errors at the edge.",
        remediation: "Add `access_logs { bucket = <log bucket>, enabled = true }` (the bucket policy must allow the ELB log delivery principal).",
        controls: &[(Soc2, "CC7.2"), (Nis2, "21(2)(b)"), (Dora, "Art.10")],
        references: &["https://docs.aws.amazon.com/elasticloadbalancing/latest/application/enable-access-logging.html"],
        eval: |i| {
            let attrs = &i.resource.attrs;
            if text(attrs, "/load_balancer_type") == Some("gateway") {
                return Vec::new();
            }
            let log = attrs.pointer("/access_logs/0");
            let on = match (i.resource.kind.as_str(), log) {
                (_, None) => false,
                ("aws_elb", Some(l)) => !falsy(l.get("enabled")) && text(l, "/bucket").is_some(),
                (_, Some(l)) => truthy(l.get("enabled")),
            };
            if on {
                return Vec::new();
            }
            vec![Hit::new(format!("load balancer `{}` does not write access logs", addr(i))).evidence(
                "/access_logs/0/enabled",
                at(attrs, "/access_logs/0/enabled"),
                Some(json!(true)),
            )]
        },
    },
];
