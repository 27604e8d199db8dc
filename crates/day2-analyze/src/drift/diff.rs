//! Field-level comparison of a declared Kubernetes object with its live counterpart, with the normalisation that keeps
//! server behaviour from reading as drift:
//!
//! - **Declared fields must hold live; fields only the server sets are not drift.** The API server fills in defaults
//!   (strategy, protocol, clusterIP, dnsPolicy, …) and status; comparing only what the declaration says makes all of
//!   them equal without a table of defaults per kind.
//! - **Except where an addition is someone's edit**: labels, annotations, ConfigMap data, and the entries of lists
//!   the API server merges by key (containers, env and volumes by name, ports by number and protocol, …: its
//!   `x-kubernetes-list-map-keys`). An env var added by `kubectl set env` is drift.
//! - Server-populated metadata (uid, resourceVersion, managedFields, timestamps, well-known annotations) is ignored.
//! - Quantities compare by value (`1000m` = `1`, `1Gi` = `1024Mi`); numbers by value (`1` = `1.0`).

use std::collections::HashMap;

use day2_model::{Attr, Fields};
use serde_json::Value;

/// One field that differs.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldDiff {
    /// JSON pointer: into the declared object for fields it declares, into the live object for additions.
    pub pointer: String,
    /// Declared value (null when only live has it).
    pub declared: Value,
    /// Live value (null when live lacks it).
    pub live: Value,
}

/// Metadata the API server sets.
const SERVER_METADATA: &[&str] = &[
    "managedFields",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "selfLink",
    "ownerReferences",
    "finalizers",
    "namespace",
];

/// Annotations (exact keys, or prefixes ending in `/`) that tools and controllers write on live objects.
const TOOL_ANNOTATIONS: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    "kubectl.kubernetes.io/restartedAt",
    "deployment.kubernetes.io/revision",
    "deprecated.daemonset.template.generation",
    "meta.helm.sh/release-name",
    "meta.helm.sh/release-namespace",
    "argocd.argoproj.io/tracking-id",
    "pv.kubernetes.io/",
    "volume.kubernetes.io/",
    "volume.beta.kubernetes.io/storage-provisioner",
    "control-plane.alpha.kubernetes.io/leader",
];

/// Labels (exact keys, or prefixes ending in `/`) the API server, controllers and deploy tools set.
const SERVER_LABELS: &[&str] = &[
    "kubernetes.io/metadata.name",
    "pod-template-hash",
    "controller-revision-hash",
    "controller-uid",
    "job-name",
    "batch.kubernetes.io/",
    "kustomize.toolkit.fluxcd.io/",
];

fn listed(list: &[&str], key: &str) -> bool {
    list.iter().any(|entry| if entry.ends_with('/') { key.starts_with(entry) } else { key == *entry })
}

/// Differences between a declared Kubernetes object and the live one, in declared-field order.
pub fn diff(declared: &Attr, live: &Attr) -> Vec<FieldDiff> {
    let mut out = Vec::new();
    compare(&mut String::new(), declared, live, &mut out);
    out
}

/// Differences between two complete documents with no server in between (a Terraform resource as recorded and as
/// found): every key counts both ways, nulls included.
pub fn diff_exact(before: &Attr, after: &Attr) -> Vec<FieldDiff> {
    let mut out = Vec::new();
    compare_exact(&mut String::new(), before, after, &mut out);
    out
}

fn compare_exact(path: &mut String, before: &Attr, after: &Attr, out: &mut Vec<FieldDiff>) {
    let len = path.len();
    match (before, after) {
        (Attr::Object(b), Attr::Object(a)) => {
            let (b, a) = (Lookup::new(b), Lookup::new(a));
            for key in b.fields.keys().chain(a.fields.keys().filter(|k| b.get(k).is_none())) {
                path.push('/');
                path.push_str(&escape(key));
                compare_exact(path, b.get(key).unwrap_or(&Attr::Null), a.get(key).unwrap_or(&Attr::Null), out);
                path.truncate(len);
            }
        }
        (Attr::Array(b), Attr::Array(a)) if b.len() == a.len() => {
            for (i, (bv, av)) in b.iter().zip(a).enumerate() {
                path.push_str(&format!("/{i}"));
                compare_exact(path, bv, av, out);
                path.truncate(len);
            }
        }
        (Attr::Number(b), Attr::Number(a)) if b.as_f64() == a.as_f64() => {}
        _ if before != after => push(out, path, before, after),
        _ => {}
    }
}

