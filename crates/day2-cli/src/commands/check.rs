//! `day2 check`: one scan of declared state, optionally recorded in a store.

use std::process::ExitCode;

use anyhow::{Result, bail};
use day2_engine::pipeline::{self, Run, Settings};
use day2_model::Side;
use day2_store::StoreLocation;

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
    config.live_posture |= args.live;
    config.validate(std::path::Path::new(&config_name))?;
    let settings = Settings::new(&config, &args.paths, &config_name);
    let declared = settings.sources_of(Side::Declared).next().is_some();
    let live = settings.live_posture && settings.sources_of(Side::Live).next().is_some();
    if !declared && !live {
        bail!(
            "nothing to scan: give paths (`day2 check k8s/`), `-` for stdin, or configure sources in day2.yaml (`day2 init`)"
        );
    }
    if args.live && !live {
        bail!(
            "--live: day2.yaml configures no live source; add one to `sources` (`- kubernetes: {{cluster: prod, context: prod}}`, \
             `- kubernetes: {{cluster: prod, recorded: [live.yaml]}}`, `- aws: {{region: eu-west-1}}`)"
        );
    }
    super::use_store_key(args.report.store.as_ref());
    finish(global, pipeline::run(&settings), &args.report)
}

/// Records the run when asked, renders the report and returns the exit code (shared with `day2 drift`).
pub(crate) fn finish(global: &Global, run: Run, args: &ReportArgs) -> Result<ExitCode> {
    let recorded = args.store.as_ref().map(|path| (path, record_run(path, &run)));
    let mut report = run.report;
    // A store that cannot be written must not cost the user the scan: the report is printed anyway, then the error.
    let mut store_error = None;
    if let Some((path, recorded)) = recorded {
        match recorded {
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

/// Records the run in the store at `location`.
fn record_run(location: &StoreLocation, run: &Run) -> Result<day2_store::RunOutcome> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    Ok(runtime.block_on(async {
        let store = day2_store::open(location).await?;
        pipeline::record(store.as_ref(), run).await
    })?)
}
