//! Any bytes as a Terraform state or `show -json` file, and as configuration in native (`.tf`) and JSON
//! (`.tf.json`) syntax: never panic, never hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = day2_collect::terraform::parse(text, "f.json", "fuzz", "fuzz", &day2_collect::Limits::default());
        let config = day2_collect::terraform::TerraformConfig::default();
        for file in ["f.tf", "f.tf.json"] {
            let _ = day2_collect::terraform::parse_configuration(text, file, "fuzz", "fuzz", &config);
        }
    }
});
