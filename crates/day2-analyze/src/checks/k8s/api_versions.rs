//! API versions and deprecated fields: objects written against API versions that current Kubernetes releases no
//! longer serve, PodSecurityPolicy, and deprecated annotations, node labels and fields that upgrades silently drop.

use day2_model::Attr;
use day2_model::k8s::{base_kind, pod_spec_pointer};

use super::{escape, find_named, patch, spec_of, str_at};
use crate::checks::prelude::*;

/// An API version that Kubernetes stopped serving.
struct Removed {
    /// `group/version` as written in `apiVersion`.
    api_version: &'static str,
    /// Kinds concerned (empty: every kind of that group version).
    kinds: &'static [&'static str],
    /// First Kubernetes minor release that no longer serves it.
    removed_in: &'static str,
    /// What to use instead (an apiVersion, or a sentence when there is no direct replacement).
    replacement: &'static str,
    /// True when the replacement has the same schema, so rewriting `apiVersion` is the whole migration.
    rename: bool,
}

/// Removed API versions, from the Kubernetes deprecated API migration guide.
const REMOVED: &[Removed] = &[
    Removed {
        api_version: "extensions/v1beta1",
        kinds: &["Deployment", "DaemonSet", "ReplicaSet"],
        removed_in: "1.16",
        replacement: "apps/v1",
        rename: false,
    },
    Removed {
        api_version: "extensions/v1beta1",
        kinds: &["NetworkPolicy"],
        removed_in: "1.16",
        replacement: "networking.k8s.io/v1",
        rename: false,
    },
    Removed {
        api_version: "extensions/v1beta1",
        kinds: &["PodSecurityPolicy"],
        removed_in: "1.16",
        replacement: "Pod Security Admission (PodSecurityPolicy itself was removed in 1.25)",
        rename: false,
    },
    Removed {
        api_version: "extensions/v1beta1",
        kinds: &["Ingress"],
        removed_in: "1.22",
        replacement: "networking.k8s.io/v1",
        rename: false,
    },
    Removed { api_version: "apps/v1beta1", kinds: &[], removed_in: "1.16", replacement: "apps/v1", rename: false },
    Removed { api_version: "apps/v1beta2", kinds: &[], removed_in: "1.16", replacement: "apps/v1", rename: false },
    Removed {
        api_version: "networking.k8s.io/v1beta1",
        kinds: &["Ingress"],
        removed_in: "1.22",
        replacement: "networking.k8s.io/v1",
        rename: false,
    },
    Removed {
        api_version: "networking.k8s.io/v1beta1",
        kinds: &["IngressClass"],
        removed_in: "1.22",
        replacement: "networking.k8s.io/v1",
        rename: true,
    },
    Removed {
        api_version: "rbac.authorization.k8s.io/v1beta1",
        kinds: &[],
        removed_in: "1.22",
        replacement: "rbac.authorization.k8s.io/v1",
        rename: true,
    },
    Removed {
        api_version: "admissionregistration.k8s.io/v1beta1",
        kinds: &["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"],
        removed_in: "1.22",
        replacement: "admissionregistration.k8s.io/v1",
        rename: false,
    },
    Removed {
        api_version: "apiextensions.k8s.io/v1beta1",
        kinds: &["CustomResourceDefinition"],
        removed_in: "1.22",
        replacement: "apiextensions.k8s.io/v1",
        rename: false,
    },
    Removed {
        api_version: "apiregistration.k8s.io/v1beta1",
        kinds: &["APIService"],
        removed_in: "1.22",
        replacement: "apiregistration.k8s.io/v1",
        rename: true,
    },
    Removed {
        api_version: "certificates.k8s.io/v1beta1",
        kinds: &["CertificateSigningRequest"],
        removed_in: "1.22",
        replacement: "certificates.k8s.io/v1",
        rename: false,
    },
    Removed {
        api_version: "coordination.k8s.io/v1beta1",
        kinds: &["Lease"],
        removed_in: "1.22",
        replacement: "coordination.k8s.io/v1",
        rename: true,
    },
    Removed {
        api_version: "scheduling.k8s.io/v1beta1",
        kinds: &["PriorityClass"],
        removed_in: "1.22",
        replacement: "scheduling.k8s.io/v1",
        rename: true,
    },
    Removed {
        api_version: "storage.k8s.io/v1beta1",
        kinds: &["CSIDriver", "CSINode", "StorageClass", "VolumeAttachment"],
        removed_in: "1.22",
        replacement: "storage.k8s.io/v1",
        rename: true,
    },
    Removed {
        api_version: "storage.k8s.io/v1beta1",
        kinds: &["CSIStorageCapacity"],
        removed_in: "1.27",
        replacement: "storage.k8s.io/v1",
        rename: true,
    },
    Removed {
        api_version: "batch/v1beta1",
        kinds: &["CronJob"],
        removed_in: "1.25",
        replacement: "batch/v1",
        rename: true,
    },
    Removed {
        api_version: "policy/v1beta1",
        kinds: &["PodDisruptionBudget"],
        removed_in: "1.25",
        replacement: "policy/v1 (an empty selector now selects every pod)",
        rename: false,
    },
    Removed {
        api_version: "policy/v1beta1",
        kinds: &["PodSecurityPolicy"],
        removed_in: "1.25",
        replacement: "Pod Security Admission namespace labels",
        rename: false,
    },
    Removed {
        api_version: "autoscaling/v2beta1",
        kinds: &["HorizontalPodAutoscaler"],
        removed_in: "1.25",
        replacement: "autoscaling/v2",
        rename: false,
    },
    Removed {
        api_version: "autoscaling/v2beta2",
        kinds: &["HorizontalPodAutoscaler"],
        removed_in: "1.26",
        replacement: "autoscaling/v2",
        rename: false,
    },
    Removed {
        api_version: "discovery.k8s.io/v1beta1",
        kinds: &["EndpointSlice"],
        removed_in: "1.25",
        replacement: "discovery.k8s.io/v1",
        rename: false,
    },
    Removed {
        api_version: "events.k8s.io/v1beta1",
        kinds: &["Event"],
        removed_in: "1.25",
        replacement: "events.k8s.io/v1",
        rename: false,
    },
    Removed {
        api_version: "node.k8s.io/v1beta1",
        kinds: &["RuntimeClass"],
        removed_in: "1.25",
        replacement: "node.k8s.io/v1",
        rename: true,
    },
    Removed {
        api_version: "flowcontrol.apiserver.k8s.io/v1beta1",
        kinds: &[],
        removed_in: "1.26",
        replacement: "flowcontrol.apiserver.k8s.io/v1",
        rename: false,
    },
    Removed {
        api_version: "flowcontrol.apiserver.k8s.io/v1beta2",
        kinds: &[],
        removed_in: "1.29",
        replacement: "flowcontrol.apiserver.k8s.io/v1",
        rename: false,
    },
    Removed {
        api_version: "flowcontrol.apiserver.k8s.io/v1beta3",
        kinds: &[],
        removed_in: "1.32",
        replacement: "flowcontrol.apiserver.k8s.io/v1",
        rename: false,
    },
];

