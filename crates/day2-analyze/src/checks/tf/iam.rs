//! IAM: full-admin and service-wide wildcard policies, permissions given directly to users, AdministratorAccess
//! attachments, role trust policies open to anyone, and the account password policy. Policy documents are JSON strings
//! in Terraform values; they are parsed here, with `Statement`, `Action` and `Resource` as a value or a list.

use day2_model::{Attr, Inventory};

use super::{addr, allows, allows_anyone, at, blocks, policy_doc, statements, strings, text};
use crate::checks::prelude::*;

const POLICY_TYPES: &[&str] =
    &["aws_iam_policy", "aws_iam_role_policy", "aws_iam_user_policy", "aws_iam_group_policy", "aws_iam_role"];
const ADMIN_POLICY: &str = ":iam::aws:policy/AdministratorAccess";

/// Identity policy documents of a resource: `(evidence path, subject prefix, document)`. Roles contribute their
/// `inline_policy` blocks (their trust policy is TF-IAM-005's business).
fn documents(inv: &Inventory, r: &Resource) -> Vec<(String, String, Attr)> {
    if r.kind == "aws_iam_role" {
        let role = text(&r.attrs, "/name");
        return blocks(&r.attrs, "inline_policy")
            .filter_map(|(n, b)| {
                let name = b.get("name").and_then(Attr::as_str).map_or_else(|| n.to_string(), str::to_owned);
                // In state, `inline_policy` also lists the role's `aws_iam_role_policy` resources: report those there.
                let managed_apart = inv
                    .of_kind("aws_iam_role_policy")
                    .any(|p| text(&p.attrs, "/role") == role && text(&p.attrs, "/name") == Some(name.as_str()));
                if managed_apart {
                    return None;
                }
                policy_doc(b.get("policy"))
                    .map(|d| (format!("/inline_policy/{n}/policy"), format!("inline_policy {name} "), d))
            })
            .collect();
    }
    policy_doc(r.attrs.get("policy")).map(|d| ("/policy".to_owned(), String::new(), d)).into_iter().collect()
}

/// Allow statements on `Resource: "*"`, with their actions: `(path, subject, statement, actions)`.
fn star_resource_statements(inv: &Inventory, r: &Resource) -> Vec<(String, String, Value, Vec<String>)> {
    let mut out = Vec::new();
    for (path, prefix, doc) in documents(inv, r) {
        for (label, s) in statements(&doc) {
            if allows(s) && strings(s.get("Resource")).contains(&"*") {
                let actions = strings(s.get("Action")).into_iter().map(str::to_owned).collect();
                out.push((path.clone(), format!("{prefix}{label}"), s.to_value(), actions));
            }
        }
    }
    out
}

fn full_admin(actions: &[String]) -> bool {
    actions.iter().any(|a| a == "*" || a == "*:*")
}

