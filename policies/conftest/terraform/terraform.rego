# Policies over `terraform show -json` plan output (input.resource_changes).
# Rego v1 keywords without `import rego.v1` (OPA 1.0 style).
# Run with `--namespace terraform`.
package terraform

public_acls := {"public-read", "public-read-write", "authenticated-read"}

taggable_types := {"aws_s3_bucket", "aws_ebs_volume", "aws_security_group", "aws_instance", "aws_db_instance"}

required_tags := ["owner", "environment"]

# Resources that exist after the apply (a destroy has no `after`).
changes contains rc if {
	some rc in input.resource_changes
	is_object(rc.change.after)
}

# METADATA
# title: S3 buckets must not have a public ACL
# custom:
#   severity: critical
deny contains msg if {
	some rc in changes
	rc.type in {"aws_s3_bucket", "aws_s3_bucket_acl"}
	acl := rc.change.after.acl
	acl in public_acls
	msg := sprintf("%s: the ACL <%s> makes the bucket readable outside the account", [rc.address, acl])
}

# METADATA
# title: SSH must not be open to the internet
# custom:
#   severity: critical
deny contains msg if {
	some rc in changes
	rc.type == "aws_security_group"
	some rule in rc.change.after.ingress
	open_to_world(rule)
	covers_port(rule, 22)
	msg := sprintf("%s: ingress from anywhere to port 22", [rc.address])
}

deny contains msg if {
	some rc in changes
	rc.type == "aws_security_group_rule"
	rule := rc.change.after
	rule.type == "ingress"
	open_to_world(rule)
	covers_port(rule, 22)
	msg := sprintf("%s: ingress from anywhere to port 22", [rc.address])
}

open_to_world(rule) if {
	"0.0.0.0/0" in rule.cidr_blocks
}

open_to_world(rule) if {
	"::/0" in rule.ipv6_cidr_blocks
}

covers_port(rule, port) if {
	rule.from_port <= port
	rule.to_port >= port
}

# Protocol -1 means all protocols and all ports.
covers_port(rule, _) if {
	rule.protocol == "-1"
}

# METADATA
# title: EBS volumes must be encrypted
# custom:
#   severity: high
deny contains msg if {
	some rc in changes
	rc.type == "aws_ebs_volume"
	not rc.change.after.encrypted == true
	msg := sprintf("%s: the volume is not encrypted", [rc.address])
}

# METADATA
# title: Resources should carry the owner and environment tags
# custom:
#   severity: low
warn contains msg if {
	some rc in changes
	rc.type in taggable_types
	tags := object.get(rc.change.after, "tags", {})
	missing := [t | some t in required_tags; not has_tag(tags, t)]
	count(missing) > 0
	msg := sprintf("%s is missing the tag(s) %s", [rc.address, concat(", ", missing)])
}

has_tag(tags, key) if {
	is_object(tags)
	tags[key] != ""
}
