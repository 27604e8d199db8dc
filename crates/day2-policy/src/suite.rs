//! Gatekeeper's gator suites (`kind: Suite`, `gator verify`): each test pairs a template with a constraint (or
//! expects them to be invalid); each case reviews one object, optionally with an inventory, and asserts the number of
//! violations (`yes`, `no` or a count), optionally of those whose message matches a regex.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use day2_model::Diagnostic;
use serde::Deserialize;

use crate::gatekeeper::{self, Library, Object, constraint, template};
use crate::load;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SuiteFile {
    #[serde(default)]
    metadata: serde_json::Value,
    #[serde(default)]
    tests: Vec<TestSpec>,
    #[serde(default)]
    skip: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TestSpec {
    #[serde(default)]
    name: String,
    template: String,
    #[serde(default)]
    constraint: Option<String>,
    #[serde(default)]
    invalid: bool,
    #[serde(default)]
    skip: bool,
    #[serde(default)]
    cases: Vec<CaseSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CaseSpec {
    #[serde(default)]
    name: String,
    object: String,
    #[serde(default)]
    inventory: Vec<String>,
    #[serde(default)]
    skip: bool,
    #[serde(default)]
    assertions: Vec<Assertion>,
}

#[derive(Debug, Deserialize)]
struct Assertion {
    #[serde(default)]
    violations: Option<serde_json::Value>,
    #[serde(default)]
    message: Option<String>,
}

/// Outcome of a test or case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Every assertion held.
    Pass,
    /// Why it failed (one reason per failed assertion or problem).
    Fail(Vec<String>),
    /// Marked `skip: true`.
    Skip,
}

/// One case.
#[derive(Debug, Clone)]
pub struct CaseResult {
    /// Case name.
    pub name: String,
    /// Outcome.
    pub status: Status,
    /// Time taken.
    pub elapsed: Duration,
}

/// One test: a template with a constraint.
#[derive(Debug, Clone)]
pub struct TestResult {
    /// Test name.
    pub name: String,
    /// Problems with the test itself (template does not compile, …); the cases then are not run.
    pub status: Status,
    /// Cases.
    pub cases: Vec<CaseResult>,
    /// Time taken.
    pub elapsed: Duration,
}

/// One suite file.
#[derive(Debug, Clone)]
pub struct SuiteResult {
    /// The suite file.
    pub file: String,
    /// Suite name (`metadata.name`).
    pub name: String,
    /// Tests.
    pub tests: Vec<TestResult>,
    /// The suite could not be read, or was skipped.
    pub status: Status,
    /// Time taken.
    pub elapsed: Duration,
}

impl SuiteResult {
    /// True when the suite and all its tests and cases passed or were skipped.
    pub fn passed(&self) -> bool {
        let ok = |s: &Status| !matches!(s, Status::Fail(_));
        ok(&self.status) && self.tests.iter().all(|t| ok(&t.status) && t.cases.iter().all(|c| ok(&c.status)))
    }
}

/// Finds suite files under `paths` (any YAML document with `kind: Suite`) and runs them. `filter` keeps tests and
/// cases whose `test/case` name matches the regex (gator's `--run`).
pub fn verify(paths: &[PathBuf], filter: Option<&regex::Regex>) -> (Vec<SuiteResult>, Vec<Diagnostic>) {
    let mut diagnostics = Vec::new();
    let mut results = Vec::new();
    for path in load::files(paths, &mut diagnostics) {
        if !matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
            continue;
        }
        for doc in load::documents(&path, &mut diagnostics) {
            if doc.value.get("kind").and_then(serde_json::Value::as_str) == Some("Suite") {
                results.push(run_suite(&path, doc.value, filter));
            }
        }
    }
    (results, diagnostics)
}

