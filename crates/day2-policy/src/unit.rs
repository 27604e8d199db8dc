//! Rego unit tests, as `opa test` runs them: every `test_*` rule in the loaded modules must evaluate to a defined
//! value other than `false`; `todo_test_*` rules are skipped.

use std::path::PathBuf;

use day2_model::Diagnostic;

use crate::conftest::add_data;
use crate::load;
use crate::rego::{self, Placement, RegoVersion};

/// How one test ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Defined and not false.
    Pass,
    /// Undefined or false.
    Fail,
    /// Evaluation raised an error.
    Error(String),
    /// A `todo_test_*` rule.
    Skip,
}

/// One test rule's result.
#[derive(Debug, Clone)]
pub struct TestResult {
    /// `data.<package>.<rule>`.
    pub name: String,
    /// Declaring file.
    pub file: String,
    /// Declaring line.
    pub line: u32,
    /// Outcome.
    pub verdict: Verdict,
}

/// The results of a test run, with the problems met loading the policies.
#[derive(Debug, Default)]
pub struct TestRun {
    /// Results in file and line order.
    pub results: Vec<TestResult>,
    /// Files that could not be read or compiled.
    pub diagnostics: Vec<Diagnostic>,
}

impl TestRun {
    /// True when every test passed (or was skipped), at least one ran, and every file compiled.
    pub fn passed(&self) -> bool {
        self.diagnostics.iter().all(|d| !d.kind.is_error())
            && self.results.iter().any(|r| r.verdict == Verdict::Pass)
            && self.results.iter().all(|r| matches!(r.verdict, Verdict::Pass | Verdict::Skip))
    }
}

/// Loads every `.rego` file (tests and policies) and data document under `paths` and runs the tests. A `filter`
/// keeps tests whose name contains it (`opa test --run`).
pub fn run(paths: &[PathBuf], version: RegoVersion, filter: Option<&str>) -> TestRun {
    let mut run = TestRun::default();
    let files = load::read(paths, &mut run.diagnostics);
    let mut engine = rego::new_engine();
    add_data(&mut engine, &files.data, &mut run.diagnostics);
    for m in &files.modules {
        let at = Placement { file: &m.file, first_line: 1 };
        if let Err(d) = rego::add_module(&mut engine, &m.text, at, m.version.unwrap_or(version)) {
            run.diagnostics.push(d);
        }
    }
    let mut tests: Vec<(String, String, u32)> = Vec::new();
    for t in &files.tests {
        let at = Placement { file: &t.file, first_line: 1 };
        match rego::add_module(&mut engine, &t.text, at, t.version.unwrap_or(version)) {
            Ok(package) => {
                for (i, line) in t.text.lines().enumerate().filter(|(_, l)| !l.starts_with(char::is_whitespace)) {
                    let name = rego::rule_name(line);
                    let path = format!("{package}.{name}");
                    let is_test = name.starts_with("test_") || name.starts_with("todo_test_");
                    if is_test && filter.is_none_or(|f| path.contains(f)) && !tests.iter().any(|(p, ..)| *p == path) {
                        tests.push((path, t.file.clone(), i as u32 + 1));
                    }
                }
            }
            Err(d) => run.diagnostics.push(d),
        }
    }
    for (name, file, line) in tests {
        let verdict = if name.rsplit('.').next().is_some_and(|n| n.starts_with("todo_")) {
            Verdict::Skip
        } else {
            match engine.eval_rule(name.clone()) {
                Ok(regorus::Value::Undefined | regorus::Value::Bool(false)) => Verdict::Fail,
                Ok(_) => Verdict::Pass,
                Err(e) => Verdict::Error(rego::RegoError::parse(&e.to_string()).describe()),
            }
        };
        run.results.push(TestResult { name, file, line, verdict });
    }
    run
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn runs_test_rules_and_reports_failures() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("p.rego"), "package p\nimport rego.v1\ndeny contains \"x\" if input.bad\n")
            .unwrap();
        std::fs::write(
            dir.path().join("p_test.rego"),
            "package p_test\nimport rego.v1\nimport data.p\n\ntest_denies if { \"x\" in p.deny with input as {\"bad\": true} }\ntest_wrong if { count(p.deny) == 1 with input as {} }\ntodo_test_later if { false }\n",
        )
        .unwrap();
        let run = run(&[dir.path().to_owned()], RegoVersion::Auto, None);
        assert!(run.diagnostics.is_empty(), "{:?}", run.diagnostics);
        let verdicts: Vec<(&str, &Verdict)> = run.results.iter().map(|r| (r.name.as_str(), &r.verdict)).collect();
        assert_eq!(
            verdicts,
            [
                ("data.p_test.test_denies", &Verdict::Pass),
                ("data.p_test.test_wrong", &Verdict::Fail),
                ("data.p_test.todo_test_later", &Verdict::Skip)
            ]
        );
        assert!(!run.passed());
        assert_eq!(run.results[1].line, 6);
    }
}
