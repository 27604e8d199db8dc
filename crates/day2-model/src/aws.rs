//! One shape for both sides of AWS drift: the Terraform AWS provider's resource types and attribute names.
//!
//! Live objects are read into Terraform's attribute layout; Terraform state keeps it already, so the Terraform checks
//! apply to both. Drift compares them through [`project`], which keeps the attributes day2 compares for the type and puts them in a canonical form, so that
//! what differs is what changed and not how it is written:
//! - tags: the provider's `tags_all` (default tags included), else `tags`; empty and absent are the same;
//! - unordered sets (`vpc_security_group_ids`) are sorted;
//! - security group rules are split into one entry per source (`tcp 443-443 10.0.0.0/8`), as AWS stores them, whatever
//!   grouping the configuration used; `self` is the group's own id; protocol `all` and `-1` are one;
//! - IAM policy documents are compared as JSON values, not text, in IAM's grammar: a one-element list and its element
//!   are the same (`"Action": "s3:GetObject"` = `["s3:GetObject"]`), lists of names are unordered;
//! - an RDS instance's `engine_version` is the running version: Terraform's `engine_version_actual` when the
//!   configuration named only a major version (`15` running `15.4`);
//! - an S3 bucket ACL is compared as its canned name (`private`, `public-read`, …), derived from grants when the
//!   configuration gave grants;
//! - empty strings, and `false` booleans, equal absent ones.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

/// How a type's objects are identified in AWS (the attribute that pairs live with declared), and the attributes
/// compared. Terraform resource types are the kinds.
pub struct TypeSpec {
    /// Terraform resource type.
    pub kind: &'static str,
    /// Attribute naming the object in AWS (`id`, a bucket or role name, an RDS identifier).
    pub identity: &'static str,
    /// Attributes compared as they are (after the general rules above).
    pub scalars: &'static [&'static str],
    /// Whether the type carries tags.
    pub tagged: bool,
}

/// The types day2 reads live.
pub const TYPES: &[TypeSpec] = &[
    TypeSpec {
        kind: "aws_instance",
        identity: "id",
        scalars: &["ami", "instance_type", "subnet_id", "key_name", "monitoring", "ebs_optimized"],
        tagged: true,
    },
    TypeSpec { kind: "aws_security_group", identity: "id", scalars: &["name", "description", "vpc_id"], tagged: true },
    TypeSpec { kind: "aws_vpc", identity: "id", scalars: &["cidr_block", "instance_tenancy"], tagged: true },
    TypeSpec {
        kind: "aws_subnet",
        identity: "id",
        scalars: &["vpc_id", "cidr_block", "availability_zone", "map_public_ip_on_launch"],
        tagged: true,
    },
    TypeSpec {
        kind: "aws_ebs_volume",
        identity: "id",
        scalars: &["availability_zone", "size", "type", "encrypted"],
        tagged: true,
    },
    TypeSpec { kind: "aws_s3_bucket", identity: "bucket", scalars: &[], tagged: true },
    TypeSpec { kind: "aws_s3_bucket_acl", identity: "bucket", scalars: &[], tagged: false },
    TypeSpec {
        kind: "aws_s3_bucket_public_access_block",
        identity: "bucket",
        scalars: &["block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"],
        tagged: false,
    },
    TypeSpec {
        kind: "aws_s3_bucket_server_side_encryption_configuration",
        identity: "bucket",
        scalars: &[],
        tagged: false,
    },
    TypeSpec { kind: "aws_s3_bucket_versioning", identity: "bucket", scalars: &[], tagged: false },
    TypeSpec {
        kind: "aws_iam_role",
        identity: "name",
        scalars: &["path", "description", "max_session_duration"],
        tagged: true,
    },
    TypeSpec { kind: "aws_iam_policy", identity: "name", scalars: &["path", "description"], tagged: true },
    TypeSpec {
        kind: "aws_db_instance",
        identity: "identifier",
        scalars: &[
            "engine",
            "engine_version",
            "instance_class",
            "allocated_storage",
            "storage_type",
            "storage_encrypted",
            "multi_az",
            "publicly_accessible",
            "backup_retention_period",
            "deletion_protection",
        ],
        tagged: true,
    },
];

