//! `day2 drift` between Terraform state and AWS, against moto's AWS API server (`pip install "moto[server]"`,
//! started here on a free loopback port; see day2_testkit::moto). tests/fixtures/aws/scenario.py creates a fleet with
//! boto3 and writes the Terraform state that describes it, then changes, deletes and adds behind Terraform's back.
//! Skipped with a message where moto is not installed, unless DAY2_REQUIRE_MOTO is set (CI sets it).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use std::path::Path;
use std::process::Command;

use common::{code, json_of, root};
use day2_testkit::moto::Moto;
use serde_json::Value;

fn scenario(moto: &Moto, step: &str, path: &Path) -> String {
    let script = root().join("crates/day2-cli/tests/fixtures/aws/scenario.py");
    let out = Command::new(moto.python()).arg(script).args([step, &moto.endpoint()]).arg(path).output().unwrap();
    assert!(out.status.success(), "scenario {step}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn drift(config: &Path) -> (i32, Value) {
    run(&["drift", "-c", config.to_str().unwrap(), "-o", "json"])
}

/// Runs day2 with moto's test credentials.
fn run(args: &[&str]) -> (i32, Value) {
    let out = common::command(args)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap();
    (code(&out), json_of(&out))
}

fn classes(report: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["rule_id"].as_str().unwrap().to_owned(), f["resource"].as_str().unwrap().to_owned()))
        .collect();
    out.sort();
    out
}

fn config(dir: &Path, endpoint: &str) -> std::path::PathBuf {
    let path = dir.join("day2.yaml");
    std::fs::write(
        &path,
        format!(
            "sources:\n  - terraform:\n      paths: [terraform.tfstate]\n      name: shop\n  - aws:\n      name: shop-prod\n      region: eu-west-1\n      endpoint_url: {endpoint}\n      terraform: [shop]\n      requests_per_second: 50\n"
        ),
    )
    .unwrap();
    path
}

