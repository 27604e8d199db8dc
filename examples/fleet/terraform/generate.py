#!/usr/bin/env python3
"""Writes core/terraform.tfstate (state v4) and edge/plan.json (`terraform show -json` of a saved plan).

The AWS provider cannot be downloaded on the machines this project builds on, so these files are generated here
in exactly the shapes Terraform 1.11 writes (compare crates/day2-collect/tests/fixtures/terraform/, produced by a real
terraform with the built-in terraform_data resource). Run: python3 generate.py
"""
import json, os

ACCOUNT = "123456789012"
REGION = "eu-west-1"
TAGS = {"owner": "team-platform", "environment": "prod"}

def arn(service, res):
    return f"arn:aws:{service}:{REGION}:{ACCOUNT}:{res}"

# (module, type, name, index_key, attributes, dependencies)
CORE = [
    (None, "aws_s3_bucket", "assets", None, {"id": "example-shop-assets", "bucket": "example-shop-assets", "arn": "arn:aws:s3:::example-shop-assets", "force_destroy": False, "tags": {**TAGS, "owner": "team-storefront"}, "tags_all": {**TAGS, "owner": "team-storefront"}}, []),
    (None, "aws_s3_bucket_public_access_block", "assets", None, {"id": "example-shop-assets", "bucket": "example-shop-assets", "block_public_acls": True, "block_public_policy": True, "ignore_public_acls": True, "restrict_public_buckets": True}, ["aws_s3_bucket.assets"]),
    (None, "aws_s3_bucket_server_side_encryption_configuration", "assets", None, {"id": "example-shop-assets", "bucket": "example-shop-assets", "rule": [{"apply_server_side_encryption_by_default": [{"sse_algorithm": "aws:kms", "kms_master_key_id": arn("kms", "key/1234abcd-12ab-34cd-56ef-1234567890ab")}], "bucket_key_enabled": True}]}, ["aws_s3_bucket.assets", "aws_kms_key.data"]),
    (None, "aws_s3_bucket_versioning", "assets", None, {"id": "example-shop-assets", "bucket": "example-shop-assets", "versioning_configuration": [{"status": "Enabled", "mfa_delete": ""}]}, ["aws_s3_bucket.assets"]),
    (None, "aws_s3_bucket", "logs", None, {"id": "example-shop-logs", "bucket": "example-shop-logs", "arn": "arn:aws:s3:::example-shop-logs", "force_destroy": False, "tags": {}, "tags_all": {}}, []),
    (None, "aws_s3_bucket_acl", "logs", None, {"id": "example-shop-logs,public-read", "bucket": "example-shop-logs", "acl": "public-read"}, ["aws_s3_bucket.logs"]),
    ("module.network", "aws_vpc", "main", None, {"id": "vpc-0a1b2c3d4e5f60718", "arn": arn("ec2", "vpc/vpc-0a1b2c3d4e5f60718"), "cidr_block": "10.20.0.0/16", "enable_dns_hostnames": True, "enable_dns_support": True, "tags": {**TAGS, "Name": "shop"}, "tags_all": {**TAGS, "Name": "shop"}}, []),
    ("module.network", "aws_subnet", "private", "eu-west-1a", {"id": "subnet-0aa11bb22cc33dd44", "vpc_id": "vpc-0a1b2c3d4e5f60718", "cidr_block": "10.20.1.0/24", "availability_zone": "eu-west-1a", "map_public_ip_on_launch": False, "tags": TAGS, "tags_all": TAGS}, ["module.network.aws_vpc.main"]),
    ("module.network", "aws_subnet", "private", "eu-west-1b", {"id": "subnet-0ee55ff66aa77bb88", "vpc_id": "vpc-0a1b2c3d4e5f60718", "cidr_block": "10.20.2.0/24", "availability_zone": "eu-west-1b", "map_public_ip_on_launch": False, "tags": TAGS, "tags_all": TAGS}, ["module.network.aws_vpc.main"]),
    (None, "aws_security_group", "bastion", None, {"id": "sg-0b1a5710n0000001", "name": "bastion", "vpc_id": "vpc-0a1b2c3d4e5f60718", "description": "SSH to the bastion", "ingress": [{"from_port": 22, "to_port": 22, "protocol": "tcp", "cidr_blocks": ["0.0.0.0/0"], "ipv6_cidr_blocks": [], "description": "ssh from anywhere", "prefix_list_ids": [], "security_groups": [], "self": False}], "egress": [{"from_port": 0, "to_port": 0, "protocol": "-1", "cidr_blocks": ["0.0.0.0/0"], "ipv6_cidr_blocks": [], "description": "", "prefix_list_ids": [], "security_groups": [], "self": False}], "tags": TAGS, "tags_all": TAGS}, ["module.network.aws_vpc.main"]),
    (None, "aws_security_group", "db", None, {"id": "sg-0db0000000000002", "name": "orders-db", "vpc_id": "vpc-0a1b2c3d4e5f60718", "description": "PostgreSQL from the VPC", "ingress": [{"from_port": 5432, "to_port": 5432, "protocol": "tcp", "cidr_blocks": ["10.20.0.0/16"], "ipv6_cidr_blocks": [], "description": "postgres", "prefix_list_ids": [], "security_groups": [], "self": False}], "egress": [], "tags": TAGS, "tags_all": TAGS}, ["module.network.aws_vpc.main"]),
    (None, "aws_instance", "bastion", None, {"id": "i-0abc1234def567890", "ami": "ami-0c1c30571d2dae5c9", "instance_type": "t3.micro", "subnet_id": "subnet-0aa11bb22cc33dd44", "associate_public_ip_address": True, "vpc_security_group_ids": ["sg-0b1a5710n0000001"], "metadata_options": [{"http_endpoint": "enabled", "http_tokens": "optional", "http_put_response_hop_limit": 1, "instance_metadata_tags": "disabled"}], "root_block_device": [{"encrypted": False, "volume_size": 8, "volume_type": "gp3", "delete_on_termination": True}], "ebs_block_device": [], "monitoring": False, "tags": {**TAGS, "Name": "bastion"}, "tags_all": {**TAGS, "Name": "bastion"}}, ["aws_security_group.bastion"]),
    (None, "aws_ebs_volume", "scratch", 0, {"id": "vol-0123456789abcdef0", "availability_zone": "eu-west-1a", "size": 100, "type": "gp3", "encrypted": False, "kms_key_id": "", "tags": TAGS, "tags_all": TAGS}, []),
    (None, "aws_db_instance", "orders", None, {"id": "db-ORDERS", "identifier": "orders", "engine": "postgres", "engine_version": "16.4", "instance_class": "db.r6g.large", "allocated_storage": 100, "storage_encrypted": True, "kms_key_id": arn("kms", "key/1234abcd-12ab-34cd-56ef-1234567890ab"), "publicly_accessible": False, "backup_retention_period": 7, "multi_az": True, "deletion_protection": True, "iam_database_authentication_enabled": True, "password": "never-in-clear", "vpc_security_group_ids": ["sg-0db0000000000002"], "tags": TAGS, "tags_all": TAGS}, ["aws_security_group.db", "aws_kms_key.data"]),
    (None, "aws_db_instance", "analytics", None, {"id": "db-ANALYTICS", "identifier": "analytics", "engine": "postgres", "engine_version": "13.15", "instance_class": "db.t3.medium", "allocated_storage": 50, "storage_encrypted": False, "kms_key_id": "", "publicly_accessible": True, "backup_retention_period": 0, "multi_az": False, "deletion_protection": False, "iam_database_authentication_enabled": False, "password": "never-in-clear", "vpc_security_group_ids": ["sg-0db0000000000002"], "tags": {"owner": "team-data"}, "tags_all": {"owner": "team-data"}}, []),
    (None, "aws_iam_policy", "ci_admin", None, {"id": arn("iam", "policy/ci-admin").replace(REGION, ""), "name": "ci-admin", "path": "/", "policy": json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}), "tags": TAGS, "tags_all": TAGS}, []),
    (None, "aws_kms_key", "data", None, {"id": "1234abcd-12ab-34cd-56ef-1234567890ab", "arn": arn("kms", "key/1234abcd-12ab-34cd-56ef-1234567890ab"), "customer_master_key_spec": "SYMMETRIC_DEFAULT", "key_usage": "ENCRYPT_DECRYPT", "enable_key_rotation": False, "deletion_window_in_days": 30, "is_enabled": True, "tags": TAGS, "tags_all": TAGS}, []),
    (None, "aws_cloudtrail", "main", None, {"id": "shop-trail", "name": "shop-trail", "s3_bucket_name": "example-shop-logs", "is_multi_region_trail": False, "enable_logging": True, "enable_log_file_validation": False, "include_global_service_events": True, "kms_key_id": "", "tags": TAGS, "tags_all": TAGS}, ["aws_s3_bucket.logs"]),
]
SENSITIVE = {("aws_db_instance", "password")}