/// The spec of a Terraform resource type day2 reads live.
pub fn spec(kind: &str) -> Option<&'static TypeSpec> {
    TYPES.iter().find(|t| t.kind == kind)
}

/// The object's name in AWS, from Terraform-shaped attributes.
pub fn identity(spec: &TypeSpec, attrs: &Value) -> Option<String> {
    attrs.get(spec.identity).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned)
}

/// The region of an ARN (`arn:aws:ec2:eu-west-1:…`); `None` for global services (S3, IAM) and non-ARNs.
pub fn arn_region(arn: &str) -> Option<&str> {
    arn.split(':').nth(3).filter(|r| !r.is_empty())
}

/// The compared attributes of one object, in canonical form (see the module docs).
pub fn project(spec: &TypeSpec, attrs: &Value) -> Value {
    let mut out = Map::new();
    if let Some(identity) = attrs.get(spec.identity) {
        out.insert(spec.identity.to_owned(), identity.clone());
    }
    for key in spec.scalars {
        if let Some(v) = scalar(attrs.get(*key)) {
            out.insert((*key).to_owned(), v);
        }
    }
    // Only a version named in part (`15`) stands for the one running (`15.4`); a full one is compared as given.
    let declared = attrs.get("engine_version").and_then(Value::as_str).unwrap_or_default();
    let actual = attrs.get("engine_version_actual").and_then(Value::as_str).unwrap_or_default();
    let partial = declared.is_empty() || actual.starts_with(&format!("{declared}."));
    if spec.kind == "aws_db_instance"
        && partial
        && let Some(actual) = scalar(attrs.get("engine_version_actual"))
    {
        out.insert("engine_version".to_owned(), actual);
    }
    if spec.tagged {
        out.insert("tags".to_owned(), tags(attrs));
    }
    match spec.kind {
        "aws_instance" => {
            out.insert("vpc_security_group_ids".to_owned(), sorted_strings(attrs.get("vpc_security_group_ids")));
        }
        "aws_security_group" => {
            let own = attrs.get("id").and_then(Value::as_str).unwrap_or_default();
            for direction in ["ingress", "egress"] {
                out.insert(direction.to_owned(), rules(attrs.get(direction), own));
            }
        }
        "aws_iam_role" => {
            out.insert("assume_role_policy".to_owned(), document(attrs.get("assume_role_policy")));
        }
        "aws_iam_policy" => {
            out.insert("policy".to_owned(), document(attrs.get("policy")));
        }
        "aws_s3_bucket_acl" => {
            out.insert("acl".to_owned(), Value::String(canned_acl(attrs)));
        }
        "aws_s3_bucket_versioning" => {
            let status = attrs.pointer("/versioning_configuration/0/status").and_then(Value::as_str);
            out.insert("versioning_configuration".to_owned(), json!([{"status": status.unwrap_or("Disabled")}]));
        }
        "aws_s3_bucket_server_side_encryption_configuration" => {
            out.insert("rule".to_owned(), encryption_rules(attrs.get("rule")));
        }
        _ => {}
    }
    Value::Object(out)
}

/// A scalar, with empty strings and `false` read as absent (AWS omits what Terraform writes as `""` or `false`).
fn scalar(value: Option<&Value>) -> Option<Value> {
    match value? {
        Value::Null | Value::Bool(false) => None,
        Value::String(s) if s.is_empty() => None,
        other => Some(other.clone()),
    }
}

fn tags(attrs: &Value) -> Value {
    let all = attrs.get("tags_all").and_then(Value::as_object).filter(|m| !m.is_empty());
    let tags = all.or_else(|| attrs.get("tags").and_then(Value::as_object));
    Value::Object(tags.cloned().unwrap_or_default())
}

