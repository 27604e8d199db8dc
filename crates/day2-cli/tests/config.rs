//! `day2 config`: the JSON Schema of day2.yaml checks real files (the example fleet's and `day2 init`'s) and rejects
//! typos, `day2 config validate` names the line of every problem, and the committed schema and the reference tables
//! of docs/configuration.md are what the configuration types say.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use common::{code, day2, root};
use serde_json::Value;

fn schema() -> Value {
    let out = day2(&["config", "schema"]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn yaml_as_json(text: &str) -> Value {
    serde_saphyr::from_str(text).unwrap()
}

#[test]
fn the_schema_accepts_the_example_fleet_and_rejects_typos() {
    let validator = jsonschema::validator_for(&schema()).unwrap();
    for file in ["examples/fleet/day2.yaml", "crates/day2-engine/src/day2.example.yaml"] {
        let text = std::fs::read_to_string(root().join(file)).unwrap();
        let errors: Vec<String> = validator.iter_errors(&yaml_as_json(&text)).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{file}: {errors:#?}");
    }
    let typos = [
        ("fail_onn: high\n", ""),
        ("sources:\n  - manifests:\n      pahts: [k8s/]\n", "/sources/0"),
        ("sources:\n  - kubernets: {cluster: prod}\n", "/sources/0"),
        ("serve:\n  lease_seconds: soon\n", "/serve/lease_seconds"),
    ];
    for (text, at) in typos {
        let errors: Vec<String> =
            validator.iter_errors(&yaml_as_json(text)).map(|e| e.instance_path().to_string()).collect();
        assert!(errors.iter().any(|path| path == at), "{text:?}: expected an error at `{at}`, got {errors:?}");
    }
}

#[test]
fn validate_names_the_line_of_each_problem() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("day2.yaml");
    std::fs::write(&file, "fail_on: high\nsources:\n  - manifests:\n      pahts: [k8s/]\n").unwrap();
    let out = day2(&["config", "validate", file.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code(&out), 2, "{stderr}");
    assert!(stderr.contains("day2.yaml:4:") && stderr.contains("pahts"), "{stderr}");

    std::fs::write(&file, "sources:\n  - manifests: {paths: [k8s/]}\n  - aws:\n      name: prod\n").unwrap();
    let out = day2(&["config", "validate", file.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code(&out), 2, "{stderr}");
    assert!(stderr.contains("day2.yaml:3: sources[1].region: required"), "{stderr}");

    let out = day2(&["config", "validate", "examples/fleet/day2.yaml"]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("valid (3 declared and 1 live sources"), "{stdout}");
}

#[test]
fn the_sections_of_earlier_versions_get_the_new_form() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("day2.yaml");
    for old in ["sources:\n  manifests:\n    - paths: [k8s/]\n", "live:\n  kubernetes:\n    - cluster: prod\n"] {
        std::fs::write(&file, old).unwrap();
        let out = day2(&["config", "validate", file.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(code(&out), 2, "{stderr}");
        assert!(
            stderr.contains("sources are one list now") && stderr.contains("{manifests: {paths: [k8s/]}}"),
            "{stderr}"
        );
    }
}

/// The committed schema (docs/day2.schema.json, which the example fleet's day2.yaml names for editors) and the
/// generated reference in docs/configuration.md match the code. `DAY2_UPDATE_SCHEMA=1` rewrites both.
#[test]
fn committed_schema_and_reference_are_current() {
    let schema = schema();
    let generated = serde_json::to_string_pretty(&schema).unwrap() + "\n";
    let schema_path = root().join("docs/day2.schema.json");
    let docs_path = root().join("docs/configuration.md");
    let docs = std::fs::read_to_string(&docs_path).unwrap();
    let (begin, end) = (day2_engine::reference::BEGIN, day2_engine::reference::END);
    let (before, rest) =
        docs.split_once(begin).expect("docs/configuration.md has the generated reference's start marker");
    let (_, after) = rest.split_once(end).expect("… and its end marker");
    let reference = format!("{before}{begin}\n\n{}{end}{after}", day2_engine::reference::markdown(&schema));
    if std::env::var_os("DAY2_UPDATE_SCHEMA").is_some() {
        std::fs::write(&schema_path, &generated).unwrap();
        std::fs::write(&docs_path, &reference).unwrap();
    }
    let hint = "run DAY2_UPDATE_SCHEMA=1 cargo test -p day2-cli --test config";
    assert_eq!(
        std::fs::read_to_string(&schema_path).unwrap_or_default(),
        generated,
        "docs/day2.schema.json is stale: {hint}"
    );
    assert_eq!(
        std::fs::read_to_string(&docs_path).unwrap(),
        reference,
        "docs/configuration.md's reference is stale: {hint}"
    );
}
