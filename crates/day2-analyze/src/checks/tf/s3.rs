//! S3: public ACLs and policies, Block Public Access, default encryption, versioning, access logging, TLS-only access.
//! Since provider v4 most bucket settings live in companion resources (`aws_s3_bucket_versioning`, …) linked by the
//! bucket name or, in plans, by a configuration reference; the legacy inline blocks are honoured too.

use super::{
    PAB_FLAGS, addr, allows_anyone, at, blocks, bucket_pabs, companions, pab_setting, parent, policy_doc, statements,
    strings, text, truthy,
};
use crate::checks::prelude::*;
use day2_model::Attr;

const PUBLIC_ACLS: &[&str] = &["public-read", "public-read-write", "authenticated-read"];
const PUBLIC_GRANTEES: &[&str] =
    &["http://acs.amazonaws.com/groups/global/AllUsers", "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"];
const BUCKET_KEYS: &[&str] = &["bucket", "id"];

pub(super) static CHECKS: &[Check] = &[
    Check {
        id: "TF-S3-001",
        title: "S3 bucket ACL grants public access",
        domain: Domain::Security,
        severity: Severity::Critical,
        target: Target::TfTypes(&["aws_s3_bucket", "aws_s3_bucket_acl"]),
        rationale: "A canned ACL of public-read, public-read-write or authenticated-read (or a grant to the AllUsers/AuthenticatedUsers groups) lets anyone on the internet, or any AWS account, list and read — or write — the bucket. Public buckets are a leading cause of data breaches.",
        remediation: "Use `acl = \"private\"` (or drop ACLs and set object ownership to BucketOwnerEnforced), serve public content through CloudFront with origin access control, and turn on Block Public Access (`ignore_public_acls`).",
        controls: &[(CisAws, "2.1.4"), (Soc2, "CC6.1"), (Nis2, "21(2)(i)"), (Dora, "Art.9(4)(c)")],
        references: &[
            "https://docs.aws.amazon.com/AmazonS3/latest/userguide/acl-overview.html#canned-acl",
            "https://registry.terraform.io/providers/hashicorp/aws/latest/docs/resources/s3_bucket_acl",
        ],
        eval: |i| {
            let r = i.resource;
            let bucket =
                if r.kind == "aws_s3_bucket" { Some(r) } else { parent(i, &["aws_s3_bucket"], "bucket", BUCKET_KEYS) };
            let pabs = bucket
                .map(|b| bucket_pabs(&Input { resource: b, inventory: i.inventory, params: i.params }))
                .unwrap_or_default();
            if pab_setting(i.inventory, &pabs, "ignore_public_acls") {
                return Vec::new();
            }
            // In state, a bucket's `acl`/`grant` mirror what an `aws_s3_bucket_acl` set: report it there only.
            if r.kind == "aws_s3_bucket" && !companions(i, &["aws_s3_bucket_acl"], "bucket", BUCKET_KEYS).is_empty() {
                return Vec::new();
            }
            let mut hits = Vec::new();
            if let Some(acl) = text(&r.attrs, "/acl").filter(|a| PUBLIC_ACLS.contains(a)) {
                hits.push(Hit::new(format!("`{}` sets the canned ACL {acl}", addr(i))).subject("acl").evidence(
                    "/acl",
                    json!(acl),
                    Some(json!("private")),
                ));
            }
            let grants: Vec<(String, &Attr)> = if r.kind == "aws_s3_bucket" {
                blocks(&r.attrs, "grant")
                    .map(|(n, g)| (format!("/grant/{n}/uri"), g.get("uri").unwrap_or(&Attr::Null)))
                    .collect()
            } else {
                r.attrs
                    .pointer("/access_control_policy/0/grant")
                    .and_then(Attr::as_array)
                    .into_iter()
                    .flatten()
                    .enumerate()
                    .map(|(n, g)| {
                        (
                            format!("/access_control_policy/0/grant/{n}/grantee/0/uri"),
                            g.pointer("/grantee/0/uri").unwrap_or(&Attr::Null),
                        )
                    })
                    .collect()
            };
            for (path, uri) in grants {
                if let Some(u) = uri.as_str().filter(|u| PUBLIC_GRANTEES.contains(u)) {
                    let group = u.rsplit('/').next().unwrap_or(u);
                    hits.push(
                        Hit::new(format!("`{}` grants access to the {group} group", addr(i)))
                            .subject(format!("grant {group}"))
                            .evidence(path, json!(u), None),
                    );
                }
            }
            hits
        },
    },
    Check {
        id: "TF-S3-002",
        title: "S3 bucket policy allows anyone",
        domain: Domain::Security,
        severity: Severity::High,
        target: Target::TfTypes(&["aws_s3_bucket_policy", "aws_s3_bucket"]),
        rationale: "A bucket policy statement that allows Principal \"*\" without a Condition (source VPC endpoint, organization, CloudFront distribution) opens the bucket to every anonymous caller on the internet.",
        remediation: "Grant access to specific principals, or add a Condition such as `aws:SourceVpce`, `aws:PrincipalOrgID` or `AWS:SourceArn` of a CloudFront distribution; keep `restrict_public_buckets` on.",
        controls: &[(CisAws, "2.1.4"), (Soc2, "CC6.1"), (Nis2, "21(2)(i)"), (Dora, "Art.9(4)(c)")],
        references: &[
            "https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-control-block-public-access.html#access-control-block-public-access-policy-status",
        ],
        eval: |i| {
            let r = i.resource;
            let bucket =
                if r.kind == "aws_s3_bucket" { Some(r) } else { parent(i, &["aws_s3_bucket"], "bucket", BUCKET_KEYS) };
            let pabs = bucket
                .map(|b| bucket_pabs(&Input { resource: b, inventory: i.inventory, params: i.params }))
                .unwrap_or_default();
            if pab_setting(i.inventory, &pabs, "restrict_public_buckets") {
                return Vec::new();
            }
            // In state, a bucket's `policy` mirrors an `aws_s3_bucket_policy`: report it there only.
            if r.kind == "aws_s3_bucket" && !companions(i, &["aws_s3_bucket_policy"], "bucket", BUCKET_KEYS).is_empty()
            {
                return Vec::new();
            }
            let Some(doc) = policy_doc(r.attrs.get("policy")) else { return Vec::new() };
            statements(&doc)
                .into_iter()
                .filter(|(_, s)| allows_anyone(s))
                .map(|(label, s)| {
                    let actions = strings(s.get("Action")).join(", ");
                    Hit::new(format!("`{}` policy {label} allows anyone ({actions}) with no condition", addr(i)))
                        .subject(label)
                        .evidence("/policy", s.clone(), None)
                })
                .collect()
        },
    },
    Check {
        id: "TF-S3-003",
        title: "S3 bucket has no Block Public Access configuration",
        domain: Domain::Security,
        severity: Severity::Medium,
        target: Target::TfTypes(&["aws_s3_bucket"]),
        rationale: "S3 Block Public Access is the guard rail that stops a later ACL or policy change from making data public. Without an `aws_s3_bucket_public_access_block` for the bucket (or an account-level block) in code, the protection rests on AWS's default for buckets created since April 2023 and on nobody having turned it off by hand: declare it so that it is reviewed and drift is visible.",
        remediation: "Add an `aws_s3_bucket_public_access_block` for the bucket with all four settings true, or an `aws_s3_account_public_access_block` for the account.",
        controls: &[(CisAws, "2.1.4"), (Soc2, "CC6.1"), (Nis2, "21(2)(i)"), (Dora, "Art.9(4)(c)")],
        references: &["https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-control-block-public-access.html"],
        eval: |i| {
            if !bucket_pabs(i).is_empty() || i.inventory.of_kind("aws_s3_account_public_access_block").next().is_some()
            {
                return Vec::new();
            }
            vec![Hit::new(format!("bucket `{}` has no public access block", addr(i))).evidence(
                "/bucket",
                at(&i.resource.attrs, "/bucket"),
                None,
            )]
        },
    },
    Check {
        id: "TF-S3-004",
        title: "S3 Block Public Access setting is off",
        domain: Domain::Security,
        severity: Severity::High,
        target: Target::TfTypes(&["aws_s3_bucket_public_access_block", "aws_s3_account_public_access_block"]),
        rationale: "Each of the four Block Public Access settings closes a different path to public data (new public ACLs, existing public ACLs, new public policies, existing public policies); one left off re-opens that path.",
        remediation: "Set `block_public_acls`, `block_public_policy`, `ignore_public_acls` and `restrict_public_buckets` to true. Serve intentionally public content through CloudFront instead.",
        controls: &[(CisAws, "2.1.4"), (Soc2, "CC6.1"), (Nis2, "21(2)(i)"), (Dora, "Art.9(4)(c)")],
        references: &["https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-control-block-public-access.html"],
        eval: |i| {
            let attrs = &i.resource.attrs;
            let off: Vec<&str> = PAB_FLAGS.iter().copied().filter(|f| !truthy(attrs.get(*f))).collect();
            if off.is_empty() {
                return Vec::new();
            }
            let mut hit = Hit::new(format!("`{}` leaves {} off", addr(i), off.join(", ")));
            for f in &off {
                hit = hit.evidence(format!("/{f}"), at(attrs, &format!("/{f}")), Some(json!(true)));
            }
            let ops: Vec<Value> =
                off.iter().map(|f| json!({"op": "add", "path": format!("/{f}"), "value": true})).collect();
            vec![hit.fix("Turn every Block Public Access setting on", Value::Array(ops))]
        },
    },
    Check {
        id: "TF-S3-005",
        title: "S3 bucket has no default encryption configuration",
        domain: Domain::Security,
        severity: Severity::Low,
        target: Target::TfTypes(&["aws_s3_bucket"]),
        rationale: "Without a declared server-side encryption configuration the bucket relies on the account default. Since January 2023 AWS encrypts new objects with SSE-S3 anyway, so the data is not stored in clear, but the encryption is neither explicit in code nor under a key you control (see TF-S3-006).",
        remediation: "Add an `aws_s3_bucket_server_side_encryption_configuration` for the bucket, preferably with `sse_algorithm = \"aws:kms\"` and a customer managed key.",
        controls: &[(Soc2, "CC6.1"), (Nis2, "21(2)(h)"), (Dora, "Art.9(2)")],
        references: &["https://docs.aws.amazon.com/AmazonS3/latest/userguide/default-encryption-faq.html"],
        eval: |i| {
            let own = blocks(&i.resource.attrs, "server_side_encryption_configuration").next().is_some();
            if own
                || !companions(i, &["aws_s3_bucket_server_side_encryption_configuration"], "bucket", BUCKET_KEYS)
                    .is_empty()
            {
                return Vec::new();
            }
            vec![
                Hit::new(format!(
                    "bucket `{}` declares no server-side encryption (only the SSE-S3 account default applies)",
                    addr(i)
                ))
                .evidence(
                    "/server_side_encryption_configuration",
                    at(&i.resource.attrs, "/server_side_encryption_configuration"),
                    None,
                ),
            ]
        },
    },
    Check {
        id: "TF-S3-006",
        title: "S3 bucket is not encrypted with a KMS key",
        domain: Domain::Security,
        severity: Severity::Low,
        target: Target::TfTypes(&["aws_s3_bucket_server_side_encryption_configuration", "aws_s3_bucket"]),
        rationale: "SSE-S3 (AES256) protects against lost disks but any principal with s3:GetObject reads the data; SSE-KMS adds a second, auditable permission (kms:Decrypt) and lets you revoke access by disabling the key.",
        remediation: "Set `apply_server_side_encryption_by_default { sse_algorithm = \"aws:kms\", kms_master_key_id = aws_kms_key.x.arn }` and `bucket_key_enabled = true` to limit KMS cost.",
        controls: &[(Soc2, "CC6.1"), (Nis2, "21(2)(h)"), (Dora, "Art.9(2)")],
        references: &["https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html"],
        eval: |i| {
            let r = i.resource;
            let (base, rules) = if r.kind == "aws_s3_bucket" {
                if !companions(i, &["aws_s3_bucket_server_side_encryption_configuration"], "bucket", BUCKET_KEYS)
                    .is_empty()
                {
                    return Vec::new();
                }
                (
                    "/server_side_encryption_configuration/0/rule",
                    r.attrs.pointer("/server_side_encryption_configuration/0/rule"),
                )
            } else {
                ("/rule", r.attrs.get("rule"))
            };
            let rules: Vec<(usize, &Attr)> = rules.and_then(Attr::as_array).into_iter().flatten().enumerate().collect();
            let algo = |rule: &Attr| {
                rule.pointer("/apply_server_side_encryption_by_default/0/sse_algorithm")
                    .and_then(Attr::as_str)
                    .map(str::to_owned)
            };
            if rules.is_empty() || rules.iter().any(|(_, rule)| algo(rule).is_some_and(|a| a.starts_with("aws:kms"))) {
                return Vec::new();
            }
            let (n, rule) = rules.first().copied().unwrap_or((0, &Attr::Null));
            let actual = algo(rule).map_or(Value::Null, Value::String);
            vec![
                Hit::new(format!(
                    "`{}` encrypts with {} rather than a KMS key",
                    addr(i),
                    actual.as_str().unwrap_or("an unspecified algorithm")
                ))
                .evidence(
                    format!("{base}/{n}/apply_server_side_encryption_by_default/0/sse_algorithm"),
                    actual,
                    Some(json!("aws:kms")),
                ),
            ]
        },
    },
    Check {
        id: "TF-S3-007",
        title: "S3 bucket versioning is not enabled",
        domain: Domain::Backup,
        severity: Severity::Medium,
        target: Target::TfTypes(&["aws_s3_bucket"]),
        rationale: "Without versioning an overwrite or delete — by mistake, a bad deploy or ransomware — destroys the only copy of an object; versioning keeps prior versions recoverable.",
        remediation: "Add an `aws_s3_bucket_versioning` with `versioning_configuration { status = \"Enabled\" }` and a lifecycle rule expiring noncurrent versions to bound cost.",
        controls: &[(Soc2, "A1.2"), (Nis2, "21(2)(c)"), (Dora, "Art.12")],
        references: &["https://docs.aws.amazon.com/AmazonS3/latest/userguide/Versioning.html"],
        eval: |i| {
            let r = i.resource;
            let versionings = companions(i, &["aws_s3_bucket_versioning"], "bucket", BUCKET_KEYS);
            let status = |v: &Resource| {
                v.attrs.pointer("/versioning_configuration/0/status").and_then(Attr::as_str).map(str::to_owned)
            };
            if versionings.iter().any(|v| status(v).as_deref() == Some("Enabled") || status(v).is_none()) {
                return Vec::new();
            }
            if truthy(r.attrs.pointer("/versioning/0/enabled")) {
                return Vec::new();
            }
            let detail = versionings
                .iter()
                .find_map(|v| status(v).map(|s| format!(" (`{}` sets {s})", v.name)))
                .unwrap_or_default();
            vec![Hit::new(format!("bucket `{}` does not have versioning enabled{detail}", addr(i))).evidence(
                "/versioning/0/enabled",
                at(&r.attrs, "/versioning/0/enabled"),
                Some(json!(true)),
            )]
        },
    },
    Check {
        id: "TF-S3-008",
        title: "S3 bucket access logging is off",
        domain: Domain::Security,
        severity: Severity::Low,
        target: Target::TfTypes(&["aws_s3_bucket"]),
        rationale: "Server access logs record every request to the bucket; without them (or CloudTrail data events) there is no trail to investigate data exfiltration or misuse.",
        remediation: "Add an `aws_s3_bucket_logging` with a `target_bucket` dedicated to logs (log buckets themselves are exempt), or enable CloudTrail S3 data events.",
        controls: &[(Soc2, "CC7.2"), (Nis2, "21(2)(b)"), (Dora, "Art.10")],
        references: &["https://docs.aws.amazon.com/AmazonS3/latest/userguide/ServerAccessLogs.html"],
        eval: |i| {
            let r = i.resource;
            let own_logging = blocks(&r.attrs, "logging").any(|(_, l)| text(l, "/target_bucket").is_some());
            if own_logging || !companions(i, &["aws_s3_bucket_logging"], "bucket", BUCKET_KEYS).is_empty() {
                return Vec::new();
            }
            let names: Vec<&str> = BUCKET_KEYS.iter().filter_map(|k| text(&r.attrs, &format!("/{k}"))).collect();
            let is_target = |t: Option<&str>| t.is_some_and(|t| names.contains(&t));
            let log_bucket = text(&r.attrs, "/acl") == Some("log-delivery-write")
                || i.inventory.of_kind("aws_s3_bucket_logging").any(|l| is_target(text(&l.attrs, "/target_bucket")))
                || i.inventory
                    .of_kind("aws_s3_bucket")
                    .any(|b| blocks(&b.attrs, "logging").any(|(_, l)| is_target(text(l, "/target_bucket"))));
            if log_bucket {
                return Vec::new();
            }
            vec![Hit::new(format!("bucket `{}` has no server access logging", addr(i))).evidence(
                "/logging",
                at(&r.attrs, "/logging"),
                None,
            )]
        },
    },
    Check {
        id: "TF-S3-009",
        title: "S3 bucket policy does not deny plain HTTP",
        domain: Domain::Security,
        severity: Severity::Medium,
        target: Target::TfTypes(&["aws_s3_bucket"]),
        rationale: "S3 accepts HTTP as well as HTTPS requests; only a bucket policy denying requests where aws:SecureTransport is false guarantees data is encrypted in transit.",
        remediation: "Add a bucket policy statement: Effect Deny, Principal \"*\", Action \"s3:*\", Resource the bucket and its objects, Condition `Bool { \"aws:SecureTransport\" = \"false\" }`.",
        controls: &[(CisAws, "2.1.1"), (Soc2, "CC6.7"), (Nis2, "21(2)(h)"), (Dora, "Art.9(2)")],
        references: &["https://repost.aws/knowledge-center/s3-bucket-policy-for-config-rule"],
        eval: |i| {
            let r = i.resource;
            let policies = companions(i, &["aws_s3_bucket_policy"], "bucket", BUCKET_KEYS);
            let mut docs = Vec::new();
            for p in &policies {
                match policy_doc(p.attrs.get("policy")) {
                    Some(d) => docs.push(d),
                    None => return Vec::new(),
                }
            }
            docs.extend(policy_doc(r.attrs.get("policy")));
            let denies_http = docs.iter().any(|d| statements(d).iter().any(|(_, s)| denies_insecure(s)));
            if denies_http {
                return Vec::new();
            }
            vec![
                Hit::new(format!(
                    "bucket `{}` has no policy denying requests without TLS (aws:SecureTransport)",
                    addr(i)
                ))
                .evidence("/policy", at(&r.attrs, "/policy"), None),
            ]
        },
    },
];

/// A `Deny` statement conditioned on `aws:SecureTransport = false` (or on a minimum `s3:TlsVersion`).
fn denies_insecure(s: &Attr) -> bool {
    let deny = s.get("Effect").and_then(Attr::as_str).is_some_and(|e| e.eq_ignore_ascii_case("Deny"));
    let Some(cond) = s.get("Condition").and_then(Attr::as_object) else { return false };
    let secure_false = cond.iter().filter(|(op, _)| op.starts_with("Bool")).any(|(_, m)| {
        m.as_object().into_iter().flatten().any(|(k, v)| {
            k.eq_ignore_ascii_case("aws:SecureTransport")
                && (v == &json!(false) || strings(Some(v)).iter().any(|x| x.eq_ignore_ascii_case("false")))
        })
    });
    let tls = cond
        .iter()
        .filter(|(op, _)| op.starts_with("NumericLessThan"))
        .any(|(_, m)| m.as_object().is_some_and(|m| m.keys().any(|k| k.eq_ignore_ascii_case("s3:TlsVersion"))));
    deny && (secure_false || tls)
}
