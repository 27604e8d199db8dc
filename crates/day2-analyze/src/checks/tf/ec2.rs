//! EC2 and VPC: instance metadata service v2, public IPs, EBS encryption (volumes, instance block devices, account
//! default) and VPC flow logs.

use day2_model::{Attr, Inventory};

use super::{addr, at, block, blocks, companions, falsy, text, truthy};
use crate::checks::prelude::*;

/// Is EBS encryption by default declared on (the resource's `enabled` defaults to true)?
fn ebs_default_encryption(inv: &Inventory) -> bool {
    inv.of_kind("aws_ebs_encryption_by_default").any(|r| !falsy(r.attrs.get("enabled")))
}

/// Does an account-level `aws_ec2_instance_metadata_defaults` require IMDSv2?
fn imds_defaults_required(inv: &Inventory) -> bool {
    inv.of_kind("aws_ec2_instance_metadata_defaults").any(|r| text(&r.attrs, "/http_tokens") == Some("required"))
}

pub(super) static CHECKS: &[Check] = &[
    Check {
        id: "TF-EC2-001",
        title: "Instance metadata service does not require IMDSv2",
        domain: Domain::Security,
        severity: Severity::High,
        target: Target::TfTypes(&["aws_instance", "aws_launch_template"]),
        rationale: "IMDSv1 answers plain GET requests, so an SSRF bug or an open proxy on the instance hands out the instance role's temporary credentials. IMDSv2 requires a session token obtained with a PUT, which SSRF cannot forge.",
        remediation: "Set `metadata_options { http_tokens = \"required\" }` (and `http_put_response_hop_limit = 1` unless containers need 2), after checking that the AMI's SDKs support IMDSv2.",
        controls: &[(CisAws, "5.6"), (Soc2, "CC6.1"), (Nis2, "21(2)(i)"), (Dora, "Art.9(4)(c)")],
        references: &["https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/configuring-IMDS-existing-instances.html"],
        eval: |i| {
            let attrs = &i.resource.attrs;
            let opts = block(attrs, "metadata_options");
            let tokens = opts.and_then(|o| o.get("http_tokens")).and_then(Attr::as_str).filter(|s| !s.is_empty());
            let disabled = opts.and_then(|o| o.get("http_endpoint")).and_then(Attr::as_str) == Some("disabled");
            if tokens == Some("required") || disabled || (tokens.is_none() && imds_defaults_required(i.inventory)) {
                return Vec::new();
            }
            let fix = if attrs.pointer("/metadata_options/0").is_some() {
                super::add("/metadata_options/0/http_tokens", json!("required"))
            } else {
                super::add("/metadata_options", json!([{"http_tokens": "required"}]))
            };
            vec![
                Hit::new(format!(
                    "`{}` does not require IMDSv2 (http_tokens is {})",
                    addr(i),
                    tokens.unwrap_or("not set")
                ))
                .evidence(
                    "/metadata_options/0/http_tokens",
                    at(attrs, "/metadata_options/0/http_tokens"),
                    Some(json!("required")),
                )
                .fix("Set metadata_options.http_tokens to required", fix),
            ]
        },
    },
    Check {
        id: "TF-EC2-002",
        title: "Instance gets a public IP address",
        domain: Domain::Security,
        severity: Severity::Medium,
        target: Target::TfTypes(&["aws_instance", "aws_launch_template"]),
        rationale: "An instance with a public IPv4 address is reachable from the internet whenever a security group rule allows it; keeping instances in private subnets behind load balancers or NAT removes that exposure (and the public IPv4 charge).",
        remediation: "Set `associate_public_ip_address = false`, place the instance in a private subnet and expose it through a load balancer; use SSM Session Manager for access.",
        controls: &[(Soc2, "CC6.6"), (Nis2, "21(2)(i)"), (Dora, "Art.9(4)(c)")],
        references: &["https://docs.aws.amazon.com/securityhub/latest/userguide/ec2-controls.html#ec2-9"],
        eval: |i| {
            let attrs = &i.resource.attrs;
            if i.resource.kind == "aws_instance" {
                return if truthy(attrs.get("associate_public_ip_address")) {
                    vec![Hit::new(format!("instance `{}` is given a public IP address", addr(i))).evidence(
                        "/associate_public_ip_address",
                        at(attrs, "/associate_public_ip_address"),
                        Some(json!(false)),
                    )]
                } else {
                    Vec::new()
                };
            }
            blocks(attrs, "network_interfaces")
                .filter(|(_, n)| truthy(n.get("associate_public_ip_address")))
                .map(|(n, v)| {
                    Hit::new(format!("launch template `{}` gives network interface {n} a public IP address", addr(i)))
                        .subject(format!("network interface {n}"))
                        .evidence(
                            format!("/network_interfaces/{n}/associate_public_ip_address"),
                            v.get("associate_public_ip_address").cloned().unwrap_or_default(),
                            Some(json!(false)),
                        )
                })
                .collect()
        },
    },
    Check {
        id: "TF-EC2-003",
        title: "Instance block device is not encrypted",
        domain: Domain::Security,
        severity: Severity::Medium,
        target: Target::TfTypes(&["aws_instance", "aws_launch_template"]),
        rationale: "Unencrypted root and data volumes, and their snapshots, expose the instance's data to anyone who can copy or share a snapshot. Encryption is free and transparent; it must be chosen at creation.",
        remediation: "Set `encrypted = true` on `root_block_device` and every `ebs_block_device` (or `block_device_mappings.ebs` in launch templates), or enable `aws_ebs_encryption_by_default`. Existing volumes must be replaced (snapshot, copy encrypted, restore).",
        controls: &[(CisAws, "2.2.1"), (Soc2, "CC6.1"), (Nis2, "21(2)(h)"), (Dora, "Art.9(2)")],
        references: &["https://docs.aws.amazon.com/ebs/latest/userguide/ebs-encryption.html"],
        eval: |i| {
            if ebs_default_encryption(i.inventory) {
                return Vec::new();
            }
            let attrs = &i.resource.attrs;
            let mut devices: Vec<(String, String)> = Vec::new();
            if i.resource.kind == "aws_instance" {
                match attrs.pointer("/root_block_device/0") {
                    Some(root) if !truthy(root.get("encrypted")) => {
                        devices.push(("root_block_device".into(), "/root_block_device/0/encrypted".into()))
                    }
                    None => devices.push(("root_block_device".into(), "/root_block_device".into())),
                    _ => {}
                }
                // In state, volumes attached through `aws_volume_attachment` show up here too; TF-EBS-001 covers those.
                let separate = |d: &Attr| {
                    text(d, "/volume_id").is_some_and(|v| {
                        i.inventory.of_kind("aws_ebs_volume").any(|e| text(&e.attrs, "/id") == Some(v))
                    })
                };
                for (n, d) in
                    blocks(attrs, "ebs_block_device").filter(|(_, d)| !truthy(d.get("encrypted")) && !separate(d))
                {
                    let name = d.get("device_name").and_then(Attr::as_str).map_or_else(|| n.to_string(), str::to_owned);
                    devices.push((format!("ebs_block_device {name}"), format!("/ebs_block_device/{n}/encrypted")));
                }
            } else {
                for (n, d) in blocks(attrs, "block_device_mappings") {
                    // A volume made from a snapshot takes the snapshot's encryption: one known only after apply
                    // leaves it undecided (the evidence below is `encrypted`, so the engine does not see that).
                    let snapshot = format!("/block_device_mappings/{n}/ebs/0/snapshot_id");
                    let snapshot_unknown = i.resource.unknown_at(&snapshot);
                    if !snapshot_unknown
                        && d.pointer("/ebs/0").is_some_and(|e| {
                            !truthy(e.get("encrypted"))
                                && e.get("snapshot_id").and_then(Attr::as_str).is_none_or(str::is_empty)
                        })
                    {
                        let name =
                            d.get("device_name").and_then(Attr::as_str).map_or_else(|| n.to_string(), str::to_owned);
                        devices.push((
                            format!("block_device_mappings {name}"),
                            format!("/block_device_mappings/{n}/ebs/0/encrypted"),
                        ));
                    }
                }
            }
            devices
                .into_iter()
                .map(|(subject, path)| {
                    Hit::new(format!("`{}` {subject} is not encrypted", addr(i)))
                        .evidence(path.clone(), at(attrs, &path), Some(json!(true)))
                        .subject(subject)
                })
                .collect()
        },
    },
    Check {
        id: "TF-EBS-001",
        title: "EBS volume is not encrypted",
        domain: Domain::Security,
        severity: Severity::Medium,
        target: Target::TfTypes(&["aws_ebs_volume"]),
        rationale: "An unencrypted EBS volume, and every snapshot taken from it, stores data in clear; a shared or leaked snapshot exposes it. Encryption with KMS is free, transparent and can only be chosen at creation.",
        remediation: "Set `encrypted = true` (and `kms_key_id` for a customer managed key), or enable `aws_ebs_encryption_by_default`. An existing volume must be replaced via an encrypted snapshot copy.",
        controls: &[(CisAws, "2.2.1"), (Soc2, "CC6.1"), (Nis2, "21(2)(h)"), (Dora, "Art.9(2)")],
        references: &["https://docs.aws.amazon.com/ebs/latest/userguide/ebs-encryption.html"],
        eval: |i| {
            let attrs = &i.resource.attrs;
            if truthy(attrs.get("encrypted")) || ebs_default_encryption(i.inventory) {
                return Vec::new();
            }
            vec![Hit::new(format!("EBS volume `{}` is not encrypted", addr(i))).evidence(
                "/encrypted",
                at(attrs, "/encrypted"),
                Some(json!(true)),
            )]
        },
    },
    Check {
        id: "TF-EBS-002",
        title: "EBS encryption by default is disabled",
        domain: Domain::Security,
        severity: Severity::Medium,
        target: Target::TfTypes(&["aws_ebs_encryption_by_default"]),
        rationale: "With EBS encryption by default on, every new volume and snapshot copy in the region is encrypted even when a template forgets to ask; explicitly turning it off removes that safety net.",
        remediation: "Set `enabled = true` on `aws_ebs_encryption_by_default` (in every region you use). Only new volumes are affected.",
        controls: &[(CisAws, "2.2.1"), (Soc2, "CC6.1"), (Nis2, "21(2)(h)"), (Dora, "Art.9(2)")],
        references: &["https://docs.aws.amazon.com/ebs/latest/userguide/encryption-by-default.html"],
        eval: |i| {
            let attrs = &i.resource.attrs;
            if !falsy(attrs.get("enabled")) {
                return Vec::new();
            }
            vec![
                Hit::new(format!("`{}` turns EBS encryption by default off", addr(i)))
                    .evidence("/enabled", at(attrs, "/enabled"), Some(json!(true)))
                    .fix("Set enabled to true", super::add("/enabled", json!(true))),
            ]
        },
    },
    Check {
        id: "TF-VPC-001",
        title: "VPC has no flow logs",
        domain: Domain::Security,
        severity: Severity::Medium,
        target: Target::TfTypes(&["aws_vpc", "aws_default_vpc"]),
        rationale: "VPC flow logs record accepted and rejected connections; without them there is no network-level evidence to detect scanning, exfiltration or lateral movement, or to investigate an incident afterwards.",
        remediation: "Add an `aws_flow_log` with `vpc_id = aws_vpc.<name>.id`, `traffic_type = \"REJECT\"` (or ALL) and a CloudWatch Logs or S3 destination with retention.",
        controls: &[(CisAws, "3.7"), (Soc2, "CC7.2"), (Nis2, "21(2)(b)"), (Dora, "Art.10")],
        references: &["https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs.html"],
        eval: |i| {
            if !companions(i, &["aws_flow_log"], "vpc_id", &["id"]).is_empty() {
                return Vec::new();
            }
            vec![Hit::new(format!("VPC `{}` has no aws_flow_log", addr(i))).evidence(
                "/id",
                at(&i.resource.attrs, "/id"),
                None,
            )]
        },
    },
];
