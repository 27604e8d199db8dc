//! `day2 checks list` and `day2 checks explain`.

use std::process::ExitCode;

use anyhow::{Result, anyhow};
use comfy_table::{ContentArrangement, Table, presets};
use day2_analyze::checks::{self, Check};
use day2_model::Provider;
use serde_json::json;

use super::print_out;
use crate::cli::{ChecksCommand, Global, ListFormat, ProviderArg};

pub fn run(_global: &Global, cmd: ChecksCommand) -> Result<ExitCode> {
    match cmd {
        ChecksCommand::List { output, provider, framework } => {
            let selected: Vec<&Check> = checks::all()
                .filter(|c| match provider {
                    Some(ProviderArg::K8s) => c.target.provider() == Provider::K8s,
                    Some(ProviderArg::Tf) => c.target.provider() == Provider::Tf,
                    None => true,
                })
                .filter(|c| framework.as_deref().is_none_or(|f| c.controls.iter().any(|(fw, _)| fw.as_str() == f)))
                .collect();
            match output {
                ListFormat::Json => print_out(&serde_json::to_string_pretty(
                    &selected.iter().map(|c| describe(c)).collect::<Vec<_>>(),
                )?)?,
                ListFormat::Table => {
                    let mut t = Table::new();
                    t.load_preset(presets::UTF8_HORIZONTAL_ONLY)
                        .set_content_arrangement(ContentArrangement::Dynamic)
                        .set_width(140);
                    t.set_header(["ID", "SEVERITY", "DOMAIN", "TITLE"]);
                    for c in &selected {
                        t.add_row([c.id, c.severity.as_str(), c.domain.as_str(), c.title]);
                    }
                    print_out(&format!("{t}\n{} checks. `day2 checks explain <ID>` tells more.", selected.len()))?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ChecksCommand::Explain { id } => {
            let c =
                checks::find(&id).ok_or_else(|| anyhow!("unknown check `{id}`; `day2 checks list` shows them all"))?;
            print_out(&explain(c))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn describe(c: &Check) -> serde_json::Value {
    let (fail, pass) = checks::examples(c.id).map_or((None, None), |(f, p)| (Some(f), Some(p)));
    json!({
        "id": c.id,
        "title": c.title,
        "provider": c.target.provider(),
        "domain": c.domain,
        "severity": c.severity,
        "rationale": c.rationale,
        "remediation": c.remediation,
        "controls": c.control_refs(),
        "references": c.references,
        "fixtures": {
            "fail": fail.map(|_| format!("crates/day2-analyze/tests/fixtures/checks/{}/fail.yaml", c.id)),
            "pass": pass.map(|_| format!("crates/day2-analyze/tests/fixtures/checks/{}/pass.yaml", c.id)),
        },
    })
}

fn explain(c: &Check) -> String {
    let mut s = format!(
        "{}  {}\n\nSeverity: {}    Domain: {}    Applies to: {}\n\n",
        c.id,
        c.title,
        c.severity,
        c.domain,
        applies_to(c)
    );
    s.push_str(&format!("Why it matters\n  {}\n\nHow to fix\n  {}\n\n", c.rationale, c.remediation));
    s.push_str("Compliance\n");
    for control in c.control_refs() {
        s.push_str(&format!("  - {control}\n"));
    }
    if !c.references.is_empty() {
        s.push_str("\nReferences\n");
        for r in c.references {
            s.push_str(&format!("  - {r}\n"));
        }
    }
    if let Some((fail, pass)) = checks::examples(c.id) {
        s.push_str(&format!("\nFails on\n{}\nPasses on\n{}", indent(fail), indent(pass)));
    }
    s.push_str(&format!(
        "\nSuppress with the annotation (or tag)  day2.dev/ignore: \"{} <reason>\"  or a `suppressions:` entry in day2.yaml.",
        c.id
    ));
    s
}

fn applies_to(c: &Check) -> String {
    match c.target {
        checks::Target::Workloads => {
            "Kubernetes workloads (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob)".into()
        }
        checks::Target::K8sKinds([]) => "every Kubernetes object".into(),
        checks::Target::K8sKinds(k) => format!("Kubernetes {}", k.join(", ")),
        checks::Target::TfTypes([]) => "every Terraform resource".into(),
        checks::Target::TfTypes(t) => format!("Terraform {}", t.join(", ")),
    }
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}\n")).collect()
}
