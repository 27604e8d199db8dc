//! Any bytes as a Terraform state or `show -json` file: never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = day2_collect::terraform::parse(text, "f.json", "fuzz", "fuzz", &day2_collect::Limits::default());
    }
});
