//! KMS: automatic rotation of symmetric keys, deletion waiting period, key policies open to anyone.

use super::{addr, allows_anyone, at, policy_doc, statements, text, truthy};
use crate::checks::prelude::*;
use day2_model::Attr;

pub(super) static CHECKS: &[Check] = &[
    Check {
        id: "TF-KMS-001",
        title: "KMS key rotation is disabled",
        domain: Domain::Security,
        severity: Severity::Medium,
        target: Target::TfTypes(&["aws_kms_key"]),
        rationale: "Automatic rotation creates new key material every year (or on the configured period) while keeping old material for decryption, limiting how much data one compromised key version protects. Only symmetric keys support it.",
        remediation: "Set `enable_key_rotation = true` (optionally `rotation_period_in_days`). Rotation is transparent to applications and costs nothing extra for AWS-generated key material.",
        controls: &[(CisAws, "3.6"), (Soc2, "CC6.1"), (Nis2, "21(2)(h)"), (Dora, "Art.9(2)")],
        references: &["https://docs.aws.amazon.com/kms/latest/developerguide/rotate-keys.html"],
        eval: |i| {
            let attrs = &i.resource.attrs;
            let spec = text(attrs, "/customer_master_key_spec")
                .or_else(|| text(attrs, "/key_spec"))
                .unwrap_or("SYMMETRIC_DEFAULT");
            let usage = text(attrs, "/key_usage").unwrap_or("ENCRYPT_DECRYPT");
            if spec != "SYMMETRIC_DEFAULT" || usage != "ENCRYPT_DECRYPT" || truthy(attrs.get("enable_key_rotation")) {
                return Vec::new();
            }
            vec![
                Hit::new(format!("KMS key `{}` does not rotate its key material", addr(i)))
                    .evidence("/enable_key_rotation", at(attrs, "/enable_key_rotation"), Some(json!(true)))
                    .fix("Set enable_key_rotation to true", super::add("/enable_key_rotation", json!(true))),
            ]
        },
    },
    Check {
        id: "TF-KMS-002",
        title: "KMS key deletion window is shorter than 30 days",
        domain: Domain::Reliability,
        severity: Severity::Low,
        target: Target::TfTypes(&["aws_kms_key"]),
        rationale: "Deleting a KMS key makes everything encrypted under it unrecoverable; the waiting period is the only chance to notice a mistaken or malicious deletion and cancel it. The maximum of 30 days gives the most room.",
        remediation: "Set `deletion_window_in_days = 30` and alert on ScheduleKeyDeletion events in CloudTrail.",
        controls: &[(Soc2, "A1.2"), (Nis2, "21(2)(c)"), (Dora, "Art.9(2)")],
        references: &["https://docs.aws.amazon.com/kms/latest/developerguide/deleting-keys.html"],
        eval: |i| {
            let attrs = &i.resource.attrs;
            let Some(days) = attrs.get("deletion_window_in_days").and_then(Attr::as_i64).filter(|d| *d < 30) else {
                return Vec::new();
            };
            vec![
                Hit::new(format!("KMS key `{}` can be deleted after only {days} days", addr(i)))
                    .evidence("/deletion_window_in_days", json!(days), Some(json!(30)))
                    .fix("Set deletion_window_in_days to 30", super::add("/deletion_window_in_days", json!(30))),
            ]
        },
    },
    Check {
        id: "TF-KMS-003",
        title: "KMS key policy allows anyone",
        domain: Domain::Security,
        severity: Severity::High,
        target: Target::TfTypes(&["aws_kms_key", "aws_kms_key_policy"]),
        rationale: "A key policy statement allowing Principal \"*\" without a Condition (kms:CallerAccount, aws:PrincipalOrgID, kms:ViaService) lets any AWS account use or manage the key, and decrypt the data it protects.",
        remediation: "Grant the account root (`arn:aws:iam::<account>:root`) and named roles, or keep Principal \"*\" only together with a Condition restricting the caller's account or organization.",
        controls: &[(Soc2, "CC6.1"), (Nis2, "21(2)(h)"), (Dora, "Art.9(4)(c)")],
        references: &["https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-overview.html"],
        eval: |i| {
            let Some(doc) = policy_doc(i.resource.attrs.get("policy")) else { return Vec::new() };
            statements(&doc)
                .into_iter()
                .filter(|(_, s)| allows_anyone(s))
                .map(|(label, s)| {
                    Hit::new(format!("`{}` key policy {label} allows any AWS principal with no condition", addr(i)))
                        .subject(label)
                        .evidence("/policy", s.clone(), None)
                })
                .collect()
        },
    },
];
