//! Kustomize build output. `fixtures/kustomize/rendered.yaml` is what `kubectl kustomize overlays/prod` printed for
//! the base and overlay next to it; when kubectl is installed the test renders it again and compares, so the fixture
//! stays real output.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};

use day2_collect::manifests::{self, ManifestsConfig};
use day2_model::DiagnosticKind;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kustomize")
}

#[test]
fn rendered_overlay_is_read_with_lines_and_namespaces() {
    let text = std::fs::read_to_string(dir().join("rendered.yaml")).unwrap();
    let p = manifests::parse(&text, "rendered.yaml", "test", &ManifestsConfig::default());
    assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
    let got: Vec<(String, u32)> = p.resources.iter().map(|r| (r.id.to_string(), r.location().unwrap().1)).collect();
    assert_eq!(
        got,
        [
            ("k8s/default/ConfigMap/shop-prod/prod-checkout-config-hf678c7m2b".to_owned(), 1),
            ("k8s/default/Service/shop-prod/prod-checkout".to_owned(), 12),
            ("k8s/default/apps.Deployment/shop-prod/prod-checkout".to_owned(), 29),
        ]
    );
}

#[test]
fn kustomization_files_are_skipped_not_errors() {
    let config = ManifestsConfig { paths: vec![dir()], ..ManifestsConfig::default() };
    let snap = manifests::collect(&config);
    assert!(snap.complete, "{:?}", snap.diagnostics);
    let skipped: Vec<_> = snap.diagnostics.iter().filter(|d| d.kind == DiagnosticKind::Skipped).collect();
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    assert!(skipped[0].message.contains("a Kustomize build file"));
    // base (2 objects) + rendered overlay (3 objects) = 5 distinct resources.
    assert_eq!(snap.resources.len(), 5);
}

#[test]
fn fixture_matches_kubectl_kustomize_when_available() {
    let Ok(out) =
        std::process::Command::new("kubectl").args(["kustomize", "overlays/prod"]).current_dir(dir()).output()
    else {
        eprintln!("kubectl not installed: comparing with the committed output only");
        return;
    };
    if !out.status.success() {
        eprintln!(
            "kubectl kustomize failed ({}): comparing with the committed output only",
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
    let committed = std::fs::read_to_string(dir().join("rendered.yaml")).unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), committed);
}