fn sorted_strings(value: Option<&Value>) -> Value {
    let set: BTreeSet<&str> = value.and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
    json!(set)
}

/// Security group rules as one entry per source, keyed `<protocol> <from>-<to> <source>`, valued by description
/// (`allow` for a rule without one), so a finding names the rule that was opened or closed.
fn rules(value: Option<&Value>, own_group: &str) -> Value {
    let mut out = Map::new();
    for rule in value.and_then(Value::as_array).into_iter().flatten() {
        let protocol = protocol(rule.get("protocol").and_then(Value::as_str).unwrap_or("-1"));
        let ports = if protocol == "all" {
            String::new()
        } else {
            let port = |k: &str| rule.get(k).and_then(Value::as_i64).unwrap_or(-1);
            format!(" {}-{}", port("from_port"), port("to_port"))
        };
        let description = rule.get("description").and_then(Value::as_str).filter(|d| !d.is_empty()).unwrap_or("allow");
        let mut sources: Vec<String> = Vec::new();
        for list in ["cidr_blocks", "ipv6_cidr_blocks", "prefix_list_ids"] {
            sources.extend(
                rule.get(list)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(str::to_owned),
            );
        }
        for group in
            rule.get("security_groups").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str)
        {
            // Cross-account references are written `<account>/<group>`.
            let group = group.rsplit('/').next().unwrap_or(group);
            sources.push(if group == own_group { "self".to_owned() } else { group.to_owned() });
        }
        if rule.get("self").and_then(Value::as_bool) == Some(true) {
            sources.push("self".to_owned());
        }
        for source in sources {
            out.insert(format!("{protocol}{ports} {source}"), Value::String(description.to_owned()));
        }
    }
    Value::Object(out)
}

/// `-1` and `all` are every protocol; IANA numbers of the common ones read as their names.
fn protocol(raw: &str) -> String {
    match raw.to_ascii_lowercase().as_str() {
        "-1" | "all" => "all".to_owned(),
        "6" => "tcp".to_owned(),
        "17" => "udp".to_owned(),
        "1" => "icmp".to_owned(),
        "58" => "icmpv6".to_owned(),
        other => other.to_owned(),
    }
}

/// A JSON policy document as a value in canonical form (text that is not JSON stays text, and then differs visibly).
fn document(value: Option<&Value>) -> Value {
    match value {
        Some(Value::String(text)) => serde_json::from_str(text).map_or_else(|_| Value::String(text.clone()), canonical),
        Some(other) => canonical(other.clone()),
        None => Value::Null,
    }
}

/// IAM reads a one-element list as its element and a list of names as a set; both written forms become one.
fn canonical(value: Value) -> Value {
    match value {
        Value::Array(items) => {
            let mut items: Vec<Value> = items.into_iter().map(canonical).collect();
            if items.len() == 1 {
                return items.pop().unwrap_or(Value::Null);
            }
            if items.iter().all(Value::is_string) {
                items.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
                items.dedup();
            }
            Value::Array(items)
        }
        Value::Object(map) => Value::Object(map.into_iter().map(|(k, v)| (k, canonical(v))).collect()),
        other => other,
    }
}