fn last_segment(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or_default()
}

fn ignored(path: &str, key: &str) -> bool {
    match (path, last_segment(path)) {
        // Pairing is by group and kind; the served version may differ from the declared one (policy/v1beta1 → v1).
        ("", _) if key == "status" || key == "apiVersion" => true,
        ("/metadata", _) => SERVER_METADATA.contains(&key),
        (_, "annotations") => listed(TOOL_ANNOTATIONS, key),
        (_, "labels") => listed(SERVER_LABELS, key),
        // Secret values are masked at collection on both sides, and the server moves stringData into data.
        ("", _) if key == "stringData" => true,
        _ => false,
    }
}

/// Maps where a key only live has is an edit, not a default.
fn exact_map(path: &str) -> bool {
    matches!(last_segment(path), "labels" | "annotations") || path == "/data" || path == "/stringData"
}

/// The keys that identify an entry of a list at `path`, as the API server merges them (the OpenAPI
/// `x-kubernetes-list-map-keys`): each alternative is a composite key, the first whose leading key the entry has.
/// Ports are keyed by number **and** protocol, so `53/TCP` and `53/UDP` are two entries.
fn list_key(path: &str) -> Option<&'static [&'static [&'static str]]> {
    Some(match last_segment(path) {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "resourceClaims" => &[&["name"]],
        "volumeMounts" => &[&["mountPath"]],
        "volumeDevices" => &[&["devicePath"]],
        "ports" => &[&["containerPort", "protocol"], &["port", "protocol"]],
        "hostAliases" => &[&["ip"]],
        "topologySpreadConstraints" => &[&["topologyKey", "whenUnsatisfiable"]],
        _ => return None,
    })
}

/// An entry's key under `alternatives`; a missing `protocol` is the server's default, TCP.
fn key_of(entry: &Attr, alternatives: &[&[&str]]) -> Option<Vec<Attr>> {
    let keys = alternatives.iter().find(|keys| keys.first().is_some_and(|k| entry.get(k).is_some()))?;
    keys.iter()
        .map(|k| match (entry.get(k), *k) {
            (Some(v), _) => Some(v.clone()),
            (None, "protocol") => Some(Attr::String("TCP".into())),
            (None, _) => None,
        })
        .collect()
}

/// Escapes a key for a JSON pointer (RFC 6901).
pub fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn push(out: &mut Vec<FieldDiff>, pointer: &str, declared: &Attr, live: &Attr) {
    out.push(FieldDiff { pointer: pointer.to_owned(), declared: declared.to_value(), live: live.to_value() });
}

/// Key lookup in an object: a scan for the usual handful of keys, a hash index for big maps (ConfigMap data, tags).
struct Lookup<'a> {
    fields: &'a Fields,
    index: Option<HashMap<&'a str, &'a Attr>>,
}

impl<'a> Lookup<'a> {
    fn new(fields: &'a Fields) -> Lookup<'a> {
        Lookup { fields, index: (fields.len() > 32).then(|| fields.iter().collect()) }
    }

    fn get(&self, key: &str) -> Option<&'a Attr> {
        match &self.index {
            Some(index) => index.get(key).copied(),
            None => self.fields.get(key),
        }
    }
}

/// Declared values that mean "nothing": the API server drops zero values of optional fields (`readOnly: false`,
/// `initialDelaySeconds: 0`, `subPath: ""`), so a live object without the key holds them.
fn is_empty(v: &Attr) -> bool {
    match v {
        Attr::Null | Attr::Bool(false) => true,
        Attr::Object(m) => m.is_empty(),
        Attr::Array(a) => a.is_empty(),
        Attr::String(s) => s.is_empty(),
        Attr::Number(n) => n.as_f64() == Some(0.0),
        Attr::Bool(true) => false,
    }
}

/// Fields holding resource quantities, which the server rewrites in canonical form (`1000m` → `1`).
fn holds_quantities(path: &str) -> bool {
    ["/resources/", "/hard/", "/capacity/", "/sizeLimit", "/overhead/"].iter().any(|p| path.contains(p))
}

