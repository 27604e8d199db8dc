//! Pins the differences between regorus and OPA that docs/rego-conformance.md lists: each `test_*` rule in
//! `tests/conformance/known_test.rego` is a smallest reproducer. When regorus (or day2's feature set) changes, this test
//! says which note to update.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use day2_policy::RegoVersion;
use day2_policy::unit::{self, Verdict};

#[test]
fn known_differences_from_opa_still_hold() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance");
    let run = unit::run(&[dir], RegoVersion::Auto, None);
    assert!(run.diagnostics.is_empty(), "{:?}", run.diagnostics);
    let missing: Vec<&str> = run
        .results
        .iter()
        .filter(|r| matches!(&r.verdict, Verdict::Error(e) if e.contains("could not find function")))
        .map(|r| r.name.rsplit('.').next().unwrap())
        .collect();
    // Builtins OPA has and day2's regorus does not (documented, with the workaround, in docs/rego-conformance.md).
    assert_eq!(
        missing,
        ["test_yaml", "test_http_absent", "test_json_match_schema", "test_crypto", "test_rego_metadata"],
        "{:#?}",
        run.results
    );
    let passed = run.results.iter().filter(|r| r.verdict == Verdict::Pass).count();
    assert_eq!(passed, run.results.len() - missing.len(), "{:#?}", run.results);
}
