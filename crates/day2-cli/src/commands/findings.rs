//! `day2 findings`: what the store holds, rendered by the same reporters as `day2 check`.

use std::process::ExitCode;

use anyhow::Result;
use day2_model::{Report, Summary};
use day2_store::FindingQuery;

use super::{emit, load_config, use_color};
use crate::cli::{FindingsArgs, Global};

pub fn run(global: &Global, args: FindingsArgs) -> Result<ExitCode> {
    let (config, _) = load_config(global)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let findings = runtime.block_on(async {
        let store = super::open_existing_store(&args.store).await?;
        anyhow::Ok(store.findings(&if args.all { FindingQuery::all() } else { FindingQuery::default() }).await?)
    })?;
    let mut report = Report {
        schema_version: Report::SCHEMA_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").to_owned(),
        started_at: chrono::Utc::now(),
        fail_on: config.fail_on,
        summary: Summary::default(),
        sources: Vec::new(),
        rules: day2_engine::pipeline::builtin_rules_of(&findings),
        coverage: Vec::new(),
        findings,
        resolved: Vec::new(),
        diagnostics: Vec::new(),
    };
    report.recount();
    if args.all {
        let resolved = report.findings.iter().filter(|f| f.status == day2_model::FindingStatus::Resolved).count();
        report.summary.resolved = Some(resolved);
    }
    let options = day2_report::Options { color: use_color(global), show_suppressed: args.all };
    emit(args.output, &report, &options, None)?;
    Ok(ExitCode::SUCCESS)
}
