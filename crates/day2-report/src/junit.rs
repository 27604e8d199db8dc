//! JUnit XML: one test suite per rule, one failing test case per active finding, one skipped case per suppressed
//! finding; input errors form an `input` suite of errors. A clean run still has one passing case, so CI shows it.

use std::io::Write;

use day2_model::{FindingStatus, Report};
use quick_junit::{NonSuccessKind, Report as JUnit, TestCase, TestCaseStatus, TestSuite};

use crate::{Options, RenderError, Reporter, location, resource_label};

pub(crate) struct Junit;

impl Reporter for Junit {
    fn render(&self, report: &Report, _: &Options, out: &mut dyn Write) -> Result<(), RenderError> {
        let mut junit = JUnit::new("day2");
        let mut suites: Vec<TestSuite> = Vec::new();
        for f in &report.findings {
            let name = format!("{} {}", resource_label(f), f.subject).trim().to_owned();
            let status = match &f.status {
                FindingStatus::Resolved => TestCaseStatus::success(),
                FindingStatus::Suppressed(s) => {
                    let mut st = TestCaseStatus::skipped();
                    st.set_message(format!("suppressed: {}", s.reason));
                    st
                }
                _ => {
                    let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    st.set_message(f.message.clone()).set_type(f.severity.as_str()).set_description(format!(
                        "{}\nat {}\nremediation: {}",
                        f.message,
                        location(f),
                        f.remediation
                    ));
                    st
                }
            };
            let mut case = TestCase::new(name, status);
            case.set_classname(f.rule_id.clone());
            match suites.iter_mut().find(|s| s.name.as_str() == f.rule_id) {
                Some(s) => {
                    s.add_test_case(case);
                }
                None => {
                    let mut s = TestSuite::new(f.rule_id.clone());
                    s.add_test_case(case);
                    suites.push(s);
                }
            }
        }
        let errors: Vec<_> = report.diagnostics.iter().filter(|d| d.kind.is_error()).collect();
        if !errors.is_empty() {
            let mut s = TestSuite::new("input");
            for d in errors {
                let mut st = TestCaseStatus::non_success(NonSuccessKind::Error);
                st.set_message(d.message.clone());
                s.add_test_case(TestCase::new(d.to_string(), st));
            }
            suites.push(s);
        }
        if suites.is_empty() {
            let mut s = TestSuite::new("day2");
            s.add_test_case(TestCase::new(
                format!("{} resources scanned", report.summary.resources),
                TestCaseStatus::success(),
            ));
            suites.push(s);
        }
        junit.add_test_suites(suites);
        junit.serialize(&mut *out).map_err(|e| RenderError::Encode { format: "junit", message: e.to_string() })?;
        writeln!(out)?;
        Ok(())
    }
}