/// The canned ACL a bucket's ACL amounts to: the configured name, else derived from the grants
/// (`access_control_policy`), `custom` when no canned ACL gives those grants.
fn canned_acl(attrs: &Value) -> String {
    if let Some(acl) = attrs.get("acl").and_then(Value::as_str).filter(|a| !a.is_empty()) {
        return acl.to_owned();
    }
    let owner = attrs.pointer("/access_control_policy/0/owner/0/id").and_then(Value::as_str).unwrap_or_default();
    let grants = attrs.pointer("/access_control_policy/0/grant").and_then(Value::as_array);
    let mut held: BTreeSet<(String, String)> = BTreeSet::new();
    for grant in grants.into_iter().flatten() {
        let grantee = grant.pointer("/grantee/0").cloned().unwrap_or_default();
        let who = match (grantee.get("id").and_then(Value::as_str), grantee.get("uri").and_then(Value::as_str)) {
            (Some(id), _) if id == owner => "owner",
            (_, Some(uri)) if uri.ends_with("/global/AllUsers") => "all",
            (_, Some(uri)) if uri.ends_with("/global/AuthenticatedUsers") => "authenticated",
            (_, Some(uri)) if uri.ends_with("/s3/LogDelivery") => "log-delivery",
            _ => "other",
        };
        let permission = grant.get("permission").and_then(Value::as_str).unwrap_or_default();
        held.insert((who.to_owned(), permission.to_owned()));
    }
    let set = |grants: &[(&str, &str)]| -> BTreeSet<(String, String)> {
        grants.iter().map(|(w, p)| ((*w).to_owned(), (*p).to_owned())).collect()
    };
    let owner_full = ("owner", "FULL_CONTROL");
    let canned = [
        ("private", set(&[owner_full])),
        ("public-read", set(&[owner_full, ("all", "READ")])),
        ("public-read-write", set(&[owner_full, ("all", "READ"), ("all", "WRITE")])),
        ("authenticated-read", set(&[owner_full, ("authenticated", "READ")])),
        ("log-delivery-write", set(&[owner_full, ("log-delivery", "WRITE"), ("log-delivery", "READ_ACP")])),
    ];
    canned.into_iter().find(|(_, grants)| *grants == held).map_or("custom", |(name, _)| name).to_owned()
}