fn run_suite(path: &Path, value: serde_json::Value, filter: Option<&regex::Regex>) -> SuiteResult {
    let clock = Instant::now();
    let file = load::display(path);
    let base = path.parent().unwrap_or(Path::new("."));
    let mut result =
        SuiteResult { file, name: String::new(), tests: Vec::new(), status: Status::Pass, elapsed: Duration::ZERO };
    match serde_json::from_value::<SuiteFile>(value) {
        Err(e) => result.status = Status::Fail(vec![format!("not a valid Suite: {e}")]),
        Ok(suite) if suite.skip => result.status = Status::Skip,
        Ok(suite) => {
            result.name = suite.metadata.pointer("/name").and_then(|v| v.as_str()).unwrap_or_default().to_owned();
            result.tests = suite.tests.iter().map(|t| run_test(base, t, filter)).collect();
        }
    }
    result.elapsed = clock.elapsed();
    result
}

/// The one document of `file` (relative to the suite) that satisfies `pick`; gator rejects object files with more.
fn read_doc(base: &Path, file: &str, pick: fn(&serde_json::Value) -> bool) -> Result<load::Doc, String> {
    let mut diagnostics = Vec::new();
    let docs = load::documents(&base.join(file), &mut diagnostics);
    if let Some(d) = diagnostics.first() {
        return Err(d.to_string());
    }
    let mut picked = docs.into_iter().filter(|d| pick(&d.value));
    match (picked.next(), picked.next()) {
        (Some(doc), None) => Ok(doc),
        (None, _) => Err(format!("{file}: no suitable document")),
        (Some(_), Some(_)) => Err(format!("{file}: holds more than one document; a suite file names one object")),
    }
}

/// Does `--run` select this case? gator matches the test name or the case name; `test/case` also works.
fn selected(filter: Option<&regex::Regex>, test: &str, case: &str) -> bool {
    filter.is_none_or(|f| f.is_match(test) || f.is_match(case) || f.is_match(&format!("{test}/{case}")))
}

fn run_test(base: &Path, spec: &TestSpec, filter: Option<&regex::Regex>) -> TestResult {
    let clock = Instant::now();
    let mut result =
        TestResult { name: spec.name.clone(), status: Status::Pass, cases: Vec::new(), elapsed: Duration::ZERO };
    let cases: Vec<&CaseSpec> = spec.cases.iter().filter(|c| selected(filter, &spec.name, &c.name)).collect();
    if spec.skip {
        result.status = Status::Skip;
        return result;
    }
    if cases.is_empty() && !spec.cases.is_empty() {
        // Filtered out entirely: not loaded, not counted.
        result.status = Status::Skip;
        return result;
    }
    result.status = match (load_pair(base, spec), spec.invalid) {
        (Err(PairError::Invalid(_)), true) => Status::Pass,
        (Ok(_), true) => Status::Fail(vec!["expected the constraint to be invalid, but it is valid".to_owned()]),
        (Err(PairError::Broken(reason)), true) => {
            Status::Fail(vec![format!("expected an invalid constraint, but the test itself is broken: {reason}")])
        }
        (Err(PairError::Broken(reason) | PairError::Invalid(reason)), false) => Status::Fail(vec![reason]),
        (Ok(library), false) => {
            result.cases = cases.into_iter().map(|c| run_case(base, &library, c)).collect();
            Status::Pass
        }
    };
    result.elapsed = clock.elapsed();
    result
}

/// Why a test's template and constraint do not make a library.
enum PairError {
    /// The constraint is invalid (what `invalid: true` expects): it does not parse or breaks the parameters schema.
    Invalid(String),
    /// Anything else: missing files, a template that does not compile, a kind mismatch.
    Broken(String),
}

fn load_pair(base: &Path, spec: &TestSpec) -> Result<Library, PairError> {
    let doc = read_doc(base, &spec.template, load::is_template).map_err(PairError::Broken)?;
    let template = template::parse(&doc).template.map_err(|d| PairError::Broken(d.to_string()))?;
    let constraint_file =
        spec.constraint.as_ref().ok_or_else(|| PairError::Broken("the test names no constraint".to_owned()))?;
    let doc = read_doc(base, constraint_file, load::is_constraint).map_err(PairError::Broken)?;
    let constraint = constraint::parse(&doc).map_err(|d| PairError::Invalid(d.to_string()))?;
    if constraint.kind != template.kind {
        return Err(PairError::Broken(format!(
            "constraint kind {} does not match the template's kind {}",
            constraint.kind, template.kind
        )));
    }
    constraint::check_parameters(&constraint, template.parameters_schema.as_ref())
        .map_err(|d| PairError::Invalid(d.to_string()))?;
    Ok(Library { templates: vec![template], constraints: vec![constraint] })
}

