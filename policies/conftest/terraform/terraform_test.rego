package terraform

# Rego v1 keywords without `import rego.v1`.

std_tags := {"owner": "team-platform", "environment": "prod"}

plan(changes) := {"format_version": "1.2", "resource_changes": changes}

change(address, rtype, after) := {
	"address": address,
	"type": rtype,
	"change": {"actions": ["create"], "after": after},
}

test_public_bucket_acl_denied if {
	inp := plan([change("aws_s3_bucket_acl.assets", "aws_s3_bucket_acl", {"bucket": "assets", "acl": "public-read"})])
	denies := deny with input as inp
	denies == {"aws_s3_bucket_acl.assets: the ACL <public-read> makes the bucket readable outside the account"}
}

test_private_bucket_allowed if {
	inp := plan([change("aws_s3_bucket.logs", "aws_s3_bucket", {"bucket": "logs", "acl": "private", "tags": std_tags})])
	count(deny) == 0 with input as inp
	count(warn) == 0 with input as inp
}

test_ssh_open_to_world_denied if {
	sg := {
		"name": "bastion",
		"tags": std_tags,
		"ingress": [
			{"from_port": 443, "to_port": 443, "protocol": "tcp", "cidr_blocks": ["0.0.0.0/0"]},
			{"from_port": 22, "to_port": 22, "protocol": "tcp", "cidr_blocks": ["0.0.0.0/0"]},
		],
	}
	inp := plan([change("aws_security_group.bastion", "aws_security_group", sg)])
	denies := deny with input as inp
	denies == {"aws_security_group.bastion: ingress from anywhere to port 22"}
}

test_ssh_from_vpn_allowed if {
	sg := {
		"name": "bastion",
		"tags": std_tags,
		"ingress": [{"from_port": 22, "to_port": 22, "protocol": "tcp", "cidr_blocks": ["10.8.0.0/16"]}],
	}
	inp := plan([change("aws_security_group.bastion", "aws_security_group", sg)])
	count(deny) == 0 with input as inp
}

test_all_protocols_rule_covers_ssh if {
	rule := {"type": "ingress", "from_port": 0, "to_port": 0, "protocol": "-1", "ipv6_cidr_blocks": ["::/0"]}
	inp := plan([change("aws_security_group_rule.any", "aws_security_group_rule", rule)])
	denies := deny with input as inp
	some msg in denies
	startswith(msg, "aws_security_group_rule.any:")
}

test_unencrypted_volume_denied if {
	inp := plan([change("aws_ebs_volume.data", "aws_ebs_volume", {"size": 100, "encrypted": false, "tags": std_tags})])
	denies := deny with input as inp
	denies == {"aws_ebs_volume.data: the volume is not encrypted"}
}

test_encrypted_volume_allowed if {
	inp := plan([change("aws_ebs_volume.data", "aws_ebs_volume", {"size": 100, "encrypted": true, "tags": std_tags})])
	count(deny) == 0 with input as inp
}

test_missing_tags_warn if {
	inp := plan([change("aws_ebs_volume.scratch", "aws_ebs_volume", {"size": 20, "encrypted": true, "tags": {"owner": "team-data"}})])
	warnings := warn with input as inp
	warnings == {"aws_ebs_volume.scratch is missing the tag(s) environment"}
}

test_null_tags_warn_for_both if {
	inp := plan([change("aws_instance.web", "aws_instance", {"instance_type": "t3.small", "tags": null})])
	warnings := warn with input as inp
	warnings == {"aws_instance.web is missing the tag(s) owner, environment"}
}

test_destroyed_resources_ignored if {
	destroyed := {
		"address": "aws_ebs_volume.old",
		"type": "aws_ebs_volume",
		"change": {"actions": ["delete"], "before": {"encrypted": false}, "after": null},
	}
	inp := plan([destroyed])
	count(deny) == 0 with input as inp
	count(warn) == 0 with input as inp
}
