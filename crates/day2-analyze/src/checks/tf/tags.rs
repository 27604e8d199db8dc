//! Tagging: taggable AWS resources must carry the tags the organisation relies on for ownership and cost allocation.

use day2_model::Origin;

use super::{addr, taggable};
use crate::checks::prelude::*;

pub(super) static CHECKS: &[Check] = &[Check {
    id: "TF-TAG-001",
    title: "AWS resource is missing required tags",
    domain: Domain::Cost,
    severity: Severity::Low,
    target: Target::TfTypes(&[]),
    rationale: "Tags are how findings, incidents and costs are routed to a team: a resource without an owner or environment tag cannot be attributed, is excluded from cost allocation reports and tends to become an orphan nobody dares to delete.",
    remediation: "Add the missing keys to the resource's `tags`, or once for all resources through the provider's `default_tags` block. Required keys are set by `checks.params.required_tags` (default: owner, environment) and matched ignoring case.",
    controls: &[(Soc2, "CC6.1"), (Nis2, "21(2)(i)"), (Dora, "Art.8(1)")],
    references: &[
        "https://docs.aws.amazon.com/whitepapers/latest/tagging-best-practices/tagging-best-practices.html",
        "https://registry.terraform.io/providers/hashicorp/aws/latest/docs/guides/resource-tagging",
    ],
    eval: |i| {
        let r = i.resource;
        // `tags_all` known only after apply (tags from the provider's `default_tags` that are not known yet): the
        // required keys may be among them.
        if !taggable(r) || r.unknown_at("/tags_all") {
            return Vec::new();
        }
        let unknown = unknown_tag_keys(r);
        // AWS tag keys are case-sensitive, but which case a team writes (`Owner`, `owner`, `OWNER`) is a convention
        // of its own: any of them carries the tag.
        let present = |required: &str| {
            r.labels.iter().any(|(k, v)| k.eq_ignore_ascii_case(required) && !v.trim().is_empty())
                || unknown.iter().any(|k| k.eq_ignore_ascii_case(required))
        };
        let missing: Vec<String> =
            i.params.required_tags.iter().filter(|k| !present(k.as_str())).map(|k| format!("`{k}`")).collect();
        if missing.is_empty() {
            return Vec::new();
        }
        vec![
            Hit::new(format!(
                "`{}` is missing required tag(s) {} (keys compared ignoring case)",
                addr(i),
                missing.join(", ")
            ))
            .evidence("/tags", r.attrs.get("tags").cloned().unwrap_or_default(), None),
        ]
    },
}];

/// Keys of `tags` or `tags_all` whose values are known only after apply (`owner = var.team` with no value yet).
fn unknown_tag_keys(r: &Resource) -> Vec<String> {
    let Origin::Declared { attributes, .. } = &r.origin else { return Vec::new() };
    attributes
        .unknown
        .iter()
        .filter_map(|p| p.strip_prefix("/tags/").or_else(|| p.strip_prefix("/tags_all/")))
        .filter(|key| !key.contains('/'))
        .map(|key| key.replace("~1", "/").replace("~0", "~"))
        .collect()
}