def address(module, typ, name, key):
    a = f"{module + '.' if module else ''}{typ}.{name}"
    if key is None:
        return a
    return a + (f"[{key}]" if isinstance(key, int) else f"[{json.dumps(key)}]")

def write_state(path):
    groups = {}
    for module, typ, name, key, attrs, deps in CORE:
        groups.setdefault((module, typ, name), []).append((key, attrs, deps))
    resources = []
    for (module, typ, name), instances in groups.items():
        r = {"mode": "managed", "type": typ, "name": name, "provider": 'provider["registry.terraform.io/hashicorp/aws"]', "instances": []}
        if module:
            r = {"module": module, **r}
        for key, attrs, deps in instances:
            inst = {"schema_version": 0, "attributes": attrs, "sensitive_attributes": [], "private": "bnVsbA=="}
            if key is not None:
                inst = {"index_key": key, **inst}
            if (typ, "password") in SENSITIVE and "password" in attrs:
                inst["sensitive_attributes"] = [[{"type": "get_attr", "value": "password"}]]
            if deps:
                inst["dependencies"] = deps
            r["instances"].append(inst)
        resources.append(r)
    doc = {"version": 4, "terraform_version": "1.11.4", "serial": 42, "lineage": "5d2c1e0a-7a43-4f0e-9c1b-2f6e8d9a0b1c", "outputs": {}, "resources": resources, "check_results": None}
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")

