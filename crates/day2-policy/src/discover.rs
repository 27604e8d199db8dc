//! Finding the policy files under the configured paths: plain directories and files ([`load`]), OPA bundle
//! directories and `.tar.gz` bundles ([`bundle`]). Both of those read into [`PolicyFiles`]; only this module knows
//! both, so neither depends on the other's caller.

use std::path::PathBuf;

use day2_model::Diagnostic;

use crate::bundle;
use crate::load::{DataPlacement, PolicyFiles, display, files, is_yaml_or_json, read_text};

/// Reads and sorts every policy file under `paths`: plain directories and files, OPA bundle directories (with a
/// `.manifest`) and bundle archives (`.tar.gz`).
pub(crate) fn read(paths: &[PathBuf], diagnostics: &mut Vec<Diagnostic>) -> PolicyFiles {
    let mut out = PolicyFiles::default();
    for path in paths {
        if bundle::is_archive(path) {
            bundle::read_archive(path, &mut out, diagnostics);
            continue;
        }
        let manifest = bundle::directory_manifest(path, diagnostics);
        for file in files(std::slice::from_ref(path), diagnostics) {
            let name = display(&file);
            if !(name.ends_with(".rego") || is_yaml_or_json(&name)) {
                continue;
            }
            let Some(text) = read_text(&file, diagnostics) else { continue };
            match &manifest {
                Some(m) => {
                    let relative = file.strip_prefix(path).unwrap_or(&file);
                    let dirs: Vec<&str> =
                        relative.parent().into_iter().flat_map(|p| p.iter()).filter_map(|c| c.to_str()).collect();
                    out.add(name, text, DataPlacement::Bundle(&dirs), m.rego_version, diagnostics);
                }
                None => out.add(name, text, DataPlacement::Root, None, diagnostics),
            }
        }
    }
    out
}
