//! OPA bundles, as directories (with a `.manifest` at the root) or `.tar.gz` archives: Rego modules anywhere, data
//! from `data.json` / `data.yaml` placed under the path of their directory, and the manifest's `rego_version`.

use std::io::Read;
use std::path::Path;

use day2_model::{Diagnostic, DiagnosticKind};
use serde::Deserialize;

use crate::load::{DataPlacement, PolicyFiles, display};
use crate::rego::RegoVersion;

/// Largest archive entry read, and largest total: a bundle is policy text, and a gzip bomb must not exhaust memory.
const MAX_ENTRY_BYTES: u64 = 64 << 20;
const MAX_TOTAL_BYTES: u64 = 256 << 20;

/// What day2 uses of a bundle's `.manifest`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct Manifest {
    #[serde(default, deserialize_with = "rego_version")]
    pub rego_version: Option<RegoVersion>,
}

fn rego_version<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<RegoVersion>, D::Error> {
    Ok(match Option::<u8>::deserialize(d)? {
        Some(0) => Some(RegoVersion::V0),
        Some(1) => Some(RegoVersion::V1),
        _ => None,
    })
}

fn parse_manifest(file: &str, text: &str, diagnostics: &mut Vec<Diagnostic>) -> Manifest {
    serde_json::from_str(text).unwrap_or_else(|e| {
        diagnostics.push(Diagnostic::new(
            DiagnosticKind::Syntax,
            file,
            u32::try_from(e.line()).ok(),
            format!("invalid bundle manifest: {e}"),
        ));
        Manifest::default()
    })
}

/// True for `.tar.gz` / `.tgz` files.
pub(crate) fn is_archive(path: &Path) -> bool {
    let name = path.to_string_lossy();
    path.is_file() && (name.ends_with(".tar.gz") || name.ends_with(".tgz"))
}

/// The manifest of a bundle directory, None when `path` is not one.
pub(crate) fn directory_manifest(path: &Path, diagnostics: &mut Vec<Diagnostic>) -> Option<Manifest> {
    let file = path.join(".manifest");
    if !path.is_dir() || !file.is_file() {
        return None;
    }
    let text = crate::load::read_text(&file, diagnostics)?;
    Some(parse_manifest(&display(&file), &text, diagnostics))
}

/// Reads a bundle archive into `out`. Entries are named `<archive>:/<path>` in diagnostics.
pub(crate) fn read_archive(path: &Path, out: &mut PolicyFiles, diagnostics: &mut Vec<Diagnostic>) {
    let archive_name = display(path);
    let entries = match entries(path) {
        Ok(entries) => entries,
        Err(e) => {
            diagnostics.push(Diagnostic::new(DiagnosticKind::Unreadable, &archive_name, None, format!("bundle: {e}")));
            return;
        }
    };
    let manifest = entries
        .iter()
        .find(|(name, _)| name == ".manifest")
        .map(|(_, text)| parse_manifest(&format!("{archive_name}:/.manifest"), text, diagnostics))
        .unwrap_or_default();
    for (name, text) in entries {
        let dirs: Vec<&str> = name.split('/').collect();
        let dirs = dirs.split_last().map(|(_, d)| d).unwrap_or_default();
        out.add(
            format!("{archive_name}:/{name}"),
            text,
            DataPlacement::Bundle(dirs),
            manifest.rego_version,
            diagnostics,
        );
    }
}

/// The text files of a `.tar.gz`, as (path without leading `/` or `./`, text).
fn entries(path: &Path) -> Result<Vec<(String, String)>, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut out = Vec::new();
    let mut total = 0u64;
    for entry in archive.entries().map_err(|e| e.to_string())? {
        let mut entry = entry.map_err(|e| e.to_string())?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = entry.path().map_err(|e| e.to_string())?.to_string_lossy().into_owned();
        let name = name.trim_start_matches("./").trim_start_matches('/').to_owned();
        let size = entry.header().size().map_err(|e| e.to_string())?;
        total += size;
        if size > MAX_ENTRY_BYTES || total > MAX_TOTAL_BYTES {
            return Err(format!("{name}: the bundle is larger than {} MiB unpacked", MAX_TOTAL_BYTES >> 20));
        }
        let wanted = name == ".manifest" || name.ends_with(".rego") || crate::load::is_yaml_or_json(&name);
        if !wanted {
            continue;
        }
        let mut text = String::new();
        entry.by_ref().take(MAX_ENTRY_BYTES).read_to_string(&mut text).map_err(|e| format!("{name}: {e}"))?;
        out.push((name, text));
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;
    use crate::PolicyConfig;
    use crate::conftest::ConftestConfig;

    fn archive(dir: &Path, files: &[(&str, &str)]) -> std::path::PathBuf {
        let path = dir.join("bundle.tar.gz");
        let gz = flate2::write::GzEncoder::new(std::fs::File::create(&path).unwrap(), flate2::Compression::default());
        let mut tar = tar::Builder::new(gz);
        for (name, text) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(text.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            tar.append_data(&mut header, name, text.as_bytes()).unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap();
        path
    }

    #[test]
    fn archives_place_data_by_directory_and_honour_the_manifest_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = archive(
            dir.path(),
            &[
                (".manifest", r#"{"revision": "1", "rego_version": 0}"#),
                (
                    "policies/main.rego",
                    "package main\n\ndeny[msg] {\n  input.image == data.registry.blocked[_]\n  msg := \"blocked image\"\n}\n",
                ),
                ("registry/data.json", r#"{"blocked": ["evil:1"]}"#),
            ],
        );
        let config = PolicyConfig { paths: vec![path], conftest: ConftestConfig::default(), ..PolicyConfig::default() };
        let (policies, diagnostics) = crate::Policies::load(&config);
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        let conftest = policies.conftest.as_ref().unwrap();
        assert!(conftest.rules[0].file.ends_with("bundle.tar.gz:/policies/main.rego"));
        let mut engine = conftest.engine.clone();
        let (outcomes, errors) =
            conftest.evaluate(&mut engine, crate::rego::to_value(&serde_json::json!({"image": "evil:1"})));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(outcomes.len(), 1, "data.registry.blocked comes from registry/data.json");
    }

    #[test]
    fn broken_archives_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("broken.tar.gz");
        std::fs::write(&path, b"not gzip").unwrap();
        let mut diagnostics = Vec::new();
        read_archive(&path, &mut PolicyFiles::default(), &mut diagnostics);
        assert_eq!(diagnostics.len(), 1);
        assert!(diagnostics[0].message.starts_with("bundle: "), "{:?}", diagnostics[0]);
    }
}
