//! The table as people see it ([L] 6): in a real terminal (a pty made by util-linux `script`, with `stty cols`),
//! without `COLUMNS` in the environment, as bash leaves it. At 80 and 120 columns every line fits and no word is
//! cut; where a row per finding would squeeze the message, each finding is a block of lines. `-o wide` keeps rows.
//! Progress shows on the terminal only, for runs that last, and is gone before the report.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use std::process::Command;

/// `day2 ARGS` in a pty `columns` wide; the output with `\r` removed.
fn in_terminal(columns: u16, args: &[&str]) -> String {
    in_terminal_with(columns, args, &[])
}

fn in_terminal_with(columns: u16, args: &[&str], env: &[(&str, &str)]) -> String {
    let day2 = env!("CARGO_BIN_EXE_day2");
    let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
    let command = format!("stty cols {columns} rows 50; exec '{day2}' {}", quoted.join(" "));
    let out = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env_remove("COLUMNS")
        .envs(env.iter().copied())
        .current_dir(common::root())
        .output()
        .expect("util-linux script");
    String::from_utf8(out.stdout).unwrap().replace('\r', "")
}

#[test]
fn findings_fit_80_and_120_column_terminals_without_cut_words() {
    for columns in [80usize, 120] {
        let text = in_terminal(columns as u16, &["check", "examples/fleet", "--color", "never"]);
        assert!(text.contains("CRITICAL (5)"), "{text}");
        for line in text.lines().filter(|l| !l.starts_with("Scanned ")) {
            let width = line.chars().count();
            assert!(
                width <= columns || !line.trim().contains(' '),
                "{columns} columns: a line of {width}: {line:?}\n{text}"
            );
        }
        // Each message is whole: the words of one finding's message appear in order on its lines.
        assert!(text.contains("container `node-exporter` runs privileged"), "{text}");
    }
}

#[test]
fn wide_output_keeps_one_row_per_finding() {
    let text = in_terminal(80, &["check", "examples/fleet", "--color", "never", "-o", "wide"]);
    let row = text.lines().find(|l| l.contains("K8S-POD-001")).unwrap();
    assert!(row.contains("runs privileged") && row.contains("node-exporter.yaml"), "{row}");
}

#[test]
fn log_lines_follow_color_like_the_report() {
    let logs = |choice: &str| {
        let out = common::day2(&["-vv", "--color", choice, "check", "examples/fleet", "-o", "json"]);
        String::from_utf8(out.stderr).unwrap()
    };
    assert!(logs("always").contains("\u{1b}["), "colour asked for");
    let plain = logs("never");
    assert!(!plain.is_empty() && !plain.contains('\u{1b}'), "{plain}");
}

#[test]
fn progress_shows_on_a_terminal_for_runs_that_last_and_is_cleared_before_the_report() {
    // A run that has lasted long enough (the delay set to nothing): the stages show, then the line is cleared.
    let text =
        in_terminal_with(100, &["check", "examples/fleet", "--color", "never"], &[("DAY2_PROGRESS_DELAY_MS", "0")]);
    assert!(text.contains("running checks on") || text.contains("reading files"), "{text:?}");
    let report = text.find("CRITICAL (5)").unwrap();
    let spinner = text.rfind("running checks on").or_else(|| text.rfind("reading files")).unwrap();
    assert!(spinner < report, "the spinner is gone before the report: {text:?}");
    assert!(text[..report].contains("\u{1b}[2K"), "the spinner's line is erased: {text:?}");
    // A short run prints nothing extra (the default delay is two seconds), nor does one that is not on a terminal.
    let quick = in_terminal(100, &["check", "examples/fleet", "--color", "never"]);
    assert!(!quick.contains("reading files") && !quick.contains("running checks"), "{quick}");
    let piped = common::day2(&["check", "examples/fleet", "--color", "never"]);
    let stderr = String::from_utf8(piped.stderr).unwrap();
    assert!(!stderr.contains("reading files") && !stderr.contains('\u{1b}'), "{stderr}");
    // With log lines on (-v) there is no spinner to garble them.
    let logged = in_terminal_with(
        100,
        &["-v", "check", "examples/fleet", "--color", "never"],
        &[("DAY2_PROGRESS_DELAY_MS", "0")],
    );
    assert!(!logged.contains("running checks on"), "{logged}");
}
