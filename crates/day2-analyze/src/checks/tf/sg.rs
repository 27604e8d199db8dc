//! Security groups: ingress from the whole internet (0.0.0.0/0, ::/0) to administration ports, database ports or every
//! port, and default security groups that allow traffic. Inline `ingress` blocks of `aws_security_group` /
//! `aws_default_security_group`, `aws_security_group_rule` (type ingress) and `aws_vpc_security_group_ingress_rule` are
//! all read the same way.

use super::{addr, blocks, strings, text};
use crate::checks::prelude::*;
use day2_model::Attr;

const SG_TYPES: &[&str] = &[
    "aws_security_group",
    "aws_default_security_group",
    "aws_security_group_rule",
    "aws_vpc_security_group_ingress_rule",
];
const ADMIN_PORTS: &[(i64, &str)] = &[(22, "SSH"), (3389, "RDP")];
const DB_PORTS: &[(i64, &str)] = &[
    (3306, "MySQL"),
    (5432, "PostgreSQL"),
    (1433, "SQL Server"),
    (1521, "Oracle"),
    (27017, "MongoDB"),
    (6379, "Redis"),
    (9200, "Elasticsearch"),
];
const WORLD_V4: &str = "0.0.0.0/0";
const WORLD_V6: &str = "::/0";

/// One ingress rule, whatever resource type declared it.
struct Ingress {
    /// `ingress 2` for inline blocks, empty for rule resources.
    label: String,
    all_protocols: bool,
    tcp: bool,
    udp: bool,
    from: i64,
    to: i64,
    /// World-open CIDRs and their evidence paths.
    open: Vec<(String, &'static str)>,
}

impl Ingress {
    fn all_ports(&self) -> bool {
        self.all_protocols || ((self.tcp || self.udp) && self.from <= 1 && self.to >= 65535)
    }

    fn covers_tcp(&self, port: i64) -> bool {
        self.all_protocols || (self.tcp && self.from <= port && port <= self.to)
    }

