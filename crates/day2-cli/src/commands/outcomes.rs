//! `day2 outcomes`: Day-2 outcomes computed from the store's lifecycle log, as a table or JSON.

use std::process::ExitCode;

use anyhow::{Context, Result};
use comfy_table::{ContentArrangement, Table, presets};
use day2_store::outcomes::{Durations, OutcomeStats, Outcomes};

use crate::cli::{OutcomesArgs, QueryFormat};

pub fn run(args: &OutcomesArgs) -> Result<ExitCode> {
    let since = chrono::Duration::from_std(args.since)
        .ok()
        .and_then(|window| chrono::Utc::now().checked_sub_signed(window))
        .context("--since: the window reaches further back than dates go")?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let outcomes = runtime.block_on(async {
        let store = super::open_existing_store(&args.store).await?;
        anyhow::Ok(day2_store::outcomes::of_store(store.as_ref(), since).await?)
    })?;
    let text = match args.output {
        QueryFormat::Json => serde_json::to_string_pretty(&outcomes)?,
        QueryFormat::Table => tables(&outcomes),
    };
    super::print_out(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// `3d 4h`, `12m`, `40s`: the two largest units, which is as precise as anyone reads these.
fn duration(seconds: f64) -> String {
    let s = seconds.round() as u64;
    let (d, h, m) = (s / 86_400, s % 86_400 / 3_600, s % 3_600 / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, m) => format!("{m}m {}s", s % 60),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

fn summary(d: Option<&Durations>) -> String {
    match d {
        None => "–".to_owned(),
        Some(d) => format!("{} (p90 {}, n={})", duration(d.p50_seconds), duration(d.p90_seconds), d.count),
    }
}

fn row(group: &str, stats: &OutcomeStats) -> Vec<String> {
    vec![
        group.to_owned(),
        stats.detected.to_string(),
        stats.repaired.to_string(),
        stats.open.to_string(),
        summary(stats.time_to_detect.as_ref()),
        summary(stats.time_to_repair.as_ref()),
        summary(stats.open_age.as_ref()),
        format!("{:.1}", stats.drift_hours),
    ]
}

fn tables(o: &Outcomes) -> String {
    let mut teams = Table::new();
    teams.load_preset(presets::UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Dynamic);
    teams.set_header([
        "team",
        "detected",
        "repaired",
        "open",
        "time to detect (median)",
        "time to repair (median)",
        "open age (median)",
        "drift-hours",
    ]);
    teams.add_row(row("all", &o.overall));
    for (team, stats) in &o.by_team {
        teams.add_row(row(team, stats));
    }
    let mut scopes = Table::new();
    scopes.load_preset(presets::UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Dynamic);
    scopes.set_header(["scope", "drift-hours"]);
    for (scope, hours) in &o.drift_hours_by_scope {
        scopes.add_row([scope.clone(), format!("{hours:.1}")]);
    }
    let window = format!("{} → {}", o.since.format("%Y-%m-%d %H:%M"), o.until.format("%Y-%m-%d %H:%M UTC"));
    if o.drift_hours_by_scope.is_empty() {
        format!("Outcomes {window}\n{teams}")
    } else {
        format!("Outcomes {window}\n{teams}\n{scopes}")
    }
}

#[cfg(test)]
mod tests {
    use super::duration;

    #[test]
    fn durations_read_in_two_units() {
        assert_eq!(duration(42.0), "42s");
        assert_eq!(duration(125.0), "2m 5s");
        assert_eq!(duration(3.0 * 3600.0 + 120.0), "3h 2m");
        assert_eq!(duration(2.0 * 86_400.0 + 5.0 * 3600.0 + 59.0), "2d 5h");
    }
}