# The edge stack's plan: a new reports bucket and an internet-facing load balancer, plus drift detected on refresh.
EDGE = [
    ("aws_s3_bucket", "reports", {"bucket": "example-shop-reports", "force_destroy": False, "tags": {"environment": "prod"}, "tags_all": {"environment": "prod"}}, {"arn": True, "id": True, "bucket_domain_name": True}),
    ("aws_lb", "public", {"name": "shop-public", "internal": False, "load_balancer_type": "application", "drop_invalid_header_fields": False, "enable_deletion_protection": False, "access_logs": [], "subnets": ["subnet-0aa11bb22cc33dd44", "subnet-0ee55ff66aa77bb88"], "tags": TAGS, "tags_all": TAGS}, {"arn": True, "id": True, "dns_name": True}),
    ("aws_lb_listener", "http", {"port": 80, "protocol": "HTTP", "ssl_policy": None, "default_action": [{"type": "forward", "redirect": [], "fixed_response": []}], "tags": TAGS, "tags_all": TAGS}, {"arn": True, "id": True, "load_balancer_arn": True}),
    ("aws_lb_listener", "https", {"port": 443, "protocol": "HTTPS", "ssl_policy": "ELBSecurityPolicy-TLS13-1-2-2021-06", "certificate_arn": arn("acm", "certificate/9f8e7d6c-5b4a-3210-fedc-ba9876543210"), "default_action": [{"type": "forward", "redirect": [], "fixed_response": []}], "tags": TAGS, "tags_all": TAGS}, {"arn": True, "id": True, "load_balancer_arn": True}),
]
REFS = {"aws_lb_listener.http": ["aws_lb.public.arn", "aws_lb.public"], "aws_lb_listener.https": ["aws_lb.public.arn", "aws_lb.public"]}

