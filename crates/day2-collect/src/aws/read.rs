//! Reading AWS with the SDK into Terraform-shaped attributes, one type at a time. Each reader returns the objects of
//! its types or the error that stopped it; [`collect`] turns those into the snapshot and its diagnostics.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use chrono::Utc;
use day2_model::{Diagnostic, DiagnosticKind, Examined, Origin, Snapshot};
use serde_json::{Map, Value, json};

use super::{AwsConfig, live_resource};

/// What a reader yields: objects as (Terraform type, Terraform-shaped attributes), or why it failed.
type Objects = Result<Vec<(&'static str, Value)>, String>;

/// Spaces requests to one account evenly, so a large inventory does not trip API throttling.
struct Pace {
    interval: Duration,
    next: tokio::sync::Mutex<Instant>,
}

impl Pace {
    fn new(per_second: f64) -> Self {
        let interval = Duration::from_secs_f64(1.0 / per_second.max(0.01));
        Pace { interval, next: tokio::sync::Mutex::new(Instant::now()) }
    }

    async fn wait(&self) {
        let mut next = self.next.lock().await;
        let now = Instant::now();
        if *next > now {
            tokio::time::sleep(*next - now).await;
        }
        *next = (*next).max(now) + self.interval;
    }
}

struct Clients {
    ec2: aws_sdk_ec2::Client,
    s3: aws_sdk_s3::Client,
    iam: aws_sdk_iam::Client,
    rds: aws_sdk_rds::Client,
    region: String,
    pace: Pace,
}

/// Reads the account and region. Types that fail are reported and left unexamined; the rest is kept.
pub async fn collect(config: &AwsConfig) -> Snapshot {
    let source = config.source();
    let mut snapshot = Snapshot { source: source.clone(), complete: true, ..Snapshot::default() };
    let clients = clients(config).await;
    let place = format!("aws:{}", config.scope());
    let mut examined: BTreeSet<String> = BTreeSet::new();
    let mut unread_buckets: Vec<String> = Vec::new();
    let readers: [(&[&'static str], Objects); 6] = [
        (&["aws_vpc", "aws_subnet"], network(&clients, config).await),
        (&["aws_security_group"], security_groups(&clients, config).await),
        (&["aws_instance", "aws_ebs_volume"], compute(&clients, config).await),
        (
            &[
                "aws_s3_bucket",
                "aws_s3_bucket_acl",
                "aws_s3_bucket_public_access_block",
                "aws_s3_bucket_server_side_encryption_configuration",
                "aws_s3_bucket_versioning",
            ],
            buckets(&clients, config, &mut unread_buckets).await,
        ),
        (&["aws_iam_role", "aws_iam_policy"], iam(&clients, config).await),
        (&["aws_db_instance"], databases(&clients, config).await),
    ];
    for (kinds, result) in readers {
        let kinds: Vec<&str> = kinds.iter().copied().filter(|k| config.reads(k)).collect();
        if kinds.is_empty() {
            continue;
        }
        match result {
            Ok(objects) => {
                examined.extend(kinds.iter().map(|k| (*k).to_owned()));
                let observed_at = Utc::now();
                for (kind, attrs) in objects.into_iter().filter(|(kind, _)| config.reads(kind)) {
                    let origin = Origin::Live { source: source.clone(), observed_at };
                    snapshot.resources.extend(live_resource(config, kind, &attrs, origin));
                }
            }
            Err(message) => {
                snapshot.complete = false;
                snapshot.diagnostics.push(Diagnostic::new(
                    DiagnosticKind::Unreadable,
                    &place,
                    None,
                    format!("cannot read {}: {message}", kinds.join(", ")),
                ));
            }
        }
    }
    // A bucket that could not be read leaves its settings unknown: the other buckets are kept, nothing is missing.
    for problem in unread_buckets {
        snapshot.complete = false;
        snapshot.diagnostics.push(Diagnostic::new(DiagnosticKind::Unreadable, &place, None, problem));
    }
    tracing::info!(scope = %config.scope(), region = %clients.region, objects = snapshot.resources.len(), "Read AWS.");
    snapshot.examined = Examined::Listed { kinds: examined, namespaces: None };
    snapshot
}

async fn clients(config: &AwsConfig) -> Clients {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::adaptive().with_max_attempts(config.max_attempts.max(1)))
        .timeout_config(
            // Each attempt is bounded, so an endpoint that accepts and never answers fails the read, not hangs it.
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(config.timeout_seconds.clamp(1, 10)))
                .operation_attempt_timeout(Duration::from_secs(config.timeout_seconds.max(1)))
                .build(),
        );
    if let Some(region) = &config.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    if let Some(profile) = &config.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(url) = &config.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    let sdk = loader.load().await;
    // Path-style addressing works with every endpoint, including test servers and VPC endpoints without DNS.
    let s3 = aws_sdk_s3::config::Builder::from(&sdk).force_path_style(config.endpoint_url.is_some()).build();
    Clients {
        ec2: aws_sdk_ec2::Client::new(&sdk),
        s3: aws_sdk_s3::Client::from_conf(s3),
        iam: aws_sdk_iam::Client::new(&sdk),
        rds: aws_sdk_rds::Client::new(&sdk),
        region: sdk.region().map(ToString::to_string).unwrap_or_default(),
        pace: Pace::new(config.requests_per_second),
    }
}

/// The SDK error with its causes, which name what went wrong (credentials, endpoint, permission).
fn explain(e: &(impl std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

fn ec2_tags(tags: &[aws_sdk_ec2::types::Tag]) -> Value {
    let map: Map<String, Value> = tags
        .iter()
        .filter_map(|t| Some((t.key()?.to_owned(), Value::String(t.value().unwrap_or_default().to_owned()))))
        .collect();
    Value::Object(map)
}

fn wants(config: &AwsConfig, kinds: &[&str]) -> bool {
    kinds.iter().any(|k| config.reads(k))
}

/// VPCs and subnets, but the default VPC and its default subnets, which AWS makes and Terraform does not.
async fn network(c: &Clients, config: &AwsConfig) -> Objects {
    if !wants(config, &["aws_vpc", "aws_subnet"]) {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    let mut pages = c.ec2.describe_vpcs().into_paginator().send();
    while let Some(page) = {
        c.pace.wait().await;
        pages.next().await
    } {
        for vpc in page.map_err(|e| explain(&e))?.vpcs() {
            if vpc.is_default() == Some(true) {
                continue;
            }
            out.push((
                "aws_vpc",
                json!({
                    "id": vpc.vpc_id(), "cidr_block": vpc.cidr_block(),
                    "instance_tenancy": vpc.instance_tenancy().map(|t| t.as_str()), "tags": ec2_tags(vpc.tags()),
                }),
            ));
        }
    }
    let mut pages = c.ec2.describe_subnets().into_paginator().send();
    while let Some(page) = {
        c.pace.wait().await;
        pages.next().await
    } {
        for subnet in page.map_err(|e| explain(&e))?.subnets() {
            if subnet.default_for_az() == Some(true) {
                continue;
            }
            out.push((
                "aws_subnet",
                json!({
                    "id": subnet.subnet_id(), "vpc_id": subnet.vpc_id(), "cidr_block": subnet.cidr_block(),
                    "availability_zone": subnet.availability_zone(),
                    "map_public_ip_on_launch": subnet.map_public_ip_on_launch(), "tags": ec2_tags(subnet.tags()),
                }),
            ));
        }
    }
    Ok(out)
}

/// Security groups with their rules in Terraform's inline form, but each VPC's `default` group.
async fn security_groups(c: &Clients, config: &AwsConfig) -> Objects {
    if !wants(config, &["aws_security_group"]) {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    let mut pages = c.ec2.describe_security_groups().into_paginator().send();
    while let Some(page) = {
        c.pace.wait().await;
        pages.next().await
    } {
        for group in page.map_err(|e| explain(&e))?.security_groups() {
            if group.group_name() == Some("default") {
                continue;
            }
            out.push((
                "aws_security_group",
                json!({
                    "id": group.group_id(), "name": group.group_name(), "description": group.description(),
                    "vpc_id": group.vpc_id(), "ingress": rules(group.ip_permissions()),
                    "egress": rules(group.ip_permissions_egress()), "tags": ec2_tags(group.tags()),
                }),
            ));
        }
    }
    Ok(out)
}

/// One Terraform rule per source of each permission, so each keeps its own description.
fn rules(permissions: &[aws_sdk_ec2::types::IpPermission]) -> Value {
    let mut out = Vec::new();
    for p in permissions {
        let rule = |field: &str, source: &str, description: Option<&str>| {
            let mut rule = Map::new();
            rule.insert("protocol".to_owned(), json!(p.ip_protocol()));
            rule.insert("from_port".to_owned(), json!(p.from_port().unwrap_or(0)));
            rule.insert("to_port".to_owned(), json!(p.to_port().unwrap_or(0)));
            rule.insert("description".to_owned(), json!(description.unwrap_or_default()));
            rule.insert(field.to_owned(), json!([source]));
            Value::Object(rule)
        };
        out.extend(p.ip_ranges().iter().filter_map(|r| Some(rule("cidr_blocks", r.cidr_ip()?, r.description()))));
        out.extend(
            p.ipv6_ranges().iter().filter_map(|r| Some(rule("ipv6_cidr_blocks", r.cidr_ipv6()?, r.description()))),
        );
        out.extend(
            p.prefix_list_ids()
                .iter()
                .filter_map(|r| Some(rule("prefix_list_ids", r.prefix_list_id()?, r.description()))),
        );
        out.extend(
            p.user_id_group_pairs()
                .iter()
                .filter_map(|r| Some(rule("security_groups", r.group_id()?, r.description()))),
        );
    }
    Value::Array(out)
}

/// Instances (not terminated) and EBS volumes of their own.
async fn compute(c: &Clients, config: &AwsConfig) -> Objects {
    if !wants(config, &["aws_instance", "aws_ebs_volume"]) {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    // Volumes made with their instance (root and inline block devices) are declared in the instance and go with it.
    let mut with_instance: BTreeSet<String> = BTreeSet::new();
    let mut pages = c.ec2.describe_instances().into_paginator().send();
    while let Some(page) = {
        c.pace.wait().await;
        pages.next().await
    } {
        for instance in page.map_err(|e| explain(&e))?.reservations().iter().flat_map(|r| r.instances()) {
            let state = instance.state().and_then(|s| s.name()).map(|n| n.as_str());
            if matches!(state, Some("terminated" | "shutting-down")) {
                continue;
            }
            for device in instance.block_device_mappings() {
                let Some(ebs) = device.ebs() else { continue };
                if device.device_name() == instance.root_device_name() || ebs.delete_on_termination() == Some(true) {
                    with_instance.extend(ebs.volume_id().map(str::to_owned));
                }
            }
            let groups: Vec<&str> = instance.security_groups().iter().filter_map(|g| g.group_id()).collect();
            let monitoring = instance.monitoring().and_then(|m| m.state()).map(|s| s.as_str());
            out.push((
                "aws_instance",
                json!({
                    "id": instance.instance_id(), "ami": instance.image_id(),
                    "instance_type": instance.instance_type().map(|t| t.as_str()), "subnet_id": instance.subnet_id(),
                    "key_name": instance.key_name(), "vpc_security_group_ids": groups,
                    "monitoring": matches!(monitoring, Some("enabled" | "pending")),
                    "ebs_optimized": instance.ebs_optimized(), "tags": ec2_tags(instance.tags()),
                }),
            ));
        }
    }
    if config.reads("aws_ebs_volume") {
        let mut pages = c.ec2.describe_volumes().into_paginator().send();
        while let Some(page) = {
            c.pace.wait().await;
            pages.next().await
        } {
            for volume in page.map_err(|e| explain(&e))?.volumes() {
                if volume.volume_id().is_some_and(|id| with_instance.contains(id)) {
                    continue;
                }
                out.push((
                    "aws_ebs_volume",
                    json!({
                        "id": volume.volume_id(), "availability_zone": volume.availability_zone(), "size": volume.size(),
                        "type": volume.volume_type().map(|t| t.as_str()), "encrypted": volume.encrypted(),
                        "tags": ec2_tags(volume.tags()),
                    }),
                ));
            }
        }
    }
    Ok(out)
}

/// S3 buckets of this region with their settings. Listing the buckets failing fails the read; one bucket failing
/// (access denied by its policy, deleted meanwhile) is reported in `unread` and the other buckets are kept.
async fn buckets(c: &Clients, config: &AwsConfig, unread: &mut Vec<String>) -> Objects {
    let kinds = [
        "aws_s3_bucket",
        "aws_s3_bucket_acl",
        "aws_s3_bucket_public_access_block",
        "aws_s3_bucket_server_side_encryption_configuration",
        "aws_s3_bucket_versioning",
    ];
    if !wants(config, &kinds) {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    let mut names = Vec::new();
    let mut pages = c.s3.list_buckets().into_paginator().send();
    while let Some(page) = {
        c.pace.wait().await;
        pages.next().await
    } {
        names.extend(page.map_err(|e| explain(&e))?.buckets().iter().filter_map(|b| b.name().map(str::to_owned)));
    }
    for bucket in names {
        match bucket_settings(c, &bucket).await {
            Ok(settings) => out.extend(settings),
            Err(message) => unread.push(format!("cannot read S3 bucket {bucket}: {message}")),
        }
    }
    Ok(out)
}

/// One bucket's objects (the bucket and its ACL, public access block, encryption and versioning), none when the
/// bucket lives in another region. Settings a bucket does not have (no tags, no public access block) are absent.
async fn bucket_settings(c: &Clients, bucket: &str) -> Objects {
    use aws_sdk_s3::error::ProvideErrorMetadata;
    // Only an unset setting is absent; anything else (denied, throttled for good) fails the read.
    fn unset<E: ProvideErrorMetadata + std::error::Error + 'static>(e: E, absent: &str) -> Result<(), String> {
        if e.code() == Some(absent) { Ok(()) } else { Err(explain(&e)) }
    }
    let mut out = Vec::new();
    c.pace.wait().await;
    let location = c.s3.get_bucket_location().bucket(bucket).send().await.map_err(|e| explain(&e))?;
    let region = match location.location_constraint().map(|l| l.as_str()) {
        // No location constraint is us-east-1, S3's first region; `EU` is how early eu-west-1 buckets answer.
        None | Some("") => "us-east-1",
        Some("EU") => "eu-west-1",
        Some(region) => region,
    };
    if region != c.region {
        return Ok(out);
    }
    c.pace.wait().await;
    let tags = match c.s3.get_bucket_tagging().bucket(bucket).send().await {
        Ok(t) => t.tag_set().iter().map(|t| (t.key().to_owned(), Value::String(t.value().to_owned()))).collect(),
        Err(e) => {
            unset(e, "NoSuchTagSet")?;
            Map::new()
        }
    };
    out.push(("aws_s3_bucket", json!({"bucket": bucket, "tags": tags})));

    c.pace.wait().await;
    let acl = c.s3.get_bucket_acl().bucket(bucket).send().await.map_err(|e| explain(&e))?;
    let grants: Vec<Value> = acl
        .grants()
        .iter()
        .map(|g| {
            let grantee = g.grantee();
            json!({
                "grantee": [{"id": grantee.and_then(|g| g.id()), "uri": grantee.and_then(|g| g.uri()),
                             "type": grantee.map(|g| g.r#type().as_str())}],
                "permission": g.permission().map(|p| p.as_str()),
            })
        })
        .collect();
    let owner = acl.owner().and_then(|o| o.id());
    out.push((
        "aws_s3_bucket_acl",
        json!({"bucket": bucket, "access_control_policy": [{"owner": [{"id": owner}], "grant": grants}]}),
    ));

    c.pace.wait().await;
    match c.s3.get_public_access_block().bucket(bucket).send().await {
        Ok(block) => {
            if let Some(b) = block.public_access_block_configuration() {
                out.push((
                    "aws_s3_bucket_public_access_block",
                    json!({
                        "bucket": bucket, "block_public_acls": b.block_public_acls(),
                        "block_public_policy": b.block_public_policy(), "ignore_public_acls": b.ignore_public_acls(),
                        "restrict_public_buckets": b.restrict_public_buckets(),
                    }),
                ));
            }
        }
        Err(e) => unset(e, "NoSuchPublicAccessBlockConfiguration")?,
    }

    c.pace.wait().await;
    match c.s3.get_bucket_encryption().bucket(bucket).send().await {
        Ok(encryption) => {
            let rules: Vec<Value> = encryption
                .server_side_encryption_configuration()
                .map(|c| c.rules())
                .unwrap_or_default()
                .iter()
                .map(|r| {
                    let by_default = r.apply_server_side_encryption_by_default();
                    json!({
                        "apply_server_side_encryption_by_default": [{
                            "sse_algorithm": by_default.map(|d| d.sse_algorithm().as_str()),
                            "kms_master_key_id": by_default.and_then(|d| d.kms_master_key_id()),
                        }],
                        "bucket_key_enabled": r.bucket_key_enabled(),
                    })
                })
                .collect();
            out.push(("aws_s3_bucket_server_side_encryption_configuration", json!({"bucket": bucket, "rule": rules})));
        }
        Err(e) => unset(e, "ServerSideEncryptionConfigurationNotFoundError")?,
    }

    c.pace.wait().await;
    let versioning = c.s3.get_bucket_versioning().bucket(bucket).send().await.map_err(|e| explain(&e))?;
    let status = versioning.status().map(|s| s.as_str());
    out.push((
        "aws_s3_bucket_versioning",
        json!({"bucket": bucket, "versioning_configuration": [{"status": status.unwrap_or("Disabled")}]}),
    ));
    Ok(out)
}

/// IAM policy documents come URL-encoded.
fn decode(document: Option<&str>) -> Option<String> {
    let text = document?;
    Some(percent_encoding::percent_decode_str(text).decode_utf8_lossy().into_owned())
}

fn iam_tags(tags: &[aws_sdk_iam::types::Tag]) -> Value {
    Value::Object(tags.iter().map(|t| (t.key().to_owned(), Value::String(t.value().to_owned()))).collect())
}

/// Roles (but AWS's service-linked ones) and customer-managed policies with their default version's document.
async fn iam(c: &Clients, config: &AwsConfig) -> Objects {
    let mut out = Vec::new();
    if config.reads("aws_iam_role") {
        let mut pages = c.iam.list_roles().into_paginator().send();
        while let Some(page) = {
            c.pace.wait().await;
            pages.next().await
        } {
            for role in page.map_err(|e| explain(&e))?.roles() {
                if role.path().starts_with("/aws-service-role/") || role.path().starts_with("/aws-reserved/") {
                    continue;
                }
                c.pace.wait().await;
                let tags = c.iam.list_role_tags().role_name(role.role_name()).send().await.map_err(|e| explain(&e))?;
                out.push((
                    "aws_iam_role",
                    json!({
                        "name": role.role_name(), "arn": role.arn(), "path": role.path(), "description": role.description(),
                        "max_session_duration": role.max_session_duration(),
                        "assume_role_policy": decode(role.assume_role_policy_document()), "tags": iam_tags(tags.tags()),
                    }),
                ));
            }
        }
    }
    if config.reads("aws_iam_policy") {
        let mut pages = c.iam.list_policies().scope(aws_sdk_iam::types::PolicyScopeType::Local).into_paginator().send();
        while let Some(page) = {
            c.pace.wait().await;
            pages.next().await
        } {
            for listed in page.map_err(|e| explain(&e))?.policies() {
                let (Some(arn), Some(version)) = (listed.arn(), listed.default_version_id()) else { continue };
                c.pace.wait().await;
                let policy = c.iam.get_policy().policy_arn(arn).send().await.map_err(|e| explain(&e))?;
                c.pace.wait().await;
                let document = c
                    .iam
                    .get_policy_version()
                    .policy_arn(arn)
                    .version_id(version)
                    .send()
                    .await
                    .map_err(|e| explain(&e))?;
                let policy = policy.policy();
                out.push((
                    "aws_iam_policy",
                    json!({
                        "name": listed.policy_name(), "path": listed.path(),
                        "description": policy.and_then(|p| p.description()),
                        "policy": decode(document.policy_version().and_then(|v| v.document())),
                        "tags": iam_tags(policy.map(|p| p.tags()).unwrap_or_default()),
                    }),
                ));
            }
        }
    }
    Ok(out)
}

/// RDS instances, but Aurora cluster members, which Terraform declares as `aws_rds_cluster_instance`.
async fn databases(c: &Clients, config: &AwsConfig) -> Objects {
    if !config.reads("aws_db_instance") {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    let mut pages = c.rds.describe_db_instances().into_paginator().send();
    while let Some(page) = {
        c.pace.wait().await;
        pages.next().await
    } {
        for db in page.map_err(|e| explain(&e))?.db_instances().iter().filter(|db| db.db_cluster_identifier().is_none())
        {
            let tags: Map<String, Value> = db
                .tag_list()
                .iter()
                .filter_map(|t| Some((t.key()?.to_owned(), Value::String(t.value().unwrap_or_default().to_owned()))))
                .collect();
            out.push((
                "aws_db_instance",
                json!({
                    "identifier": db.db_instance_identifier(), "engine": db.engine(),
                    "engine_version": db.engine_version(), "instance_class": db.db_instance_class(),
                    "allocated_storage": db.allocated_storage(), "storage_type": db.storage_type(),
                    "storage_encrypted": db.storage_encrypted(), "multi_az": db.multi_az(),
                    "publicly_accessible": db.publicly_accessible(),
                    "backup_retention_period": db.backup_retention_period(),
                    "deletion_protection": db.deletion_protection(), "tags": tags,
                }),
            ));
        }
    }
    Ok(out)
}
