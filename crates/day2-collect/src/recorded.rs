//! Recorded live Kubernetes state: objects as the API returns them (`kubectl get … -o yaml` / `-o json`, `List`s
//! included), read from files and marked live, so drift can be checked offline, in CI, or from a snapshot taken by
//! someone with cluster access. Secrets are masked as in [`crate::manifests`].

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use day2_model::{Examined, Origin, Snapshot};

use crate::manifests::{self, ManifestsConfig};

/// Reads the recording into a live snapshot. Each object is observed at its file's modification time. The snapshot
/// is complete only when every file was read without error.
pub fn collect(cluster: &str, source: &str, paths: &[PathBuf]) -> Snapshot {
    let manifests = ManifestsConfig {
        source_name: Some(source.to_owned()),
        paths: paths.to_vec(),
        cluster: cluster.to_owned(),
        live_objects: true,
        ..ManifestsConfig::default()
    };
    let mut snapshot = manifests::collect(&manifests);
    snapshot.examined = Examined::WhatIsPresent;
    let now = Utc::now();
    let mut observed: std::collections::BTreeMap<String, DateTime<Utc>> = std::collections::BTreeMap::new();
    for r in &mut snapshot.resources {
        let observed_at = match r.location() {
            Some((file, _)) => {
                *observed.entry(file.to_owned()).or_insert_with_key(|file| modified(file).unwrap_or(now))
            }
            None => now,
        };
        r.origin = Origin::Live { source: source.to_owned(), observed_at };
    }
    snapshot
}

fn modified(file: &str) -> Option<DateTime<Utc>> {
    std::fs::metadata(file).and_then(|m| m.modified()).ok().map(DateTime::<Utc>::from)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_lists_become_live_objects_of_the_cluster() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("live.yaml"),
            "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Secret\n  metadata: {name: s, namespace: shop, uid: u1}\n  data: {password: aHVudGVyMg==}\n- apiVersion: apps/v1\n  kind: Deployment\n  metadata: {name: web, namespace: shop}\n  spec: {replicas: 2}\n  status: {readyReplicas: 2}\n",
        )
        .unwrap();
        let snapshot = collect("prod", "live:prod", &[dir.path().to_owned()]);
        assert!(snapshot.complete);
        assert_eq!(snapshot.examined, Examined::WhatIsPresent);
        assert_eq!(snapshot.source, "live:prod");
        let ids: Vec<&str> = snapshot.resources.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["k8s/prod/Secret/shop/s", "k8s/prod/apps.Deployment/shop/web"]);
        assert!(snapshot.resources.iter().all(|r| matches!(r.origin, Origin::Live { .. })));
        assert!(snapshot.resources[0].attrs["data"]["password"].as_str().is_some_and(day2_model::redact::is_token));
    }
}
