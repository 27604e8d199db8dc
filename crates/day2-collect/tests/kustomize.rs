//! Kustomize build output. `fixtures/kustomize/rendered.yaml` is what `kubectl kustomize overlays/prod` printed for
//! the base and overlay next to it; when kubectl is installed the test renders it again and compares, so the fixture
//! stays real output.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

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
fn without_rendering_kustomization_files_are_skipped_not_errors() {
    let config = ManifestsConfig { paths: vec![dir()], render: false, ..ManifestsConfig::default() };
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

fn kubectl_installed() -> bool {
    let found = std::process::Command::new("kubectl").arg("version").arg("--client").output().is_ok();
    if !found {
        eprintln!("kubectl not installed: rendering is not tested here");
    }
    found
}

#[test]
fn an_overlay_folder_is_rendered_by_kubectl_and_each_object_names_its_origin() {
    if !kubectl_installed() {
        return;
    }
    // The base is given too: the overlay uses it, so it is read through the overlay, not on its own.
    let config =
        ManifestsConfig { paths: vec![dir().join("base"), dir().join("overlays")], ..ManifestsConfig::default() };
    let snap = manifests::collect(&config);
    assert!(snap.diagnostics.is_empty(), "{:?}", snap.diagnostics);
    let committed = std::fs::read_to_string(dir().join("rendered.yaml")).unwrap();
    let want = manifests::parse(&committed, "rendered.yaml", "test", &ManifestsConfig::default());
    let attrs = |rs: &[day2_model::Resource]| {
        let mut v: Vec<(String, serde_json::Value)> =
            rs.iter().map(|r| (r.id.to_string(), r.attrs.to_value())).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    assert_eq!(
        attrs(&snap.resources),
        attrs(&want.resources),
        "exactly what kubectl kustomize prints, no origin annotations"
    );
    let origin = |kind: &str| {
        let r = snap.resources.iter().find(|r| r.kind == kind).unwrap_or_else(|| {
            panic!("{kind}: {:?}", snap.resources.iter().map(|r| (&r.kind, r.template())).collect::<Vec<_>>())
        });
        (r.location().unwrap().0.to_owned(), r.template().unwrap().to_owned())
    };
    let overlay = dir().join("overlays/prod").display().to_string();
    let base = dir().join("base");
    assert_eq!(origin("Service"), (overlay.clone(), base.join("service.yaml").display().to_string()));
    assert_eq!(origin("apps.Deployment"), (overlay.clone(), base.join("deployment.yaml").display().to_string()));
    assert_eq!(origin("ConfigMap"), (overlay, base.join("kustomization.yaml").display().to_string()), "a generator's");
}

#[test]
fn a_broken_overlay_is_an_error_naming_the_folder() {
    if !kubectl_installed() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("kustomization.yaml"), "resources:\n  - missing.yaml\n").unwrap();
    let snap =
        manifests::collect(&ManifestsConfig { paths: vec![work.path().to_owned()], ..ManifestsConfig::default() });
    assert!(!snap.complete);
    assert_eq!(snap.diagnostics.len(), 1, "{:?}", snap.diagnostics);
    assert_eq!(snap.diagnostics[0].kind, DiagnosticKind::Unreadable);
    assert_eq!(snap.diagnostics[0].file, work.path().display().to_string());
    assert!(snap.diagnostics[0].message.contains("kubectl kustomize"), "{:?}", snap.diagnostics);
}
