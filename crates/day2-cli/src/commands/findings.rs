//! `day2 findings`: what the store holds, rendered by the same reporters as `day2 check`.

use std::process::ExitCode;

use anyhow::Result;
use day2_model::{Report, Summary};
use day2_store::FindingQuery;

use super::{emit, load_config, use_color};
use crate::cli::{FindingsAction, FindingsArgs, Global};

pub fn run(global: &Global, args: FindingsArgs) -> Result<ExitCode> {
    let (config, _) = load_config(global)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let all = args.all || args.action.is_some();
    let findings = runtime.block_on(async {
        let store = super::open_existing_store(&args.store).await?;
        anyhow::Ok(store.findings(&if all { FindingQuery::all() } else { FindingQuery::default() }).await?)
    })?;
    if let Some(FindingsAction::Show { id }) = &args.action {
        return show(&findings, id);
    }
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
    super::filter(&mut report, &args.filter)?;
    if args.all {
        let resolved = report.findings.iter().filter(|f| f.status == day2_model::FindingStatus::Resolved).count();
        report.summary.resolved = Some(resolved);
    }
    let options = day2_report::Options {
        color: use_color(global),
        show_suppressed: args.all,
        group_by: args.filter.group_by,
        to_terminal: true,
    };
    emit(args.output, &report, &options, None)?;
    Ok(ExitCode::SUCCESS)
}

/// `day2 findings show ID`: the finding as YAML, with what the rule says about itself.
fn show(findings: &[day2_model::Finding], id: &str) -> Result<ExitCode> {
    let matching: Vec<&day2_model::Finding> = findings.iter().filter(|f| f.id.as_str().starts_with(id)).collect();
    let finding = match matching.as_slice() {
        [one] => *one,
        [] => anyhow::bail!("no finding with id `{id}` in the store (`day2 findings --all -o json` lists them)"),
        many => anyhow::bail!("`{id}` names {} findings; give more of the id", many.len()),
    };
    let mut doc = serde_json::to_value(finding)?;
    if let Some(check) = day2_analyze::checks::all().find(|c| c.id == finding.rule_id)
        && let Some(map) = doc.as_object_mut()
    {
        map.insert(
            "rule".to_owned(),
            serde_json::json!({"title": check.title, "rationale": check.rationale, "references": check.references}),
        );
    }
    super::print_out(serde_saphyr::to_string(&doc)?.trim_end())?;
    Ok(ExitCode::SUCCESS)
}
