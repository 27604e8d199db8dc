//! Audit and log storage: CloudTrail trails (logging on, all regions, log file validation, KMS encryption) and
//! CloudWatch log groups (retention, KMS encryption).

use super::{addr, at, falsy, text, truthy};
use crate::checks::prelude::*;
use day2_model::Attr;

pub(super) static CHECKS: &[Check] = &[
    Check {
        id: "TF-CT-001",
        title: "CloudTrail trail is not logging",
        domain: Domain::Security,
        severity: Severity::High,
        target: Target::TfTypes(&["aws_cloudtrail"]),
        rationale: "A trail with logging stopped records nothing: API activity — including an attacker's — goes unrecorded, and stopping trails is a classic step to cover tracks.",
        remediation: "Set `enable_logging = true` (the default) and alert on StopLogging events.",
        controls: &[(CisAws, "3.1"), (Soc2, "CC7.2"), (Nis2, "21(2)(b)"), (Dora, "Art.10")],
        references: &["https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-turning-off-logging.html"],
        eval: |i| {
            let attrs = &i.resource.attrs;
            if !falsy(attrs.get("enable_logging")) {
                return Vec::new();
            }
            vec![
                Hit::new(format!("trail `{}` has logging turned off", addr(i)))
                    .evidence("/enable_logging", at(attrs, "/enable_logging"), Some(json!(true)))
                    .fix("Set enable_logging to true", super::add("/enable_logging", json!(true))),
            ]
        },
    },
    Check {
        id: "TF-CT-002",
        title: "CloudTrail trail is not multi-region",
        domain: Domain::Security,
        severity: Severity::Medium,
        target: Target::TfTypes(&["aws_cloudtrail"]),
        rationale: "A single-region trail misses activity in every other region — exactly where an attacker would launch resources unnoticed — and global service events may be lost.",
        remediation: "Set `is_multi_region_trail = true` (and keep `include_global_service_events = true`).",
        controls: &[(CisAws, "3.1"), (Soc2, "CC7.2"), (Nis2, "21(2)(b)"), (Dora, "Art.10")],
        references: &[
            "https://docs.aws.amazon.com/awscloudtrail/latest/userguide/receive-cloudtrail-log-files-from-multiple-regions.html",
        ],
        eval: |i| {
            let attrs = &i.resource.attrs;
            if truthy(attrs.get("is_multi_region_trail")) {
                return Vec::new();
            }
            vec![
                Hit::new(format!("trail `{}` records a single region only", addr(i)))
                    .evidence("/is_multi_region_trail", at(attrs, "/is_multi_region_trail"), Some(json!(true)))
                    .fix("Set is_multi_region_trail to true", super::add("/is_multi_region_trail", json!(true))),
            ]
        },
    },
    Check {
        id: "TF-CT-003",
        title: "CloudTrail log file validation is disabled",
        domain: Domain::Security,
        severity: Severity::Medium,
        target: Target::TfTypes(&["aws_cloudtrail"]),
        rationale: "Log file validation writes signed digest files so you can prove that log files were not modified or deleted after delivery; without it, tampered logs cannot be detected.",
        remediation: "Set `enable_log_file_validation = true`.",
        controls: &[(CisAws, "3.2"), (Soc2, "CC7.2"), (Nis2, "21(2)(b)"), (Dora, "Art.10")],
        references: &[
            "https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-log-file-validation-intro.html",
        ],
        eval: |i| {
            let attrs = &i.resource.attrs;
            if truthy(attrs.get("enable_log_file_validation")) {
                return Vec::new();
            }
            vec![
                Hit::new(format!("trail `{}` does not validate log files", addr(i)))
                    .evidence(
                        "/enable_log_file_validation",
                        at(attrs, "/enable_log_file_validation"),
                        Some(json!(true)),
                    )
                    .fix(
                        "Set enable_log_file_validation to true",
                        super::add("/enable_log_file_validation", json!(true)),
                    ),
            ]
        },
    },
    Check {
        id: "TF-CT-004",
        title: "CloudTrail logs are not encrypted with KMS",
        domain: Domain::Security,
        severity: Severity::Medium,
        target: Target::TfTypes(&["aws_cloudtrail"]),
        rationale: "Trail logs reveal the account's structure and activity. SSE-KMS adds a separate kms:Decrypt permission, so read access to the log bucket alone is not enough to read them.",
        remediation: "Set `kms_key_id` to a customer managed key whose policy lets CloudTrail encrypt and your security team decrypt.",
        controls: &[(CisAws, "3.5"), (Soc2, "CC6.1"), (Nis2, "21(2)(h)"), (Dora, "Art.9(2)")],
        references: &[
            "https://docs.aws.amazon.com/awscloudtrail/latest/userguide/encrypting-cloudtrail-log-files-with-aws-kms.html",
        ],
        eval: |i| {
            let attrs = &i.resource.attrs;
            if text(attrs, "/kms_key_id").is_some() {
                return Vec::new();
            }
            vec![Hit::new(format!("trail `{}` does not encrypt its logs with a KMS key", addr(i))).evidence(
                "/kms_key_id",
                at(attrs, "/kms_key_id"),
                None,
            )]
        },
    },
    Check {
        id: "TF-LOG-001",
        title: "CloudWatch log group keeps logs forever",
        domain: Domain::Cost,
        severity: Severity::Low,
        target: Target::TfTypes(&["aws_cloudwatch_log_group"]),
        rationale: "Without `retention_in_days` (or with 0) CloudWatch keeps every log event forever: storage cost grows without bound and personal data is kept longer than any retention policy allows.",
        remediation: "Set `retention_in_days` to your retention policy (e.g. 90, 365 for audit logs); archive to S3 Glacier if longer retention is required.",
        controls: &[(Soc2, "CC7.2"), (Nis2, "21(2)(b)"), (Dora, "Art.10")],
        references: &[
            "https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/Working-with-log-groups-and-streams.html#SettingLogRetention",
        ],
        eval: |i| {
            let attrs = &i.resource.attrs;
            if attrs.get("retention_in_days").and_then(Attr::as_i64).is_some_and(|d| d > 0) {
                return Vec::new();
            }
            vec![Hit::new(format!("log group `{}` never expires its logs", addr(i))).evidence(
                "/retention_in_days",
                at(attrs, "/retention_in_days"),
                None,
            )]
        },
    },
    Check {
        id: "TF-LOG-002",
        title: "CloudWatch log group is not encrypted with KMS",
        domain: Domain::Security,
        severity: Severity::Low,
        target: Target::TfTypes(&["aws_cloudwatch_log_group"]),
        rationale: "Log groups are encrypted with a CloudWatch-owned key by default; a customer managed KMS key adds an auditable, revocable decrypt permission for logs that may hold secrets or personal data.",
        remediation: "Set `kms_key_id` to a customer managed key whose policy allows the `logs.<region>.amazonaws.com` service principal.",
        controls: &[(Soc2, "CC6.1"), (Nis2, "21(2)(h)"), (Dora, "Art.9(2)")],
        references: &["https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html"],
        eval: |i| {
            let attrs = &i.resource.attrs;
            if text(attrs, "/kms_key_id").is_some() {
                return Vec::new();
            }
            vec![
                Hit::new(format!("log group `{}` is not encrypted with a customer managed KMS key", addr(i))).evidence(
                    "/kms_key_id",
                    at(attrs, "/kms_key_id"),
                    None,
                ),
            ]
        },
    },
];
