//! Resources: CPU and memory requests and limits, their ratios and units, unbounded scratch space, and the
//! namespace-level guard rails (LimitRange, ResourceQuota) that keep one workload from starving the others.

use super::{in_namespace, items, per_app_container, per_container, show, spec_of, str_at};
use crate::checks::prelude::*;
use day2_model::Attr;

/// Ratio of memory limit to memory request above which a container counts as heavily overcommitted.
const MAX_MEMORY_OVERCOMMIT: f64 = 4.0;

const RESOURCE_CONTROLS: &[(day2_model::Framework, &str)] =
    &[(Nsa, "resource-policies"), (Soc2, "A1.1"), (Nis2, "21(2)(c)"), (Dora, "Art.9(4)(c)")];

pub(super) static CHECKS: &[Check] = &[
    Check {
        id: "K8S-RES-001",
        title: "Container has no CPU request",
        domain: Domain::Reliability,
        severity: Severity::Medium,
        target: Target::Workloads,
        rationale: "The scheduler places pods by their requests. Without a CPU request the pod is BestEffort or Burstable with zero reserved CPU, lands on already busy nodes and is throttled first when the node is contended.",
        remediation: "Set `resources.requests.cpu` on every container to its typical usage (e.g. the p50 from metrics), or give the namespace a LimitRange with a `defaultRequest`.",
        controls: RESOURCE_CONTROLS,
        references: &["https://kubernetes.io/docs/concepts/configuration/manage-resources-containers/"],
        eval: |i| missing_resource(i, "requests", "cpu", "CPU request"),
    },
    Check {
        id: "K8S-RES-002",
        title: "Container has no memory request",
        domain: Domain::Reliability,
        severity: Severity::Medium,
        target: Target::Workloads,
        rationale: "Without a memory request the scheduler reserves no memory for the container, so nodes are overcommitted and under memory pressure the kubelet evicts these pods first.",
        remediation: "Set `resources.requests.memory` on every container to its steady-state working set, or give the namespace a LimitRange with a `defaultRequest`.",
        controls: RESOURCE_CONTROLS,
        references: &["https://kubernetes.io/docs/concepts/configuration/manage-resources-containers/"],
        eval: |i| missing_resource(i, "requests", "memory", "memory request"),
    },
    Check {
        id: "K8S-RES-003",
        title: "Container has no memory limit",
        domain: Domain::Reliability,
        severity: Severity::Medium,
        target: Target::Workloads,
        rationale: "A container without a memory limit can grow until the node runs out of memory; the kernel OOM killer then picks victims among every pod on the node, not just the leaking one.",
        remediation: "Set `resources.limits.memory` on every container (commonly equal to the request for predictable behaviour), or a LimitRange `default` for the namespace.",
        controls: RESOURCE_CONTROLS,
        references: &["https://kubernetes.io/docs/concepts/configuration/manage-resources-containers/"],
        eval: |i| missing_resource(i, "limits", "memory", "memory limit"),
    },
    Check {
        id: "K8S-RES-004",
        title: "Container has no CPU limit",
        domain: Domain::Reliability,
        severity: Severity::Low,
        target: Target::Workloads,
        rationale: "Without a CPU limit a runaway container can take every idle core on the node, which hides capacity problems until neighbours need their share; a limit or a namespace default keeps usage bounded.",
        remediation: "Set `resources.limits.cpu`, or a LimitRange `default` for the namespace. Latency-sensitive services may deliberately omit it: disable this check for them.",
        controls: RESOURCE_CONTROLS,
        references: &["https://kubernetes.io/docs/concepts/configuration/manage-resources-containers/"],
        eval: |i| missing_resource(i, "limits", "cpu", "CPU limit"),
    },
    Check {
        id: "K8S-RES-005",
        title: "Memory limit far above the memory request",
        domain: Domain::Reliability,
        severity: Severity::Low,
        target: Target::Workloads,
        rationale: "The scheduler only reserves the request. A limit more than four times the request lets pods grow into memory the node never reserved for them, so nodes overcommit and pods are OOM-killed or evicted under load.",
        remediation: "Raise the memory request towards real usage or lower the limit so that the limit is at most four times the request (equal values give the Guaranteed QoS class).",
        controls: RESOURCE_CONTROLS,
        references: &["https://kubernetes.io/docs/concepts/workloads/pods/pod-qos/"],
        eval: |i| {
            per_app_container(i, |c, _| {
                let request = c.value.pointer("/resources/requests/memory")?;
                let limit = c.value.pointer("/resources/limits/memory")?;
                let (r, l) = (quantity(request)?, quantity(limit)?);
                (r > 0.0 && l > r * MAX_MEMORY_OVERCOMMIT).then(|| {
                    Hit::new(format!(
                        "container `{}` has a memory limit {:.1}x its request ({} vs {})",
                        c.name(),
                        l / r,
                        show(limit),
                        show(request)
                    ))
                    .evidence(format!("{}/resources/limits/memory", c.pointer()), limit.clone(), None)
                    .evidence(
                        format!("{}/resources/requests/memory", c.pointer()),
                        request.clone(),
                        None,
                    )
                })
            })
        },
    },
    Check {
        id: "K8S-RES-006",
        title: "Resource request exceeds its limit",
        domain: Domain::Reliability,
        severity: Severity::High,
        target: Target::Workloads,
        rationale: "The API server rejects a container whose request is larger than its limit, so the workload cannot be created or rolled out until the manifest is corrected.",
        remediation: "Make every `resources.requests` value lower than or equal to the matching `resources.limits` value.",
        controls: &[(Nsa, "resource-policies"), (Soc2, "CC8.1"), (Nis2, "21(2)(c)")],
        references: &["https://kubernetes.io/docs/concepts/configuration/manage-resources-containers/"],
        eval: requests_over_limits,
    },
    Check {
        id: "K8S-RES-007",
        title: "emptyDir volume has no size limit",
        domain: Domain::Reliability,
        severity: Severity::Low,
        target: Target::Workloads,
        rationale: "An emptyDir without sizeLimit is bounded only by the node's disk (or memory, for medium: Memory); one pod filling it triggers disk-pressure evictions of unrelated pods on the node.",
        remediation: "Set `emptyDir.sizeLimit` to the scratch space the pod needs, and a matching `ephemeral-storage` limit on the containers.",
        controls: RESOURCE_CONTROLS,
        references: &["https://kubernetes.io/docs/concepts/storage/volumes/#emptydir"],
        eval: |i| {
            let Some((ptr, spec)) = spec_of(i) else { return Vec::new() };
            items(spec.get("volumes"))
                .enumerate()
                .filter_map(|(n, v)| {
                    let dir = v.get("emptyDir")?;
                    if dir.get("sizeLimit").is_some() {
                        return None;
                    }
                    let name = v.get("name").and_then(Attr::as_str).unwrap_or("?");
                    Some(
                        Hit::new(format!("emptyDir volume `{name}` has no sizeLimit"))
                            .subject(format!("volume {name}"))
                            .evidence(format!("{ptr}/volumes/{n}/emptyDir/sizeLimit"), Value::Null, None),
                    )
                })
                .collect()
        },
    },
    Check {
        id: "K8S-RES-008",
        title: "Namespace with workloads has no LimitRange",
        domain: Domain::Cost,
        severity: Severity::Low,
        target: Target::K8sKinds(&["Namespace"]),
        rationale: "A LimitRange gives containers that forget requests and limits sensible defaults and caps outliers; without one, a single manifest without resources can consume a node.",
        remediation: "Add a LimitRange to the namespace with `default` and `defaultRequest` values for cpu and memory of type Container.",
        controls: &[(CisK8s, "5.7.1"), (Nsa, "resource-policies"), (Soc2, "A1.1")],
        references: &["https://kubernetes.io/docs/concepts/policy/limit-range/"],
        eval: |i| namespace_without(i, "LimitRange"),
    },
    Check {
        id: "K8S-RES-009",
        title: "Namespace with workloads has no ResourceQuota",
        domain: Domain::Cost,
        severity: Severity::Low,
        target: Target::K8sKinds(&["Namespace"]),
        rationale: "A ResourceQuota caps what one namespace (one team or tenant) can request in total; without it a bad rollout or a runaway autoscaler can take the whole cluster's capacity and budget.",
        remediation: "Add a ResourceQuota to the namespace limiting `requests.cpu`, `requests.memory`, `limits.memory` and object counts.",
        controls: &[(CisK8s, "5.7.1"), (Nsa, "resource-policies"), (Soc2, "A1.1")],
        references: &["https://kubernetes.io/docs/concepts/policy/resource-quotas/"],
        eval: |i| namespace_without(i, "ResourceQuota"),
    },
    Check {
        id: "K8S-RES-010",
        title: "Resource quantity is missing its unit",
        domain: Domain::Reliability,
        severity: Severity::Medium,
        target: Target::Workloads,
        rationale: "Quantities without a suffix are bytes and cores: `memory: 512` is 512 bytes, which gets the container OOM-killed at start, and `cpu: 500` is 500 cores, which no node can schedule. Both are almost always a forgotten `Mi` or `m`.",
        remediation: "Add the unit: memory in `Mi`/`Gi` (e.g. `512Mi`), CPU in cores or millicores (e.g. `500m`).",
        controls: &[(Nsa, "resource-policies"), (Soc2, "CC8.1")],
        references: &["https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/quantity/"],
        eval: |i| {
            per_app_container(i, |c, _| {
                let mut problems = Vec::new();
                for (kind, label) in [("requests", "request"), ("limits", "limit")] {
                    if let Some(v) = c.value.pointer(&format!("/resources/{kind}/memory"))
                        && quantity(v).is_some_and(|b| b < 1024.0 * 1024.0)
                    {
                        problems.push((
                            format!("memory {label} `{}` is under 1Mi", show(v)),
                            format!("{kind}/memory"),
                            v,
                        ));
                    }
                    if let Some(v) = c.value.pointer(&format!("/resources/{kind}/cpu"))
                        && quantity(v).is_some_and(|cores| cores >= 100.0)
                    {
                        problems.push((
                            format!("CPU {label} `{}` is 100 cores or more", show(v)),
                            format!("{kind}/cpu"),
                            v,
                        ));
                    }
                }
                if problems.is_empty() {
                    return None;
                }
                let text: Vec<&str> = problems.iter().map(|p| p.0.as_str()).collect();
                let mut hit = Hit::new(format!("container `{}`: {}", c.name(), text.join("; ")));
                for (_, path, v) in &problems {
                    hit = hit.evidence(format!("{}/resources/{path}", c.pointer()), (*v).clone(), None);
                }
                Some(hit)
            })
        },
    },
];