fn run_case(base: &Path, library: &Library, spec: &CaseSpec) -> CaseResult {
    let clock = Instant::now();
    let status = if spec.skip { Status::Skip } else { check_case(base, library, spec) };
    CaseResult { name: spec.name.clone(), status, elapsed: clock.elapsed() }
}

fn check_case(base: &Path, library: &Library, spec: &CaseSpec) -> Status {
    let object = match read_doc(base, &spec.object, |v| v.is_object()) {
        Ok(doc) => Object::new(Cow::Owned(doc.value.into()), None, 0),
        Err(e) => return Status::Fail(vec![e]),
    };
    let Some(object) = object else {
        return Status::Fail(vec![format!("{}: the object needs apiVersion and kind", spec.object)]);
    };
    let mut inventory = Vec::new();
    for file in &spec.inventory {
        let mut diagnostics = Vec::new();
        let docs = load::documents(&base.join(file), &mut diagnostics);
        if let Some(d) = diagnostics.first() {
            return Status::Fail(vec![format!("{file}: {}", d.message)]);
        }
        inventory.extend(docs.into_iter().filter_map(|d| Object::new(Cow::Owned(d.value.into()), None, 0)));
    }
    let data = gatekeeper::inventory_data(inventory.iter());
    let namespaces = constraint::namespace_labels(inventory.iter().map(|o| o.json.as_ref()));
    let evaluation = library.evaluate(std::slice::from_ref(&object), &data, &namespaces);
    if !evaluation.errors.is_empty() || !evaluation.undecided.is_empty() {
        return Status::Fail(library.diagnostics(&evaluation).iter().map(|d| d.message.clone()).collect());
    }
    if spec.assertions.is_empty() {
        return Status::Fail(vec!["the case has no assertions".to_owned()]);
    }
    let messages: Vec<&str> = evaluation.violations.iter().map(|v| v.message.as_str()).collect();
    let failures: Vec<String> = spec.assertions.iter().filter_map(|a| assertion_failure(a, &messages)).collect();
    if failures.is_empty() { Status::Pass } else { Status::Fail(failures) }
}

