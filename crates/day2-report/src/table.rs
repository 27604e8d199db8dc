//! The default human format: one table per severity (most severe first), then input problems and a summary line.

use std::io::Write;

use comfy_table::{Cell, Color, ColumnConstraint, ContentArrangement, Table as Grid, presets};
use day2_model::{DiagnosticKind, Finding, FindingStatus, Report, Severity};

use crate::{Options, RenderError, Reporter, clean, location, resource_label};

pub(crate) struct Table {
    /// Every column at full width, whatever the terminal's width.
    pub(crate) wide: bool,
}

/// Narrowest message column a row layout may leave; below it each finding becomes a block of lines.
const MIN_MESSAGE_WIDTH: usize = 40;

fn color_of(s: Severity) -> Color {
    match s {
        Severity::Critical => Color::Magenta,
        Severity::High => Color::Red,
        Severity::Medium => Color::Yellow,
        Severity::Low => Color::Cyan,
        Severity::Info => Color::Grey,
    }
}

fn grid(options: &Options, width: Option<u16>) -> Grid {
    let mut t = Grid::new();
    t.load_preset(presets::NOTHING);
    match width {
        Some(w) => {
            t.set_content_arrangement(ContentArrangement::Dynamic).set_width(w);
        }
        None => {
            t.set_content_arrangement(ContentArrangement::Disabled);
        }
    }
    if options.color {
        t.enforce_styling();
    } else {
        t.force_no_tty();
    }
    t
}

fn heading(text: String, color: Color, options: &Options) -> String {
    if options.color {
        let code = match color {
            Color::Magenta => "35",
            Color::Red => "31",
            Color::Yellow => "33",
            Color::Cyan => "36",
            _ => "90",
        };
        format!("\x1b[1;{code}m{text}\x1b[0m")
    } else {
        text
    }
}

impl Reporter for Table {
    fn render(&self, report: &Report, options: &Options, out: &mut dyn Write) -> Result<(), RenderError> {
        let width = if self.wide || !options.to_terminal { None } else { terminal_width() };
        for severity in Severity::DESCENDING {
            let group: Vec<&Finding> =
                report.findings.iter().filter(|f| f.severity == severity && f.status.is_active()).collect();
            if group.is_empty() {
                continue;
            }
            let title = format!("{} ({})", severity.as_str().to_uppercase(), group.len());
            writeln!(out, "{}", heading(title, color_of(severity), options))?;
            let rows: Vec<[String; 4]> = group
                .iter()
                .map(|f| {
                    let mut message = f.message.clone();
                    if let FindingStatus::Open { expired_suppression: Some(s) } = &f.status {
                        let until = s.expires.map(|d| d.to_string()).unwrap_or_default();
                        message.push_str(&format!(" [suppression expired {until}: {}]", s.reason));
                    }
                    [clean(&f.rule_id), clean(&resource_label(f)), clean(&location(f)), clean(&message)]
                        .map(|c| c.into_owned())
                })
                .collect();
            let fixed: usize = (0..3)
                .map(|i| rows.iter().filter_map(|r| r.get(i)).map(|c| c.chars().count()).max().unwrap_or(0).max(8) + 2)
                .sum();
            match width {
                Some(w) if usize::from(w) < fixed + MIN_MESSAGE_WIDTH + 2 => {
                    blocks(&rows, usize::from(w), color_of(severity), options, out)?;
                }
                _ => {
                    let mut t = grid(options, width);
                    t.set_header(["RULE", "RESOURCE", "LOCATION", "FINDING"]);
                    for [rule, resource, at, message] in rows {
                        t.add_row(vec![
                            Cell::new(rule).fg(color_of(severity)),
                            Cell::new(resource),
                            Cell::new(at),
                            Cell::new(message),
                        ]);
                    }
                    for column in t.column_iter_mut().take(3) {
                        column.set_constraint(ColumnConstraint::ContentWidth);
                    }
                    writeln!(out, "{t}\n")?;
                }
            }
        }
        let suppressed: Vec<&Finding> =
            report.findings.iter().filter(|f| matches!(f.status, FindingStatus::Suppressed(_))).collect();
        if options.show_suppressed && !suppressed.is_empty() {
            writeln!(out, "SUPPRESSED ({})", suppressed.len())?;
            let mut t = grid(options, width);
            t.set_header(["RULE", "RESOURCE", "REASON", "BY", "EXPIRES"]);
            for f in suppressed {
                if let FindingStatus::Suppressed(s) = &f.status {
                    t.add_row(vec![
                        clean(&f.rule_id).into_owned(),
                        clean(&resource_label(f)).into_owned(),
                        clean(&s.reason).into_owned(),
                        clean(s.owner.as_deref().unwrap_or(&s.by)).into_owned(),
                        s.expires.map(|d| d.to_string()).unwrap_or_else(|| "never".into()),
                    ]);
                }
            }
            writeln!(out, "{t}\n")?;
        }
        let problems: Vec<_> = report.diagnostics.iter().filter(|d| d.kind.is_error()).collect();
        if !problems.is_empty() {
            writeln!(out, "{}", heading(format!("INPUT ERRORS ({})", problems.len()), Color::Red, options))?;
            for d in problems {
                writeln!(out, "  {}", clean(&d.to_string()))?;
            }
            writeln!(out)?;
        }
        for d in report.diagnostics.iter().filter(|d| d.kind == DiagnosticKind::NotRead) {
            writeln!(out, "note: {}", clean(&d.to_string()))?;
        }
        let stored_resolved = report.findings.iter().filter(|f| f.status == FindingStatus::Resolved);
        for f in report.resolved.iter().chain(stored_resolved) {
            let when = f.resolved_at.map(|t| format!(" ({})", t.format("%Y-%m-%d %H:%M UTC"))).unwrap_or_default();
            writeln!(out, "resolved{when}: {} {} {}", clean(&f.rule_id), clean(&resource_label(f)), clean(&f.message))?;
        }
        if let Some(by) = options.group_by {
            writeln!(out, "{}", grouped(report, by, options, width))?;
        }
        writeln!(out, "{}", summary_line(report))?;
        for line in coverage_lines(report) {
            writeln!(out, "{line}")?;
        }
        Ok(())
    }
}

