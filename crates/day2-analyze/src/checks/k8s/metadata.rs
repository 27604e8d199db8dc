//! Metadata and governance: namespaces (default namespace, Pod Security Admission labels), required and recommended
//! labels, ownership, label syntax and selectors that do not match their own pod templates.

use day2_model::Attr;
use day2_model::k8s::{base_kind, pod_labels, selector_matches};

use super::network::SYSTEM_NAMESPACES;
use super::{escape, spec_of};
use crate::checks::prelude::*;

/// Objects every namespace gets from Kubernetes itself, found in live inventories of `default`.
const SYSTEM_OBJECTS: &[(&str, &str)] = &[
    ("Service", "kubernetes"),
    ("Endpoints", "kubernetes"),
    ("EndpointSlice", "kubernetes"),
    ("ServiceAccount", "default"),
    ("ConfigMap", "kube-root-ca.crt"),
];

const OWNERSHIP: &[(day2_model::Framework, &str)] = &[(Soc2, "CC6.1"), (Nis2, "21(2)(i)"), (Dora, "Art.8(1)")];

pub(super) static CHECKS: &[Check] = &[
    Check {
        id: "K8S-META-001",
        title: "Object lives in the default namespace",
        domain: Domain::Security,
        severity: Severity::Low,
        target: Target::K8sKinds(&[]),
        rationale: "The default namespace is where everything lands when nobody decided: it mixes unrelated workloads under one set of RBAC, quotas and network policies, and is often left without any of them.",
        remediation: "Create a namespace per application or team, set `metadata.namespace` explicitly, and keep `default` empty.",
        controls: &[(CisK8s, "5.7.4"), (Nsa, "namespaces"), (Soc2, "CC6.1"), (Nis2, "21(2)(i)")],
        references: &[
            "https://kubernetes.io/docs/concepts/overview/working-with-objects/namespaces/#initial-namespaces",
        ],
        eval: |i| {
            let r = i.resource;
            let kind = base_kind(&r.kind);
            // Only an explicit `namespace: default`: objects that name no namespace are usually applied with `-n`
            // (Kustomize bases) or are cluster-scoped custom resources.
            let explicit = r.attrs.pointer("/metadata/namespace").and_then(Attr::as_str) == Some("default");
            if !explicit || kind == "Event" || SYSTEM_OBJECTS.contains(&(kind, r.name.as_str())) {
                return Vec::new();
            }
            // The API server drops the namespace of a cluster-scoped object (charts template one onto every object):
            // an instance of a cluster-scoped custom resource is in no namespace at all.
            if super::cluster_scoped_custom_kind(i) {
                return Vec::new();
            }
            vec![Hit::new(format!("{kind} `{}` is in the default namespace", r.name)).evidence(
                "/metadata/namespace",
                r.attrs.pointer("/metadata/namespace").cloned().unwrap_or_default(),
                None,
            )]
        },
    },
    Check {
        id: "K8S-META-002",
        title: "Workload lacks required labels",
        domain: Domain::Lifecycle,
        severity: Severity::Low,
        target: Target::Workloads,
        rationale: "Labels are how dashboards, cost reports, alert routing and policies find a workload; a workload without the organisation's required labels is invisible to them and has to be traced by hand during incidents.",
        remediation: "Add the labels listed in `checks.params.required_labels` (default `app.kubernetes.io/name`) to `metadata.labels`.",
        controls: OWNERSHIP,
        references: &["https://kubernetes.io/docs/concepts/overview/working-with-objects/common-labels/"],
        eval: |i| {
            let missing: Vec<&str> = i
                .params
                .required_labels
                .iter()
                .filter(|k| i.resource.labels.get(k.as_str()).is_none_or(|v| v.is_empty()))
                .map(String::as_str)
                .collect();
            if missing.is_empty() {
                return Vec::new();
            }
            vec![
                Hit::new(format!(
                    "{} `{}` lacks required label(s) {}",
                    base_kind(&i.resource.kind),
                    i.resource.name,
                    missing.join(", ")
                ))
                .evidence(
                    "/metadata/labels",
                    i.resource.attrs.pointer("/metadata/labels").cloned().unwrap_or_default(),
                    None,
                ),
            ]
        },
    },
    Check {
        id: "K8S-META-003",
        title: "Workload has no owner",
        domain: Domain::Lifecycle,
        severity: Severity::Low,
        target: Target::Workloads,
        rationale: "Without a team or owner label (on the workload, its pods or its namespace) nobody is paged when it breaks, findings about it have no one to go to, and unused workloads are never cleaned up.",
        remediation: "Label the workload or its namespace with `team` (or `app.kubernetes.io/team`) and, optionally, `owner`.",
        controls: OWNERSHIP,
        references: &["https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/"],
        eval: |i| {
            let o = &i.resource.owner;
            if o.team.is_some() || o.owner.is_some() {
                return Vec::new();
            }
            vec![
                Hit::new(format!(
                    "{} `{}` has no team or owner label, nor does its namespace",
                    base_kind(&i.resource.kind),
                    i.resource.name
                ))
                .evidence(
                    "/metadata/labels",
                    i.resource.attrs.pointer("/metadata/labels").cloned().unwrap_or_default(),
                    None,
                ),
            ]
        },
    },
    Check {
        id: "K8S-META-004",
        title: "Namespace does not enforce a Pod Security level",
        domain: Domain::Security,
        severity: Severity::Medium,
        target: Target::K8sKinds(&["Namespace"]),
        rationale: "Without a `pod-security.kubernetes.io/enforce` label, Pod Security Admission lets any pod in: privileged containers, host namespaces and hostPath mounts are all accepted in the namespace.",
        remediation: "Label the namespace `pod-security.kubernetes.io/enforce: restricted` (or `baseline`), after checking with the `warn` and `audit` modes that existing workloads comply.",
        controls: &[(CisK8s, "5.2.1"), (Nsa, "pod-security"), (Soc2, "CC6.8"), (Nis2, "21(2)(i)")],
        references: &["https://kubernetes.io/docs/concepts/security/pod-security-admission/"],
        eval: |i| {
            let ns = i.resource.name.as_str();
            if SYSTEM_NAMESPACES.contains(&ns) || i.resource.labels.contains_key("pod-security.kubernetes.io/enforce") {
                return Vec::new();
            }
            vec![Hit::new(format!("namespace `{ns}` has no pod-security.kubernetes.io/enforce label")).evidence(
                "/metadata/labels",
                i.resource.attrs.pointer("/metadata/labels").cloned().unwrap_or_default(),
                None,
            )]
        },
    },
    Check {
        id: "K8S-META-005",
        title: "Workload selector does not match its pod template",
        domain: Domain::Reliability,
        severity: Severity::High,
        target: Target::K8sKinds(&["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"]),
        rationale: "The API server rejects a workload whose `spec.selector` does not match its own template labels (and apps/v1 requires a selector), so the rollout fails at apply time; if it were accepted, the controller would create pods forever without ever counting them.",
        remediation: "Make `spec.selector.matchLabels` a subset of `spec.template.metadata.labels`; note that the selector is immutable once the workload exists.",
        controls: &[(Soc2, "CC8.1"), (Nis2, "21(2)(c)")],
        references: &["https://kubernetes.io/docs/concepts/workloads/controllers/deployment/#selector"],
        eval: |i| {
            let r = i.resource;
            let kind = base_kind(&r.kind);
            match r.attrs.pointer("/spec/selector") {
                None if str_at_api(r) == "apps/v1" => vec![
                    Hit::new(format!("{kind} `{}` has no spec.selector, which apps/v1 requires", r.name)).evidence(
                        "/spec/selector",
                        Value::Null,
                        None,
                    ),
                ],
                Some(sel) if !selector_matches(sel, pod_labels(r)) => vec![
                    Hit::new(format!("{kind} `{}` selector does not match its pod template labels", r.name))
                        .evidence("/spec/selector", sel.clone(), None)
                        .evidence(
                            "/spec/template/metadata/labels",
                            r.attrs.pointer("/spec/template/metadata/labels").cloned().unwrap_or_default(),
                            None,
                        ),
                ],
                _ => Vec::new(),
            }
        },
    },
    Check {
        id: "K8S-META-006",
        title: "Workload has no version label",
        domain: Domain::Lifecycle,
        severity: Severity::Info,
        target: Target::Workloads,
        rationale: "The `app.kubernetes.io/version` label tells dashboards, incident responders and inventory reports which release is running without decoding image tags; change tracking and rollback decisions rely on it.",
        remediation: "Set `app.kubernetes.io/version` on the workload (and its pod template) from your release pipeline.",
        controls: &[(Soc2, "CC8.1"), (Dora, "Art.9(4)(e)")],
        references: &["https://kubernetes.io/docs/concepts/overview/working-with-objects/common-labels/#labels"],
        eval: |i| {
            const KEY: &str = "app.kubernetes.io/version";
            let on_pods = pod_labels(i.resource).is_some_and(|l| l.contains_key(KEY));
            if i.resource.labels.contains_key(KEY) || on_pods {
                return Vec::new();
            }
            vec![
                Hit::new(format!("{} `{}` has no {KEY} label", base_kind(&i.resource.kind), i.resource.name)).evidence(
                    format!("/metadata/labels/{}", escape(KEY)),
                    Value::Null,
                    None,
                ),
            ]
        },
    },
    Check {
        id: "K8S-META-007",
        title: "Namespace enforces the privileged Pod Security level",
        domain: Domain::Security,
        severity: Severity::Medium,
        target: Target::K8sKinds(&["Namespace"]),
        rationale: "`pod-security.kubernetes.io/enforce: privileged` explicitly switches Pod Security Admission off for the namespace, so any pod (privileged, host namespaces, hostPath) is admitted; it should be reserved for system namespaces.",
        remediation: "Enforce `baseline` or `restricted` and move the few workloads that truly need privileges into a dedicated, tightly controlled namespace.",
        controls: &[(CisK8s, "5.2.1"), (Nsa, "pod-security"), (Soc2, "CC6.8"), (Nis2, "21(2)(i)")],
        references: &["https://kubernetes.io/docs/concepts/security/pod-security-admission/#pod-security-levels"],
        eval: |i| {
            const KEY: &str = "pod-security.kubernetes.io/enforce";
            let ns = i.resource.name.as_str();
            let level = i.resource.labels.get(KEY).map(String::as_str);
            if SYSTEM_NAMESPACES.contains(&ns) || level != Some("privileged") {
                return Vec::new();
            }
            vec![Hit::new(format!("namespace `{ns}` enforces the privileged Pod Security level")).evidence(
                format!("/metadata/labels/{}", escape(KEY)),
                json!("privileged"),
                Some(json!("restricted")),
            )]
        },
    },
    Check {
        id: "K8S-META-008",
        title: "Label key or value is not valid",
        domain: Domain::Reliability,
        severity: Severity::Medium,
        target: Target::K8sKinds(&[]),
        rationale: "Label values are limited to 63 characters of letters, digits, `-`, `_` and `.` (starting and ending alphanumeric), and keys to an optional DNS prefix plus such a name; the API server rejects anything else, so the object cannot be applied.",
        remediation: "Shorten or rewrite the label (e.g. replace spaces and `/` in values with `-`); put free text in annotations instead.",
        controls: &[(Soc2, "CC8.1")],
        references: &[
            "https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#syntax-and-character-set",
        ],
        eval: |i| {
            let mut hits = Vec::new();
            let mut places = vec![("/metadata/labels".to_owned(), "label")];
            if let Some((ptr, _)) = spec_of(i)
                && base_kind(&i.resource.kind) != "Pod"
                && let Some(meta) = ptr.strip_suffix("/spec")
            {
                places.push((format!("{meta}/metadata/labels"), "pod template label"));
            }
            for (place, what) in places {
                let Some(labels) = i.resource.attrs.pointer(&place).and_then(Attr::as_object) else { continue };
                for (k, v) in labels {
                    let value = v.as_str().unwrap_or_default();
                    let problem = if !valid_label_key(k) {
                        format!("{what} key `{k}` is not a valid qualified name")
                    } else if !valid_label_value(value) {
                        format!("{what} `{k}` has invalid value `{value}`")
                    } else {
                        continue;
                    };
                    hits.push(
                        Hit::new(format!("{} `{}`: {problem}", base_kind(&i.resource.kind), i.resource.name))
                            .subject(format!("{what} {k}"))
                            .evidence(format!("{place}/{}", escape(k)), v.clone(), None),
                    );
                }
            }
            hits
        },
    },
];

