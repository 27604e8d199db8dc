//! Any bytes as a Rego module: loading (v1, then v0), METADATA annotations and evaluating its conftest and Gatekeeper
//! rules must return values or located errors, never panic. regorus does the parsing, so this also guards day2
//! against a panic inside the interpreter on a user's policy.
#![no_main]

use day2_policy::rego::{self, Placement, RegoVersion};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = rego::annotations(text);
    let mut engine = rego::new_engine();
    match rego::add_module(&mut engine, text, Placement { file: "fuzz.rego", first_line: 1 }, RegoVersion::Auto) {
        Ok(package) => {
            engine.set_input(rego::to_value(&serde_json::json!({"kind": "Pod", "metadata": {"name": "p"}})));
            for rule in ["deny", "violation", "warn"] {
                let _ = engine.eval_rule(format!("{package}.{rule}"));
            }
        }
        Err(d) => assert!(d.message.starts_with("Rego ") && d.file == "fuzz.rego"),
    }
});
