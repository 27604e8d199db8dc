//! Finding the policy files under the configured paths: plain directories and files ([`load`]), OPA bundle
//! directories and `.tar.gz` bundles ([`bundle`]). Both of those read into [`PolicyFiles`]; only this module knows
//! both, so neither depends on the other's caller.

use std::hash::{Hash, Hasher};
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

/// A digest of everything [`read`] reads under `paths`: each policy file's name and contents, bundle manifests and
/// archives included, through symbolic links as [`read`] follows them. Equal digests, the same policies: `day2 serve`
/// compiles policies again only when it changes. Reading the files is cheap next to compiling them.
pub fn digest(paths: &[PathBuf]) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    // What cannot be read now is compared as such; `read` reports it.
    let mut ignored = Vec::new();
    for path in paths {
        path.hash(&mut hasher);
        let mut files =
            if bundle::is_archive(path) { vec![path.clone()] } else { files(std::slice::from_ref(path), &mut ignored) };
        files.push(path.join(".manifest"));
        for file in files {
            let name = display(&file);
            let read_here = bundle::is_archive(&file)
                || name.ends_with(".rego")
                || name.ends_with(".manifest")
                || is_yaml_or_json(&name);
            if read_here {
                name.hash(&mut hasher);
                contents(&file).hash(&mut hasher);
            }
        }
    }
    hasher.finish()
}

/// A file's bytes, at most 64 MiB (a special file or one that cannot be opened: None).
fn contents(path: &std::path::Path) -> Option<Vec<u8>> {
    use std::io::Read as _;
    let file = day2_input::files::open_regular(path).ok()?;
    let mut bytes = Vec::new();
    file.take(64 << 20).read_to_end(&mut bytes).ok()?;
    Some(bytes)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_changes_with_what_is_read_and_only_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let policies = dir.path().join("real");
        std::fs::create_dir_all(policies.join("lib")).unwrap();
        std::fs::write(policies.join("lib/p.rego"), "package p\n").unwrap();
        // Configured through a symbolic link, which discovery follows.
        let link = dir.path().join("policies");
        std::os::unix::fs::symlink(&policies, &link).unwrap();
        let paths = [link];
        let before = digest(&paths);
        assert_eq!(before, digest(&paths), "nothing changed");
        std::fs::write(policies.join("notes.txt"), "not a policy").unwrap();
        std::fs::create_dir(policies.join(".git")).unwrap();
        std::fs::write(policies.join(".git/HEAD"), "ref: main").unwrap();
        assert_eq!(before, digest(&paths), "files discovery does not read do not count");
        std::fs::write(policies.join("lib/p.rego"), "package q\n").unwrap();
        assert_ne!(before, digest(&paths), "an edit of the same size behind the link");
        let edited = digest(&paths);
        std::fs::write(policies.join(".manifest"), "{\"rego_version\": 0}").unwrap();
        assert_ne!(edited, digest(&paths), "a bundle manifest");
    }
}