fn compare(path: &mut String, declared: &Attr, live: &Attr, out: &mut Vec<FieldDiff>) {
    let len = path.len();
    match (declared, live) {
        (Attr::Null, _) => {}
        (Attr::Object(d), Attr::Object(l)) => {
            let (d, l) = (Lookup::new(d), Lookup::new(l));
            for (key, dv) in d.fields {
                if ignored(path, key) {
                    continue;
                }
                path.push('/');
                path.push_str(&escape(key));
                match l.get(key) {
                    Some(lv) => compare(path, dv, lv, out),
                    // Declaring an empty value is declaring nothing.
                    None if is_empty(dv) => {}
                    None => push(out, path, dv, &Attr::Null),
                }
                path.truncate(len);
            }
            if exact_map(path) {
                for (key, lv) in l.fields.iter().filter(|(k, _)| d.get(k).is_none() && !ignored(path, k)) {
                    push(out, &format!("{path}/{}", escape(key)), &Attr::Null, lv);
                }
            }
        }
        (Attr::Array(d), Attr::Array(l)) => match list_key(path) {
            Some(keys) if d.iter().chain(l).all(|e| key_of(e, keys).is_some()) => compare_keyed(path, d, l, keys, out),
            _ if d.len() == l.len() => {
                for (i, (dv, lv)) in d.iter().zip(l).enumerate() {
                    path.push_str(&format!("/{i}"));
                    compare(path, dv, lv, out);
                    path.truncate(len);
                }
            }
            _ => push(out, path, declared, live),
        },
        (Attr::Number(d), Attr::Number(l)) => {
            if d.as_f64() != l.as_f64() {
                push(out, path, declared, live);
            }
        }
        (Attr::String(d), Attr::String(l)) => {
            if d != l && !(holds_quantities(path) && same_quantity(d, l)) {
                push(out, path, declared, live);
            }
        }
        // intOrString fields (targetPort, maxSurge): `8080` and `"8080"` are the same value.
        (Attr::Number(n), Attr::String(s)) | (Attr::String(s), Attr::Number(n)) => {
            let text = n.to_string();
            if text != **s && !(holds_quantities(path) && same_quantity(&text, s)) {
                push(out, path, declared, live);
            }
        }
        _ => {
            if declared != live {
                push(out, path, declared, live);
            }
        }
    }
}

fn compare_keyed(path: &mut String, d: &[Attr], l: &[Attr], keys: &[&[&str]], out: &mut Vec<FieldDiff>) {
    let len = path.len();
    for (i, dv) in d.iter().enumerate() {
        path.push_str(&format!("/{i}"));
        let key = key_of(dv, keys);
        match l.iter().find(|lv| key_of(lv, keys) == key) {
            Some(lv) => compare(path, dv, lv, out),
            None => push(out, path, dv, &Attr::Null),
        }
        path.truncate(len);
    }
    // Additions are numbered after the declared entries, so their pointers never collide with a declared one.
    let added = l.iter().filter(|lv| !d.iter().any(|dv| key_of(dv, keys) == key_of(lv, keys)));
    for (k, lv) in added.enumerate() {
        push(out, &format!("{path}/{}", d.len() + k), &Attr::Null, lv);
    }
}

/// Does a declared PostgreSQL setting (`128MB`, `5min`, `on`, `200`) hold the live `pg_settings.setting` value in the
/// setting's `unit` (`8kB`, `ms`, …)? Memory and time are compared in bytes and milliseconds, booleans by meaning,
/// other values as text, ignoring case.
pub fn same_setting(declared: &str, live: &str, unit: Option<&str>) -> bool {
    let (declared, live) = (declared.trim(), live.trim());
    if let Some((d, l)) = unit.and_then(|u| setting_amount(declared, u).zip(setting_amount(live, u))) {
        return (d - l).abs() < 1e-9 * d.abs().max(1.0);
    }
    match (boolean(declared), boolean(live)) {
        (Some(d), Some(l)) => d == l,
        _ => declared.eq_ignore_ascii_case(live),
    }
}

fn boolean(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "1" => Some(true),
        "off" | "false" | "no" | "0" => Some(false),
        _ => None,
    }
}