#[test]
fn terraform_state_against_aws_drifts_exactly() {
    let Some(moto) = Moto::start().unwrap() else {
        eprintln!("skipped: moto_server is not installed (pip install \"moto[server]\"; or set DAY2_MOTO_SERVER)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ids: Value = serde_json::from_str(&scenario(&moto, "setup", &dir.path().join("terraform.tfstate"))).unwrap();
    std::fs::write(dir.path().join("ids.json"), ids.to_string()).unwrap();
    let config = config(dir.path(), &moto.endpoint());

    // Freshly applied: every declared object pairs with its AWS object and nothing differs (grouped rules, tags_all,
    // policy JSON, canned ACL, the instance's root volume and the default VPC are all read without noise).
    let (exit, report) = drift(&config);
    assert_eq!((exit, &report["summary"]["errors"]), (0, &Value::from(0)), "{}", report["diagnostics"]);
    assert_eq!(classes(&report), Vec::<(String, String)>::new());
    let coverage = &report["coverage"][0];
    assert_eq!(coverage["scope"], "aws/shop-prod");
    assert_eq!((coverage["declared"].as_u64(), coverage["live"].as_u64()), (Some(11), Some(11)));

    scenario(&moto, "mutate", &dir.path().join("ids.json"));
    let (exit, report) = drift(&config);
    assert_eq!(exit, 1, "missing objects are high severity");
    let id = |kind: &str, name: &str| format!("aws/shop-prod/{kind}//{name}");
    let ids_of = |key: &str| ids[key].as_str().unwrap().to_owned();
    let unmanaged_group = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule_id"] == "DRIFT-UNMANAGED" && f["kind"] == "aws_security_group")
        .map(|f| f["resource"].as_str().unwrap().to_owned())
        .unwrap();
    let mut expected = vec![
        ("DRIFT-CHANGED".to_owned(), id("aws_security_group", &ids_of("web"))),
        ("DRIFT-CHANGED".to_owned(), id("aws_vpc", &ids_of("vpc"))),
        ("DRIFT-CHANGED".to_owned(), id("aws_s3_bucket_versioning", "shop-assets")),
        ("DRIFT-MISSING".to_owned(), id("aws_ebs_volume", &ids_of("volume"))),
        ("DRIFT-MISSING".to_owned(), id("aws_s3_bucket_public_access_block", "shop-assets")),
        ("DRIFT-UNMANAGED".to_owned(), id("aws_iam_role", "temp-admin")),
        ("DRIFT-UNMANAGED".to_owned(), id("aws_s3_bucket", "handmade-exports")),
        ("DRIFT-UNMANAGED".to_owned(), unmanaged_group),
    ];
    expected.sort();
    assert_eq!(
        classes(&report),
        expected,
        "the instance, subnet, db group, policies, role and database did not change"
    );

    let finding = |rule: &str, kind: &str| {
        report["findings"].as_array().unwrap().iter().find(|f| f["rule_id"] == rule && f["kind"] == kind).unwrap()
    };
    let evidence = |f: &Value| -> Vec<(String, Value, Value)> {
        f["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["path"].as_str().unwrap().to_owned(), e["expected"].clone(), e["actual"].clone()))
            .collect()
    };
    // The rule opened by hand, field by field; the declaration's file, line and Terraform address (in its module).
    let group = finding("DRIFT-CHANGED", "aws_security_group");
    assert_eq!(evidence(group), [("/ingress/tcp 22-22 0.0.0.0~10".to_owned(), Value::Null, Value::from("allow"))]);
    assert!(group["file"].as_str().unwrap().ends_with("terraform.tfstate") && group["line"].as_u64().unwrap() > 1);
    let vpc = finding("DRIFT-CHANGED", "aws_vpc");
    assert_eq!(evidence(vpc), [("/tags/owner".to_owned(), Value::from("team-shop"), Value::from("someone-else"))]);
    assert!(vpc["message"].as_str().unwrap().contains("module.network.aws_vpc.main"), "{}", vpc["message"]);
    let versioning = finding("DRIFT-CHANGED", "aws_s3_bucket_versioning");
    assert_eq!(
        evidence(versioning),
        [("/versioning_configuration/0/status".to_owned(), Value::from("Enabled"), Value::from("Suspended"))]
    );
    let volume = finding("DRIFT-MISSING", "aws_ebs_volume");
    assert!(volume["message"].as_str().unwrap().contains("aws_ebs_volume.data"), "{}", volume["message"]);

    // The same rule is a security problem, not only drift: the Terraform checks run on what AWS holds, so SSH
    // opened to the world in the console is TF-SG-001 on the live group (the declaration does not have it).
    let (_, posture) = run(&["check", "-c", config.to_str().unwrap(), "--live", "-o", "json"]);
    let posture_findings = posture["findings"].as_array().unwrap();
    let world_ssh = posture_findings
        .iter()
        .find(|f| {
            f["rule_id"] == "TF-SG-001"
                && f["resource"].as_str().unwrap().starts_with("aws/shop-prod/aws_security_group//")
        })
        .unwrap_or_else(|| panic!("no TF-SG-001 on a live security group: {posture_findings:#?}"));
    assert_eq!(world_ssh["sides"], serde_json::json!(["live"]), "{world_ssh}");
    assert!(world_ssh["message"].as_str().unwrap().contains("0.0.0.0/0"), "{world_ssh}");
}

#[test]
fn an_unreachable_account_reports_nothing_missing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("terraform.tfstate"),
        r#"{"version": 4, "terraform_version": "1.11.4", "serial": 1, "lineage": "l", "outputs": {}, "resources": [
  {"mode": "managed", "type": "aws_s3_bucket", "name": "b", "provider": "provider[\"registry.terraform.io/hashicorp/aws\"]",
   "instances": [{"schema_version": 0, "attributes": {"id": "b", "bucket": "b", "tags": {}}}]}]}"#,
    )
    .unwrap();
    // Nothing listens on this port: every request fails, after one attempt.
    let port = day2_testkit::free_port().unwrap();
    let config = config(dir.path(), &format!("http://127.0.0.1:{port}"));
    let text = std::fs::read_to_string(&config).unwrap() + "      max_attempts: 1\n";
    std::fs::write(&config, text).unwrap();
    let (exit, report) = drift(&config);
    assert_eq!(exit, 2, "a collection error is an input error");
    assert_eq!(classes(&report), Vec::<(String, String)>::new(), "a failed read is not a deletion");
    assert_eq!(report["coverage"][0]["complete"], false);
    let diagnostics = report["diagnostics"].as_array().unwrap();
    let buckets = diagnostics.iter().find(|d| d["message"].as_str().unwrap().starts_with("cannot read aws_s3_bucket,"));
    let buckets = buckets.unwrap_or_else(|| panic!("{diagnostics:?}"));
    assert_eq!(buckets["file"], "aws:shop-prod");
    assert!(buckets["message"].as_str().unwrap().contains("Connection refused"), "{buckets}");
}
