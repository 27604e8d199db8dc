//! `day2 config validate` and `day2 config schema`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use day2_engine::Config;
use day2_model::Side;

use super::print_out;
use crate::cli::{ConfigCommand, Global};

pub fn run(global: &Global, cmd: ConfigCommand) -> Result<ExitCode> {
    match cmd {
        ConfigCommand::Validate { file } => {
            let path = file.or_else(|| global.config.clone()).unwrap_or_else(|| PathBuf::from("day2.yaml"));
            let config = Config::load(&path)?;
            let declared = config.sources_of(Side::Declared).count();
            let live = config.sources_of(Side::Live).count();
            print_out(&format!(
                "{}: valid ({declared} declared and {live} live sources, {} suppressions, {} notifiers)",
                path.display(),
                config.suppressions.len(),
                config.notifications.len()
            ))?;
            Ok(ExitCode::SUCCESS)
        }
        ConfigCommand::Schema { out } => {
            let text = serde_json::to_string_pretty(&day2_engine::config::schema())? + "\n";
            match out {
                Some(path) => std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?,
                None => print_out(text.trim_end())?,
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