def write_plan(path):
    planned, changes, config = [], [], []
    for typ, name, after, unknown in EDGE:
        addr = f"{typ}.{name}"
        planned.append({"address": addr, "mode": "managed", "type": typ, "name": name, "provider_name": "registry.terraform.io/hashicorp/aws", "schema_version": 0, "values": after, "sensitive_values": {}})
        changes.append({"address": addr, "mode": "managed", "type": typ, "name": name, "provider_name": "registry.terraform.io/hashicorp/aws",
                        "change": {"actions": ["create"], "before": None, "after": after, "after_unknown": unknown, "before_sensitive": False, "after_sensitive": {}}})
        exprs = {"name": {"constant_value": after.get("name", name)}}
        if addr in REFS:
            exprs["load_balancer_arn"] = {"references": REFS[addr]}
        config.append({"address": addr, "mode": "managed", "type": typ, "name": name, "provider_config_key": "aws", "expressions": exprs, "schema_version": 0})
    before = {"name": "edge-waf-ingress", "ingress": [{"from_port": 443, "to_port": 443, "protocol": "tcp", "cidr_blocks": ["10.20.0.0/16"]}]}
    after = {"name": "edge-waf-ingress", "ingress": [{"from_port": 443, "to_port": 443, "protocol": "tcp", "cidr_blocks": ["10.20.0.0/16"]}, {"from_port": 22, "to_port": 22, "protocol": "tcp", "cidr_blocks": ["0.0.0.0/0"]}]}
    # The security group is managed here too: the plan holds its configured values and will revert the drift.
    sg = {"address": "aws_security_group.edge", "mode": "managed", "type": "aws_security_group", "name": "edge", "provider_name": "registry.terraform.io/hashicorp/aws"}
    planned.append({**sg, "schema_version": 1, "values": {**before, "description": "WAF to edge load balancers", "tags": {"owner": "team-platform", "environment": "prod"}}, "sensitive_values": {}})
    changes.append({**sg, "change": {"actions": ["update"], "before": after, "after": before, "after_unknown": {}, "before_sensitive": {}, "after_sensitive": {}}})
    config.append({**{k: sg[k] for k in ("address", "mode", "type", "name")}, "provider_config_key": "aws", "expressions": {"name": {"constant_value": "edge-waf-ingress"}}, "schema_version": 1})
    drift = [{"address": "aws_security_group.edge", "mode": "managed", "type": "aws_security_group", "name": "edge", "provider_name": "registry.terraform.io/hashicorp/aws",
              "change": {"actions": ["update"], "before": before, "after": after, "after_unknown": {}, "before_sensitive": {}, "after_sensitive": {}}}]
    doc = {"format_version": "1.2", "terraform_version": "1.11.4",
           "planned_values": {"root_module": {"resources": planned}},
           "resource_drift": drift,
           "resource_changes": changes,
           "configuration": {"provider_config": {"aws": {"name": "aws", "full_name": "registry.terraform.io/hashicorp/aws", "expressions": {"region": {"constant_value": REGION}}}},
                             "root_module": {"resources": config}},
           "timestamp": "2026-11-20T09:12:44Z", "applyable": True, "complete": True, "errored": False}
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")

if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    write_state(os.path.join(here, "core", "terraform.tfstate"))
    write_plan(os.path.join(here, "edge", "plan.json"))
