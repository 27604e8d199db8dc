//! Markdown for pull-request comments: a summary, a findings table (capped so the comment stays readable), suppressed
//! findings and input errors folded in `<details>`.

use std::io::Write;

use day2_model::{FindingStatus, Report, Severity};

use crate::{Options, RenderError, Reporter, location, resource_label};

pub(crate) struct Markdown;

/// Most findings listed in the table; the rest are counted.
const MAX_ROWS: usize = 100;

fn cell(text: &str) -> String {
    crate::clean(&text.replace('\n', " ")).replace('|', "\\|")
}

impl Reporter for Markdown {
    fn render(&self, report: &Report, options: &Options, out: &mut dyn Write) -> Result<(), RenderError> {
        let s = &report.summary;
        let failing = report.failing();
        let verdict = if failing == 0 && s.errors == 0 { "passed" } else { "failed" };
        writeln!(out, "### day2 check {verdict}\n")?;
        let counts: Vec<String> = Severity::DESCENDING
            .iter()
            .map(|sev| format!("**{}** {}", s.by_severity.get(sev).copied().unwrap_or(0), sev))
            .collect();
        writeln!(
            out,
            "{} files, {} resources scanned: {}. {} suppressed. Fails on `{}` and above: {} finding(s).\n",
            s.files,
            s.resources,
            counts.join(" · "),
            s.suppressed,
            report.fail_on,
            failing
        )?;
        for line in crate::table::coverage_lines(report) {
            writeln!(out, "{line}\n")?;
        }
        let active: Vec<_> = report.findings.iter().filter(|f| f.status.is_active()).collect();
        if !active.is_empty() {
            writeln!(out, "| Severity | Rule | Resource | Location | Finding |")?;
            writeln!(out, "|---|---|---|---|---|")?;
            for f in active.iter().take(MAX_ROWS) {
                writeln!(
                    out,
                    "| {} | `{}` | {} | `{}` | {} |",
                    f.severity,
                    f.rule_id,
                    cell(&resource_label(f)),
                    cell(&location(f)),
                    cell(&f.message)
                )?;
            }
            if active.len() > MAX_ROWS {
                writeln!(out, "\n…and {} more (see the JSON or SARIF report).", active.len() - MAX_ROWS)?;
            }
            writeln!(out)?;
        }
        let suppressed: Vec<_> =
            report.findings.iter().filter(|f| matches!(f.status, FindingStatus::Suppressed(_))).collect();
        if options.show_suppressed && !suppressed.is_empty() {
            writeln!(out, "<details><summary>{} suppressed</summary>\n", suppressed.len())?;
            for f in suppressed {
                if let FindingStatus::Suppressed(sup) = &f.status {
                    let until = sup.expires.map(|d| format!(" until {d}")).unwrap_or_default();
                    writeln!(out, "- `{}` {}: {}{until}", f.rule_id, cell(&resource_label(f)), cell(&sup.reason))?;
                }
            }
            writeln!(out, "\n</details>\n")?;
        }
        let errors: Vec<_> = report.diagnostics.iter().filter(|d| d.kind.is_error()).collect();
        if !errors.is_empty() {
            writeln!(out, "<details><summary>{} input error(s)</summary>\n", errors.len())?;
            for d in errors {
                writeln!(out, "- `{}`", cell(&d.to_string()))?;
            }
            writeln!(out, "\n</details>")?;
        }
        Ok(())
    }
}