pub(super) static CHECKS: &[Check] = &[
    Check {
        id: "TF-IAM-001",
        title: "IAM policy grants full administrative privileges",
        domain: Domain::Security,
        severity: Severity::Critical,
        target: Target::TfTypes(POLICY_TYPES),
        rationale: "A statement allowing Action \"*\" on Resource \"*\" gives whoever holds the policy control of the entire account, including IAM itself, billing and the ability to erase audit trails. Least privilege is the core IAM control.",
        remediation: "Replace the statement with the specific actions and resources the principal needs (IAM Access Analyzer can generate a policy from CloudTrail activity); keep break-glass admin access on a separate, MFA-protected role.",
        controls: &[(CisAws, "1.16"), (Soc2, "CC6.3"), (Nis2, "21(2)(i)"), (Dora, "Art.9(4)(c)")],
        references: &["https://docs.aws.amazon.com/IAM/latest/UserGuide/best-practices.html#grant-least-privilege"],
        eval: |i| {
            if used_as_permissions_boundary(i) {
                return Vec::new();
            }
            star_resource_statements(i.inventory, i.resource)
                .into_iter()
                .filter(|(.., a)| full_admin(a))
                .map(|(path, subject, s, _)| {
                    Hit::new(format!("`{}` {subject} allows every action on every resource", addr(i)))
                        .subject(subject)
                        .evidence(path, s, None)
                })
                .collect()
        },
    },
    Check {
        id: "TF-IAM-002",
        title: "IAM policy grants a whole service on all resources",
        domain: Domain::Security,
        severity: Severity::Medium,
        target: Target::TfTypes(POLICY_TYPES),
        rationale: "Service-wide wildcards such as \"s3:*\" or \"iam:*\" on Resource \"*\" grant every current and future action of the service on every resource: \"iam:*\" alone is an escalation path to full admin, \"s3:*\" includes deleting every bucket.",
        remediation: "List the actions the workload uses and scope Resource to the ARNs it touches.",
        controls: &[(Soc2, "CC6.3"), (Nis2, "21(2)(i)"), (Dora, "Art.9(4)(c)")],
        references: &["https://docs.aws.amazon.com/IAM/latest/UserGuide/best-practices.html#grant-least-privilege"],
        eval: |i| {
            star_resource_statements(i.inventory, i.resource)
                .into_iter()
                .filter(|(.., a)| !full_admin(a))
                .filter_map(|(path, subject, s, actions)| {
                    let wild: Vec<&str> = actions.iter().map(String::as_str).filter(|a| a.ends_with(":*")).collect();
                    (!wild.is_empty()).then(|| {
                        Hit::new(format!("`{}` {subject} allows {} on every resource", addr(i), wild.join(", ")))
                            .subject(subject)
                            .evidence(path, s, None)
                    })
                })
                .collect()
        },
    },
    Check {
        id: "TF-IAM-003",
        title: "IAM user is granted permissions directly",
        domain: Domain::Security,
        severity: Severity::Low,
        target: Target::TfTypes(&[
            "aws_iam_user_policy",
            "aws_iam_user_policy_attachment",
            "aws_iam_policy_attachment",
        ]),
        rationale: "Permissions attached to individual users are hard to review and tend to outlive the person's role; granting them through groups or roles keeps access consistent and easy to revoke.",
        remediation: "Attach the policy to an IAM group (`aws_iam_group_policy_attachment`) and add the user to it, or better, use IAM Identity Center and roles instead of IAM users.",
        controls: &[(CisAws, "1.15"), (Soc2, "CC6.3"), (Nis2, "21(2)(i)")],
        references: &["https://docs.aws.amazon.com/IAM/latest/UserGuide/id_groups_manage_attach-policy.html"],
        eval: |i| {
            let attrs = &i.resource.attrs;
            match i.resource.kind.as_str() {
                "aws_iam_policy_attachment" => {
                    let users = strings(attrs.get("users"));
                    if users.is_empty() {
                        return Vec::new();
                    }
                    vec![
                        Hit::new(format!("`{}` attaches a policy directly to user(s) {}", addr(i), users.join(", ")))
                            .evidence("/users", at(attrs, "/users"), Some(json!([]))),
                    ]
                }
                kind => {
                    let user = text(attrs, "/user").unwrap_or("?");
                    let how = if kind == "aws_iam_user_policy" { "an inline policy" } else { "a managed policy" };
                    vec![Hit::new(format!("`{}` gives user {user} {how} directly", addr(i))).evidence(
                        "/user",
                        at(attrs, "/user"),
                        None,
                    )]
                }
            }
        },
    },
    Check {
        id: "TF-IAM-004",
        title: "AdministratorAccess is attached",
        domain: Domain::Security,
        severity: Severity::High,
        target: Target::TfTypes(&[
            "aws_iam_user_policy_attachment",
            "aws_iam_role_policy_attachment",
            "aws_iam_group_policy_attachment",
            "aws_iam_policy_attachment",
            "aws_iam_role",
            "aws_iam_role_policy_attachments_exclusive",
        ]),
        rationale: "The AWS managed AdministratorAccess policy is Action \"*\" on Resource \"*\": every principal it is attached to can do anything in the account. It should be limited to a few break-glass roles, not workloads or users.",
        remediation: "Attach a least-privilege policy instead; reserve AdministratorAccess for an MFA-protected break-glass role assumed through IAM Identity Center.",
        controls: &[(CisAws, "1.16"), (Soc2, "CC6.3"), (Nis2, "21(2)(i)"), (Dora, "Art.9(4)(c)")],
        references: &["https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AdministratorAccess.html"],
        eval: |i| {
            let attrs = &i.resource.attrs;
            let (field, arns) = match i.resource.kind.as_str() {
                "aws_iam_role" => ("managed_policy_arns", strings(attrs.get("managed_policy_arns"))),
                "aws_iam_role_policy_attachments_exclusive" => ("policy_arns", strings(attrs.get("policy_arns"))),
                _ => ("policy_arn", strings(attrs.get("policy_arn"))),
            };
            let list = attrs.get(field).is_some_and(Attr::is_array);
            // In state, a role's `managed_policy_arns` also lists attachments made by separate resources: report those there.
            let role = (i.resource.kind == "aws_iam_role").then(|| text(attrs, "/name")).flatten();
            let attached_apart = |arn: &str| {
                role.is_some_and(|role| {
                    i.inventory
                        .of_kind("aws_iam_role_policy_attachment")
                        .any(|p| text(&p.attrs, "/role") == Some(role) && text(&p.attrs, "/policy_arn") == Some(arn))
                        || i.inventory.of_kind("aws_iam_policy_attachment").any(|p| {
                            strings(p.attrs.get("roles")).contains(&role) && text(&p.attrs, "/policy_arn") == Some(arn)
                        })
                })
            };
            arns.iter()
                .enumerate()
                .filter(|(_, a)| a.ends_with(ADMIN_POLICY) && !attached_apart(a))
                .map(|(n, a)| {
                    let path = if list { format!("/{field}/{n}") } else { format!("/{field}") };
                    let to = ["user", "role", "group"]
                        .iter()
                        .find_map(|k| text(attrs, &format!("/{k}")).map(|v| format!(" to {k} {v}")))
                        .unwrap_or_default();
                    Hit::new(format!("`{}` attaches AdministratorAccess{to}", addr(i))).evidence(path, json!(a), None)
                })
                .collect()
        },
    },
    Check {
        id: "TF-IAM-005",
        title: "IAM role can be assumed by anyone",
        domain: Domain::Security,
        severity: Severity::Critical,
        target: Target::TfTypes(&["aws_iam_role"]),
        rationale: "A trust policy that allows Principal \"*\" (or {\"AWS\": \"*\"}) without a Condition lets any AWS account in the world call sts:AssumeRole and obtain the role's permissions.",
        remediation: "Name the trusted accounts, roles or services explicitly, and add conditions (`sts:ExternalId`, `aws:PrincipalOrgID`) for cross-account trust.",
        controls: &[(Soc2, "CC6.1"), (Nis2, "21(2)(i)"), (Dora, "Art.9(4)(c)")],
        references: &[
            "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_terms-and-concepts.html#term_trust-policy",
        ],
        eval: |i| {
            let Some(doc) = policy_doc(i.resource.attrs.get("assume_role_policy")) else { return Vec::new() };
            statements(&doc)
                .into_iter()
                .filter(|(_, s)| allows_anyone(s))
                .map(|(label, s)| {
                    Hit::new(format!("role `{}` trust policy {label} lets any AWS principal assume it", addr(i)))
                        .subject(label)
                        .evidence("/assume_role_policy", s.clone(), None)
                })
                .collect()
        },
    },
    Check {
        id: "TF-IAM-006",
        title: "IAM password policy is weak",
        domain: Domain::Security,
        severity: Severity::Medium,
        target: Target::TfTypes(&["aws_iam_account_password_policy"]),
        rationale: "Short passwords and password reuse make IAM user console credentials guessable and let leaked passwords come back; CIS asks for at least 14 characters and no reuse of the last 24 passwords.",
        remediation: "Set `minimum_password_length = 14` (or more) and `password_reuse_prevention = 24`; better, replace IAM users with IAM Identity Center.",
        controls: &[(CisAws, "1.8"), (CisAws, "1.9"), (Soc2, "CC6.1"), (Nis2, "21(2)(i)")],
        references: &["https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_passwords_account-policy.html"],
        eval: |i| {
            let attrs = &i.resource.attrs;
            [("minimum_password_length", 14), ("password_reuse_prevention", 24)]
                .iter()
                .filter_map(|&(field, want)| {
                    let have = attrs.get(field).and_then(Attr::as_i64);
                    let message = match have {
                        Some(h) => format!("`{}` sets {field} to {h}, below the recommended {want}", addr(i)),
                        None => format!("`{}` does not set {field} (recommended: {want})", addr(i)),
                    };
                    (have.unwrap_or(0) < want).then(|| {
                        Hit::new(message)
                            .subject(field)
                            .evidence(format!("/{field}"), at(attrs, &format!("/{field}")), Some(json!(want)))
                            .fix(format!("Set {field} to {want}"), super::add(&format!("/{field}"), json!(want)))
                    })
                })
                .collect()
        },
    },
];

/// A policy used as a role's or user's `permissions_boundary` grants nothing by itself (it caps other policies), and
/// "allow everything, deny these" is the usual way to write one.
fn used_as_permissions_boundary(i: &Input<'_>) -> bool {
    let arn = i.resource.attrs.get("arn").and_then(Attr::as_str);
    let referenced = |holder: &day2_model::Resource| {
        i.inventory
            .outgoing(&holder.id)
            .any(|rel| rel.kind == day2_model::RelationKind::References && rel.to == i.resource.id)
    };
    ["aws_iam_role", "aws_iam_user"].iter().flat_map(|k| i.inventory.of_kind(k)).any(|holder| {
        match holder.attrs.get("permissions_boundary").and_then(Attr::as_str) {
            Some(b) => arn == Some(b),
            None => holder.attrs.get("permissions_boundary").is_none() && referenced(holder),
        }
    })
}