/// Parses a Kubernetes quantity (`500m`, `1.5`, `128Mi`, `1G`, `2e3`, or a plain number) to cores or bytes.
pub(crate) fn quantity(v: &Attr) -> Option<f64> {
    const SUFFIXES: &[(&str, f64)] = &[
        ("Ki", 1024.0),
        ("Mi", 1_048_576.0),
        ("Gi", 1_073_741_824.0),
        ("Ti", 1_099_511_627_776.0),
        ("Pi", 1_125_899_906_842_624.0),
        ("Ei", 1_152_921_504_606_846_976.0),
        ("n", 1e-9),
        ("u", 1e-6),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("E", 1e18),
    ];
    let n = match v {
        Attr::Number(n) => n.as_f64()?,
        Attr::String(s) => {
            let s = s.trim();
            let (num, mul) =
                SUFFIXES.iter().find_map(|(suf, mul)| s.strip_suffix(suf).map(|n| (n, *mul))).unwrap_or((s, 1.0));
            num.parse::<f64>().ok()? * mul
        }
        _ => return None,
    };
    (n.is_finite() && n >= 0.0).then_some(n)
}

/// Does a LimitRange in the workload's namespace give containers a default for `resource` under one of `fields`?
pub(super) fn namespace_default(i: &Input<'_>, fields: &[&str], resource: &str) -> bool {
    in_namespace(i, &i.resource.namespace, "LimitRange").any(|lr| {
        items(lr.attrs.pointer("/spec/limits")).any(|l| {
            str_at(l, "/type") == Some("Container")
                && fields.iter().any(|f| l.get(*f).and_then(|d| d.get(resource)).is_some())
        })
    })
}

