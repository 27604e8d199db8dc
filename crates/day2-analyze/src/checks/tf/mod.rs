//! Terraform checks (AWS provider first), one file per service area. The list below is the index of areas.
//!
//! Values are those of `terraform show -json` / state: nested blocks are lists of objects (`versioning: [{enabled:
//! true}]`), JSON documents such as IAM policies are strings, and values unknown at plan time are simply absent, so
//! checks treat an absent value as "unknown" unless the provider's default is known to be the bad one.

mod ec2;
mod elb;
mod iam;
mod kms;
mod logging;
mod misc;
mod rds;
mod s3;
mod sg;
mod tags;

use std::collections::BTreeSet;

use day2_model::{Attr, Inventory, RelationKind, Resource};
use serde_json::{Value, json};

use super::{Check, Input};

/// Terraform check lists, by area.
pub static CHECKS: &[&[Check]] = &[
    s3::CHECKS,
    sg::CHECKS,
    ec2::CHECKS,
    rds::CHECKS,
    iam::CHECKS,
    kms::CHECKS,
    logging::CHECKS,
    elb::CHECKS,
    misc::CHECKS,
    tags::CHECKS,
];

/// The resource's Terraform address (`module.net.aws_vpc.main`), used in messages.
pub(crate) fn addr<'a>(i: &Input<'a>) -> &'a str {
    &i.resource.name
}

/// True for JSON `true` and for the string `"true"` (some provider attributes are typed as strings).
pub(crate) fn truthy(v: Option<&Attr>) -> bool {
    match v {
        Some(Attr::Bool(b)) => *b,
        Some(Attr::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// True for JSON `false` and for the string `"false"`: explicitly off, as opposed to absent or unknown.
pub(crate) fn falsy(v: Option<&Attr>) -> bool {
    match v {
        Some(Attr::Bool(b)) => !*b,
        Some(Attr::String(s)) => s.eq_ignore_ascii_case("false"),
        _ => false,
    }
}

/// A non-empty string at a JSON pointer.
pub(crate) fn text<'a>(v: &'a Attr, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Attr::as_str).filter(|s| !s.is_empty())
}

/// The value at a pointer, or `null` (for evidence).
pub(crate) fn at(v: &Attr, pointer: &str) -> Value {
    v.pointer(pointer).map(Attr::to_value).unwrap_or_default()
}

/// The elements of a nested block (`ingress`, `listener`), which Terraform JSON gives as a list of objects.
pub(crate) fn blocks<'a>(v: &'a Attr, key: &str) -> impl Iterator<Item = (usize, &'a Attr)> + 'a {
    v.get(key).and_then(Attr::as_array).into_iter().flatten().enumerate()
}

/// The first element of a single nested block (`metadata_options`, `vpc_config`).
pub(crate) fn block<'a>(v: &'a Attr, key: &str) -> Option<&'a Attr> {
    match v.get(key) {
        Some(Attr::Array(a)) => a.first(),
        Some(o @ Attr::Object(_)) => Some(o),
        _ => None,
    }
}

/// A string or a list of strings (IAM `Action`, `Resource`; Terraform lists of CIDRs) as a list.
pub(crate) fn strings(v: Option<&Attr>) -> Vec<&str> {
    match v {
        Some(Attr::String(s)) => vec![&**s],
        Some(Attr::Array(a)) => a.iter().filter_map(Attr::as_str).collect(),
        _ => Vec::new(),
    }
}

/// A one-operation RFC 6902 patch that adds (or replaces) the value at `path`.
pub(crate) fn add(path: &str, value: Value) -> Value {
    json!([{"op": "add", "path": path, "value": value}])
}

/// Companion resources of `i.resource`: resources of `kinds` whose `field` value equals one of the resource's `keys`
/// values (`bucket` of an `aws_s3_bucket_versioning` = `bucket`/`id` of the `aws_s3_bucket`), or which reference the
/// resource in their configuration while their `field` (or the resource's keys) is unknown, as in plans. A reference
/// alone is not enough when both values are known and differ (an `aws_s3_bucket_logging` also references its target
/// bucket).
pub(crate) fn companions<'a>(i: &Input<'a>, kinds: &[&str], field: &str, keys: &[&str]) -> Vec<&'a Resource> {
    let r = i.resource;
    let own: BTreeSet<&str> = keys.iter().filter_map(|k| text(&r.attrs, &format!("/{k}"))).collect();
    let mut out: Vec<&'a Resource> = Vec::new();
    for kind in kinds {
        for c in i.inventory.of_kind(kind) {
            if text(&c.attrs, &format!("/{field}")).is_some_and(|v| own.contains(v)) {
                out.push(c);
            }
        }
    }
    for rel in i.inventory.incoming(&r.id).filter(|rel| rel.kind == RelationKind::References) {
        let Some(c) = i.inventory.get(&rel.from) else { continue };
        if kinds.contains(&c.kind.as_str())
            && text(&c.attrs, &format!("/{field}")).is_none_or(|v| own.is_empty() || own.contains(v))
            && !out.iter().any(|o| o.id == c.id)
        {
            out.push(c);
        }
    }
    out
}