/// Node labels and taints that Kubernetes renamed, with their replacement.
const DEPRECATED_NODE_LABELS: &[(&str, &str)] = &[
    ("beta.kubernetes.io/os", "kubernetes.io/os"),
    ("beta.kubernetes.io/arch", "kubernetes.io/arch"),
    ("failure-domain.beta.kubernetes.io/zone", "topology.kubernetes.io/zone"),
    ("failure-domain.beta.kubernetes.io/region", "topology.kubernetes.io/region"),
    ("beta.kubernetes.io/instance-type", "node.kubernetes.io/instance-type"),
    ("node-role.kubernetes.io/master", "node-role.kubernetes.io/control-plane"),
];

const UPGRADE_CONTROLS: &[(day2_model::Framework, &str)] =
    &[(Nsa, "upgrading"), (Soc2, "CC8.1"), (Nis2, "21(2)(e)"), (Dora, "Art.9(4)(f)")];

pub(super) static CHECKS: &[Check] = &[
    Check {
        id: "K8S-API-001",
        title: "Object uses an API version removed from Kubernetes",
        domain: Domain::Lifecycle,
        severity: Severity::High,
        target: Target::K8sKinds(&[]),
        rationale: "The API server rejects manifests whose apiVersion it no longer serves, so the next apply (or the cluster upgrade itself, for Helm releases and GitOps) fails; the object must be migrated before the cluster moves to that release.",
        remediation: "Rewrite the object for the replacement API version (`kubectl convert` helps), taking the notable schema changes of the migration guide into account.",
        controls: UPGRADE_CONTROLS,
        references: &["https://kubernetes.io/docs/reference/using-api/deprecation-guide/"],
        eval: |i| {
            let attrs = &i.resource.attrs;
            let api_version = str_at(attrs, "/apiVersion").unwrap_or(&i.resource.api_version);
            let kind = str_at(attrs, "/kind").unwrap_or_else(|| base_kind(&i.resource.kind));
            let Some(entry) = REMOVED
                .iter()
                .find(|e| e.api_version == api_version && (e.kinds.is_empty() || e.kinds.contains(&kind)))
            else {
                return Vec::new();
            };
            let mut hit = Hit::new(format!(
                "{kind} `{}` uses {api_version}, removed in Kubernetes {}; use {}",
                i.resource.name, entry.removed_in, entry.replacement
            ))
            .evidence("/apiVersion", json!(api_version), entry.rename.then(|| json!(entry.replacement)));
            if entry.rename {
                hit = hit.fix(
                    format!("Set apiVersion to {}", entry.replacement),
                    patch(json!({"op": "replace", "path": "/apiVersion", "value": entry.replacement})),
                );
            }
            vec![hit]
        },
    },
    Check {
        id: "K8S-API-002",
        title: "PodSecurityPolicy is used",
        domain: Domain::Lifecycle,
        severity: Severity::High,
        target: Target::K8sKinds(&["PodSecurityPolicy"]),
        rationale: "PodSecurityPolicy was removed in Kubernetes 1.25. Clusters that still rely on it lose all pod admission control on upgrade unless Pod Security Admission (or a policy engine) replaces it first.",
        remediation: "Label namespaces with `pod-security.kubernetes.io/enforce` (baseline or restricted) or move the rules to Kyverno/Gatekeeper, then delete the PodSecurityPolicy and its RBAC.",
        controls: &[(CisK8s, "5.2.1"), (Nsa, "pod-security"), (Soc2, "CC8.1"), (Nis2, "21(2)(e)")],
        references: &["https://kubernetes.io/docs/tasks/configure-pod-container/migrate-from-psp/"],
        eval: |i| {
            vec![
                Hit::new(format!(
                    "PodSecurityPolicy `{}` relies on an API removed in Kubernetes 1.25",
                    i.resource.name
                ))
                .evidence("/kind", json!("PodSecurityPolicy"), None),
            ]
        },
    },
    Check {
        id: "K8S-API-003",
        title: "Ingress uses the deprecated ingress.class annotation",
        domain: Domain::Lifecycle,
        severity: Severity::Low,
        target: Target::K8sKinds(&["Ingress"]),
        rationale: "The `kubernetes.io/ingress.class` annotation was deprecated in 1.18 in favour of `spec.ingressClassName`; newer controllers ignore it by default, so the Ingress may be served by no controller, or by the wrong one.",
        remediation: "Set `spec.ingressClassName` to the IngressClass name and remove the annotation.",
        controls: UPGRADE_CONTROLS,
        references: &["https://kubernetes.io/docs/concepts/services-networking/ingress/#deprecated-annotation"],
        eval: |i| {
            const KEY: &str = "kubernetes.io/ingress.class";
            let Some(class) = i.resource.annotation(KEY) else { return Vec::new() };
            let attrs = &i.resource.attrs;
            let annotation = format!("/metadata/annotations/{}", escape(KEY));
            let mut hit = Hit::new(format!(
                "Ingress `{}` selects its controller with the deprecated {KEY} annotation",
                i.resource.name
            ))
            .evidence(annotation.clone(), json!(class), None);
            let remove = json!({"op": "remove", "path": annotation});
            match str_at(attrs, "/spec/ingressClassName") {
                Some(c) if c == class => hit = hit.fix("Remove the redundant annotation", patch(remove)),
                None if find_named(i, "", "IngressClass", class).is_some() => {
                    hit = hit.fix(
                        format!("Move the class to spec.ingressClassName: {class}"),
                        json!([remove, {"op": "add", "path": "/spec/ingressClassName", "value": class}]),
                    );
                }
                _ => {}
            }
            vec![hit]
        },
    },
    Check {
        id: "K8S-API-004",
        title: "Pod uses deprecated seccomp or AppArmor annotations",
        domain: Domain::Lifecycle,
        severity: Severity::Medium,
        target: Target::Workloads,
        rationale: "The seccomp annotations were deprecated in 1.19 and their support is being removed since 1.25; the AppArmor annotations are deprecated since 1.30. A workload that relies on them can silently lose its sandbox after an upgrade.",
        remediation: "Use `securityContext.seccompProfile` and `securityContext.appArmorProfile` on the pod or container instead of the annotations.",
        controls: &[(Nsa, "pod-security/seccomp"), (Nsa, "upgrading"), (Soc2, "CC8.1"), (Nis2, "21(2)(e)")],
        references: &[
            "https://kubernetes.io/docs/tutorials/security/seccomp/",
            "https://kubernetes.io/docs/tutorials/security/apparmor/",
        ],
        eval: |i| {
            let Some(ptr) = template_annotations_pointer(&i.resource.kind) else { return Vec::new() };
            let Some(annotations) = i.resource.attrs.pointer(&ptr).and_then(Attr::as_object) else {
                return Vec::new();
            };
            annotations
                .iter()
                .filter(|(k, _)| {
                    *k == "seccomp.security.alpha.kubernetes.io/pod"
                        || k.starts_with("container.seccomp.security.alpha.kubernetes.io/")
                        || k.starts_with("container.apparmor.security.beta.kubernetes.io/")
                })
                .map(|(k, v)| {
                    Hit::new(format!(
                        "{} `{}` sets the deprecated annotation {k}",
                        base_kind(&i.resource.kind),
                        i.resource.name
                    ))
                    .subject(format!("annotation {k}"))
                    .evidence(format!("{ptr}/{}", escape(k)), v.clone(), None)
                })
                .collect()
        },
    },
    Check {
        id: "K8S-API-005",
        title: "Service uses the deprecated loadBalancerIP field",
        domain: Domain::Lifecycle,
        severity: Severity::Low,
        target: Target::K8sKinds(&["Service"]),
        rationale: "`spec.loadBalancerIP` is deprecated since 1.24: its behaviour is implementation-specific, it cannot express dual-stack, and providers are dropping support, at which point the address is silently not applied.",
        remediation: "Use the cloud provider's annotation for a static address (e.g. `service.beta.kubernetes.io/azure-load-balancer-ipv4`, `networking.gke.io/load-balancer-ip-addresses`) or a Gateway.",
        controls: UPGRADE_CONTROLS,
        references: &["https://kubernetes.io/docs/reference/kubernetes-api/service-resources/service-v1/"],
        eval: |i| {
            let Some(ip) =
                i.resource.attrs.pointer("/spec/loadBalancerIP").filter(|v| v.as_str().is_some_and(|s| !s.is_empty()))
            else {
                return Vec::new();
            };
            vec![Hit::new(format!("Service `{}` sets the deprecated spec.loadBalancerIP", i.resource.name)).evidence(
                "/spec/loadBalancerIP",
                ip.clone(),
                None,
            )]
        },
    },
    Check {
        id: "K8S-API-006",
        title: "Pod scheduling relies on deprecated node labels",
        domain: Domain::Lifecycle,
        severity: Severity::Medium,
        target: Target::Workloads,
        rationale: "The beta OS, architecture, zone and instance-type labels and the `node-role.kubernetes.io/master` label and taint were replaced years ago; nodes of current releases no longer carry them, so selectors stop matching (pods stay Pending) and spread or tolerations silently stop applying.",
        remediation: "Use the GA labels: kubernetes.io/os, kubernetes.io/arch, topology.kubernetes.io/zone and region, node.kubernetes.io/instance-type, node-role.kubernetes.io/control-plane.",
        controls: UPGRADE_CONTROLS,
        references: &["https://kubernetes.io/docs/reference/labels-annotations-taints/"],
        eval: |i| {
            let Some((ptr, spec)) = spec_of(i) else { return Vec::new() };
            let mut found: Vec<(String, &str, &str)> = Vec::new();
            for field in ["nodeSelector", "affinity", "tolerations", "topologySpreadConstraints"] {
                if let Some(v) = spec.get(field) {
                    collect_labels(v, &format!("{ptr}/{field}"), &mut found);
                }
            }
            let mut seen = Vec::new();
            found
                .into_iter()
                .filter(|(path, _, new)| !replacement_listed_as_alternative(spec, ptr, path, new))
                .filter(|(_, old, _)| {
                    if seen.contains(old) {
                        false
                    } else {
                        seen.push(*old);
                        true
                    }
                })
                .map(|(path, old, new)| {
                    Hit::new(format!(
                        "{} `{}` uses the deprecated node label {old}; use {new}",
                        base_kind(&i.resource.kind),
                        i.resource.name
                    ))
                    .subject(format!("label {old}"))
                    .evidence(path, json!(old), Some(json!(new)))
                })
                .collect()
        },
    },
    Check {
        id: "K8S-API-007",
        title: "Pod spec uses the deprecated serviceAccount field",
        domain: Domain::Lifecycle,
        severity: Severity::Low,
        target: Target::Workloads,
        rationale: "`serviceAccount` is a deprecated alias of `serviceAccountName`; tools and policies that read only the current field (admission policies, RBAC analysis) misjudge which identity the pod runs as.",
        remediation: "Rename `serviceAccount` to `serviceAccountName`.",
        controls: &[(Nsa, "upgrading"), (Soc2, "CC8.1")],
        references: &["https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/"],
        eval: |i| {
            let Some((ptr, spec)) = spec_of(i) else { return Vec::new() };
            let Some(old) = spec.get("serviceAccount").and_then(Attr::as_str) else { return Vec::new() };
            let mut hit = Hit::new(format!(
                "{} `{}` sets the deprecated serviceAccount field",
                base_kind(&i.resource.kind),
                i.resource.name
            ))
            .evidence(format!("{ptr}/serviceAccount"), json!(old), None);
            let remove = json!({"op": "remove", "path": format!("{ptr}/serviceAccount")});
            match spec.get("serviceAccountName").and_then(Attr::as_str) {
                Some(current) if current == old => hit = hit.fix("Remove the redundant serviceAccount field", patch(remove)),
                None => hit = hit.fix("Rename serviceAccount to serviceAccountName",
                    patch(json!({"op": "move", "from": format!("{ptr}/serviceAccount"), "path": format!("{ptr}/serviceAccountName")}))),
                Some(_) => {}
            }
            vec![hit]
        },
    },
];