/// A setting's amount in base units (bytes or milliseconds): a bare number counts in the setting's unit.
fn setting_amount(value: &str, unit: &str) -> Option<f64> {
    const MEMORY: &[(&str, f64)] =
        &[("kB", 1024.0), ("MB", 1_048_576.0), ("GB", 1_073_741_824.0), ("TB", 1_099_511_627_776.0), ("B", 1.0)];
    const TIME: &[(&str, f64)] =
        &[("us", 0.001), ("ms", 1.0), ("min", 60_000.0), ("s", 1000.0), ("h", 3_600_000.0), ("d", 86_400_000.0)];
    let table = if MEMORY.iter().any(|(s, _)| unit.ends_with(s)) {
        MEMORY
    } else if TIME.iter().any(|(s, _)| unit == *s) {
        TIME
    } else {
        return None;
    };
    let amount = |text: &str| -> Option<f64> {
        for (suffix, factor) in table {
            if let Some(number) = text.strip_suffix(suffix) {
                return number.trim().parse::<f64>().ok().map(|n| n * factor);
            }
        }
        None
    };
    // The unit itself may carry a multiplier (`8kB`: shared_buffers counts 8 kB pages).
    let unit_size = amount(unit).or_else(|| amount(&format!("1{unit}")))?;
    amount(value).or_else(|| value.parse::<f64>().ok().map(|n| n * unit_size))
}

