//! `day2 init`: write the commented example configuration.

use std::process::ExitCode;

use anyhow::{Result, bail};

use crate::cli::InitArgs;

pub fn run(args: InitArgs) -> Result<ExitCode> {
    if args.path.exists() && !args.force {
        bail!("{} exists; use --force to overwrite", args.path.display());
    }
    std::fs::write(&args.path, day2_engine::config::EXAMPLE)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.path.display()))?;
    println!("Wrote {}. Edit its sources, then run `day2 check`.", args.path.display());
    Ok(ExitCode::SUCCESS)
}