/// Active findings counted by team, rule or resource, most first: where to start.
fn grouped(report: &Report, by: crate::GroupBy, options: &Options, width: Option<u16>) -> Grid {
    let mut counts: std::collections::BTreeMap<String, [usize; 5]> = std::collections::BTreeMap::new();
    for f in report.findings.iter().filter(|f| f.status.is_active()) {
        let key = match by {
            crate::GroupBy::Team => f.owner.team.clone().unwrap_or_else(|| "(no team)".to_owned()),
            crate::GroupBy::Rule => f.rule_id.clone(),
            crate::GroupBy::Resource => f.resource.to_string(),
        };
        let at = Severity::DESCENDING.iter().position(|s| *s == f.severity).unwrap_or(4);
        if let Some(n) = counts.entry(clean(&key).into_owned()).or_default().get_mut(at) {
            *n += 1;
        }
    }
    let mut rows: Vec<(String, [usize; 5])> = counts.into_iter().collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut t = grid(options, width);
    let what = match by {
        crate::GroupBy::Team => "TEAM",
        crate::GroupBy::Rule => "RULE",
        crate::GroupBy::Resource => "RESOURCE",
    };
    t.set_header([what, "CRITICAL", "HIGH", "MEDIUM", "LOW", "INFO", "TOTAL"]);
    for (key, n) in rows {
        let mut row = vec![key];
        row.extend(n.iter().map(usize::to_string));
        row.push(n.iter().sum::<usize>().to_string());
        t.add_row(row);
    }
    t
}

/// Findings as blocks, for terminals too narrow for a row each: the rule and resource, then the location and the
/// message indented and wrapped at word boundaries (a word longer than the line keeps its own line, uncut).
fn blocks(
    rows: &[[String; 4]],
    width: usize,
    color: Color,
    options: &Options,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    for [rule, resource, at, message] in rows {
        writeln!(out, "{} {resource}", heading(rule.clone(), color, options))?;
        for line in wrap(at, width.saturating_sub(4)).into_iter().chain(wrap(message, width.saturating_sub(4))) {
            writeln!(out, "    {line}")?;
        }
    }
    writeln!(out)
}

/// Word wrap at `width` columns; words are never split.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// Width to lay tables out in: `COLUMNS` when set, else the terminal's own width (shells do not export
/// `COLUMNS`); `None` when writing to a pipe or a file, where a row per finding at full width suits `grep`.
fn terminal_width() -> Option<u16> {
    std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()).filter(|&w| w >= 20).or_else(|| Grid::new().width())
}

/// `IaC coverage of k8s/prod: 25 of 27 live objects declared (93%)`, one line per live scope of a drift run.
pub(crate) fn coverage_lines(report: &Report) -> Vec<String> {
    report
        .coverage
        .iter()
        .map(|c| {
            let partial = if c.complete { "" } else { " · live collection incomplete: nothing reported missing" };
            format!(
                "IaC coverage of {}: {} of {} live objects declared ({:.0}%){partial}",
                c.scope, c.declared, c.live, c.percent
            )
        })
        .collect()
}

/// `Scanned 12 files, 40 resources: 3 critical, 5 high, … · 2 suppressed · 1 input error · fails on high`.
pub(crate) fn summary_line(report: &Report) -> String {
    let s = &report.summary;
    let counts: Vec<String> = Severity::DESCENDING
        .iter()
        .map(|sev| format!("{} {}", s.by_severity.get(sev).copied().unwrap_or(0), sev))
        .collect();
    let mut line = if report.sources.is_empty() {
        format!("Stored findings: {}", counts.join(", "))
    } else {
        format!("Scanned {} files, {} resources: {}", s.files, s.resources, counts.join(", "))
    };
    if s.suppressed > 0 {
        line.push_str(&format!(" · {} suppressed", s.suppressed));
    }
    if let (Some(new), Some(resolved)) = (s.new, s.resolved) {
        line.push_str(&format!(" · {new} new, {resolved} resolved since last run"));
    }
    if s.errors > 0 {
        line.push_str(&format!(" · {} input error{}", s.errors, if s.errors == 1 { "" } else { "s" }));
    }
    let failing = report.failing();
    line.push_str(&format!(" · {failing} at or above {} (--fail-on)", report.fail_on));
    line
}
