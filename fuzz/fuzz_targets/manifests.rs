//! Any bytes as a manifest file: the parser must return resources and diagnostics, never panic or overflow.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let config = day2_collect::manifests::ManifestsConfig::default();
        for name in ["f.yaml", "f.json"] {
            let parsed = day2_collect::manifests::parse(text, name, "fuzz", &config);
            for d in &parsed.diagnostics {
                assert!(!d.message.is_empty());
            }
        }
    }
});