/// Default encryption rules with their algorithm, key and bucket-key setting; an unset bucket key is off.
fn encryption_rules(value: Option<&Value>) -> Value {
    let mut rules: Vec<Value> = Vec::new();
    for rule in value.and_then(Value::as_array).into_iter().flatten() {
        let default = rule.pointer("/apply_server_side_encryption_by_default/0");
        let field = |k: &str| default.and_then(|d| scalar(d.get(k))).unwrap_or(Value::Null);
        let mut by_default = Map::new();
        by_default.insert("sse_algorithm".to_owned(), field("sse_algorithm"));
        if let Value::String(key) = field("kms_master_key_id") {
            by_default.insert("kms_master_key_id".to_owned(), Value::String(key));
        }
        let bucket_key = rule.get("bucket_key_enabled").and_then(Value::as_bool).unwrap_or(false);
        rules.push(json!({"apply_server_side_encryption_by_default": [by_default], "bucket_key_enabled": bucket_key}));
    }
    rules.sort_by_key(|r| r.to_string());
    Value::Array(rules)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn a_major_engine_version_reads_as_the_running_one() {
        let db = spec("aws_db_instance").unwrap();
        let declared = json!({"identifier": "orders", "engine_version": "15", "engine_version_actual": "15.4"});
        assert_eq!(project(db, &declared), project(db, &json!({"identifier": "orders", "engine_version": "15.4"})));
        assert_ne!(project(db, &declared), project(db, &json!({"identifier": "orders", "engine_version": "16.1"})));
        let pinned = json!({"identifier": "orders", "engine_version": "15.4", "engine_version_actual": "15.5"});
        assert_ne!(project(db, &pinned), project(db, &json!({"identifier": "orders", "engine_version": "15.5"})));
    }

    #[test]
    fn icmpv6_by_number_or_name_is_one_rule() {
        let sg = spec("aws_security_group").unwrap();
        let rule = |protocol: &str| json!({"id": "sg-1", "ingress": [{"protocol": protocol, "from_port": -1, "to_port": -1, "ipv6_cidr_blocks": ["::/0"]}]});
        assert_eq!(project(sg, &rule("58")), project(sg, &rule("icmpv6")));
    }

    #[test]
    fn security_group_rules_compare_per_source_whatever_the_grouping() {
        let sg = spec("aws_security_group").unwrap();
        let grouped = json!({"id": "sg-1", "ingress": [
            {"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": ["10.0.0.0/8", "0.0.0.0/0"], "description": "https", "self": false},
            {"protocol": "-1", "from_port": 0, "to_port": 0, "security_groups": ["sg-1"], "description": ""},
        ], "egress": []});
        let split = json!({"id": "sg-1", "ingress": [
            {"protocol": "all", "self": true},
            {"protocol": "6", "from_port": 443, "to_port": 443, "cidr_blocks": ["0.0.0.0/0"], "description": "https"},
            {"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": ["10.0.0.0/8"], "description": "https"},
        ]});
        assert_eq!(project(sg, &grouped), project(sg, &split));
        let ingress = &project(sg, &grouped)["ingress"];
        assert_eq!(ingress["tcp 443-443 0.0.0.0/0"], "https");
        assert_eq!(ingress["all self"], "allow");
    }

    #[test]
    fn tags_all_wins_and_empty_equals_absent() {
        let vpc = spec("aws_vpc").unwrap();
        let declared = json!({"id": "vpc-1", "cidr_block": "10.0.0.0/16", "instance_tenancy": "default", "tags": {"a": "1"}, "tags_all": {"a": "1", "env": "prod"}, "enable_dns_support": true});
        let live = json!({"id": "vpc-1", "cidr_block": "10.0.0.0/16", "instance_tenancy": "default", "tags": {"env": "prod", "a": "1"}});
        assert_eq!(project(vpc, &declared), project(vpc, &live));
        let volume = spec("aws_ebs_volume").unwrap();
        assert_eq!(
            project(volume, &json!({"id": "v", "encrypted": false, "tags": {}, "tags_all": {}})),
            project(volume, &json!({"id": "v"}))
        );
    }

    #[test]
    fn acl_grants_read_as_canned_names() {
        let acl = spec("aws_s3_bucket_acl").unwrap();
        let grants = |extra: Value| {
            let mut grant =
                vec![json!({"grantee": [{"type": "CanonicalUser", "id": "me"}], "permission": "FULL_CONTROL"})];
            if !extra.is_null() {
                grant.push(extra);
            }
            json!({"bucket": "b", "access_control_policy": [{"owner": [{"id": "me"}], "grant": grant}]})
        };
        assert_eq!(project(acl, &grants(Value::Null))["acl"], "private");
        let public = json!({"grantee": [{"type": "Group", "uri": "http://acs.amazonaws.com/groups/global/AllUsers"}], "permission": "READ"});
        assert_eq!(project(acl, &grants(public))["acl"], "public-read");
        assert_eq!(project(acl, &json!({"bucket": "b", "acl": "public-read"}))["acl"], "public-read");
        let odd = json!({"grantee": [{"type": "CanonicalUser", "id": "someone"}], "permission": "READ"});
        assert_eq!(project(acl, &grants(odd))["acl"], "custom");
    }

    #[test]
    fn policy_documents_compare_as_json() {
        let policy = spec("aws_iam_policy").unwrap();
        let a = json!({"name": "p", "policy": "{\"Version\": \"2012-10-17\", \"Statement\": []}"});
        let b = json!({"name": "p", "policy": "{\"Statement\":[],\"Version\":\"2012-10-17\"}", "path": ""});
        assert_eq!(project(policy, &a), project(policy, &b));
        let one = json!({"name": "p", "policy": r#"{"Statement": [{"Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject"], "Resource": ["*"]}]}"#});
        let other = json!({"name": "p", "policy": r#"{"Statement": {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "*"}}"#});
        assert_eq!(project(policy, &one), project(policy, &other));
        let narrower = json!({"name": "p", "policy": r#"{"Statement": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}}"#});
        assert_ne!(project(policy, &one), project(policy, &narrower));
        assert_eq!(arn_region("arn:aws:ec2:eu-west-1:1:instance/i-1"), Some("eu-west-1"));
        assert_eq!(arn_region("arn:aws:s3:::bucket"), None);
    }
}
