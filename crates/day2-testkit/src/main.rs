//! `day2-corpus`: writes benchmark inputs.
//!
//! Usage: `day2-corpus manifests <dir> <n>` (n Deployment files) or `day2-corpus plan <file.json> <n>`.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: day2-corpus manifests <dir> <n> | day2-corpus plan <file.json> <n>";
    let (Some(what), Some(path), Some(n)) =
        (args.first(), args.get(1), args.get(2).and_then(|n| n.parse::<usize>().ok()))
    else {
        eprintln!("{usage}");
        return ExitCode::from(2);
    };
    let path = PathBuf::from(path);
    let result = match what.as_str() {
        "manifests" => day2_testkit::corpus::write_manifests(&path, n)
            .map(|bytes| println!("wrote {n} files, {bytes} bytes, to {}", path.display())),
        "plan" => day2_testkit::corpus::write_plan(&path, n)
            .map(|()| println!("wrote a plan with {n} resources to {}", path.display())),
        _ => {
            eprintln!("{usage}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{}: {e}", path.display());
            ExitCode::from(1)
        }
    }
}
