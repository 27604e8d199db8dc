//! The Terraform source against files written by a real `terraform` 1.11 (built-in `terraform_data` resources, module
//! `net`, `count = 2`, `for_each` with a key containing `/`, `depends_on`; see fixtures/terraform/data-main.tf.txt).

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::path::Path;

use day2_collect::{Limits, terraform};
use day2_model::RelationKind;

fn parse(file: &str) -> terraform::Parsed {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/terraform").join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let p = terraform::parse(&text, file, "data", "test", &Limits::default());
    assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
    p
}

fn names(p: &terraform::Parsed) -> Vec<&str> {
    let mut n: Vec<&str> = p.resources.iter().map(|r| r.name.as_str()).collect();
    n.sort();
    n
}

const ADDRESSES: [&str; 6] = [
    "module.net.terraform_data.vpc",
    "terraform_data.bucket",
    "terraform_data.by_key[\"a\"]",
    "terraform_data.by_key[\"b/c\"]",
    "terraform_data.web[0]",
    "terraform_data.web[1]",
];

#[test]
fn state_v4_gives_full_addresses_and_dependencies() {
    let p = parse("data.tfstate");
    assert_eq!(names(&p), ADDRESSES);
    let vpc = p.resources.iter().find(|r| r.name.starts_with("module.net")).unwrap();
    assert_eq!(vpc.id.as_str(), "tf/data/terraform_data//module.net.terraform_data.vpc");
    assert!(
        matches!(&vpc.origin, day2_model::Origin::Declared { module: Some(m), line, .. } if m == "module.net" && *line > 1)
    );
    let deps: Vec<_> = p
        .relations
        .iter()
        .filter(|r| r.kind == RelationKind::DependsOn)
        .map(|r| (r.from.as_str(), r.to.as_str()))
        .collect();
    assert_eq!(deps.len(), 2, "{deps:?}");
    assert!(deps.iter().all(|(f, t)| f.contains("web[") && t.ends_with("terraform_data.bucket")));
}

#[test]
fn show_json_state_reads_child_modules() {
    let p = parse("data-show.json");
    assert_eq!(names(&p), ADDRESSES);
    assert_eq!(p.resources.iter().find(|r| r.name == "terraform_data.by_key[\"a\"]").unwrap().attrs["input"], "a");
}

#[test]
fn plan_gives_planned_values_changes_and_reference_relations() {
    let p = parse("data-plan.json");
    assert_eq!(names(&p), ADDRESSES);
    assert_eq!(p.changes.len(), 6);
    assert!(p.changes.iter().all(|c| c.actions == ["create"] && c.before.is_null() && !c.drift));
    let refs: Vec<_> = p.relations.iter().filter(|r| r.kind == RelationKind::References).collect();
    assert_eq!(refs.len(), 2, "web[0] and web[1] reference the bucket: {refs:?}");
    assert!(p.relations.iter().any(|r| r.kind == RelationKind::DependsOn && r.from.as_str().ends_with("web[0]")));
}

#[test]
fn plan_changes_survive_into_the_inventory() {
    let p = parse("data-plan.json");
    let snapshot = day2_model::Snapshot {
        resources: p.resources,
        relations: p.relations,
        changes: p.changes,
        complete: true,
        ..Default::default()
    };
    let (inv, _) = day2_model::Inventory::from_snapshots(vec![snapshot]);
    assert_eq!(inv.changes().len(), 6, "kept for the drift and cost analyzers");
}