/// Why an assertion does not hold, or None.
fn assertion_failure(assertion: &Assertion, messages: &[&str]) -> Option<String> {
    let (matching, about) = match &assertion.message {
        Some(pattern) => match regex::Regex::new(pattern) {
            Ok(re) => (messages.iter().filter(|m| re.is_match(m)).count(), format!(" matching /{pattern}/")),
            Err(e) => return Some(format!("invalid message regex /{pattern}/: {e}")),
        },
        None => (messages.len(), String::new()),
    };
    let expected = assertion.violations.clone().unwrap_or(serde_json::Value::String("yes".to_owned()));
    let holds = match &expected {
        serde_json::Value::Bool(b) => (matching > 0) == *b,
        serde_json::Value::String(s) if s == "yes" => matching > 0,
        serde_json::Value::String(s) if s == "no" => matching == 0,
        serde_json::Value::Number(n) => n.as_u64().is_some_and(|n| n as usize == matching),
        other => return Some(format!("violations must be yes, no or a number, got {other}")),
    };
    let got = if messages.is_empty() { "none".to_owned() } else { format!("{messages:?}") };
    (!holds).then(|| format!("expected violations{about}: {expected}, got {matching} (all violations: {got})"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;

    const TEMPLATE: &str = "apiVersion: templates.gatekeeper.sh/v1\nkind: ConstraintTemplate\nmetadata:\n  name: k8sdenyname\nspec:\n  crd:\n    spec:\n      names:\n        kind: K8sDenyName\n      validation:\n        openAPIV3Schema:\n          type: object\n          properties:\n            name:\n              type: string\n  targets:\n    - target: admission.k8s.gatekeeper.sh\n      rego: |\n        package k8sdenyname\n        violation[{\"msg\": msg}] {\n          input.review.object.metadata.name == input.parameters.name\n          msg := sprintf(\"%v is denied\", [input.parameters.name])\n        }\n";

    fn suite(dir: &Path, tests: &str) -> Vec<SuiteResult> {
        std::fs::write(dir.join("template.yaml"), TEMPLATE).unwrap();
        std::fs::write(dir.join("constraint.yaml"), "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: K8sDenyName\nmetadata:\n  name: web\nspec:\n  parameters:\n    name: web\n").unwrap();
        std::fs::write(dir.join("bad-constraint.yaml"), "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: K8sDenyName\nmetadata:\n  name: bad\nspec:\n  parameters:\n    name: 3\n").unwrap();
        std::fs::write(dir.join("web.yaml"), "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n").unwrap();
        std::fs::write(
            dir.join("two.yaml"),
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: b\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("suite.yaml"),
            format!("kind: Suite\napiVersion: test.gatekeeper.sh/v1alpha1\ntests:\n{tests}"),
        )
        .unwrap();
        let (results, diagnostics) = verify(&[dir.to_owned()], None);
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        results
    }

    fn case_status(results: &[SuiteResult], case: &str) -> Status {
        results[0].tests[0].cases.iter().find(|c| c.name == case).unwrap().status.clone()
    }

    #[test]
    fn assertions_count_violations_and_match_messages() {
        let dir = tempfile::tempdir().unwrap();
        let results = suite(
            dir.path(),
            "- name: t\n  template: template.yaml\n  constraint: constraint.yaml\n  cases:\n  - name: counted\n    object: web.yaml\n    assertions: [{violations: yes}, {violations: 1, message: \"web is\"}, {violations: 0, message: nope}]\n  - name: wrong-count\n    object: web.yaml\n    assertions: [{violations: 2}]\n  - name: bool\n    object: web.yaml\n    assertions: [{violations: true}]\n  - name: bad-regex\n    object: web.yaml\n    assertions: [{violations: 1, message: \"(\"}]\n  - name: none\n    object: web.yaml\n  - name: two-objects\n    object: two.yaml\n    assertions: [{violations: no}]\n",
        );
        assert_eq!(results[0].status, Status::Pass, "{:?}", results[0]);
        assert_eq!(case_status(&results, "counted"), Status::Pass);
        assert_eq!(case_status(&results, "bool"), Status::Pass);
        let reason = |case: &str| match case_status(&results, case) {
            Status::Fail(r) => r.join(" "),
            other => panic!("{case}: {other:?}"),
        };
        assert!(reason("wrong-count").contains("expected violations: 2, got 1"));
        assert!(reason("bad-regex").contains("invalid message regex"));
        assert!(reason("none").contains("no assertions"));
        assert!(reason("two-objects").contains("more than one document"));
        assert!(!results[0].passed());
    }

    #[test]
    fn invalid_means_an_invalid_constraint_and_a_constraint_is_required() {
        let dir = tempfile::tempdir().unwrap();
        let results = suite(
            dir.path(),
            "- name: schema\n  template: template.yaml\n  constraint: bad-constraint.yaml\n  invalid: true\n- name: valid-but-expected-invalid\n  template: template.yaml\n  constraint: constraint.yaml\n  invalid: true\n- name: broken-but-expected-invalid\n  template: missing.yaml\n  constraint: bad-constraint.yaml\n  invalid: true\n- name: no-constraint\n  template: template.yaml\n",
        );
        let statuses: Vec<bool> = results[0].tests.iter().map(|t| t.status == Status::Pass).collect();
        assert_eq!(statuses, [true, false, false, false]);
    }

    #[test]
    fn run_filters_by_test_or_case_name() {
        let filter = regex::Regex::new("^keep$").unwrap();
        assert!(selected(Some(&filter), "keep", "x"));
        assert!(selected(Some(&filter), "t", "keep"));
        assert!(!selected(Some(&filter), "t", "other"));
        assert!(selected(Some(&regex::Regex::new("t/o").unwrap()), "t", "other"));
    }
}
