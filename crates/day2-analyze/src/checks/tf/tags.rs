//! Tagging: taggable AWS resources must carry the tags the organisation relies on for ownership and cost allocation.

use super::{addr, taggable};
use crate::checks::prelude::*;

pub(super) static CHECKS: &[Check] = &[Check {
    id: "TF-TAG-001",
    title: "AWS resource is missing required tags",
    domain: Domain::Cost,
    severity: Severity::Low,
    target: Target::TfTypes(&[]),
    rationale: "Tags are how findings, incidents and costs are routed to a team: a resource without an owner or environment tag cannot be attributed, is excluded from cost allocation reports and tends to become an orphan nobody dares to delete.",
    remediation: "Add the missing keys to the resource's `tags`, or once for all resources through the provider's `default_tags` block. Required keys are set by `checks.params.required_tags` (default: owner, environment).",
    controls: &[(Soc2, "CC6.1"), (Nis2, "21(2)(i)"), (Dora, "Art.8(1)")],
    references: &[
        "https://docs.aws.amazon.com/whitepapers/latest/tagging-best-practices/tagging-best-practices.html",
        "https://registry.terraform.io/providers/hashicorp/aws/latest/docs/guides/resource-tagging",
    ],
    eval: |i| {
        let r = i.resource;
        if !taggable(r) {
            return Vec::new();
        }
        let missing: Vec<&str> = i
            .params
            .required_tags
            .iter()
            .map(String::as_str)
            .filter(|k| r.labels.get(*k).is_none_or(|v| v.trim().is_empty()))
            .collect();
        if missing.is_empty() {
            return Vec::new();
        }
        vec![Hit::new(format!("`{}` is missing tag(s) {}", addr(i), missing.join(", "))).evidence(
            "/tags",
            r.attrs.get("tags").cloned().unwrap_or_default(),
            None,
        )]
    },
}];