    fn subject(&self, rest: &str) -> String {
        if self.label.is_empty() { rest.to_owned() } else { format!("{} {rest}", self.label) }
    }
}

fn protocol(v: Option<&Attr>) -> String {
    match v {
        Some(Attr::String(s)) => s.as_str().to_ascii_lowercase(),
        Some(Attr::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

fn rule(
    label: String,
    base: &str,
    v: &Attr,
    proto_field: &str,
    cidrs: &[(&str, bool, &'static str)],
) -> Option<Ingress> {
    let proto = protocol(v.get(proto_field));
    let all_protocols = matches!(proto.as_str(), "-1" | "all");
    let tcp = matches!(proto.as_str(), "tcp" | "6");
    let udp = matches!(proto.as_str(), "udp" | "17");
    let (from, to) = match (v.get("from_port").and_then(Attr::as_i64), v.get("to_port").and_then(Attr::as_i64)) {
        (Some(f), Some(t)) => (f, t),
        _ if all_protocols => (0, 65535),
        _ => return None,
    };
    let mut open = Vec::new();
    for &(field, is_list, world) in cidrs {
        if is_list {
            for (k, c) in strings(v.get(field)).into_iter().enumerate() {
                if c == world {
                    open.push((format!("{base}/{field}/{k}"), world));
                }
            }
        } else if text(v, &format!("/{field}")) == Some(world) {
            open.push((format!("{base}/{field}"), world));
        }
    }
    Some(Ingress { label, all_protocols, tcp, udp, from, to, open })
}

/// Same ports and protocol (to recognise one rule seen twice).
fn same_rule(a: &Ingress, b: &Ingress) -> bool {
    a.all_protocols == b.all_protocols
        && (a.all_protocols || (a.tcp == b.tcp && a.udp == b.udp && a.from == b.from && a.to == b.to))
}

/// The world-open ingress rules of a security group or rule resource. In state, a group's `ingress` also lists the
/// rules managed by separate rule resources; those are reported on the rule resource only.
fn world_ingress(i: &Input<'_>) -> Vec<Ingress> {
    let r = i.resource;
    let mut rules = ingress_rules(r);
    if let Some(id) = text(&r.attrs, "/id").filter(|_| r.kind.ends_with("security_group")) {
        let standalone: Vec<Ingress> = ["aws_security_group_rule", "aws_vpc_security_group_ingress_rule"]
            .iter()
            .flat_map(|k| i.inventory.of_kind(k))
            .filter(|x| text(&x.attrs, "/security_group_id") == Some(id))
            .flat_map(ingress_rules)
            .collect();
        for g in &mut rules {
            let mirrored: Vec<&'static str> =
                standalone.iter().filter(|s| same_rule(g, s)).flat_map(|s| s.open.iter().map(|(_, w)| *w)).collect();
            g.open.retain(|(_, w)| !mirrored.contains(w));
        }
    }
    rules.into_iter().filter(|g| !g.open.is_empty()).collect()
}

fn ingress_rules(r: &Resource) -> Vec<Ingress> {
    let list_cidrs: &[(&str, bool, &'static str)] =
        &[("cidr_blocks", true, WORLD_V4), ("ipv6_cidr_blocks", true, WORLD_V6)];
    match r.kind.as_str() {
        "aws_security_group" | "aws_default_security_group" => blocks(&r.attrs, "ingress")
            .filter_map(|(n, b)| rule(format!("ingress {n}"), &format!("/ingress/{n}"), b, "protocol", list_cidrs))
            .collect(),
        "aws_security_group_rule" if text(&r.attrs, "/type") == Some("ingress") => {
            rule(String::new(), "", &r.attrs, "protocol", list_cidrs).into_iter().collect()
        }
        "aws_vpc_security_group_ingress_rule" => rule(
            String::new(),
            "",
            &r.attrs,
            "ip_protocol",
            &[("cidr_ipv4", false, WORLD_V4), ("cidr_ipv6", false, WORLD_V6)],
        )
        .into_iter()
        .collect(),
        _ => Vec::new(),
    }
}

/// Hits for `ports` reachable from `worlds` (rules open on every port are left to TF-SG-004).
fn exposed(i: &Input<'_>, ports: &[(i64, &str)], worlds: &[&str]) -> Vec<Hit> {
    let mut hits = Vec::new();
    for g in world_ingress(i).into_iter().filter(|g| !g.all_ports()) {
        let open: Vec<&(String, &str)> = g.open.iter().filter(|(_, w)| worlds.contains(w)).collect();
        if open.is_empty() {
            continue;
        }
        let mut cidrs: Vec<&str> = open.iter().map(|(_, w)| *w).collect();
        cidrs.dedup();
        for (port, service) in ports.iter().filter(|(p, _)| g.covers_tcp(*p)) {
            let mut hit = Hit::new(format!("`{}` allows {} to port {port} ({service})", addr(i), cidrs.join(" and ")))
                .subject(g.subject(&format!("port {port}")));
            for (path, w) in &open {
                hit = hit.evidence(path.clone(), json!(w), None);
            }
            hits.push(hit);
        }
    }
    hits
}

pub(super) static CHECKS: &[Check] = &[
    Check {
        id: "TF-SG-001",
        title: "Security group allows SSH or RDP from 0.0.0.0/0",
        domain: Domain::Security,
        severity: Severity::Critical,
        target: Target::TfTypes(SG_TYPES),
        rationale: "SSH (22) and RDP (3389) open to the whole IPv4 internet are scanned and brute-forced within minutes of exposure; a weak credential or an unpatched daemon becomes a direct foothold in the VPC.",
        remediation: "Restrict the rule to known CIDRs (VPN, office) or remove it and use SSM Session Manager or EC2 Instance Connect Endpoint for administration.",
        controls: &[(CisAws, "5.2"), (Soc2, "CC6.6"), (Nis2, "21(2)(i)"), (Dora, "Art.9(4)(c)")],
        references: &[
            "https://docs.aws.amazon.com/securityhub/latest/userguide/ec2-controls.html#ec2-13",
            "https://docs.aws.amazon.com/systems-manager/latest/userguide/session-manager.html",
        ],
        eval: |i| exposed(i, ADMIN_PORTS, &[WORLD_V4]),
    },
    Check {
        id: "TF-SG-002",
        title: "Security group allows SSH or RDP from ::/0",
        domain: Domain::Security,
        severity: Severity::Critical,
        target: Target::TfTypes(SG_TYPES),
        rationale: "An IPv6 rule open to ::/0 exposes SSH (22) or RDP (3389) to the whole IPv6 internet; it is easily overlooked when only IPv4 rules are reviewed.",
        remediation: "Remove ::/0 from the rule's IPv6 CIDRs; administer instances through SSM Session Manager or a restricted VPN range.",
        controls: &[(CisAws, "5.3"), (Soc2, "CC6.6"), (Nis2, "21(2)(i)"), (Dora, "Art.9(4)(c)")],
        references: &["https://docs.aws.amazon.com/securityhub/latest/userguide/ec2-controls.html#ec2-53"],
        eval: |i| exposed(i, ADMIN_PORTS, &[WORLD_V6]),
    },
    Check {
        id: "TF-SG-003",
        title: "Security group exposes a database port to the internet",
        domain: Domain::Security,
        severity: Severity::High,
        target: Target::TfTypes(SG_TYPES),
        rationale: "Database and cache ports (MySQL 3306, PostgreSQL 5432, SQL Server 1433, Oracle 1521, MongoDB 27017, Redis 6379, Elasticsearch 9200) open to 0.0.0.0/0 or ::/0 invite credential stuffing, exploitation and, for services without authentication by default, outright data theft.",
        remediation: "Allow the port only from the application's security group (`referenced_security_group_id` / `source_security_group_id`) or private CIDRs; keep data stores in private subnets.",
        controls: &[(CisAws, "5.2"), (Soc2, "CC6.6"), (Nis2, "21(2)(i)"), (Dora, "Art.9(4)(c)")],
        references: &["https://docs.aws.amazon.com/securityhub/latest/userguide/ec2-controls.html#ec2-19"],
        eval: |i| exposed(i, DB_PORTS, &[WORLD_V4, WORLD_V6]),
    },
    Check {
        id: "TF-SG-004",
        title: "Security group allows all ports from the internet",
        domain: Domain::Security,
        severity: Severity::Critical,
        target: Target::TfTypes(SG_TYPES),
        rationale: "An ingress rule for every protocol or the full port range from 0.0.0.0/0 or ::/0 exposes every service the instances run, including administration and database ports and services never meant to be reachable.",
        remediation: "Replace the rule with rules for the specific ports the service needs (typically 443), and restrict sources wherever possible.",
        controls: &[(CisAws, "5.2"), (CisAws, "5.3"), (Soc2, "CC6.6"), (Nis2, "21(2)(i)"), (Dora, "Art.9(4)(c)")],
        references: &["https://docs.aws.amazon.com/vpc/latest/userguide/security-group-rules.html"],
        eval: |i| {
            world_ingress(i)
                .into_iter()
                .filter(Ingress::all_ports)
                .map(|g| {
                    let mut cidrs: Vec<&str> = g.open.iter().map(|(_, w)| *w).collect();
                    cidrs.dedup();
                    let what = if g.all_protocols {
                        "all protocols and ports".to_owned()
                    } else {
                        format!("ports {}-{}", g.from, g.to)
                    };
                    let mut hit = Hit::new(format!("`{}` allows {} on {what}", addr(i), cidrs.join(" and ")))
                        .subject(g.subject("all ports"));
                    for (path, w) in &g.open {
                        hit = hit.evidence(path.clone(), json!(w), None);
                    }
                    hit
                })
                .collect()
        },
    },
    Check {
        id: "TF-SG-005",
        title: "Default security group allows traffic",
        domain: Domain::Security,
        severity: Severity::Medium,
        target: Target::TfTypes(&["aws_default_security_group"]),
        rationale: "Resources launched without an explicit security group land in the VPC's default group; if it allows traffic they silently get that access. CIS requires the default group to have no rules so every grant is explicit.",
        remediation: "Declare the `aws_default_security_group` with no `ingress` and no `egress` blocks, and attach purpose-built security groups to resources.",
        controls: &[(CisAws, "5.4"), (Soc2, "CC6.6"), (Nis2, "21(2)(i)")],
        references: &["https://docs.aws.amazon.com/vpc/latest/userguide/default-security-group.html"],
        eval: |i| {
            let attrs = &i.resource.attrs;
            ["ingress", "egress"]
                .iter()
                .filter_map(|dir| {
                    let n = blocks(attrs, dir).count();
                    (n > 0).then(|| {
                        Hit::new(format!("default security group `{}` has {n} {dir} rule(s)", addr(i)))
                            .subject(*dir)
                            .evidence(format!("/{dir}"), attrs.get(*dir).cloned().unwrap_or_default(), Some(json!([])))
                    })
                })
                .collect()
        },
    },
];
