//! Other AWS services: EKS (endpoint exposure, secrets encryption, audit logs), ECR (scan on push, tag immutability),
//! DynamoDB point-in-time recovery, SQS/SNS encryption, Secrets Manager rotation, ElastiCache encryption, EFS
//! encryption and Lambda function URLs.

use super::{addr, at, blocks, companions, falsy, strings, text, truthy};
use crate::checks::prelude::*;

pub(super) static CHECKS: &[Check] = &[
    Check {
        id: "TF-EKS-001",
        title: "EKS API endpoint is public to the whole internet",
        domain: Domain::Security,
        severity: Severity::High,
        target: Target::TfTypes(&["aws_eks_cluster"]),
        rationale: "With the public endpoint enabled and `public_access_cidrs` left at 0.0.0.0/0, the Kubernetes API server is reachable from anywhere: every API server vulnerability or leaked kubeconfig is directly exploitable.",
        remediation: "Set `endpoint_private_access = true` and either `endpoint_public_access = false` or `public_access_cidrs` to your VPN/office ranges.",
        controls: &[(Soc2, "CC6.6"), (Nis2, "21(2)(i)"), (Dora, "Art.9(4)(c)")],
        references: &["https://docs.aws.amazon.com/eks/latest/userguide/cluster-endpoint.html"],
        eval: |i| {
            let attrs = &i.resource.attrs;
            let Some(vpc) = attrs.pointer("/vpc_config/0") else { return Vec::new() };
            let cidrs = strings(vpc.get("public_access_cidrs"));
            if falsy(vpc.get("endpoint_public_access")) || !(cidrs.is_empty() || cidrs.contains(&"0.0.0.0/0")) {
                return Vec::new();
            }
            vec![
                Hit::new(format!("EKS cluster `{}` exposes its API endpoint to 0.0.0.0/0", addr(i)))
                    .evidence(
                        "/vpc_config/0/endpoint_public_access",
                        at(vpc, "/endpoint_public_access"),
                        Some(json!(false)),
                    )
                    .evidence("/vpc_config/0/public_access_cidrs", at(vpc, "/public_access_cidrs"), None),
            ]
        },
    },
    Check {
        id: "TF-EKS-002",
        title: "EKS secrets are not encrypted with a KMS key",
        domain: Domain::Security,
        severity: Severity::Medium,
        target: Target::TfTypes(&["aws_eks_cluster"]),
        rationale: "Envelope encryption of Kubernetes Secrets with a customer managed KMS key means a copy of etcd alone does not reveal them, and access can be revoked and audited through the key. (Recent EKS versions add default encryption with an AWS owned key, which gives neither control.)",
        remediation: "Add `encryption_config { resources = [\"secrets\"], provider { key_arn = aws_kms_key.eks.arn } }`.",
        controls: &[(Soc2, "CC6.1"), (Nis2, "21(2)(h)"), (Dora, "Art.9(2)")],
        references: &["https://docs.aws.amazon.com/eks/latest/userguide/enable-kms.html"],
        eval: |i| {
            let attrs = &i.resource.attrs;
            if blocks(attrs, "encryption_config").any(|(_, e)| strings(e.get("resources")).contains(&"secrets")) {
                return Vec::new();
            }
            vec![
                Hit::new(format!("EKS cluster `{}` does not encrypt Kubernetes secrets with a KMS key", addr(i)))
                    .evidence("/encryption_config", at(attrs, "/encryption_config"), None),
            ]
        },
    },
    Check {
        id: "TF-EKS-003",
        title: "EKS control plane audit logging is off",
        domain: Domain::Security,
        severity: Severity::Medium,
        target: Target::TfTypes(&["aws_eks_cluster"]),
        rationale: "Without the audit log type in `enabled_cluster_log_types`, there is no record of who did what through the Kubernetes API — the primary evidence when investigating a cluster compromise.",
        remediation: "Set `enabled_cluster_log_types = [\"api\", \"audit\", \"authenticator\"]` (at least audit) and give the `/aws/eks/<cluster>/cluster` log group a retention.",
        controls: &[(Soc2, "CC7.2"), (Nis2, "21(2)(b)"), (Dora, "Art.10")],
        references: &["https://docs.aws.amazon.com/eks/latest/userguide/control-plane-logs.html"],
        eval: |i| {
            let attrs = &i.resource.attrs;
            let types = strings(attrs.get("enabled_cluster_log_types"));
            if types.contains(&"audit") {
                return Vec::new();
            }
            vec![Hit::new(format!("EKS cluster `{}` does not send audit logs to CloudWatch", addr(i))).evidence(
                "/enabled_cluster_log_types",
                at(attrs, "/enabled_cluster_log_types"),
                None,
            )]
        },
    },
    Check {
        id: "TF-ECR-001",
        title: "ECR repository does not scan images on push",
        domain: Domain::Lifecycle,
        severity: Severity::Medium,
        target: Target::TfTypes(&["aws_ecr_repository"]),
        rationale: "Scanning on push reports known CVEs in an image's OS packages as soon as it is published, before it is deployed; without it (or registry-level enhanced scanning) vulnerable images ship unnoticed.",
        remediation: "Set `image_scanning_configuration { scan_on_push = true }`, or configure enhanced scanning for the registry with `aws_ecr_registry_scanning_configuration`.",
        controls: &[(Soc2, "CC7.1"), (Nis2, "21(2)(e)"), (Dora, "Art.9(2)")],
        references: &["https://docs.aws.amazon.com/AmazonECR/latest/userguide/image-scanning.html"],
        eval: |i| {
            let attrs = &i.resource.attrs;
            let registry = i
                .inventory
                .of_kind("aws_ecr_registry_scanning_configuration")
                .any(|r| blocks(&r.attrs, "rule").next().is_some());
            if registry || truthy(attrs.pointer("/image_scanning_configuration/0/scan_on_push")) {
                return Vec::new();
            }
            let fix = if attrs.pointer("/image_scanning_configuration/0").is_some() {
                super::add("/image_scanning_configuration/0/scan_on_push", json!(true))
            } else {
                super::add("/image_scanning_configuration", json!([{"scan_on_push": true}]))
            };
            vec![
                Hit::new(format!("ECR repository `{}` does not scan images on push", addr(i)))
                    .evidence(
                        "/image_scanning_configuration/0/scan_on_push",
                        at(attrs, "/image_scanning_configuration/0/scan_on_push"),
                        Some(json!(true)),
                    )
                    .fix("Turn scan_on_push on", fix),
            ]
        },
    },
    Check {
        id: "TF-ECR-002",
        title: "ECR repository allows image tags to be overwritten",
        domain: Domain::Security,
        severity: Severity::Low,
        target: Target::TfTypes(&["aws_ecr_repository"]),
        rationale: "With mutable tags, pushing to an existing tag silently replaces what `app:1.4.2` means: deployments become irreproducible and a compromised pipeline can swap an image without changing any manifest.",
        remediation: "Set `image_tag_mutability = \"IMMUTABLE\"` (or IMMUTABLE_WITH_EXCLUSION for tags like `latest`) and deploy by unique tag or digest.",
        controls: &[(Soc2, "CC8.1"), (Nis2, "21(2)(d)"), (Dora, "Art.9(2)")],
        references: &["https://docs.aws.amazon.com/AmazonECR/latest/userguide/image-tag-mutability.html"],
        eval: |i| {
            let attrs = &i.resource.attrs;
            if text(attrs, "/image_tag_mutability").is_some_and(|m| m.starts_with("IMMUTABLE")) {
                return Vec::new();
            }
            vec![Hit::new(format!("ECR repository `{}` has mutable image tags", addr(i))).evidence(
                "/image_tag_mutability",
                at(attrs, "/image_tag_mutability"),
                Some(json!("IMMUTABLE")),
            )]
        },
    },
    Check {
        id: "TF-DDB-001",
        title: "DynamoDB point-in-time recovery is off",
        domain: Domain::Backup,
        severity: Severity::Medium,
        target: Target::TfTypes(&["aws_dynamodb_table"]),
        rationale: "Point-in-time recovery keeps continuous backups for up to 35 days, so a bad write, a buggy migration or a deleted item can be undone to the second; without it only on-demand backups, if any, exist.",
        remediation: "Set `point_in_time_recovery { enabled = true }`.",
        controls: &[(Soc2, "A1.2"), (Nis2, "21(2)(c)"), (Dora, "Art.12")],
        references: &["https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/PointInTimeRecovery.html"],
        eval: |i| {
            let attrs = &i.resource.attrs;
            if truthy(attrs.pointer("/point_in_time_recovery/0/enabled")) {
                return Vec::new();
            }
            let fix = if attrs.pointer("/point_in_time_recovery/0").is_some() {
                super::add("/point_in_time_recovery/0/enabled", json!(true))
            } else {
                super::add("/point_in_time_recovery", json!([{"enabled": true}]))
            };
            vec![
                Hit::new(format!("DynamoDB table `{}` has point-in-time recovery off", addr(i)))
                    .evidence(
                        "/point_in_time_recovery/0/enabled",
                        at(attrs, "/point_in_time_recovery/0/enabled"),
                        Some(json!(true)),
                    )
                    .fix("Enable point-in-time recovery", fix),
            ]
        },
    },
    Check {
        id: "TF-SQS-001",
        title: "SQS queue is not encrypted",
        domain: Domain::Security,
        severity: Severity::Medium,
        target: Target::TfTypes(&["aws_sqs_queue"]),
        rationale: "Messages often carry personal data or tokens. New queues get SSE-SQS by default, but `sqs_managed_sse_enabled = false` without a `kms_master_key_id` stores them unencrypted at rest.",
        remediation: "Remove `sqs_managed_sse_enabled = false` (or set it to true), or set `kms_master_key_id` for SSE-KMS with a customer managed key.",
        controls: &[(Soc2, "CC6.1"), (Nis2, "21(2)(h)"), (Dora, "Art.9(2)")],
        references: &[
            "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-server-side-encryption.html",
        ],
        eval: |i| {
            let attrs = &i.resource.attrs;
            if !falsy(attrs.get("sqs_managed_sse_enabled")) || text(attrs, "/kms_master_key_id").is_some() {
                return Vec::new();
            }
            vec![
                Hit::new(format!("SQS queue `{}` is not encrypted at rest", addr(i)))
                    .evidence("/sqs_managed_sse_enabled", at(attrs, "/sqs_managed_sse_enabled"), Some(json!(true)))
                    .fix("Set sqs_managed_sse_enabled to true", super::add("/sqs_managed_sse_enabled", json!(true))),
            ]
        },
    },
    Check {
        id: "TF-SNS-001",
        title: "SNS topic is not encrypted with KMS",
        domain: Domain::Security,
        severity: Severity::Medium,
        target: Target::TfTypes(&["aws_sns_topic"]),
        rationale: "SNS only applies server-side encryption to stored messages when the topic has a KMS key; notifications often carry personal data, alert details or tokens.",
        remediation: "Set `kms_master_key_id` (e.g. `alias/aws/sns`, or a customer managed key whose policy allows the publishing services).",
        controls: &[(Soc2, "CC6.1"), (Nis2, "21(2)(h)"), (Dora, "Art.9(2)")],
        references: &["https://docs.aws.amazon.com/sns/latest/dg/sns-server-side-encryption.html"],
        eval: |i| {
            let attrs = &i.resource.attrs;
            if text(attrs, "/kms_master_key_id").is_some() {
                return Vec::new();
            }
            vec![Hit::new(format!("SNS topic `{}` has no KMS key", addr(i))).evidence(
                "/kms_master_key_id",
                at(attrs, "/kms_master_key_id"),
                None,
            )]
        },
    },
    Check {
        id: "TF-SM-001",
        title: "Secrets Manager secret is not rotated",
        domain: Domain::Security,
        severity: Severity::Medium,
        target: Target::TfTypes(&["aws_secretsmanager_secret"]),
        rationale: "A secret that never rotates stays valid forever once leaked (in logs, laptops, former employees' notes); automatic rotation bounds that exposure.",
        remediation: "Add an `aws_secretsmanager_secret_rotation` for the secret with a rotation Lambda (or managed rotation) and `rotation_rules { automatically_after_days = 30 }`.",
        controls: &[(Soc2, "CC6.1"), (Nis2, "21(2)(i)"), (Dora, "Art.9(4)(c)")],
        references: &["https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotating-secrets.html"],
        eval: |i| {
            let attrs = &i.resource.attrs;
            if truthy(attrs.get("rotation_enabled"))
                || !companions(i, &["aws_secretsmanager_secret_rotation"], "secret_id", &["id", "arn"]).is_empty()
            {
                return Vec::new();
            }
            vec![Hit::new(format!("secret `{}` has no rotation configured", addr(i))).evidence(
                "/rotation_enabled",
                at(attrs, "/rotation_enabled"),
                None,
            )]
        },
    },
    Check {
        id: "TF-ELC-001",
        title: "ElastiCache data is not encrypted at rest",
        domain: Domain::Security,
        severity: Severity::Medium,
        target: Target::TfTypes(&["aws_elasticache_replication_group"]),
        rationale: "Without at-rest encryption, cache data on disk, in swap and in backups is stored in clear; caches frequently hold sessions and personal data.",
        remediation: "Set `at_rest_encryption_enabled = true` (with `kms_key_id` for a customer managed key). It can only be set at creation: create a new group and migrate.",
        controls: &[(Soc2, "CC6.1"), (Nis2, "21(2)(h)"), (Dora, "Art.9(2)")],
        references: &["https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/at-rest-encryption.html"],
        eval: |i| {
            let attrs = &i.resource.attrs;
            if truthy(attrs.get("at_rest_encryption_enabled")) {
                return Vec::new();
            }
            vec![Hit::new(format!("replication group `{}` does not encrypt data at rest", addr(i))).evidence(
                "/at_rest_encryption_enabled",
                at(attrs, "/at_rest_encryption_enabled"),
                Some(json!(true)),
            )]
        },
    },
    Check {
        id: "TF-ELC-002",
        title: "ElastiCache traffic is not encrypted in transit",
        domain: Domain::Security,
        severity: Severity::Medium,
        target: Target::TfTypes(&["aws_elasticache_replication_group"]),
        rationale: "Without in-transit encryption, clients talk to Redis/Valkey in clear text inside the VPC: commands, data and AUTH tokens can be captured by anything on the network path.",
        remediation: "Set `transit_encryption_enabled = true` (with `transit_encryption_mode = \"preferred\"` first to migrate clients without downtime), and use an auth token or RBAC.",
        controls: &[(Soc2, "CC6.7"), (Nis2, "21(2)(h)"), (Dora, "Art.9(2)")],
        references: &["https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/in-transit-encryption.html"],
        eval: |i| {
            let attrs = &i.resource.attrs;
            if truthy(attrs.get("transit_encryption_enabled")) {
                return Vec::new();
            }
            vec![Hit::new(format!("replication group `{}` does not encrypt traffic in transit", addr(i))).evidence(
                "/transit_encryption_enabled",
                at(attrs, "/transit_encryption_enabled"),
                Some(json!(true)),
            )]
        },
    },
    Check {
        id: "TF-EFS-001",
        title: "EFS file system is not encrypted",
        domain: Domain::Security,
        severity: Severity::Medium,
        target: Target::TfTypes(&["aws_efs_file_system"]),
        rationale: "An unencrypted EFS file system stores file data and metadata in clear at rest; encryption is free, transparent and can only be chosen at creation.",
        remediation: "Set `encrypted = true` (with `kms_key_id` for a customer managed key); migrate existing data to a new encrypted file system with AWS DataSync.",
        controls: &[(Soc2, "CC6.1"), (Nis2, "21(2)(h)"), (Dora, "Art.9(2)")],
        references: &["https://docs.aws.amazon.com/efs/latest/ug/encryption.html"],
        eval: |i| {
            let attrs = &i.resource.attrs;
            if truthy(attrs.get("encrypted")) {
                return Vec::new();
            }
            vec![Hit::new(format!("EFS file system `{}` is not encrypted at rest", addr(i))).evidence(
                "/encrypted",
                at(attrs, "/encrypted"),
                Some(json!(true)),
            )]
        },
    },
    Check {
        id: "TF-LAMBDA-001",
        title: "Lambda function URL requires no authentication",
        domain: Domain::Security,
        severity: Severity::Medium,
        target: Target::TfTypes(&["aws_lambda_function_url"]),
        rationale: "A function URL with authorization_type NONE can be invoked by anyone on the internet; unless the function authenticates callers itself, it is an open endpoint that also runs up cost.",
        remediation: "Set `authorization_type = \"AWS_IAM\"` and sign requests, or put the function behind API Gateway or CloudFront with authentication; if public access is intended, authenticate in the function and document it.",
        controls: &[(Soc2, "CC6.1"), (Nis2, "21(2)(i)"), (Dora, "Art.9(4)(c)")],
        references: &["https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html"],
        eval: |i| {
            let attrs = &i.resource.attrs;
            if text(attrs, "/authorization_type") != Some("NONE") {
                return Vec::new();
            }
            vec![Hit::new(format!("function URL `{}` can be invoked without authentication", addr(i))).evidence(
                "/authorization_type",
                json!("NONE"),
                Some(json!("AWS_IAM")),
            )]
        },
    },
];
