//! Data-driven tests of every built-in check.
//!
//! For each check `<ID>` there is a folder `fixtures/checks/<ID>/` with:
//! - `fail.yaml`: input on which the check must report at least one finding (and, if the file's first line is
//!   `# expect: N`, exactly N);
//! - `pass.yaml`: input on which the check must report nothing.
//!
//! Kubernetes inputs are real manifest streams, read by the real manifest source and linker. Terraform inputs are
//! `terraform show -json` documents written as YAML, with a shorthand: a top-level `resources:` list of
//! `{address, values}` becomes `values.root_module.resources` (type and name are taken from the address). An entry's
//! optional `after_unknown` (a plan's tree of attributes known only after apply, absent from `values`) becomes its
//! `resource_changes` entry, as in a plan; written as HCL, those attributes are references HCL cannot evaluate.
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
    let mut resources = Vec::new();
    let mut changes = Vec::new();
    for r in list {
        let address = r["address"].as_str().expect("address");
        let base = address.split('[').next().unwrap();
        let mut parts = base.rsplitn(3, '.');
        let name = parts.next().unwrap();
        let kind = parts.next().unwrap();
        let values = r.get("values").cloned().unwrap_or(json!({}));
        if let Some(unknown) = r.get("after_unknown") {
            changes.push(json!({"address": address, "mode": "managed", "type": kind, "name": name,
                                "change": {"actions": ["create"], "after": values.clone(), "after_unknown": unknown}}));
        }
        resources.push(json!({"address": address, "mode": "managed", "type": kind, "name": name,
                              "provider_name": "registry.terraform.io/hashicorp/aws", "values": values}));
    }
    let mut out = json!({"format_version": "1.2", "values": {"root_module": {"resources": resources}}});
    if !changes.is_empty() {
        out["resource_changes"] = Value::Array(changes);
    }
    if let Some(cfg) = doc.get("configuration") {
        out["configuration"] = cfg.clone();
    }
    out
}

/// What HCL cannot evaluate before apply: a reference to a resource the configuration does not declare.
const UNKNOWN_UNTIL_APPLY: &str = "\u{0}terraform_data.unknown_until_apply.output";

/// Sets each attribute an `after_unknown` tree marks to [`UNKNOWN_UNTIL_APPLY`], inside nested blocks too, so that the
/// HCL reader finds unknown what the plan says is unknown.
fn mark_unknown(values: &mut serde_json::Map<String, Value>, tree: &Value) {
    for (key, marks) in tree.as_object().into_iter().flatten() {
        match marks {
            Value::Bool(true) => {
                values.insert(key.clone(), Value::String(UNKNOWN_UNTIL_APPLY.to_owned()));
            }
            Value::Array(items) => {
                for (n, item) in items.iter().enumerate() {
                    if let Some(Value::Object(block)) = values.get_mut(key).and_then(|v| v.get_mut(n)) {
                        mark_unknown(block, item);
                    }
                }
            }
            Value::Object(_) => {
                if let Some(Value::Object(inner)) = values.get_mut(key) {
                    mark_unknown(inner, marks);
                }
            }
            _ => {}
        }
    }
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
        serde_json::from_value(serde_json::Value::from(&fix.patch)).map_err(|e| format!("not RFC 6902: {e}"))?;
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

/// The Terraform checks find the same on configuration as on plan values: each Terraform fixture is written out as
/// HCL (attributes as attributes, lists of objects as nested blocks, modules as local module folders, attributes
/// the fixture's `configuration` gives only as references as those references) and read by the HCL reader.
#[test]
fn terraform_checks_find_the_same_in_hcl_as_in_plans() {
    let mut problems = Vec::new();
    let (mut compared, mut findings) = (0, 0);
    for check in checks::all().filter(|c| c.id.starts_with("TF-")) {
        for name in ["fail.yaml", "pass.yaml"] {
            let file = fixture_dir(check.id).join(name);
            let from_plan = findings_by_address(&run(check, &load(check, &file)), |a| a.to_owned());
            let work = tempfile::tempdir().unwrap();
            let doc =
                expand_terraform_shorthand(serde_saphyr::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap());
            write_hcl(&doc, work.path());
            let config = terraform::TerraformConfig { paths: vec![work.path().to_owned()], ..Default::default() };
            let snapshot = terraform::collect(&config);
            if snapshot.diagnostics.iter().any(|d| d.kind.is_error()) {
                problems.push(format!("{}/{name}: {:?}", check.id, snapshot.diagnostics));
                continue;
            }
            let (mut inv, _) = Inventory::from_snapshots(vec![snapshot]);
            link::link(&mut inv, &OwnerKeys::default());
            let from_hcl = findings_by_address(&run(check, &inv), |a| a.to_owned());
            let from_plan: Vec<_> = from_plan.into_iter().map(|(a, s)| (hcl_address(&a), s)).collect();
            if from_plan != from_hcl {
                problems.push(format!("{}/{name}: plan {from_plan:?}, HCL {from_hcl:?}", check.id));
            }
            compared += 1;
            findings += from_hcl.len();
        }
    }
    assert!(problems.is_empty(), "{} differences:\n{}", problems.len(), problems.join("\n"));
    assert!(compared >= 100, "only {compared} fixtures compared");
    assert!(findings >= 100, "only {findings} findings compared: the HCL side finds too little");
}

fn findings_by_address(found: &[Finding], f: impl Fn(&str) -> String) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> =
        found.iter().map(|x| (f(x.resource.to_string().split_once("//").unwrap().1), x.subject.clone())).collect();
    out.sort();
    out
}

