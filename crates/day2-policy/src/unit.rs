//! Rego unit tests, as `opa test` runs them: every `test_*` rule in the loaded modules must evaluate to `true`;
//! `todo_test_*` rules are skipped.

use std::path::PathBuf;

use day2_model::Diagnostic;

use crate::rego::{self, RegoVersion};

/// How one test ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// `true`.
    Pass,
    /// Undefined, or any value other than `true`.
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

/// Loads every `.rego` file (tests and policies) and data document under `paths` and runs the tests: `test_*` rules
/// in any module, as `opa test` finds them. A `filter` keeps tests whose name contains it (`opa test --run`).
pub fn run(paths: &[PathBuf], version: RegoVersion, filter: Option<&str>) -> TestRun {
    let mut run = TestRun::default();
    let files = crate::discover::read(paths, &mut run.diagnostics);
    let mut engine = rego::new_engine();
    rego::add_data(&mut engine, &files.data, &mut run.diagnostics);
    // (name, file, line, definitions)
    let mut tests: Vec<(String, String, u32, usize)> = Vec::new();
    for m in files.modules.iter().chain(&files.tests) {
        let package = match rego::add_module(&mut engine, &m.text, m.placement(), m.version.unwrap_or(version)) {
            Ok(package) => package,
            Err(d) => {
                run.diagnostics.push(d);
                continue;
            }
        };
        for (name, line) in rego::rule_heads(&m.text) {
            let path = format!("{package}.{name}");
            let is_test = name.starts_with("test_") || name.starts_with("todo_test_");
            if !is_test || filter.is_some_and(|f| !path.contains(f)) {
                continue;
            }
            match tests.iter_mut().find(|(p, ..)| *p == path) {
                Some(test) => test.3 += 1,
                None => tests.push((path, m.file.clone(), line, 1)),
            }
        }
    }
    if let Err(e) = rego::prepare(&mut engine) {
        run.diagnostics.push(Diagnostic::new(
            day2_model::DiagnosticKind::Policy,
            e.file.unwrap_or_default(),
            e.line,
            format!("Rego does not compile: {}", e.message),
        ));
    }
    for (name, file, line, definitions) in tests {
        let verdict = if name.rsplit('.').next().is_some_and(|n| n.starts_with("todo_")) {
            Verdict::Skip
        } else if definitions > 1 {
            // OPA runs each definition as its own test; regorus merges them into one rule, where a passing twin would
            // hide a failing one.
            Verdict::Error(format!(
                "defined {definitions} times; give each test its own name (day2 cannot run them apart)"
            ))
        } else {
            match engine.eval_rule(name.clone()) {
                Ok(regorus::Value::Bool(true)) => Verdict::Pass,
                Ok(_) => Verdict::Fail,
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
            "package p_test\nimport rego.v1\nimport data.p\n\ntest_denies if { \"x\" in p.deny with input as {\"bad\": true} }\ntest_wrong if { count(p.deny) == 1 with input as {} }\ntodo_test_later if { false }\ntest_object := {\"not\": \"a boolean\"}\ntest_twice if { true }\ntest_twice if { false }\n",
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
                ("data.p_test.todo_test_later", &Verdict::Skip),
                ("data.p_test.test_object", &Verdict::Fail),
                (
                    "data.p_test.test_twice",
                    &Verdict::Error("defined 2 times; give each test its own name (day2 cannot run them apart)".into())
                ),
            ]
        );
        assert!(!run.passed());
        assert_eq!(run.results[1].line, 6);
    }
}
