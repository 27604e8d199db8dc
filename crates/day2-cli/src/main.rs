//! The `day2` binary: parse arguments, run one command, map the result to an exit code.
//!
//! Exit codes (documented in README and `day2 --help`):
//! - 0: no active finding at or above `--fail-on`, no input error;
//! - 1: at least one active finding at or above `--fail-on`;
//! - 2: usage, configuration or input errors (bad files are still reported, and the rest is scanned).

mod cli;
mod commands;
mod progress;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of the system allocator: parsing and checking allocate many small objects, and this alone makes a
/// large scan markedly faster (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    // A server logs what it does (where it listens, who may call it) by default; a one-shot command only warnings.
    let daemon = matches!(args.command, cli::Command::Serve(_));
    // Progress for the commands that scan (others answer at once or stream their own output), but not while someone
    // may be typing the input on the terminal (`-`): redrawing would erase the line being typed.
    let from_stdin = |paths: &[std::path::PathBuf]| paths.iter().any(|p| p.as_os_str() == "-");
    let scans = match &args.command {
        cli::Command::Check(check) => !from_stdin(&check.paths),
        cli::Command::Drift(drift) => !from_stdin(&drift.paths),
        _ => false,
    };
    init_logging(args.global.verbose + u8::from(daemon), log_color(args.global.color), scans);
    let result = commands::run(args);
    progress::finish();
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Colour in log lines (stderr) follows `--color` as the report does: `auto` when stderr is a terminal and
/// `NO_COLOR` is unset.
fn log_color(choice: cli::ColorChoice) -> bool {
    use std::io::IsTerminal;
    match choice {
        cli::ColorChoice::Always => true,
        cli::ColorChoice::Never => false,
        cli::ColorChoice::Auto => std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    }
}

fn init_logging(verbose: u8, color: bool, scans: bool) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{Layer, filter};
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let configured = tracing_subscriber::EnvFilter::try_from_env("DAY2_LOG");
    // A spinner and log lines would garble each other: progress only when nothing but warnings is logged.
    let quiet = verbose == 0 && configured.is_err();
    let filter = configured.unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(progress::Stderr)
        .with_target(false)
        .with_ansi(color)
        .with_filter(filter);
    let progress = (quiet && scans).then(progress::layer).flatten().map(|layer| {
        layer.with_filter(filter::Targets::new().with_target(progress::TARGET, filter::LevelFilter::TRACE))
    });
    tracing_subscriber::registry().with(logs).with(progress).init();
}