/// The object's apiVersion as written (the attrs, so patched objects are judged on their new value).
fn str_at_api(r: &Resource) -> &str {
    r.attrs.get("apiVersion").and_then(Attr::as_str).unwrap_or(&r.api_version)
}

/// A label name or value segment: at most 63 characters, alphanumerics with `-`, `_`, `.` inside.
fn valid_name(s: &str, allow_empty: bool) -> bool {
    if s.is_empty() {
        return allow_empty;
    }
    let alnum = |c: char| c.is_ascii_alphanumeric();
    s.len() <= 63
        && s.starts_with(alnum)
        && s.ends_with(alnum)
        && s.chars().all(|c| alnum(c) || matches!(c, '-' | '_' | '.'))
}

/// Label values may be empty; otherwise they follow [`valid_name`].
fn valid_label_value(v: &str) -> bool {
    valid_name(v, true)
}

/// `[prefix/]name`, where the prefix is a DNS subdomain (lowercase, at most 253 characters).
fn valid_label_key(k: &str) -> bool {
    match k.split_once('/') {
        Some((prefix, name)) => {
            prefix.len() <= 253
                && !prefix.is_empty()
                && prefix.split('.').all(|part| {
                    !part.is_empty()
                        && part.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                        && part.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                        && part.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                })
                && valid_name(name, false)
        }
        None => valid_name(k, false),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn label_syntax_follows_kubernetes() {
        assert!(valid_label_key("app.kubernetes.io/name"));
        assert!(valid_label_key("team"));
        assert!(!valid_label_key("App.Example.com/name"));
        assert!(!valid_label_key("a/b/c"));
        assert!(!valid_label_key("-bad"));
        assert!(valid_label_value(""));
        assert!(valid_label_value("v1.2.3_rc-1"));
        assert!(!valid_label_value("Shop Team"));
        assert!(!valid_label_value(&"x".repeat(64)));
    }
}