/// Pointer to the pod template's annotations (`/metadata/annotations` for a bare Pod).
fn template_annotations_pointer(kind: &str) -> Option<String> {
    let spec = pod_spec_pointer(kind)?;
    if base_kind(kind) == "Pod" {
        return Some("/metadata/annotations".to_owned());
    }
    spec.strip_suffix("/spec").map(|p| format!("{p}/metadata/annotations"))
}

/// Pod spec lists whose entries are alternatives: one toleration matching a taint is enough, and node affinity terms
/// are OR'ed. (A nodeSelector's entries, one term's expressions and spread constraints must all hold instead.)
const ALTERNATIVES: &[&str] = &[
    "/tolerations",
    "/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms",
    "/affinity/nodeAffinity/preferredDuringSchedulingIgnoredDuringExecution",
];

/// Is the deprecated label found at `path` in an entry of an [`ALTERNATIVES`] list of which another entry uses its
/// replacement `new`? Then nodes of old and new releases alike match (a toleration of both
/// `node-role.kubernetes.io/master` and `node-role.kubernetes.io/control-plane`, for clusters of mixed versions).
fn replacement_listed_as_alternative(spec: &Attr, spec_ptr: &str, path: &str, new: &str) -> bool {
    ALTERNATIVES.iter().any(|&list| {
        let Some(index) = path
            .strip_prefix(spec_ptr)
            .and_then(|p| p.strip_prefix(list))
            .and_then(|p| p.strip_prefix('/'))
            .and_then(|p| p.split('/').next())
            .and_then(|n| n.parse::<usize>().ok())
        else {
            return false;
        };
        spec.pointer(list)
            .and_then(Attr::as_array)
            .into_iter()
            .flatten()
            .enumerate()
            .any(|(n, entry)| n != index && mentions(entry, new))
    })
}

