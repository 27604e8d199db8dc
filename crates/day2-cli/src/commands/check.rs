//! `day2 check`: one scan of declared state, optionally recorded in a store.

use std::process::ExitCode;

use anyhow::{Result, bail};
use day2_engine::pipeline::{self, Run, Settings};
use day2_store::{RunRecord, StoreLocation};

use super::{emit, exit_code, load_config, use_color};
use crate::cli::{CheckArgs, Global, ReportArgs};

pub fn run(global: &Global, args: CheckArgs) -> Result<ExitCode> {
    let (mut config, config_name) = load_config(global)?;
    if let Some(s) = args.report.fail_on {
        config.fail_on = s.into();
    }
    config.checks.enable.extend(args.only.iter().cloned());
    config.checks.disable.extend(args.skip.iter().cloned());
    config.policies.paths.extend(args.policies.iter().cloned());
    config.policies.conftest.combine |= args.combine;
    config.validate(std::path::Path::new(&config_name))?;
    let settings = Settings::new(&config, &args.paths, &config_name);
    if settings.manifests.iter().all(|m| m.paths.is_empty()) && settings.terraform.iter().all(|t| t.paths.is_empty()) {
        bail!(
            "nothing to scan: give paths (`day2 check k8s/`), `-` for stdin, or configure sources in day2.yaml (`day2 init`)"
        );
    }
    super::use_store_key(args.report.store.as_ref());
    finish(global, pipeline::run(&settings), &args.report)
}

/// Records the run when asked, renders the report and returns the exit code (shared with `day2 drift`).
pub(crate) fn finish(global: &Global, run: Run, args: &ReportArgs) -> Result<ExitCode> {
    let mut report = run.report;
    // A store that cannot be written must not cost the user the scan: the report is printed anyway, then the error.
    let mut store_error = None;
    if let Some(path) = &args.store {
        let record = RunRecord {
            started_at: report.started_at,
            sources: &report.sources,
            resources: run.inventory.resources(),
            findings: &report.findings,
            rules_run: &run.rules_run,
        };
        match record_run(path, &record, &report.coverage) {
            Ok(outcome) => {
                for f in &mut report.findings {
                    if let Some(t) = outcome.first_seen.get(&f.id) {
                        f.first_seen = *t;
                    }
                }
                report.summary.new = Some(outcome.new.len());
                report.summary.resolved = Some(outcome.resolved.len());
                report.resolved = outcome.resolved;
            }
            Err(e) => store_error = Some(format!("recording the run in {path}: {e:#}")),
        }
    }
    let options =
        day2_report::Options { color: use_color(global) && args.out.is_none(), show_suppressed: args.show_suppressed };
    emit(args.output, &report, &options, args.out.as_deref())?;
    let code = match store_error {
        Some(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
        None => exit_code(&report),
    };
    // The process ends next: freeing hundreds of thousands of small allocations one by one would cost about a tenth of
    // the run on large inputs, and the operating system reclaims the memory anyway.
    std::mem::forget(report);
    std::mem::forget(run.inventory);
    Ok(code)
}

/// Records the run, and the coverage a drift run measured.
fn record_run(
    location: &StoreLocation,
    record: &RunRecord<'_>,
    coverage: &[day2_model::Coverage],
) -> Result<day2_store::RunOutcome> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    Ok(runtime.block_on(async {
        let store = day2_store::open(location).await?;
        let outcome = store.record_run(record).await?;
        store.record_coverage(record.started_at, coverage).await?;
        Ok::<_, day2_store::StoreError>(outcome)
    })?)
}
