//! Terraform configuration read from HCL against what `terraform plan` computes for the same code.
//!
//! `fixtures/terraform-hcl/repo` uses only the built-in `terraform_data` resource, whose `input` takes any value, so
//! a real Terraform plans it offline; `fixtures/terraform-hcl/plan.json` is `terraform show -json` of that plan
//! (Terraform 1.11). Every resource day2 reads from the HCL must be one the plan has, with the same values where the
//! value is known before apply, and nothing where it is not. When `terraform` is on PATH the plan is made again and
//! compared with the committed one, so the fixture stays real output.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use day2_collect::terraform::{self, TerraformConfig};
use day2_model::{RelationKind, Snapshot};
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/terraform-hcl")
}

/// Address → planned values of every managed resource in a `terraform show -json` plan.
fn planned(plan: &Value) -> BTreeMap<String, Value> {
    fn walk(module: &Value, out: &mut BTreeMap<String, Value>) {
        for r in module["resources"].as_array().into_iter().flatten() {
            if r["mode"] == "managed" {
                out.insert(r["address"].as_str().unwrap().to_owned(), r["values"].clone());
            }
        }
        for c in module["child_modules"].as_array().into_iter().flatten() {
            walk(c, out);
        }
    }
    let mut out = BTreeMap::new();
    walk(&plan["planned_values"]["root_module"], &mut out);
    out
}

fn read_repo() -> Snapshot {
    let config = TerraformConfig { paths: vec![fixtures().join("repo")], ..TerraformConfig::default() };
    terraform::collect(&config)
}

/// A planned value that is not known before apply: Terraform shows it as null (or a collection holding nulls).
fn unknown_in_plan(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.iter().any(unknown_in_plan),
        Value::Object(m) => m.values().any(unknown_in_plan),
        _ => false,
    }
}

#[test]
fn hcl_reads_what_terraform_plans() {
    let plan: Value = serde_json::from_str(&std::fs::read_to_string(fixtures().join("plan.json")).unwrap()).unwrap();
    let want = planned(&plan);
    let snap = read_repo();
    assert!(snap.complete, "{:?}", snap.diagnostics);
    assert!(snap.diagnostics.is_empty(), "{:?}", snap.diagnostics);
    let got: BTreeMap<String, Value> = snap.resources.iter().map(|r| (r.name.clone(), r.attrs.to_value())).collect();
    assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>(), "the same resource instances");
    for (address, values) in &got {
        let planned = want[address].as_object().unwrap();
        for (key, value) in values.as_object().unwrap() {
            assert_eq!(Some(value), planned.get(key), "{address}: `{key}`");
        }
        for (key, value) in planned {
            if !values.as_object().unwrap().contains_key(key) {
                assert!(unknown_in_plan(value), "{address}: `{key}` is known in the plan ({value}) but not read");
            }
        }
    }
    // Values known only after apply are absent, never guessed.
    assert!(got["terraform_data.depends"].get("input").is_none());
    assert!(got["terraform_data.mixed"].get("triggers_replace").is_none());
}

#[test]
fn resources_carry_their_file_line_module_and_relations() {
    let snap = read_repo();
    let by_name = |n: &str| snap.resources.iter().find(|r| r.name == n).unwrap_or_else(|| panic!("{n}"));
    let settings = by_name("terraform_data.settings");
    let (file, line) = settings.location().unwrap();
    assert!(file.ends_with("repo/main.tf"), "{file}");
    assert_eq!(line, 13);
    assert_eq!(settings.api_version, "terraform.io/builtin/terraform", "as the plan names the provider");
    let deployment = by_name(r#"module.worker["large"].terraform_data.deployment"#);
    assert!(deployment.location().unwrap().0.ends_with("modules/service/main.tf"));
    assert_eq!(
        deployment.id.to_string(),
        r#"tf/repo/terraform_data//module.worker["large"].terraform_data.deployment"#
    );
    let depends = by_name("terraform_data.depends");
    let relations: Vec<(RelationKind, String)> =
        snap.relations.iter().filter(|r| r.from == depends.id).map(|r| (r.kind, r.to.to_string())).collect();
    assert!(relations.contains(&(RelationKind::References, "tf/repo/terraform_data//terraform_data.settings".into())));
    assert!(
        relations
            .contains(&(RelationKind::DependsOn, r#"tf/repo/terraform_data//terraform_data.per_port["80"]"#.into()))
    );
}

#[test]
fn the_committed_plan_is_what_terraform_plans_when_terraform_is_installed() {
    if std::process::Command::new("terraform").arg("version").output().is_err() {
        eprintln!("terraform not installed: comparing with the committed plan only");
        return;
    }
    let work = tempfile::tempdir().unwrap();
    copy_dir(&fixtures().join("repo"), work.path());
    let run = |args: &[&str]| {
        let out = std::process::Command::new("terraform")
            .args(args)
            .current_dir(work.path())
            .env("TF_IN_AUTOMATION", "1")
            .env("CHECKPOINT_DISABLE", "1")
            .output()
            .unwrap();
        assert!(out.status.success(), "terraform {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    };
    run(&["init", "-input=false", "-backend=false"]);
    run(&["plan", "-input=false", "-out=plan.bin"]);
    let fresh: Value = serde_json::from_slice(&run(&["show", "-json", "plan.bin"])).unwrap();
    let committed: Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("plan.json")).unwrap()).unwrap();
    assert_eq!(planned(&fresh), planned(&committed));
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
