//! `day2 policy verify` (gator suites) and `day2 policy test` (Rego unit tests), with output shaped like the tools
//! policy authors already know (`gator verify`, `opa test`).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Result, bail};
use day2_policy::suite::{self, Status, SuiteResult};
use day2_policy::unit::{self, Verdict};

use super::print_out;
use crate::cli::{Global, PolicyCommand};

pub fn run(global: &Global, cmd: PolicyCommand) -> Result<ExitCode> {
    let verbose = global.verbose > 0;
    match cmd {
        PolicyCommand::Verify { paths, run } => verify(&paths, run.as_deref(), verbose),
        PolicyCommand::Test { paths, run, rego_version } => test(&paths, run.as_deref(), rego_version.into(), verbose),
    }
}

fn seconds(d: Duration) -> String {
    format!("{:.3}s", d.as_secs_f64())
}

fn reasons(status: &Status) -> &[String] {
    match status {
        Status::Fail(r) => r,
        _ => &[],
    }
}

fn verify(paths: &[std::path::PathBuf], filter: Option<&str>, verbose: bool) -> Result<ExitCode> {
    let filter = filter.map(regex::Regex::new).transpose().map_err(|e| anyhow::anyhow!("--run: {e}"))?;
    let (suites, diagnostics) = suite::verify(paths, filter.as_ref());
    for d in &diagnostics {
        eprintln!("error: {d}");
    }
    if suites.is_empty() {
        bail!("no gator suites (YAML documents with `kind: Suite`) found under the given paths");
    }
    let (mut cases, mut failed) = (0usize, 0usize);
    for s in &suites {
        print_suite(s, verbose)?;
        for t in &s.tests {
            cases += t.cases.len();
            failed += usize::from(matches!(t.status, Status::Fail(_)));
            failed += t.cases.iter().filter(|c| matches!(c.status, Status::Fail(_))).count();
        }
        failed += usize::from(matches!(s.status, Status::Fail(_)));
    }
    let passed = suites.iter().all(SuiteResult::passed);
    print_out(&if passed {
        format!("PASS ({} suites, {cases} cases)", suites.len())
    } else {
        format!("FAIL ({failed} failed; {} suites, {cases} cases)", suites.len())
    })?;
    Ok(if !diagnostics.is_empty() {
        ExitCode::from(2)
    } else if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn print_suite(s: &SuiteResult, verbose: bool) -> Result<()> {
    for reason in reasons(&s.status) {
        print_out(&format!("    {reason}"))?;
    }
    for t in &s.tests {
        let test_failed =
            matches!(t.status, Status::Fail(_)) || t.cases.iter().any(|c| matches!(c.status, Status::Fail(_)));
        if verbose {
            print_out(&format!("=== RUN   {}", t.name))?;
        }
        for c in &t.cases {
            let word = match c.status {
                Status::Pass => "PASS",
                Status::Fail(_) => "FAIL",
                Status::Skip => "SKIP",
            };
            if verbose || word == "FAIL" {
                print_out(&format!("    --- {word}: {}\t({})", c.name, seconds(c.elapsed)))?;
            }
            for reason in reasons(&c.status) {
                print_out(&format!("        {reason}"))?;
            }
        }
        for reason in reasons(&t.status) {
            print_out(&format!("        {reason}"))?;
        }
        if verbose || test_failed {
            let word = if test_failed { "FAIL" } else { "PASS" };
            print_out(&format!("--- {word}: {}\t({})", t.name, seconds(t.elapsed)))?;
        }
    }
    let word = if s.passed() { "ok" } else { "FAIL" };
    print_out(&format!("{word}\t{}\t{}", s.file, seconds(s.elapsed)))
}

fn test(
    paths: &[std::path::PathBuf],
    filter: Option<&str>,
    version: day2_policy::RegoVersion,
    verbose: bool,
) -> Result<ExitCode> {
    let run = unit::run(paths, version, filter);
    for d in &run.diagnostics {
        eprintln!("error: {d}");
    }
    if run.results.is_empty() {
        bail!("no Rego tests (test_* rules in *_test.rego files) found under the given paths");
    }
    let mut counts = [0usize; 4];
    for r in &run.results {
        let (slot, word) = match &r.verdict {
            Verdict::Pass => (0, "PASS"),
            Verdict::Fail => (1, "FAIL"),
            Verdict::Error(_) => (2, "ERROR"),
            Verdict::Skip => (3, "SKIPPED"),
        };
        if let Some(c) = counts.get_mut(slot) {
            *c += 1;
        }
        if verbose || slot == 1 || slot == 2 {
            print_out(&format!("{}:{}: {}: {word}", r.file, r.line, r.name))?;
        }
        if let Verdict::Error(e) = &r.verdict {
            print_out(&format!("  {e}"))?;
        }
    }
    let [pass, fail, error, skip] = counts;
    let total = run.results.len();
    print_out(&"-".repeat(80))?;
    let mut summary = vec![format!("PASS: {pass}/{total}")];
    if fail > 0 {
        summary.push(format!("FAIL: {fail}/{total}"));
    }
    if error > 0 {
        summary.push(format!("ERROR: {error}/{total}"));
    }
    if skip > 0 {
        summary.push(format!("SKIPPED: {skip}/{total}"));
    }
    print_out(&summary.join("\n"))?;
    Ok(if run.diagnostics.iter().any(|d| d.kind.is_error()) {
        ExitCode::from(2)
    } else if run.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
