//! `day2 compliance`: scan like `day2 check`, then report per control of one framework.

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::{Result, bail};
use day2_engine::pipeline::{self, Settings};
use day2_policy::compliance::{self, ComplianceReport, ControlStatus, Framework, RunFacts};

use super::{load_config, print_out};
use crate::cli::{ComplianceArgs, ComplianceCommand, ComplianceFormat, Global};

pub fn run(global: &Global, cmd: ComplianceCommand) -> Result<ExitCode> {
    match cmd {
        ComplianceCommand::List => {
            for (id, text) in compliance::BUNDLED {
                let f = Framework::parse(text, id)?;
                print_out(&format!("{id:<16} {:>3} controls  {}", f.controls.len(), f.title))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        ComplianceCommand::Report(args) => report(global, args),
    }
}

fn report(global: &Global, args: ComplianceArgs) -> Result<ExitCode> {
    // The framework is validated before anything is scanned.
    let framework = Framework::load(&args.framework)?;
    let (mut config, config_name) = load_config(global)?;
    config.policies.paths.extend(args.policies.iter().cloned());
    let settings = Settings::new(&config, &args.paths, &config_name);
    if settings.sources_of(day2_model::Side::Declared).next().is_none() {
        bail!("nothing to scan: give paths (`day2 compliance report -f nis2 k8s/`) or configure sources in day2.yaml");
    }
    let run = pipeline::run(&settings);
    let builtin: Vec<(String, String, String)> = day2_analyze::checks::all()
        .flat_map(|c| {
            c.control_refs().into_iter().map(|r| (r.framework.as_str().to_owned(), r.control, c.id.to_owned()))
        })
        .collect();
    let facts = RunFacts {
        started_at: run.report.started_at,
        findings: &run.report.findings,
        rules_run: &run.rules_run,
        applicable: &run.applicable,
        builtin: &builtin,
    };
    let report = compliance::report(&framework, &facts);
    for d in &run.report.diagnostics {
        eprintln!("{}: {d}", if d.kind.is_error() { "error" } else { "note" });
    }
    let text = match args.output {
        ComplianceFormat::Table => table(&report),
        ComplianceFormat::Json => serde_json::to_string_pretty(&report)? + "\n",
        ComplianceFormat::Markdown => markdown(&report),
        ComplianceFormat::Html => html(&report),
    };
    match &args.out {
        Some(path) => {
            std::fs::write(path, text).map_err(|e| anyhow::anyhow!("{}: cannot write report: {e}", path.display()))?
        }
        None => print_out(text.trim_end())?,
    }
    Ok(if run.report.summary.errors > 0 {
        ExitCode::from(2)
    } else if report.summary.fail > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn summary_line(r: &ComplianceReport) -> String {
    format!(
        "{}: {} controls — {} pass, {} fail, {} partial, {} not applicable",
        r.title,
        r.controls.len(),
        r.summary.pass,
        r.summary.fail,
        r.summary.partial,
        r.summary.not_applicable
    )
}

fn table(r: &ComplianceReport) -> String {
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    t.set_header(["Control", "Status", "Title", "Evidence"]);
    for c in &r.controls {
        let mut evidence: Vec<String> = c
            .evidence
            .iter()
            .take(3)
            .map(|e| format!("{} {} {}", e.rule_id, e.location.as_deref().unwrap_or(&e.resource), e.message))
            .collect();
        if c.evidence.len() > 3 {
            evidence.push(format!("… and {} more", c.evidence.len() - 3));
        }
        if evidence.is_empty() {
            evidence.push(c.reason.clone());
            if c.status == ControlStatus::Pass {
                evidence.push(format!("decided by {}", c.rules_evaluated.join(", ")));
            }
        }
        t.add_row([c.id.clone(), c.status.as_str().to_owned(), c.title.clone(), evidence.join("\n")]);
    }
    format!("{t}\n{}\n", summary_line(r))
}

fn markdown(r: &ComplianceReport) -> String {
    let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
    let mut out = format!(
        "# {}\n\n{}\n\n| Control | Status | Title | Rules | Reason |\n|---|---|---|---|---|\n",
        cell(&r.title),
        summary_line(r)
    );
    for c in &r.controls {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            cell(&c.id),
            c.status.as_str(),
            cell(&c.title),
            cell(&c.rules_evaluated.join(", ")),
            cell(&c.reason)
        );
    }
    for c in r.controls.iter().filter(|c| c.status == ControlStatus::Fail) {
        let _ = writeln!(out, "\n## {} {}\n", cell(&c.id), cell(&c.title));
        for e in &c.evidence {
            let _ = writeln!(
                out,
                "- **{}** ({}) `{}` {}",
                cell(&e.rule_id),
                e.severity,
                cell(e.location.as_deref().unwrap_or(&e.resource)),
                cell(&e.message)
            );
        }
    }
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

fn html(r: &ComplianceReport) -> String {
    let mut rows = String::new();
    for c in &r.controls {
        let class = match c.status {
            ControlStatus::Pass => "pass",
            ControlStatus::Fail => "fail",
            ControlStatus::Partial => "partial",
            ControlStatus::NotApplicable => "na",
        };
        let evidence: String = c
            .evidence
            .iter()
            .map(|e| {
                format!(
                    "<li><b>{}</b> ({}) <code>{}</code> {}</li>",
                    escape(&e.rule_id),
                    e.severity,
                    escape(e.location.as_deref().unwrap_or(&e.resource)),
                    escape(&e.message)
                )
            })
            .collect();
        let _ = writeln!(
            rows,
            "<tr class=\"{class}\"><td>{}</td><td>{}</td><td>{}</td><td>{}<ul>{evidence}</ul></td></tr>",
            escape(&c.id),
            c.status.as_str(),
            escape(&c.title),
            escape(&c.reason)
        );
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\n<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;width:100%}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}}tr.fail td:nth-child(2){{color:#b00;font-weight:bold}}tr.pass td:nth-child(2){{color:#070}}tr.na td:nth-child(2){{color:#777}}tr.partial td:nth-child(2){{color:#a60}}</style></head>\n<body><h1>{title}</h1><p>{summary}</p><p>Generated {at} by day2 {version}.</p>\n<table><thead><tr><th>Control</th><th>Status</th><th>Title</th><th>Evidence</th></tr></thead><tbody>\n{rows}</tbody></table></body></html>\n",
        title = escape(&r.title),
        summary = escape(&summary_line(r)),
        at = r.generated_at.to_rfc3339(),
        version = env!("CARGO_PKG_VERSION"),
    )
}
