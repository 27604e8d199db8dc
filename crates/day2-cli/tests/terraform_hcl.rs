//! `day2 check` on a Terraform repository's HCL ([L] 1): `day2 check .` in the repository, or `day2 check main.tf`,
//! reports what the configuration declares, with the file and line of the resource; values from variables, tfvars
//! and modules count; values unknown before apply are never failures; a broken file is reported and the rest read.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use std::path::Path;

use serde_json::Value;

const MAIN_TF: &str = r#"terraform {
  required_providers {
    aws = { source = "hashicorp/aws" }
  }
}

resource "aws_security_group" "bastion" {
  name   = "${local.prefix}-bastion"
  vpc_id = module.network.vpc_id

  ingress {
    description = "ssh"
    from_port   = 22
    to_port     = 22
    protocol    = "tcp"
    cidr_blocks = [var.admin_cidr]
  }
}

resource "aws_security_group" "internal" {
  name = "${local.prefix}-internal"

  ingress {
    from_port   = 22
    to_port     = 22
    protocol    = "tcp"
    cidr_blocks = [data.aws_vpc.main.cidr_block]
  }
}

data "aws_vpc" "main" {
  default = true
}

locals {
  prefix = "shop-${var.environment}"
}

module "network" {
  source = "./modules/network"
  cidr   = "10.0.0.0/16"
  zones  = 2
}
"#;

const VARIABLES_TF: &str = r#"variable "environment" {
  type = string
}

variable "admin_cidr" {
  type    = string
  default = "10.0.0.0/8"
}
"#;

const NETWORK_TF: &str = r#"variable "cidr" {
  type = string
}

variable "zones" {
  type = number
}

resource "aws_vpc" "this" {
  cidr_block = var.cidr
}

resource "aws_security_group" "rdp" {
  count  = var.zones
  name   = "rdp-${count.index}"
  vpc_id = aws_vpc.this.id

  ingress {
    from_port        = 3389
    to_port          = 3389
    protocol         = "tcp"
    ipv6_cidr_blocks = ["::/0"]
  }
}

output "vpc_id" {
  value = aws_vpc.this.id
}
"#;

fn repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let write = |path: &str, text: &str| {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    write("main.tf", MAIN_TF);
    write("variables.tf", VARIABLES_TF);
    write("terraform.tfvars", "environment = \"prod\"\nadmin_cidr  = \"0.0.0.0/0\"\n");
    write("modules/network/main.tf", NETWORK_TF);
    dir
}

fn check_in(dir: &Path, args: &[&str]) -> (i32, Value) {
    let out = common::command(args).current_dir(dir).output().unwrap();
    (common::code(&out), common::json_of(&out))
}