/// The resource of `kinds` that `i.resource` points at through its `field` (an `aws_s3_bucket_acl`'s bucket), matched on
/// the target's `keys` values or, when the field is unknown, through a configuration reference.
pub(crate) fn parent<'a>(i: &Input<'a>, kinds: &[&str], field: &str, keys: &[&str]) -> Option<&'a Resource> {
    let r = i.resource;
    let wanted = text(&r.attrs, &format!("/{field}"));
    if let Some(w) = wanted {
        return kinds.iter().find_map(|kind| {
            i.inventory.of_kind(kind).find(|p| keys.iter().any(|k| text(&p.attrs, &format!("/{k}")) == Some(w)))
        });
    }
    i.inventory
        .outgoing(&r.id)
        .filter(|rel| rel.kind == RelationKind::References)
        .filter_map(|rel| i.inventory.get(&rel.to))
        .find(|p| kinds.contains(&p.kind.as_str()))
}

/// Is the resource tagged as production (`environment`/`env` tag, or its derived owner environment)?
pub(crate) fn is_production(i: &Input<'_>) -> bool {
    let envs = &i.params.production_environments;
    let r = i.resource;
    let is_prod = |e: &str| envs.iter().any(|p| p.eq_ignore_ascii_case(e));
    r.owner.environment.as_deref().is_some_and(is_prod)
        || ["environment", "env", "Environment", "Env"].iter().any(|k| r.labels.get(*k).is_some_and(|v| is_prod(v)))
}

/// An AWS resource type that supports tags: its values have a `tags` (or `tags_all`) attribute.
pub(crate) fn taggable(r: &Resource) -> bool {
    r.kind.starts_with("aws_") && (r.attrs.get("tags").is_some() || r.attrs.get("tags_all").is_some())
}

/// A policy document (IAM, bucket, key or trust policy): Terraform stores it as a JSON string; an object is accepted too.
pub(crate) fn policy_doc(v: Option<&Attr>) -> Option<Attr> {
    match v? {
        Attr::String(s) if !s.trim().is_empty() => serde_json::from_str(s).ok(),
        o @ Attr::Object(_) => Some(o.clone()),
        _ => None,
    }
}

/// The statements of a policy document (`Statement` is an object or a list), each with a stable label: its `Sid`, or
/// its position.
pub(crate) fn statements(doc: &Attr) -> Vec<(String, &Attr)> {
    let list: Vec<&Attr> = match doc.get("Statement") {
        Some(Attr::Array(a)) => a.iter().collect(),
        Some(o @ Attr::Object(_)) => vec![o],
        _ => Vec::new(),
    };
    list.into_iter()
        .enumerate()
        .map(|(n, s)| {
            let label = match s.get("Sid").and_then(Attr::as_str).filter(|x| !x.is_empty()) {
                Some(sid) => format!("statement {sid}"),
                None => format!("statement {n}"),
            };
            (label, s)
        })
        .collect()
}

/// `Effect: Allow`.
pub(crate) fn allows(stmt: &Attr) -> bool {
    stmt.get("Effect").and_then(Attr::as_str).is_some_and(|e| e.eq_ignore_ascii_case("Allow"))
}

/// Has a non-empty `Condition`.
pub(crate) fn has_condition(stmt: &Attr) -> bool {
    stmt.get("Condition").and_then(Attr::as_object).is_some_and(|m| !m.is_empty())
}

/// `Principal: "*"` or `Principal: {"AWS": "*"}` (also in a list): anyone, in any account.
pub(crate) fn principal_is_anyone(stmt: &Attr) -> bool {
    match stmt.get("Principal") {
        Some(Attr::String(s)) => &**s == "*",
        Some(Attr::Object(m)) => m.get("AWS").is_some_and(|a| strings(Some(a)).contains(&"*")),
        _ => false,
    }
}

/// An `Allow` statement granting anyone access with no condition narrowing it.
pub(crate) fn allows_anyone(stmt: &Attr) -> bool {
    allows(stmt) && principal_is_anyone(stmt) && !has_condition(stmt)
}

/// The four S3 Block Public Access settings.
pub(crate) const PAB_FLAGS: [&str; 4] =
    ["block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"];

/// Is this S3 Block Public Access setting on for the bucket, at bucket or account level?
pub(crate) fn pab_setting(inv: &Inventory, pabs: &[&Resource], flag: &str) -> bool {
    pabs.iter().any(|p| truthy(p.attrs.get(flag)))
        || inv.of_kind("aws_s3_account_public_access_block").any(|p| truthy(p.attrs.get(flag)))
}

/// Bucket-level public access blocks of a bucket (`i.resource` is the `aws_s3_bucket`).
pub(crate) fn bucket_pabs<'a>(i: &Input<'a>) -> Vec<&'a Resource> {
    companions(i, &["aws_s3_bucket_public_access_block"], "bucket", &["bucket", "id"])
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn statements_accept_objects_and_lists() {
        let doc =
            policy_doc(Some(&Attr::from(r#"{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}"#)))
                .unwrap();
        assert_eq!(statements(&doc).len(), 1);
        assert_eq!(statements(&doc)[0].0, "statement 0");
        let doc = Attr::from(json!({"Statement": [{"Sid": "A", "Effect": "Allow", "Principal": {"AWS": ["*"]}}]}));
        assert_eq!(statements(&doc)[0].0, "statement A");
        assert!(allows_anyone(statements(&doc)[0].1));
        assert!(policy_doc(Some(&Attr::from("not json"))).is_none());
        assert_eq!(strings(Some(&json!(["a", 1, "b"]).into())), vec!["a", "b"]);
        assert!(truthy(Some(&Attr::from("true"))) && falsy(Some(&Attr::Bool(false))) && !falsy(None));
    }
}