/// Does `label` appear under `v` as a map key or a string value?
fn mentions(v: &Attr, label: &str) -> bool {
    match v {
        Attr::Object(map) => map.iter().any(|(k, child)| k == label || mentions(child, label)),
        Attr::Array(list) => list.iter().any(|child| mentions(child, label)),
        other => other.as_str() == Some(label),
    }
}

/// Finds deprecated node labels used as map keys, `key`/`topologyKey` values or label strings under `v`.
fn collect_labels(v: &Attr, path: &str, out: &mut Vec<(String, &'static str, &'static str)>) {
    let deprecated = |s: &str| DEPRECATED_NODE_LABELS.iter().find(|(old, _)| *old == s).copied();
    match v {
        Attr::Object(map) => {
            for (k, child) in map {
                let child_path = format!("{path}/{}", escape(k));
                if let Some((old, new)) = deprecated(k) {
                    out.push((child_path.clone(), old, new));
                }
                if let Some((old, new)) = child.as_str().and_then(deprecated) {
                    out.push((child_path.clone(), old, new));
                }
                collect_labels(child, &child_path, out);
            }
        }
        Attr::Array(list) => {
            for (n, child) in list.iter().enumerate() {
                collect_labels(child, &format!("{path}/{n}"), out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn removed_table_is_consistent() {
        for e in REMOVED {
            assert!(e.api_version.contains('/'), "{}", e.api_version);
            assert!(e.removed_in.starts_with("1."), "{}", e.api_version);
            assert!(!e.rename || e.replacement.contains('/') && !e.replacement.contains(' '), "{}", e.api_version);
        }
    }
}