fn findings(report: &Value) -> Vec<(String, String, String, u64)> {
    let mut out: Vec<_> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule_id"].as_str().unwrap().starts_with("TF-SG"))
        .map(|f| {
            let resource = f["resource"].as_str().unwrap();
            (
                f["rule_id"].as_str().unwrap().to_owned(),
                resource.split_once("//").unwrap().1.to_owned(),
                f["file"].as_str().unwrap().to_owned(),
                f["line"].as_u64().unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn check_dot_in_a_terraform_repository_reads_its_configuration() {
    let dir = repo();
    let (code, report) = check_in(dir.path(), &["check", ".", "-o", "json"]);
    assert_eq!(code, 1, "findings: {report:#}");
    assert_eq!(report["diagnostics"], Value::Array(vec![]), "{report:#}");
    assert_eq!(
        findings(&report),
        [
            ("TF-SG-001".into(), "aws_security_group.bastion".into(), "./main.tf".into(), 16),
            (
                "TF-SG-002".into(),
                "module.network.aws_security_group.rdp[0]".into(),
                "./modules/network/main.tf".into(),
                22
            ),
            (
                "TF-SG-002".into(),
                "module.network.aws_security_group.rdp[1]".into(),
                "./modules/network/main.tf".into(),
                22
            ),
        ],
        "the tfvars value opens the bastion; the module's count makes two groups; the internal group's CIDR is \
         unknown before apply and is not a failure; each finding points at the CIDR attribute's line"
    );
}

#[test]
fn a_single_tf_file_is_read_and_variables_keep_their_defaults() {
    let dir = repo();
    std::fs::remove_file(dir.path().join("terraform.tfvars")).unwrap();
    let (code, report) = check_in(dir.path(), &["check", "main.tf", "variables.tf", "-o", "json"]);
    assert_eq!(code, 1, "{report:#}");
    let found = findings(&report);
    assert!(found.iter().all(|f| f.1 != "aws_security_group.bastion"), "the default CIDR is private: {found:?}");
    assert!(found.iter().any(|f| f.1.starts_with("module.network.")), "the module is read through its call");
}

#[test]
fn a_broken_tf_file_is_reported_with_its_line_and_the_rest_is_read() {
    let dir = repo();
    std::fs::write(dir.path().join("broken.tf"), "resource \"aws_s3_bucket\" \"b\" {\n  bucket = \n}\n").unwrap();
    let (code, report) = check_in(dir.path(), &["check", ".", "-o", "json"]);
    assert_eq!(code, 2, "an input error: {report:#}");
    let diagnostics = report["diagnostics"].as_array().unwrap();
    assert_eq!(diagnostics.len(), 1, "{diagnostics:#?}");
    assert_eq!(diagnostics[0]["kind"], "syntax");
    assert_eq!(diagnostics[0]["file"], "./broken.tf");
    assert_eq!(diagnostics[0]["line"], 2, "the attribute without a value");
    assert!(diagnostics[0]["message"].as_str().unwrap().starts_with("invalid HCL"), "{diagnostics:#?}");
    assert_eq!(findings(&report).len(), 3, "the other files are still read");
}

#[test]
fn a_module_source_outside_the_repository_is_not_read() {
    let dir = repo();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("main.tf"), NETWORK_TF).unwrap();
    let escaping = format!(
        "module \"escape\" {{\n  source = \"{}\"\n  cidr = \"10.0.0.0/16\"\n  zones = 1\n}}\n",
        pathdiff(outside.path(), dir.path())
    );
    std::fs::write(dir.path().join("escape.tf"), escaping).unwrap();
    let (_, report) = check_in(dir.path(), &["check", ".", "-o", "json"]);
    let notes: Vec<&Value> = report["diagnostics"].as_array().unwrap().iter().collect();
    assert!(
        notes.iter().any(|d| d["kind"] == "not-read" && d["message"].as_str().unwrap().contains("outside")),
        "{notes:#?}"
    );
    assert!(findings(&report).iter().all(|f| !f.1.starts_with("module.escape")));
}

/// `to` relative to `from` as `../../…` (both absolute).
fn pathdiff(to: &Path, from: &Path) -> String {
    let up = from.components().count() - 1;
    format!("{}{}", "../".repeat(up), to.strip_prefix("/").unwrap().display())
}

#[test]
fn json_configuration_is_read_like_hcl() {
    let dir = repo();
    let json = r#"{
  "resource": {
    "aws_security_group": {
      "legacy": {
        "name": "legacy-${var.environment}",
        "ingress": [
          {"from_port": 3389, "to_port": 3389, "protocol": "tcp", "cidr_blocks": ["${var.admin_cidr}"]}
        ]
      }
    }
  }
}
"#;
    std::fs::write(dir.path().join("legacy.tf.json"), json).unwrap();
    let (_, report) = check_in(dir.path(), &["check", ".", "-o", "json"]);
    assert!(
        findings(&report).contains(&(
            "TF-SG-001".into(),
            "aws_security_group.legacy".into(),
            "./legacy.tf.json".into(),
            4
        )),
        "{:?}",
        findings(&report)
    );
}

#[test]
fn an_attribute_known_only_after_apply_is_not_a_failure_while_one_left_unset_is() {
    let dir = tempfile::tempdir().unwrap();
    let tf = r#"variable "encrypt" {
  type = bool
}

resource "aws_db_instance" "decided_at_apply" {
  engine            = "postgres"
  storage_encrypted = var.encrypt
}

resource "aws_db_instance" "unset" {
  engine = "postgres"
}
"#;
    std::fs::write(dir.path().join("main.tf"), tf).unwrap();
    let (_, report) = check_in(dir.path(), &["check", ".", "-o", "json"]);
    let rds: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule_id"] == "TF-RDS-001")
        .map(|f| f["resource"].as_str().unwrap())
        .collect();
    let scope = dir.path().file_name().unwrap().to_str().unwrap().to_owned();
    assert_eq!(rds, [format!("tf/{scope}/aws_db_instance//aws_db_instance.unset")], "{report:#}");
}

#[test]
fn a_state_file_beside_its_configuration_is_noted_not_read_twice() {
    let dir = repo();
    let state =
        std::fs::read_to_string(common::root().join("examples/fleet/terraform/core/terraform.tfstate")).unwrap();
    std::fs::write(dir.path().join("terraform.tfstate"), state).unwrap();
    let (_, report) = check_in(dir.path(), &["check", ".", "-o", "json"]);
    let notes = report["diagnostics"].as_array().unwrap();
    assert_eq!(notes.len(), 1, "{notes:#?}");
    assert_eq!(notes[0]["kind"], "not-read");
    assert_eq!(notes[0]["file"], "./terraform.tfstate");
    assert_eq!(findings(&report).len(), 3, "the configuration's findings only");
}