/// `aws_instance.web[0]` is written as the resource `aws_instance.web_0` (each instance keeps its own values).
fn hcl_address(address: &str) -> String {
    address.replace("[\"", "_").replace("\"]", "").replace('[', "_").replace(']', "")
}

/// Writes a `show -json` document's resources as configuration under `dir`.
fn write_hcl(doc: &Value, dir: &Path) {
    use std::collections::BTreeMap;
    let mut files: BTreeMap<String, String> = BTreeMap::new();
    let config = &doc["configuration"]["root_module"];
    let unknown: BTreeMap<&str, &Value> = doc["resource_changes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| Some((c["address"].as_str()?, c.pointer("/change/after_unknown")?)))
        .collect();
    for r in doc["values"]["root_module"]["resources"].as_array().unwrap() {
        let address = hcl_address(r["address"].as_str().unwrap());
        let (module, local) = match address.strip_prefix("module.") {
            Some(rest) => {
                let (m, local) = rest.split_once('.').unwrap();
                (Some(m.to_owned()), local.to_owned())
            }
            None => (None, address.clone()),
        };
        let (kind, name) = local.split_once('.').unwrap();
        let mut values = r["values"].as_object().unwrap().clone();
        if let Some(tree) = unknown.get(r["address"].as_str().unwrap()) {
            mark_unknown(&mut values, tree);
        }
        let module_config = match &module {
            Some(m) => &config["module_calls"][m]["module"],
            None => config,
        };
        let local_address = r["address"].as_str().unwrap().rsplitn(3, '.').take(2).collect::<Vec<_>>();
        let plain = format!("{}.{}", local_address[1], local_address[0].split('[').next().unwrap());
        for c in module_config["resources"].as_array().into_iter().flatten() {
            if c["address"] != plain.as_str() {
                continue;
            }
            for (key, expr) in c["expressions"].as_object().into_iter().flatten() {
                if values.contains_key(key) {
                    continue;
                }
                if let Some(reference) = expr["references"].as_array().and_then(|r| r.first()).and_then(Value::as_str) {
                    values.insert(key.clone(), Value::String(format!("\u{0}{}", hcl_address(reference))));
                }
            }
        }
        let path = match &module {
            Some(m) => format!("modules/{m}/main.tf"),
            None => "main.tf".to_owned(),
        };
        let text = files.entry(path).or_default();
        text.push_str(&format!("resource \"{kind}\" \"{name}\" {{\n{}}}\n\n", hcl_body(&values, 1)));
    }
    let modules: Vec<String> =
        files.keys().filter_map(|k| k.strip_prefix("modules/")?.strip_suffix("/main.tf").map(str::to_owned)).collect();
    let root = files.entry("main.tf".to_owned()).or_default();
    for m in modules {
        root.push_str(&format!("module \"{m}\" {{\n  source = \"./modules/{m}\"\n}}\n\n"));
    }
    for (path, text) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

fn hcl_body(values: &serde_json::Map<String, Value>, depth: usize) -> String {
    let pad = "  ".repeat(depth);
    let mut out = String::new();
    for (key, value) in values {
        match value {
            Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_object) => {
                for item in items {
                    out.push_str(&format!(
                        "{pad}{key} {{\n{}{pad}}}\n",
                        hcl_body(item.as_object().unwrap(), depth + 1)
                    ));
                }
            }
            other => out.push_str(&format!("{pad}{key} = {}\n", hcl_expr(other))),
        }
    }
    out
}

fn hcl_expr(value: &Value) -> String {
    match value {
        Value::String(s) if s.starts_with('\u{0}') => s[1..].to_owned(),
        Value::String(s) => Value::String(s.replace("${", "$${").replace("%{", "%%{")).to_string(),
        Value::Array(items) => format!("[{}]", items.iter().map(hcl_expr).collect::<Vec<_>>().join(", ")),
        Value::Object(m) => format!(
            "{{ {} }}",
            m.iter()
                .map(|(k, v)| format!("{} = {}", Value::String(k.clone()), hcl_expr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}

/// A ClusterRole granting `*` verbs on `*` resources in `*` API groups grants everything every RBAC check looks for:
/// each of them must see it ([L] 5: a compliance control passed because its checks ignored wildcards).
#[test]
fn a_wildcard_cluster_role_fails_every_check_of_what_a_role_grants() {
    let text = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: everything\nrules:\n  - apiGroups: [\"*\"]\n    resources: [\"*\"]\n    verbs: [\"*\"]\n";
    let p = manifests::parse(text, "wildcard.yaml", "fixture", &manifests::ManifestsConfig::default());
    let (mut inv, _) =
        Inventory::from_snapshots(vec![Snapshot { resources: p.resources, complete: true, ..Snapshot::default() }]);
    link::link(&mut inv, &OwnerKeys::default());
    let fired: Vec<&str> = checks::all()
        .filter(|c| c.id.starts_with("K8S-RBAC-"))
        .filter(|c| !run(c, &inv).is_empty())
        .map(|c| c.id)
        .collect();
    assert_eq!(
        fired,
        [
            "K8S-RBAC-001",
            "K8S-RBAC-003",
            "K8S-RBAC-004",
            "K8S-RBAC-005",
            "K8S-RBAC-010",
            "K8S-RBAC-013",
            "K8S-RBAC-014",
            "K8S-RBAC-015",
            "K8S-RBAC-016"
        ]
    );
}
