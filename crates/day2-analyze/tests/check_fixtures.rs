//! Data-driven tests of every built-in check.
//!
//! For each check `<ID>` there is a folder `fixtures/checks/<ID>/` with:
//! - `fail.yaml`: input on which the check must report at least one finding (and, if the file's first line is
//!   `# expect: N`, exactly N);
//! - `pass.yaml`: input on which the check must report nothing.
//!
//! Kubernetes inputs are real manifest streams, read by the real manifest source and linker. Terraform inputs are
//! `terraform show -json` documents written as YAML, with a shorthand: a top-level `resources:` list of
//! `{address, values}` becomes `values.root_module.resources` (type and name are taken from the address).
//!
//! When a failing finding carries a fix, the RFC 6902 patch is applied to the object and the check must then pass for
//! that subject: fixes are tested, not just printed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};

use day2_analyze::Context;
use day2_analyze::checks::{self, Check, Checks, ChecksConfig};
use day2_collect::{Limits, link, manifests, terraform};
use day2_model::{Finding, Inventory, OwnerKeys, Snapshot};
use serde_json::{Value, json};

fn fixture_dir(id: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/checks").join(id)
}

fn load(check: &Check, file: &Path) -> Inventory {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let name = file.display().to_string();
    let snapshot = if check.id.starts_with("TF-") {
        let doc: Value = serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let doc = expand_terraform_shorthand(doc);
        let p = terraform::parse(&doc.to_string(), &name, "fixture", "fixture", &Limits::default());
        assert!(p.diagnostics.is_empty(), "{name}: {:?}", p.diagnostics);
        Snapshot { resources: p.resources, relations: p.relations, complete: true, ..Snapshot::default() }
    } else {
        let p = manifests::parse(&text, &name, "fixture", &manifests::ManifestsConfig::default());
        let errors: Vec<_> = p.diagnostics.iter().filter(|d| d.kind.is_error()).collect();
        assert!(errors.is_empty(), "{name}: {errors:?}");
        Snapshot { resources: p.resources, complete: true, ..Snapshot::default() }
    };
    let (mut inv, dups) = Inventory::from_snapshots(vec![snapshot]);
    assert!(dups.is_empty(), "{name}: duplicate objects");
    link::link(&mut inv, &OwnerKeys::default());
    inv
}

fn expand_terraform_shorthand(doc: Value) -> Value {
    let Some(list) = doc.get("resources").and_then(Value::as_array) else { return doc };
    let resources: Vec<Value> = list
        .iter()
        .map(|r| {
            let address = r["address"].as_str().expect("address");
            let base = address.split('[').next().unwrap();
            let mut parts = base.rsplitn(3, '.');
            let name = parts.next().unwrap();
            let kind = parts.next().unwrap();
            json!({"address": address, "mode": "managed", "type": kind, "name": name,
                   "provider_name": "registry.terraform.io/hashicorp/aws", "values": r.get("values").cloned().unwrap_or(json!({}))})
        })
        .collect();
    let mut out = json!({"format_version": "1.2", "values": {"root_module": {"resources": resources}}});
    if let Some(cfg) = doc.get("configuration") {
        out["configuration"] = cfg.clone();
    }
    out
}

fn run(check: &Check, inv: &Inventory) -> Vec<Finding> {
    let cfg = ChecksConfig { enable: vec![check.id.to_owned()], ..ChecksConfig::default() };
    let analyzer = Checks::new(&cfg).unwrap();
    let ctx = Context { now: chrono::Utc::now() };
    inv.resources().iter().flat_map(|r| analyzer.check_resource(r, inv, &ctx)).collect()
}

fn expected_count(file: &Path) -> Option<usize> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines().next()?.strip_prefix("# expect:")?.trim().parse().ok()
}

#[test]
fn every_check_has_fixtures_that_fail_and_pass() {
    let mut problems = Vec::new();
    let mut tested = 0;
    for check in checks::all() {
        let dir = fixture_dir(check.id);
        let (fail, pass) = (dir.join("fail.yaml"), dir.join("pass.yaml"));
        if !fail.exists() || !pass.exists() {
            problems.push(format!("{}: missing fail.yaml or pass.yaml in {}", check.id, dir.display()));
            continue;
        }
        let inv = load(check, &fail);
        let found = run(check, &inv);
        match expected_count(&fail) {
            Some(n) if found.len() != n => problems.push(format!(
                "{}: fail.yaml gave {} findings, expected {n}: {:#?}",
                check.id,
                found.len(),
                found.iter().map(|f| &f.message).collect::<Vec<_>>()
            )),
            None if found.is_empty() => problems.push(format!("{}: fail.yaml gave no finding", check.id)),
            _ => {}
        }
        for f in &found {
            assert_eq!(f.rule_id, check.id);
            assert!(!f.message.is_empty() && f.line.is_some(), "{}: finding without message or line", check.id);
            if let Some(fix) = &f.fix
                && let Err(e) = fix_resolves(check, &inv, f)
            {
                problems.push(format!("{}: fix `{}` does not resolve `{}`: {e}", check.id, fix.description, f.message));
            }
        }
        let inv = load(check, &pass);
        let found = run(check, &inv);
        if !found.is_empty() {
            problems.push(format!(
                "{}: pass.yaml gave findings: {:?}",
                check.id,
                found.iter().map(|f| &f.message).collect::<Vec<_>>()
            ));
        }
        tested += 1;
    }
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
    assert!(tested >= 10, "only {tested} checks tested");
}

/// Applies the finding's patch to its resource and re-runs the check (relations kept as they were).
fn fix_resolves(check: &Check, inv: &Inventory, finding: &Finding) -> Result<(), String> {
    let fix = finding.fix.as_ref().unwrap();
    let original = inv.get(&finding.resource).ok_or("resource not in inventory")?;
    let patch: json_patch::Patch =
        serde_json::from_value(fix.patch.clone()).map_err(|e| format!("not RFC 6902: {e}"))?;
    let mut attrs = original.attrs.to_value();
    json_patch::patch(&mut attrs, &patch).map_err(|e| format!("patch does not apply: {e}"))?;
    let mut patched = original.clone();
    patched.attrs = attrs.into();
    let mut fixed = Inventory::default();
    for r in inv.resources() {
        fixed.insert(if r.id == patched.id { patched.clone() } else { r.clone() });
    }
    for rel in inv.relations() {
        fixed.relate(&rel.from, rel.kind, &rel.to);
    }
    let again = run(check, &fixed);
    if again.iter().any(|f| f.id == finding.id) {
        return Err("finding still reported after the patch".into());
    }
    Ok(())
}