/// Containers without `resources.<kind>.<resource>`. A request also counts as set when the limit is (Kubernetes copies
/// the limit into a missing request) or when a LimitRange supplies a default.
fn missing_resource(i: &Input<'_>, kind: &str, resource: &str, label: &str) -> Vec<Hit> {
    let defaults: &[&str] = if kind == "requests" { &["defaultRequest", "default"] } else { &["default"] };
    if namespace_default(i, defaults, resource) {
        return Vec::new();
    }
    per_app_container(i, |c, _| {
        let set = |k: &str| c.value.pointer(&format!("/resources/{k}/{resource}")).is_some_and(|v| !v.is_null());
        if set(kind) || (kind == "requests" && set("limits")) {
            return None;
        }
        Some(Hit::new(format!("container `{}` has no {label}", c.name())).evidence(
            format!("{}/resources/{kind}/{resource}", c.pointer()),
            Value::Null,
            None,
        ))
    })
}

/// K8S-RES-006: requests above limits, per container.
fn requests_over_limits(i: &Input<'_>) -> Vec<Hit> {
    per_container(i, |c, _| {
        let over: Vec<&str> = ["cpu", "memory", "ephemeral-storage"]
            .into_iter()
            .filter(|r| {
                let q = |k: &str| c.value.pointer(&format!("/resources/{k}/{r}")).and_then(quantity);
                matches!((q("requests"), q("limits")), (Some(req), Some(lim)) if req > lim)
            })
            .collect();
        let first = over.first()?;
        let ptr = c.pointer();
        Some(
            Hit::new(format!("container `{}` requests more {} than its limit", c.name(), over.join(" and ")))
                .evidence(
                    format!("{ptr}/resources/requests/{first}"),
                    c.value.pointer(&format!("/resources/requests/{first}")).cloned().unwrap_or_default(),
                    None,
                )
                .evidence(
                    format!("{ptr}/resources/limits/{first}"),
                    c.value.pointer(&format!("/resources/limits/{first}")).cloned().unwrap_or_default(),
                    None,
                ),
        )
    })
}

/// RES-008/009: a Namespace that holds workloads but no object of `kind`.
fn namespace_without(i: &Input<'_>, kind: &str) -> Vec<Hit> {
    let ns = i.resource.name.as_str();
    let workloads = i
        .inventory
        .in_namespace(ns)
        .filter(|r| r.scope == i.resource.scope && day2_model::k8s::pod_spec(r).is_some())
        .count();
    if workloads == 0 || in_namespace(i, ns, kind).next().is_some() {
        return Vec::new();
    }
    vec![Hit::new(format!("namespace `{ns}` holds {workloads} workload(s) but no {kind}")).evidence(
        "/metadata/name",
        json!(ns),
        None,
    )]
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn quantities_parse_like_kubernetes() {
        assert_eq!(quantity(&json!("500m").into()), Some(0.5));
        assert_eq!(quantity(&json!("128Mi").into()), Some(134_217_728.0));
        assert_eq!(quantity(&json!("1G").into()), Some(1e9));
        assert_eq!(quantity(&json!(2).into()), Some(2.0));
        assert_eq!(quantity(&json!("2e3").into()), Some(2000.0));
        assert_eq!(quantity(&json!("lots").into()), None);
        assert_eq!(quantity(&json!("-1").into()), None);
    }
}