/// Kubernetes resource quantities (`500m`, `1Gi`, `1e3`, `0.5`) that denote the same amount.
fn same_quantity(a: &str, b: &str) -> bool {
    let quantity = |s: &str| crate::checks::k8s::quantity(&Attr::from(s));
    match (quantity(a), quantity(b)) {
        (Some(x), Some(y)) => (x - y).abs() <= f64::EPSILON * x.abs().max(y.abs()).max(1.0),
        _ => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pointers(declared: Value, live: Value) -> Vec<String> {
        diff(&declared.into(), &live.into()).into_iter().map(|d| d.pointer).collect()
    }

    #[test]
    fn server_defaults_status_and_metadata_are_not_drift() {
        let declared = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "cart", "labels": {"app": "cart"}},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "app", "image": "cart:1",
                "ports": [{"containerPort": 8080}],
                "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]}}}
        });
        let live = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "cart", "namespace": "shop", "uid": "u", "resourceVersion": "7", "generation": 3,
                "creationTimestamp": "2026-01-01T00:00:00Z", "labels": {"app": "cart"},
                "annotations": {"deployment.kubernetes.io/revision": "4"}, "managedFields": [{"manager": "kubectl"}]},
            "spec": {"replicas": 2, "revisionHistoryLimit": 10, "strategy": {"type": "RollingUpdate"},
                "template": {"spec": {"dnsPolicy": "ClusterFirst", "containers": [{"name": "app", "image": "cart:1",
                    "imagePullPolicy": "IfNotPresent", "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                    "resources": {"limits": {"cpu": "1000m", "memory": "1024Mi"}}}]}}},
            "status": {"replicas": 2}
        });
        assert_eq!(pointers(declared, live), Vec::<String>::new());
    }

    #[test]
    fn edits_show_field_by_field() {
        let declared = json!({
            "metadata": {"labels": {"app": "cart"}},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [
                {"name": "app", "image": "cart:1", "env": [{"name": "LOG", "value": "info"}]},
                {"name": "sidecar", "image": "proxy:1"}
            ]}}}
        });
        let live = json!({
            "metadata": {"labels": {"app": "cart", "hotfix": "true"}},
            "spec": {"replicas": 5, "template": {"spec": {"containers": [
                {"name": "app", "image": "cart:2", "env": [{"name": "LOG", "value": "info"}, {"name": "DEBUG", "value": "1"}]}
            ]}}}
        });
        let diffs = diff(&declared.into(), &live.into());
        let got: Vec<(&str, &Value, &Value)> =
            diffs.iter().map(|d| (d.pointer.as_str(), &d.declared, &d.live)).collect();
        assert_eq!(
            got,
            [
                ("/metadata/labels/hotfix", &Value::Null, &json!("true")),
                ("/spec/replicas", &json!(2), &json!(5)),
                ("/spec/template/spec/containers/0/image", &json!("cart:1"), &json!("cart:2")),
                ("/spec/template/spec/containers/0/env/1", &Value::Null, &json!({"name": "DEBUG", "value": "1"})),
                ("/spec/template/spec/containers/1", &json!({"name": "sidecar", "image": "proxy:1"}), &Value::Null),
            ]
        );
    }

    #[test]
    fn ports_are_keyed_by_number_and_protocol_as_the_api_server_merges_them() {
        let declared = json!({"spec": {"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53}]}});
        let live = json!({"spec": {"ports": [{"port": 53, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]}});
        assert!(pointers(declared.clone(), live).is_empty());
        let changed = json!({"spec": {"ports": [{"port": 53, "protocol": "UDP"}]}});
        assert_eq!(pointers(declared, changed), ["/spec/ports/1"], "the TCP port is gone");
    }

    #[test]
    fn keyed_lists_ignore_order_and_plain_lists_compare_by_position() {
        let declared = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}], "args": ["x", "y"]}});
        let live = json!({"spec": {"containers": [{"name": "b"}, {"name": "a"}], "args": ["y", "x"]}});
        assert_eq!(pointers(declared, live), ["/spec/args/0", "/spec/args/1"]);
    }

    #[test]
    fn postgres_settings_compare_in_their_units() {
        assert!(same_setting("128MB", "16384", Some("8kB")));
        assert!(same_setting("4MB", "4096", Some("kB")));
        assert!(!same_setting("8MB", "4096", Some("kB")));
        assert!(same_setting("5min", "300000", Some("ms")));
        assert!(same_setting("30s", "30", Some("s")));
        assert!(same_setting("on", "on", None) && same_setting("true", "on", None) && !same_setting("off", "on", None));
        assert!(same_setting("200", "200", None) && same_setting("Replica", "replica", None));
    }

    #[test]
    fn dropped_zero_values_tool_keys_and_secrets_are_not_drift() {
        let declared = json!({
            "kind": "Secret", "stringData": {"password": "***"},
            "metadata": {"labels": {"app": "a"}, "annotations": {}},
            "spec": {"hostNetwork": false, "containers": [{"name": "c", "volumeMounts": [{"mountPath": "/x", "readOnly": false, "subPath": ""}],
                "livenessProbe": {"initialDelaySeconds": 0}}],
                "volumes": [{"name": "cache", "emptyDir": {"sizeLimit": "1Gi"}}]}
        });
        let live = json!({
            "kind": "Secret", "data": {"password": "***"},
            "metadata": {"labels": {"app": "a", "kustomize.toolkit.fluxcd.io/name": "apps", "batch.kubernetes.io/job-name": "j"},
                "annotations": {"pv.kubernetes.io/bind-completed": "yes", "deprecated.daemonset.template.generation": "1"}},
            "spec": {"containers": [{"name": "c", "volumeMounts": [{"mountPath": "/x"}], "livenessProbe": {}}],
                "volumes": [{"name": "cache", "emptyDir": {"sizeLimit": "1024Mi"}}]}
        });
        assert_eq!(pointers(declared, live), Vec::<String>::new());
    }

    #[test]
    fn exact_diff_reports_additions_and_nulls_both_ways() {
        let before = json!({"tags": {"owner": "a"}, "description": null, "ingress": [1]});
        let after = json!({"tags": {"owner": "a", "temp": "x"}, "description": "hand", "ingress": [1, 2]});
        let got: Vec<String> = diff_exact(&before.into(), &after.into()).into_iter().map(|d| d.pointer).collect();
        assert_eq!(got, ["/tags/temp", "/description", "/ingress"]);
    }

    #[test]
    fn quantities_numbers_and_int_or_string() {
        assert!(same_quantity("1Gi", "1024Mi") && same_quantity("500m", "0.5") && same_quantity("1e3", "1k"));
        assert!(!same_quantity("1G", "1Gi"));
        let declared = json!({"spec": {"ports": [{"port": 80, "targetPort": "8080"}], "weight": 1}});
        let live = json!({"spec": {"ports": [{"port": 80, "targetPort": 8080}], "weight": 1.0}});
        assert!(pointers(declared, live).is_empty());
    }
}
