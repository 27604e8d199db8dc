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

/// Reads the first document of `file` (relative to the suite) that satisfies `pick`.
fn read_doc(base: &Path, file: &str, pick: fn(&serde_json::Value) -> bool) -> Result<load::Doc, String> {
    let mut diagnostics = Vec::new();
    let docs = load::documents(&base.join(file), &mut diagnostics);
    if let Some(d) = diagnostics.first() {
        return Err(format!("{}{}: {}", d.file, d.line.map(|l| format!(":{l}")).unwrap_or_default(), d.message));
    }
    docs.into_iter().find(|d| pick(&d.value)).ok_or_else(|| format!("{file}: no suitable document"))
}

fn run_test(base: &Path, spec: &TestSpec, filter: Option<&regex::Regex>) -> TestResult {
    let clock = Instant::now();
    let mut result =
        TestResult { name: spec.name.clone(), status: Status::Pass, cases: Vec::new(), elapsed: Duration::ZERO };
    if spec.skip {
        result.status = Status::Skip;
        return result;
    }
    let library = load_pair(base, spec);
    match (library, spec.invalid) {
        (Ok(_), true) => {
            result.status = Status::Fail(vec!["expected the template or constraint to be invalid".to_owned()])
        }
        (Err(_), true) => {}
        (Err(reason), false) => result.status = Status::Fail(vec![reason]),
        (Ok(library), false) => {
            result.cases = spec
                .cases
                .iter()
                .filter(|c| filter.is_none_or(|f| f.is_match(&format!("{}/{}", spec.name, c.name))))
                .map(|c| run_case(base, &library, c))
                .collect();
        }
    }
    result.elapsed = clock.elapsed();
    result
}

fn load_pair(base: &Path, spec: &TestSpec) -> Result<Library, String> {
    let located =
        |d: &Diagnostic| format!("{}{}: {}", d.file, d.line.map(|l| format!(":{l}")).unwrap_or_default(), d.message);
    let doc = read_doc(base, &spec.template, load::is_template)?;
    let template = template::parse(&doc).template.map_err(|d| located(&d))?;
    let Some(constraint_file) = &spec.constraint else {
        return Ok(Library { templates: vec![template], constraints: Vec::new() });
    };
    let doc = read_doc(base, constraint_file, load::is_constraint)?;
    let constraint = constraint::parse(&doc).map_err(|d| located(&d))?;
    if constraint.kind != template.kind {
        return Err(format!(
            "constraint kind {} does not match the template's kind {}",
            constraint.kind, template.kind
        ));
    }
    constraint::check_parameters(&constraint, template.parameters_schema.as_ref()).map_err(|d| located(&d))?;
    Ok(Library { templates: vec![template], constraints: vec![constraint] })
}

fn run_case(base: &Path, library: &Library, spec: &CaseSpec) -> CaseResult {
    let clock = Instant::now();
    let status = if spec.skip { Status::Skip } else { check_case(base, library, spec) };
    CaseResult { name: spec.name.clone(), status, elapsed: clock.elapsed() }
}

fn check_case(base: &Path, library: &Library, spec: &CaseSpec) -> Status {
    let object = match read_doc(base, &spec.object, |v| v.is_object()) {
        Ok(doc) => Object::new(Cow::Owned(doc.value), None, 0),
        Err(e) => return Status::Fail(vec![e]),
    };
    let Some(object) = object else {
        return Status::Fail(vec![format!("{}: the object needs apiVersion, kind and metadata.name", spec.object)]);
    };
    let mut inventory = Vec::new();
    for file in &spec.inventory {
        let mut diagnostics = Vec::new();
        let docs = load::documents(&base.join(file), &mut diagnostics);
        if let Some(d) = diagnostics.first() {
            return Status::Fail(vec![format!("{file}: {}", d.message)]);
        }
        inventory.extend(docs.into_iter().filter_map(|d| Object::new(Cow::Owned(d.value), None, 0)));
    }
    let data = gatekeeper::inventory_data(inventory.iter());
    let namespaces = constraint::namespace_labels(inventory.iter().map(|o| o.json.as_ref()));
    let evaluation = library.evaluate(std::slice::from_ref(&object), &data, &namespaces);
    if !evaluation.errors.is_empty() {
        return Status::Fail(
            evaluation.errors.iter().map(|e| format!("evaluation failed: {}", e.error.describe())).collect(),
        );
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
