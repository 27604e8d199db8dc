//! One file per command. Each turns its arguments into validated settings, runs, and returns the exit code.

mod check;
mod checks;
mod compliance;
mod config;
mod drift;
mod findings;
mod graph;
mod init;
mod outcomes;
mod policy;
mod query;
mod serve;
mod token;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use day2_engine::Config;
use day2_store::StoreLocation;

use crate::cli::{Cli, ColorChoice, Command, Global};

pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Check(args) => check::run(&cli.global, args),
        Command::Checks(cmd) => checks::run(&cli.global, cmd),
        Command::Policy(cmd) => policy::run(&cli.global, cmd),
        Command::Drift(args) => drift::run(&cli.global, args),
        Command::Compliance(cmd) => compliance::run(&cli.global, cmd),
        Command::Serve(args) => serve::run(&cli.global, args),
        Command::Findings(args) => findings::run(&cli.global, args),
        Command::Query(args) => query::run(args),
        Command::Outcomes(args) => outcomes::run(&args),
        Command::Token(args) => token::run(&args),
        Command::Init(args) => init::run(args),
        Command::Config(cmd) => config::run(&cli.global, cmd),
        Command::Graph(args) => graph::run(&cli.global, args),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "day2", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The configuration: `--config`, else `./day2.yaml` when present, else defaults. Returns it with its display name.
pub(crate) fn load_config(global: &Global) -> Result<(Config, String)> {
    let path = match &global.config {
        Some(p) => Some(p.clone()),
        None => Some(PathBuf::from("day2.yaml")).filter(|p| p.exists()),
    };
    match path {
        Some(p) => Ok((Config::load(&p)?, p.display().to_string())),
        None => Ok((Config::default(), "defaults".to_owned())),
    }
}

pub(crate) fn use_color(global: &Global) -> bool {
    match global.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    }
}

/// Renders to `out` (a file) or stdout. A closed stdout pipe (`| head`) is not an error.
pub(crate) fn emit(
    format: day2_report::Format,
    report: &day2_model::Report,
    options: &day2_report::Options,
    out: Option<&Path>,
) -> Result<()> {
    let result = match out {
        Some(path) => {
            crate::progress::stage("writing the report");
            let mut file = std::io::BufWriter::new(
                std::fs::File::create(path)
                    .map_err(|e| anyhow::anyhow!("{}: cannot write report: {e}", path.display()))?,
            );
            day2_report::render(format, report, options, &mut file)
                .and_then(|()| std::io::Write::flush(&mut file).map_err(Into::into))
        }
        None => {
            crate::progress::finish();
            let stdout = std::io::stdout();
            let mut lock = std::io::BufWriter::new(stdout.lock());
            day2_report::render(format, report, options, &mut lock)
                .and_then(|()| std::io::Write::flush(&mut lock).map_err(Into::into))
        }
    };
    match result {
        Err(day2_report::RenderError::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.map_err(Into::into),
    }
}

/// Prints a line to stdout; a closed pipe (`day2 checks list | head -1`) ends output quietly instead of panicking.
pub(crate) fn print_out(text: &str) -> Result<()> {
    use std::io::Write;
    match writeln!(std::io::stdout().lock(), "{text}") {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.map_err(Into::into),
    }
}

/// Keeps the findings `filters` select (and the resolved ones they select), and counts again: what the report shows
/// is what its exit code judges.
pub(crate) fn filter(report: &mut day2_model::Report, filters: &crate::cli::FilterArgs) -> Result<()> {
    let rules = rule_globs(filters)?;
    let severities: Vec<day2_model::Severity> = filters.severity.iter().map(|s| (*s).into()).collect();
    let keep = |f: &day2_model::Finding| {
        (severities.is_empty() || severities.contains(&f.severity))
            && (filters.rule.is_empty() || rules.is_match(&f.rule_id))
            && (filters.namespace.is_empty() || filters.namespace.iter().any(|n| n == f.resource.namespace()))
            && (filters.team.is_empty() || f.owner.team.as_ref().is_some_and(|t| filters.team.contains(t)))
    };
    let before = report.findings.len();
    report.findings.retain(keep);
    report.resolved.retain(keep);
    if report.findings.len() != before {
        report.recount();
    }
    Ok(())
}

/// The `--rule` globs, compiled (an invalid one is a usage error naming it).
pub(crate) fn rule_globs(filters: &crate::cli::FilterArgs) -> Result<globset::GlobSet> {
    let mut rules = globset::GlobSetBuilder::new();
    for r in &filters.rule {
        rules.add(globset::Glob::new(r).map_err(|e| anyhow::anyhow!("--rule {r}: {e}"))?);
    }
    Ok(rules.build()?)
}

/// Exit code for a report: 2 on input errors, 1 on failing findings, else 0.
pub(crate) fn exit_code(report: &day2_model::Report) -> ExitCode {
    if report.summary.errors > 0 {
        ExitCode::from(2)
    } else if report.failing() > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Opens a store that must already hold runs: a SQLite file that does not exist yet is an error that says how to make
/// one, rather than a new empty file.
/// Tokenizes credentials with the store's key (so tokens match across runs) when a store is given. A store that
/// cannot be opened must not cost the scan: the run goes on with a key of its own, and recording reports the error.
pub(crate) fn use_store_key(location: Option<&StoreLocation>) {
    let Some(location) = location else { return };
    let key = tokio::runtime::Builder::new_current_thread().enable_all().build().ok().and_then(|runtime| {
        runtime.block_on(async { day2_store::open(location).await.ok()?.redaction_key().await.ok() })
    });
    if let Some(key) = key {
        day2_model::redact::Redactor::install(key);
    }
}

pub(crate) async fn open_existing_store(location: &StoreLocation) -> Result<std::sync::Arc<dyn day2_store::Store>> {
    if let StoreLocation::Sqlite(path) = location
        && !path.exists()
    {
        anyhow::bail!("{}: no store yet; record one with `day2 check --store {}`", path.display(), path.display());
    }
    Ok(day2_store::open(location).await?)
}
