//! `day2 token`: a new API token for `day2 serve`, and the entry that grants it (its SHA-256, never the token).

use std::process::ExitCode;

use anyhow::{Result, anyhow, bail};
use day2_engine::config::Role;
use day2_server::auth::{new_token, token_hash};

use crate::cli::{TokenArgs, TokenRole};

pub fn run(args: &TokenArgs) -> Result<ExitCode> {
    if args.name.trim().is_empty() {
        bail!("--name must say who holds the token");
    }
    let token = new_token().map_err(|e| anyhow!("the operating system gave no random bytes: {e}"))?;
    let role = match args.role {
        TokenRole::Viewer => Role::Viewer,
        TokenRole::Operator => Role::Operator,
        TokenRole::Approver => Role::Approver,
        TokenRole::Admin => Role::Admin,
    };
    // The name as a JSON string, which YAML reads as the same string whatever it holds.
    let name = serde_json::to_string(&args.name)?;
    let entry = format!("    - name: {name}\n      role: {}\n      sha256: {}", role.as_str(), token_hash(&token));
    eprintln!("The token (shown once; give it to {}):", args.name);
    println!("{token}");
    eprintln!("\nAdd this entry to day2.yaml, then reload it (SIGHUP):\nserve:\n  tokens:\n{entry}");
    Ok(ExitCode::SUCCESS)
}
