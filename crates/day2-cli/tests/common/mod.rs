//! What every end-to-end test of the binary needs: the repository root and a clean `day2` invocation.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// A `day2` command run from the repository root, with no colour and no ambient config or store.
pub fn command(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_day2"));
    command.args(args).current_dir(root()).env_remove("DAY2_CONFIG").env_remove("DAY2_STORE").env("NO_COLOR", "1");
    command
}

/// Runs [`command`] to completion.
pub fn day2(args: &[&str]) -> Output {
    command(args).output().unwrap()
}

pub fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

pub fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}
