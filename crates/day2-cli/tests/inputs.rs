//! Inputs that are not regular files (issue [N] 4): a FIFO, socket or device given by name is refused with a
//! diagnostic and never opened (opening a FIFO for reading waits for a writer for ever); inside a folder, special
//! files and symbolic links (dangling or not) are reported as notes; everything else is still scanned.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const PRIVILEGED_POD: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: a}\nspec:\n  containers:\n    - name: c\n      image: nginx:1.27\n      securityContext: {privileged: true}\n";

fn mkfifo(path: &Path) {
    assert!(Command::new("mkfifo").arg(path).status().unwrap().success());
}

/// `day2 ARGS`, which must end within a minute: a FIFO read would hang it.
fn day2_bounded(args: &[&str]) -> Output {
    let child = common::command(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let id = child.id();
    let started = Instant::now();
    let waiter = std::thread::spawn(move || child.wait_with_output().unwrap());
    while !waiter.is_finished() {
        if started.elapsed() > Duration::from_secs(60) {
            let _ = Command::new("kill").arg("-9").arg(id.to_string()).status();
            panic!("day2 {args:?} hung");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    waiter.join().unwrap()
}

fn diagnostics_of(out: &Output) -> Vec<Value> {
    common::json_of(out)["diagnostics"].as_array().unwrap().clone()
}

#[test]
fn a_fifo_given_by_name_is_refused_and_the_rest_is_scanned() {
    let dir = tempfile::tempdir().unwrap();
    let pipe = dir.path().join("pipe.yaml");
    mkfifo(&pipe);
    let good = dir.path().join("good.yaml");
    std::fs::write(&good, PRIVILEGED_POD).unwrap();
    let out = day2_bounded(&["check", pipe.to_str().unwrap(), good.to_str().unwrap(), "-o", "json"]);
    assert_eq!(common::code(&out), 2, "an input error: {}", String::from_utf8_lossy(&out.stderr));
    let diagnostics = diagnostics_of(&out);
    assert_eq!(diagnostics.len(), 1, "{diagnostics:#?}");
    assert_eq!(diagnostics[0]["kind"], "unreadable");
    assert!(diagnostics[0]["file"].as_str().unwrap().ends_with("pipe.yaml"));
    assert_eq!(diagnostics[0]["message"], "a FIFO (named pipe), not a regular file: not read");
    let findings = common::json_of(&out)["findings"].as_array().unwrap().clone();
    assert!(findings.iter().any(|f| f["rule_id"] == "K8S-POD-001"), "good.yaml was scanned");
    // A device is refused the same way.
    let out = day2_bounded(&["check", "/dev/zero", good.to_str().unwrap(), "-o", "json"]);
    assert_eq!(diagnostics_of(&out)[0]["message"], "a device, not a regular file: not read");
}

#[test]
fn special_files_and_links_inside_a_folder_are_notes() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = dir.path().join("fleet");
    std::fs::create_dir(&fleet).unwrap();
    std::fs::write(fleet.join("pod.yaml"), PRIVILEGED_POD).unwrap();
    mkfifo(&fleet.join("pipe.yaml"));
    std::os::unix::fs::symlink(fleet.join("gone.yaml"), fleet.join("dangling.yaml")).unwrap();
    std::os::unix::fs::symlink(fleet.join("pod.yaml"), fleet.join("link.yaml")).unwrap();
    let out = day2_bounded(&["check", fleet.to_str().unwrap(), "-o", "json"]);
    assert_eq!(common::code(&out), 1, "notes are not errors: {}", String::from_utf8_lossy(&out.stderr));
    let mut notes: Vec<(String, String)> = diagnostics_of(&out)
        .iter()
        .map(|d| {
            assert_eq!(d["kind"], "not-read", "{d}");
            let file = Path::new(d["file"].as_str().unwrap()).file_name().unwrap().to_string_lossy().into_owned();
            (file, d["message"].as_str().unwrap().to_owned())
        })
        .collect();
    notes.sort();
    assert_eq!(
        notes,
        [
            ("dangling.yaml".to_owned(), "dangling symbolic link (its target is missing): not read".to_owned()),
            ("link.yaml".to_owned(), "a symbolic link: not read".to_owned()),
            ("pipe.yaml".to_owned(), "a FIFO (named pipe): not read".to_owned()),
        ]
    );
    // The table shows them too.
    let table = day2_bounded(&["check", fleet.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("note: ") && text.contains("pipe.yaml: a FIFO (named pipe): not read"), "{text}");
}

/// Issue [N] 5: a suppression that can silence nothing (a typo, a renamed rule) is a warning naming it.
#[test]
fn a_suppression_matching_no_rule_is_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("day2.yaml");
    let suppressions = "suppressions:\n  - {rule: K8S-NOPE-*, resource: '*', reason: a typo}\n  - {rule: K8S-POD-001, resource: '*', reason: accepted}\n";
    std::fs::write(&config, suppressions).unwrap();
    let pod = dir.path().join("pod.yaml");
    std::fs::write(&pod, PRIVILEGED_POD).unwrap();
    let out = day2_bounded(&["check", "-c", config.to_str().unwrap(), pod.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("suppressions[0]: rule `K8S-NOPE-*` matches no check"), "{stderr}");
    assert!(!stderr.contains("suppressions[1]"), "{stderr}");
}
