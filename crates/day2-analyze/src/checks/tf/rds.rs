//! RDS and Aurora: storage encryption, public accessibility, automated backups, deletion protection, Multi-AZ in
//! production, minor version upgrades and log exports. Aurora instances (`engine = aurora*`) take storage, backup and
//! deletion settings from their cluster, so instance-level checks skip them.

use super::{addr, at, falsy, is_production, strings, text, truthy};
use crate::checks::prelude::*;
use day2_model::Attr;

/// An Aurora cluster member (settings live on the `aws_rds_cluster`).
fn aurora_member(r: &Resource) -> bool {
    r.kind == "aws_db_instance" && text(&r.attrs, "/engine").is_some_and(|e| e.starts_with("aurora"))
}

/// A read replica (inherits encryption and does not need its own backups), also when the plan knows its source only
/// after apply (`replicate_source_db = aws_db_instance.primary.identifier`, both created by the same plan).
fn replica(r: &Resource) -> bool {
    text(&r.attrs, "/replicate_source_db").is_some() || r.unknown_at("/replicate_source_db")
}

fn kind_word(r: &Resource) -> &'static str {
    if r.kind == "aws_rds_cluster" { "RDS cluster" } else { "RDS instance" }
}

pub(super) static CHECKS: &[Check] = &[
    Check {
        id: "TF-RDS-001",
        title: "RDS storage is not encrypted",
        domain: Domain::Security,
        severity: Severity::High,
        target: Target::TfTypes(&["aws_db_instance", "aws_rds_cluster"]),
        rationale: "Without storage encryption the database files, automated backups, snapshots and replicas are stored in clear; a shared or copied snapshot exposes the data. Encryption can only be chosen at creation.",
        remediation: "Set `storage_encrypted = true` (with `kms_key_id` for a customer managed key). For an existing database, restore an encrypted copy of a snapshot and switch over — this replaces the database.",
        controls: &[(CisAws, "2.3.1"), (Soc2, "CC6.1"), (Nis2, "21(2)(h)"), (Dora, "Art.9(2)")],
        references: &["https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Overview.Encryption.html"],
        eval: |i| {
            let r = i.resource;
            let attrs = &r.attrs;
            let serverless_v1 = text(attrs, "/engine_mode") == Some("serverless");
            let inherits = replica(r)
                || (attrs.get("storage_encrypted").is_none_or(Attr::is_null)
                    && (text(attrs, "/snapshot_identifier").is_some() || r.unknown_at("/snapshot_identifier")));
            // The evidence is `storage_encrypted`; the other attributes that decide must not be unknown either.
            let undecided = ["/engine", "/engine_mode"].iter().any(|p| r.unknown_at(p));
            if truthy(attrs.get("storage_encrypted")) || aurora_member(r) || serverless_v1 || inherits || undecided {
                return Vec::new();
            }
            vec![Hit::new(format!("{} `{}` does not encrypt its storage", kind_word(r), addr(i))).evidence(
                "/storage_encrypted",
                at(attrs, "/storage_encrypted"),
                Some(json!(true)),
            )]
        },
    },
    Check {
        id: "TF-RDS-002",
        title: "RDS instance is publicly accessible",
        domain: Domain::Security,
        severity: Severity::Critical,
        target: Target::TfTypes(&["aws_db_instance", "aws_rds_cluster_instance"]),
        rationale: "A publicly accessible database gets a public DNS name and IP; one permissive security group rule or leaked password away from the internet, it is a prime target for brute force and data theft.",
        remediation: "Set `publicly_accessible = false`, keep the database in private subnets and reach it through the application, a bastion via SSM, or a VPN.",
        controls: &[(CisAws, "2.3.3"), (Soc2, "CC6.6"), (Nis2, "21(2)(i)"), (Dora, "Art.9(4)(c)")],
        references: &[
            "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_VPC.WorkingWithRDSInstanceinaVPC.html#USER_VPC.Hiding",
        ],
        eval: |i| {
            let attrs = &i.resource.attrs;
            if !truthy(attrs.get("publicly_accessible")) {
                return Vec::new();
            }
            vec![
                Hit::new(format!("database `{}` is publicly accessible", addr(i)))
                    .evidence("/publicly_accessible", at(attrs, "/publicly_accessible"), Some(json!(false)))
                    .fix("Set publicly_accessible to false", super::add("/publicly_accessible", json!(false))),
            ]
        },
    },
    Check {
        id: "TF-RDS-003",
        title: "RDS automated backups are disabled",
        domain: Domain::Backup,
        severity: Severity::High,
        target: Target::TfTypes(&["aws_db_instance"]),
        rationale: "`backup_retention_period = 0` turns off automated backups and point-in-time recovery: a bad migration, deletion or corruption can only be undone from manual snapshots, if any exist.",
        remediation: "Set `backup_retention_period` to at least 7 (35 for critical data). Note that enabling backups on an instance that had none causes a brief outage; schedule it in a maintenance window.",
        controls: &[(Soc2, "A1.2"), (Nis2, "21(2)(c)"), (Dora, "Art.12")],
        references: &["https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_WorkingWithAutomatedBackups.html"],
        eval: |i| {
            let r = i.resource;
            let v = r.attrs.get("backup_retention_period");
            if v.and_then(Attr::as_i64) != Some(0) || aurora_member(r) || replica(r) {
                return Vec::new();
            }
            vec![
                Hit::new(format!(
                    "RDS instance `{}` has automated backups disabled (backup_retention_period = 0)",
                    addr(i)
                ))
                .evidence("/backup_retention_period", json!(0), Some(json!(7))),
            ]
        },
    },
    Check {
        id: "TF-RDS-004",
        title: "RDS deletion protection is off",
        domain: Domain::Reliability,
        severity: Severity::Medium,
        target: Target::TfTypes(&["aws_db_instance", "aws_rds_cluster"]),
        rationale: "Without deletion protection a `terraform destroy`, a renamed resource or a console click deletes the database; with it, deletion needs a deliberate change first.",
        remediation: "Set `deletion_protection = true` (and keep `skip_final_snapshot = false`).",
        controls: &[(Soc2, "A1.2"), (Nis2, "21(2)(c)"), (Dora, "Art.11")],
        references: &[
            "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_DeleteInstance.html#USER_DeleteInstance.DeletionProtection",
        ],
        eval: |i| {
            let r = i.resource;
            if truthy(r.attrs.get("deletion_protection")) || aurora_member(r) {
                return Vec::new();
            }
            vec![
                Hit::new(format!("{} `{}` has deletion protection off", kind_word(r), addr(i)))
                    .evidence("/deletion_protection", at(&r.attrs, "/deletion_protection"), Some(json!(true)))
                    .fix("Set deletion_protection to true", super::add("/deletion_protection", json!(true))),
            ]
        },
    },
    Check {
        id: "TF-RDS-005",
        title: "Production RDS instance is not Multi-AZ",
        domain: Domain::Reliability,
        severity: Severity::Medium,
        target: Target::TfTypes(&["aws_db_instance"]),
        rationale: "A single-AZ instance is down for the whole duration of an AZ outage, a host failure or many maintenance operations; Multi-AZ fails over to a synchronous standby in one to two minutes.",
        remediation: "Set `multi_az = true` on production instances (it roughly doubles instance cost), or use Aurora with a replica in another AZ.",
        controls: &[(Soc2, "A1.2"), (Nis2, "21(2)(c)"), (Dora, "Art.11")],
        references: &["https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Concepts.MultiAZSingleStandby.html"],
        eval: |i| {
            let r = i.resource;
            if truthy(r.attrs.get("multi_az")) || aurora_member(r) || replica(r) || !is_production(i) {
                return Vec::new();
            }
            vec![
                Hit::new(format!("production RDS instance `{}` runs in a single availability zone", addr(i))).evidence(
                    "/multi_az",
                    at(&r.attrs, "/multi_az"),
                    Some(json!(true)),
                ),
            ]
        },
    },
    Check {
        id: "TF-RDS-006",
        title: "RDS auto minor version upgrade is disabled",
        domain: Domain::Lifecycle,
        severity: Severity::Low,
        target: Target::TfTypes(&["aws_db_instance", "aws_rds_cluster_instance"]),
        rationale: "Minor engine versions carry security and bug fixes; with automatic minor upgrades off, instances drift behind until a forced upgrade at end of support.",
        remediation: "Set `auto_minor_version_upgrade = true`; upgrades then happen in the maintenance window.",
        controls: &[(CisAws, "2.3.2"), (Soc2, "CC7.1"), (Nis2, "21(2)(e)")],
        references: &[
            "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_UpgradeDBInstance.Upgrading.html#USER_UpgradeDBInstance.Upgrading.AutoMinorVersionUpgrades",
        ],
        eval: |i| {
            let attrs = &i.resource.attrs;
            if !falsy(attrs.get("auto_minor_version_upgrade")) {
                return Vec::new();
            }
            vec![
                Hit::new(format!("database `{}` has automatic minor version upgrades disabled", addr(i)))
                    .evidence(
                        "/auto_minor_version_upgrade",
                        at(attrs, "/auto_minor_version_upgrade"),
                        Some(json!(true)),
                    )
                    .fix(
                        "Set auto_minor_version_upgrade to true",
                        super::add("/auto_minor_version_upgrade", json!(true)),
                    ),
            ]
        },
    },
    Check {
        id: "TF-RDS-007",
        title: "RDS database logs are not exported to CloudWatch",
        domain: Domain::Security,
        severity: Severity::Low,
        target: Target::TfTypes(&["aws_db_instance", "aws_rds_cluster"]),
        rationale: "Database error, audit and slow-query logs stay on the instance and rotate away unless exported; exporting them keeps evidence for incident investigation and enables alerting.",
        remediation: "Set `enabled_cloudwatch_logs_exports` to the engine's log types (e.g. `[\"postgresql\"]`, `[\"audit\", \"error\"]` for MySQL) and give the log groups a retention.",
        controls: &[(Soc2, "CC7.2"), (Nis2, "21(2)(b)"), (Dora, "Art.10")],
        references: &[
            "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_LogAccess.Procedural.UploadtoCloudWatch.html",
        ],
        eval: |i| {
            let r = i.resource;
            if aurora_member(r) || !strings(r.attrs.get("enabled_cloudwatch_logs_exports")).is_empty() {
                return Vec::new();
            }
            vec![Hit::new(format!("{} `{}` exports no logs to CloudWatch", kind_word(r), addr(i))).evidence(
                "/enabled_cloudwatch_logs_exports",
                at(&r.attrs, "/enabled_cloudwatch_logs_exports"),
                None,
            )]
        },
    },
];
