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
    // Filters are checked before the scan, so a mistyped glob costs nothing.
    super::rule_globs(&args.report.filter)?;
    let mut run = pipeline::run(&settings);
    if let Some(path) = &args.baseline {
        accept_baseline(&mut run.report, path)?;
    }
    finish(global, run, &args.report)
}

/// Marks the findings of an earlier report as accepted (suppressed by the baseline), so only new ones fail.
fn accept_baseline(report: &mut day2_model::Report, path: &std::path::Path) -> Result<()> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("{}: cannot read the baseline: {e}", path.display()))?;
    let earlier: day2_model::Report = serde_json::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "{}: not a day2 report (`day2 check -o json --out {}` writes one): {e}",
            path.display(),
            path.display()
        )
    })?;
    // Only what was active then is accepted: a finding that was suppressed in the baseline, and whose suppression has
    // since expired or been removed, stands.
    let accepted: std::collections::HashSet<&day2_model::FindingId> =
        earlier.findings.iter().filter(|f| f.status.is_active()).map(|f| &f.id).collect();
    let acceptable = |f: &day2_model::Finding| {
        matches!(f.status, day2_model::FindingStatus::Open { expired_suppression: None }) && accepted.contains(&f.id)
    };
    for f in report.findings.iter_mut().filter(|f| acceptable(f)) {
        f.status = day2_model::FindingStatus::Suppressed(day2_model::Suppression {
            by: format!("baseline:{}", path.display()),
            owner: None,
            reason: "in the baseline: accepted when it was written".to_owned(),
            expires: None,
        });
    }
    report.recount();
    Ok(())
}

/// Records the run when asked, renders the report and returns the exit code (shared with `day2 drift`).
pub(crate) fn finish(global: &Global, run: Run, args: &ReportArgs) -> Result<ExitCode> {
    let recorded = args.store.as_ref().map(|path| (path, record_run(path, &run)));
    let mut report = run.report;
    // A store that cannot be written must not cost the user the scan: the report is printed anyway, then the error.
    let mut store_error = None;
    let mut new = None;
    if let Some((path, recorded)) = recorded {
        match recorded {
            Ok(outcome) => {
                for f in &mut report.findings {
                    if let Some(t) = outcome.first_seen.get(&f.id) {
                        f.first_seen = *t;
                    }
                }
                new = Some(outcome.new.into_iter().collect::<std::collections::HashSet<_>>());
                report.resolved = outcome.resolved;
            }
            Err(e) => store_error = Some(format!("recording the run in {path}: {e:#}")),
        }
    }
    super::filter(&mut report, &args.filter)?;
    if let Some(new) = new {
        report.summary.new = Some(report.findings.iter().filter(|f| new.contains(&f.id)).count());
        report.summary.resolved = Some(report.resolved.len());
    }
    let options = day2_report::Options {
        color: use_color(global) && args.out.is_none(),
        show_suppressed: args.show_suppressed,
        group_by: args.filter.group_by,
        to_terminal: args.out.is_none(),
    };
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
