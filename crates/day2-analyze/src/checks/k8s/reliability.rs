//! Reliability: health probes, replica counts, disruption budgets, autoscalers, rollout strategy, spreading across
//! failure domains, graceful termination and batch-job guard rails.

use day2_model::k8s::base_kind;
use day2_model::{Attr, RelationKind};

use super::resources::namespace_default;
use super::{is_production, items, patch, per_app_container, set_op, show, spec_of, str_at};
use crate::checks::prelude::*;

const AVAILABILITY: &[(day2_model::Framework, &str)] = &[(Soc2, "A1.2"), (Nis2, "21(2)(c)"), (Dora, "Art.11")];
const CAPACITY: &[(day2_model::Framework, &str)] = &[(Soc2, "A1.1"), (Nis2, "21(2)(c)"), (Dora, "Art.11")];

/// Kinds whose `spec.replicas` says how many pods run.
const SCALABLE: &[&str] = &["Deployment", "StatefulSet", "ReplicaSet", "ReplicationController"];

pub(super) static CHECKS: &[Check] = &[
    Check {
        id: "K8S-REL-001",
        title: "Container has no liveness probe",
        domain: Domain::Reliability,
        severity: Severity::Medium,
        target: Target::Workloads,
        rationale: "Without a liveness probe the kubelet only restarts a container when its process exits; a deadlocked or wedged process keeps its pod Running and keeps failing requests until someone notices.",
        remediation: "Add a `livenessProbe` (HTTP, TCP, gRPC or exec) that fails only when the process cannot recover by itself, with a generous `failureThreshold`.",
        controls: AVAILABILITY,
        references: &[
            "https://kubernetes.io/docs/tasks/configure-pod-container/configure-liveness-readiness-startup-probes/",
        ],
        eval: |i| missing_probe(i, "livenessProbe", "liveness"),
    },
    Check {
        id: "K8S-REL-002",
        title: "Container has no readiness probe",
        domain: Domain::Reliability,
        severity: Severity::Medium,
        target: Target::Workloads,
        rationale: "Without a readiness probe a pod receives Service traffic as soon as its containers start, before it can serve, and keeps receiving it when it is overloaded; rollouts then drop requests.",
        remediation: "Add a `readinessProbe` that checks the container can serve requests (e.g. an HTTP `/ready` endpoint).",
        controls: AVAILABILITY,
        references: &[
            "https://kubernetes.io/docs/tasks/configure-pod-container/configure-liveness-readiness-startup-probes/",
        ],
        eval: |i| missing_probe(i, "readinessProbe", "readiness"),
    },
    Check {
        id: "K8S-REL-003",
        title: "Liveness and readiness probes are identical",
        domain: Domain::Reliability,
        severity: Severity::Low,
        target: Target::Workloads,
        rationale: "When the liveness probe is the readiness probe, a pod that is merely busy is killed instead of taken out of rotation; under load this turns into restart storms across every replica at once.",
        remediation: "Make the liveness probe check only that the process is alive (a cheap endpoint, higher failureThreshold) and keep dependency checks in the readiness probe.",
        controls: AVAILABILITY,
        references: &["https://kubernetes.io/docs/concepts/configuration/liveness-readiness-startup-probes/"],
        eval: |i| {
            per_app_container(i, |c, _| {
                let live = c.value.get("livenessProbe")?;
                let ready = c.value.get("readinessProbe")?;
                (live == ready && !live.is_null()).then(|| {
                    Hit::new(format!("container `{}` uses the same probe for liveness and readiness", c.name()))
                        .evidence(format!("{}/livenessProbe", c.pointer()), live.clone(), None)
                })
            })
        },
    },
    Check {
        id: "K8S-REL-004",
        title: "Production workload runs a single replica",
        domain: Domain::Reliability,
        severity: Severity::Medium,
        target: Target::K8sKinds(&["Deployment", "StatefulSet"]),
        rationale: "With one replica every node drain, eviction, rollout or crash is an outage of the service; production workloads need at least two pods to survive routine operations.",
        remediation: "Run at least two replicas (`spec.replicas`, or the HorizontalPodAutoscaler's `minReplicas`) and make sure the application tolerates it.",
        controls: AVAILABILITY,
        references: &["https://kubernetes.io/docs/concepts/workloads/controllers/deployment/"],
        eval: |i| {
            // Autoscaled workloads are judged on the autoscaler's minReplicas (K8S-REL-010).
            if !is_production(i) || !autoscalers(i).is_empty() {
                return Vec::new();
            }
            let Some(n) = declared_replicas(i.resource) else { return Vec::new() };
            if n >= 2 || n == 0 {
                return Vec::new();
            }
            let mut hit =
                Hit::new(format!("production {} `{}` runs {n} replica", base_kind(&i.resource.kind), i.resource.name))
                    .evidence(
                        "/spec/replicas",
                        i.resource.attrs.pointer("/spec/replicas").cloned().unwrap_or_default(),
                        Some(json!(2)),
                    );
            if base_kind(&i.resource.kind) == "Deployment" {
                hit = hit
                    .fix("Set spec.replicas to 2", patch(set_op(&i.resource.attrs, "/spec", &["replicas"], json!(2))));
            }
            vec![hit]
        },
    },
    Check {
        id: "K8S-REL-005",
        title: "Replicated workload has no PodDisruptionBudget",
        domain: Domain::Reliability,
        severity: Severity::Medium,
        target: Target::K8sKinds(&["Deployment", "StatefulSet"]),
        rationale: "Without a PodDisruptionBudget a node drain or cluster upgrade may evict every replica at the same time; a budget makes voluntary disruptions wait until enough pods are ready elsewhere.",
        remediation: "Add a PodDisruptionBudget selecting the workload's pods with `maxUnavailable: 1` (or a `minAvailable` below the replica count).",
        controls: AVAILABILITY,
        references: &["https://kubernetes.io/docs/tasks/run-application/configure-pdb/"],
        eval: |i| {
            let Some(n) = minimum_replicas(i) else { return Vec::new() };
            let protected = i.inventory.incoming(&i.resource.id).any(|r| r.kind == RelationKind::Protects);
            if n < 2 || protected {
                return Vec::new();
            }
            vec![
                Hit::new(format!(
                    "{} `{}` runs {n} replicas but no PodDisruptionBudget selects its pods",
                    base_kind(&i.resource.kind),
                    i.resource.name
                ))
                .evidence(
                    "/spec/template/metadata/labels",
                    i.resource.attrs.pointer("/spec/template/metadata/labels").cloned().unwrap_or_default(),
                    None,
                ),
            ]
        },
    },
    Check {
        id: "K8S-REL-006",
        title: "PodDisruptionBudget allows no disruption",
        domain: Domain::Reliability,
        severity: Severity::Medium,
        target: Target::K8sKinds(&["PodDisruptionBudget"]),
        rationale: "A budget with `maxUnavailable: 0`, `minAvailable: 100%` or a `minAvailable` equal to the replica count can never be satisfied by an eviction, so node drains hang and cluster upgrades stall until someone deletes the budget.",
        remediation: "Allow at least one disruption: `maxUnavailable: 1`, or a `minAvailable` lower than the number of replicas.",
        controls: &[(Soc2, "A1.2"), (Nsa, "upgrading"), (Nis2, "21(2)(c)")],
        references: &["https://kubernetes.io/docs/concepts/workloads/pods/disruptions/"],
        eval: |i| {
            let attrs = &i.resource.attrs;
            if let Some(v) = attrs.pointer("/spec/maxUnavailable")
                && (v.as_i64() == Some(0) || v.as_str().is_some_and(|s| s.trim() == "0%" || s.trim() == "0"))
            {
                return vec![
                    Hit::new(format!("PodDisruptionBudget `{}` sets maxUnavailable to {}", i.resource.name, show(v)))
                        .evidence("/spec/maxUnavailable", v.clone(), Some(json!(1))),
                ];
            }
            let Some(v) = attrs.pointer("/spec/minAvailable") else { return Vec::new() };
            if v.as_str().is_some_and(|s| s.trim() == "100%") {
                return vec![
                    Hit::new(format!(
                        "PodDisruptionBudget `{}` requires 100% of pods to stay available",
                        i.resource.name
                    ))
                    .evidence("/spec/minAvailable", v.clone(), None),
                ];
            }
            let Some(min) = v.as_i64() else { return Vec::new() };
            let replicas: Vec<i64> = i
                .inventory
                .outgoing(&i.resource.id)
                .filter(|r| r.kind == RelationKind::Protects)
                .filter_map(|r| i.inventory.get(&r.to))
                .filter_map(|w| {
                    // An autoscaled workload runs at least its autoscaler's minReplicas, whatever spec.replicas says.
                    let hpa_min = i
                        .inventory
                        .incoming(&w.id)
                        .filter(|rel| rel.kind == RelationKind::Scales)
                        .filter_map(|rel| i.inventory.get(&rel.from))
                        .map(|h| h.attrs.pointer("/spec/minReplicas").and_then(Attr::as_i64).unwrap_or(1))
                        .min();
                    hpa_min.or_else(|| declared_replicas(w))
                })
                .collect();
            let total: i64 = replicas.iter().sum();
            (!replicas.is_empty() && min >= total).then(|| Hit::new(format!("PodDisruptionBudget `{}` requires {min} available pods but the workloads it protects run {total}", i.resource.name))
                .evidence("/spec/minAvailable", v.clone(), None)).into_iter().collect()
        },
    },
    Check {
        id: "K8S-REL-007",
        title: "PodDisruptionBudget selects no workload",
        domain: Domain::Reliability,
        severity: Severity::Low,
        target: Target::K8sKinds(&["PodDisruptionBudget"]),
        rationale: "A budget whose selector matches none of the declared workloads protects nothing: usually a label was renamed in the Deployment and the budget silently stopped applying.",
        remediation: "Make `spec.selector` match the pod template labels of the workload it is meant to protect, or delete the budget.",
        controls: AVAILABILITY,
        references: &["https://kubernetes.io/docs/tasks/run-application/configure-pdb/"],
        eval: |i| {
            if i.inventory.outgoing(&i.resource.id).any(|r| r.kind == RelationKind::Protects) {
                return Vec::new();
            }
            // As for Services (K8S-NET-008): pods an operator makes for a custom resource are in no manifest.
            let selector = i.resource.attrs.pointer("/spec/selector");
            let match_labels = selector
                .and_then(|s| s.get("matchLabels"))
                .and_then(Attr::as_object)
                .into_iter()
                .flatten()
                .map(|(k, v)| (k, v.as_str().unwrap_or_default()));
            let matched_values = items(selector.and_then(|s| s.get("matchExpressions")))
                .filter(|e| str_at(e, "/operator") == Some("In"))
                .filter_map(|e| Some((str_at(e, "/key")?, e.get("values"))))
                .flat_map(|(k, values)| items(values).filter_map(Attr::as_str).map(move |v| (k, v)));
            if super::network::selects_pods_made_by_controllers(i, match_labels.chain(matched_values)) {
                return Vec::new();
            }
            vec![
                Hit::new(format!(
                    "PodDisruptionBudget `{}` selects no workload in namespace `{}`",
                    i.resource.name, i.resource.namespace
                ))
                .evidence(
                    "/spec/selector",
                    i.resource.attrs.pointer("/spec/selector").cloned().unwrap_or_default(),
                    None,
                ),
            ]
        },
    },
    Check {
        id: "K8S-REL-008",
        title: "HorizontalPodAutoscaler targets a missing workload",
        domain: Domain::Reliability,
        severity: Severity::Medium,
        target: Target::K8sKinds(&["HorizontalPodAutoscaler"]),
        rationale: "An autoscaler whose scaleTargetRef names no existing workload does nothing; the service it was meant to protect runs at its static replica count during load spikes.",
        remediation: "Fix `spec.scaleTargetRef` (kind, name, apiVersion) to name the workload, or delete the autoscaler.",
        controls: CAPACITY,
        references: &["https://kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/"],
        eval: |i| {
            let attrs = &i.resource.attrs;
            let (Some(kind), Some(name)) =
                (str_at(attrs, "/spec/scaleTargetRef/kind"), str_at(attrs, "/spec/scaleTargetRef/name"))
            else {
                return Vec::new();
            };
            if !SCALABLE.contains(&kind) || i.inventory.outgoing(&i.resource.id).any(|r| r.kind == RelationKind::Scales)
            {
                return Vec::new();
            }
            vec![
                Hit::new(format!(
                    "HorizontalPodAutoscaler `{}` scales {kind} `{name}`, which does not exist in namespace `{}`",
                    i.resource.name, i.resource.namespace
                ))
                .evidence("/spec/scaleTargetRef/name", json!(name), None),
            ]
        },
    },
    Check {
        id: "K8S-REL-009",
        title: "HorizontalPodAutoscaler minReplicas above maxReplicas",
        domain: Domain::Reliability,
        severity: Severity::High,
        target: Target::K8sKinds(&["HorizontalPodAutoscaler"]),
        rationale: "The API server rejects an autoscaler whose minReplicas is greater than maxReplicas, so the object (and often the whole release that carries it) fails to apply.",
        remediation: "Set `minReplicas` lower than or equal to `maxReplicas`.",
        controls: CAPACITY,
        references: &[
            "https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/horizontal-pod-autoscaler-v2/",
        ],
        eval: |i| {
            let attrs = &i.resource.attrs;
            let min = attrs.pointer("/spec/minReplicas").and_then(Attr::as_i64).unwrap_or(1);
            let Some(max) = attrs.pointer("/spec/maxReplicas").and_then(Attr::as_i64) else { return Vec::new() };
            (min > max)
                .then(|| {
                    Hit::new(format!(
                        "HorizontalPodAutoscaler `{}` has minReplicas {min} above maxReplicas {max}",
                        i.resource.name
                    ))
                    .evidence("/spec/minReplicas", json!(min), None)
                    .evidence("/spec/maxReplicas", json!(max), None)
                })
                .into_iter()
                .collect()
        },
    },
    Check {
        id: "K8S-REL-010",
        title: "Production autoscaler may scale down to one replica",
        domain: Domain::Reliability,
        severity: Severity::Medium,
        target: Target::K8sKinds(&["HorizontalPodAutoscaler"]),
        rationale: "With minReplicas 1 (the default) a quiet period scales a production service to a single pod, and the next node drain or crash is an outage until the autoscaler reacts.",
        remediation: "Set `spec.minReplicas` to at least 2 for production autoscalers.",
        controls: CAPACITY,
        references: &["https://kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/"],
        eval: |i| {
            if !is_production(i) {
                return Vec::new();
            }
            let attrs = &i.resource.attrs;
            let min = attrs.pointer("/spec/minReplicas").and_then(Attr::as_i64).unwrap_or(1);
            if min >= 2 {
                return Vec::new();
            }
            let mut hit = Hit::new(format!(
                "production HorizontalPodAutoscaler `{}` allows scaling down to {min} replica",
                i.resource.name
            ))
            .evidence(
                "/spec/minReplicas",
                attrs.pointer("/spec/minReplicas").cloned().unwrap_or_default(),
                Some(json!(2)),
            );
            if attrs.pointer("/spec/maxReplicas").and_then(Attr::as_i64).is_some_and(|max| max >= 2) {
                hit = hit.fix("Set spec.minReplicas to 2", patch(set_op(attrs, "/spec", &["minReplicas"], json!(2))));
            }
            vec![hit]
        },
    },
    Check {
        id: "K8S-REL-011",
        title: "Autoscaler uses utilization but the target has no requests",
        domain: Domain::Reliability,
        severity: Severity::Medium,
        target: Target::K8sKinds(&["HorizontalPodAutoscaler"]),
        rationale: "Utilization is usage divided by request. If any container of the target lacks a request for the metric's resource, the autoscaler cannot compute it and stops scaling (FailedGetResourceMetric).",
        remediation: "Set `resources.requests` for the metric's resource (cpu or memory) on every container of the scaled workload, or scale on an AverageValue target.",
        controls: CAPACITY,
        references: &[
            "https://kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/#how-does-a-horizontalpodautoscaler-work",
        ],
        eval: |i| {
            let mut hits = Vec::new();
            for res in utilization_resources(&i.resource.attrs) {
                let targets = i
                    .inventory
                    .outgoing(&i.resource.id)
                    .filter(|r| r.kind == RelationKind::Scales)
                    .filter_map(|r| i.inventory.get(&r.to));
                for w in targets {
                    if namespace_default(i, &["defaultRequest", "default"], res) {
                        continue;
                    }
                    let missing: Vec<String> = day2_model::k8s::containers(w)
                        .into_iter()
                        .filter(|c| !c.is_init())
                        .filter(|c| {
                            ["requests", "limits"]
                                .iter()
                                .all(|k| c.value.pointer(&format!("/resources/{k}/{res}")).is_none())
                        })
                        .map(|c| format!("`{}`", c.name()))
                        .collect();
                    if !missing.is_empty() {
                        hits.push(Hit::new(format!("HorizontalPodAutoscaler `{}` scales {} `{}` on {res} utilization but {} {} {} no {res} request",
                                i.resource.name, base_kind(&w.kind), w.name,
                                if missing.len() == 1 { "container" } else { "containers" }, missing.join(", "),
                                if missing.len() == 1 { "has" } else { "have" }))
                            .subject(format!("{res} {}", w.name))
                            .evidence("/spec/scaleTargetRef", i.resource.attrs.pointer("/spec/scaleTargetRef").cloned().unwrap_or_default(), None));
                    }
                }
            }
            hits
        },
    },
    Check {
        id: "K8S-REL-012",
        title: "Production Deployment uses the Recreate strategy",
        domain: Domain::Reliability,
        severity: Severity::Low,
        target: Target::K8sKinds(&["Deployment"]),
        rationale: "Recreate stops every old pod before starting new ones, so each rollout of a production service is a planned outage, and a bad image leaves no old pod serving.",
        remediation: "Use `strategy.type: RollingUpdate` (with maxUnavailable 0 / maxSurge 1 for zero downtime) unless the pods truly cannot run side by side, e.g. a ReadWriteOnce volume.",
        controls: &[(Soc2, "CC8.1"), (Nis2, "21(2)(c)"), (Dora, "Art.11")],
        references: &["https://kubernetes.io/docs/concepts/workloads/controllers/deployment/#strategy"],
        eval: |i| {
            let t = str_at(&i.resource.attrs, "/spec/strategy/type");
            (is_production(i) && t == Some("Recreate"))
                .then(|| {
                    Hit::new(format!("production Deployment `{}` uses the Recreate strategy", i.resource.name))
                        .evidence("/spec/strategy/type", json!("Recreate"), Some(json!("RollingUpdate")))
                })
                .into_iter()
                .collect()
        },
    },
    Check {
        id: "K8S-REL-013",
        title: "Replicated production workload is not spread across nodes",
        domain: Domain::Reliability,
        severity: Severity::Low,
        target: Target::K8sKinds(&["Deployment", "StatefulSet"]),
        rationale: "Without pod anti-affinity or topology spread constraints the scheduler may put every replica on the same node or zone, so one node or zone failure takes the whole service down despite the replicas.",
        remediation: "Add `topologySpreadConstraints` over `kubernetes.io/hostname` and `topology.kubernetes.io/zone` (or a preferred podAntiAffinity) to the pod template.",
        controls: AVAILABILITY,
        references: &["https://kubernetes.io/docs/concepts/scheduling-eviction/topology-spread-constraints/"],
        eval: |i| {
            let Some((ptr, spec)) = spec_of(i) else { return Vec::new() };
            let Some(n) = minimum_replicas(i) else { return Vec::new() };
            let spread = items(spec.get("topologySpreadConstraints")).next().is_some()
                || spec.pointer("/affinity/podAntiAffinity").is_some();
            if !is_production(i) || n < 2 || spread {
                return Vec::new();
            }
            vec![
                Hit::new(format!(
                    "production {} `{}` runs {n} replicas without anti-affinity or topology spread constraints",
                    base_kind(&i.resource.kind),
                    i.resource.name
                ))
                .evidence(format!("{ptr}/topologySpreadConstraints"), Value::Null, None),
            ]
        },
    },
    Check {
        id: "K8S-REL-014",
        title: "Pod termination grace period is zero",
        domain: Domain::Reliability,
        severity: Severity::Medium,
        target: Target::Workloads,
        rationale: "terminationGracePeriodSeconds: 0 kills containers with SIGKILL immediately, so in-flight requests fail, transactions are cut and, for StatefulSets, two pods may briefly run with the same identity.",
        remediation: "Remove `terminationGracePeriodSeconds` (default 30s) or set it to the time the process needs to drain.",
        controls: AVAILABILITY,
        references: &["https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#pod-termination"],
        eval: |i| {
            let Some((ptr, spec)) = spec_of(i) else { return Vec::new() };
            let Some(v) = spec.get("terminationGracePeriodSeconds") else { return Vec::new() };
            (v.as_i64() == Some(0))
                .then(|| {
                    Hit::new("pod sets terminationGracePeriodSeconds: 0")
                        .evidence(format!("{ptr}/terminationGracePeriodSeconds"), v.clone(), Some(json!(30)))
                        .fix(
                            "Remove terminationGracePeriodSeconds (default 30s)",
                            patch(json!({"op": "remove", "path": format!("{ptr}/terminationGracePeriodSeconds")})),
                        )
                })
                .into_iter()
                .collect()
        },
    },
    Check {
        id: "K8S-REL-015",
        title: "CronJob allows concurrent runs",
        domain: Domain::Reliability,
        severity: Severity::Low,
        target: Target::K8sKinds(&["CronJob"]),
        rationale: "With concurrencyPolicy Allow (the default) a run that overruns its schedule overlaps the next one; slow jobs then pile up, double-process data and exhaust the namespace quota.",
        remediation: "Set `spec.concurrencyPolicy: Forbid` (skip a run while the previous one is active) or `Replace`, unless overlapping runs are safe by design.",
        controls: &[(Soc2, "A1.1"), (Nis2, "21(2)(c)")],
        references: &["https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/#concurrency-policy"],
        eval: |i| {
            let v = i.resource.attrs.pointer("/spec/concurrencyPolicy");
            let allow = v.and_then(Attr::as_str).is_none_or(|p| p == "Allow");
            allow
                .then(|| {
                    Hit::new(format!(
                        "CronJob `{}` allows concurrent runs (concurrencyPolicy {})",
                        i.resource.name,
                        v.and_then(Attr::as_str).unwrap_or("unset, Allow")
                    ))
                    .evidence(
                        "/spec/concurrencyPolicy",
                        v.cloned().unwrap_or_default(),
                        Some(json!("Forbid")),
                    )
                })
                .into_iter()
                .collect()
        },
    },
    Check {
        id: "K8S-REL-016",
        title: "CronJob has no startingDeadlineSeconds",
        domain: Domain::Reliability,
        severity: Severity::Low,
        target: Target::K8sKinds(&["CronJob"]),
        rationale: "Without startingDeadlineSeconds the controller counts every missed schedule since the last run; after more than 100 misses (controller downtime, a long Forbid overlap) it stops scheduling the CronJob altogether.",
        remediation: "Set `spec.startingDeadlineSeconds` (e.g. 300) so missed runs are skipped instead of counted.",
        controls: &[(Soc2, "A1.2"), (Nis2, "21(2)(c)")],
        references: &["https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/#schedule-delays"],
        eval: |i| {
            let v = i.resource.attrs.pointer("/spec/startingDeadlineSeconds");
            v.is_none_or(Attr::is_null)
                .then(|| {
                    Hit::new(format!("CronJob `{}` has no startingDeadlineSeconds", i.resource.name)).evidence(
                        "/spec/startingDeadlineSeconds",
                        Value::Null,
                        None,
                    )
                })
                .into_iter()
                .collect()
        },
    },
    Check {
        id: "K8S-REL-017",
        title: "Job has no activeDeadlineSeconds",
        domain: Domain::Reliability,
        severity: Severity::Low,
        target: Target::K8sKinds(&["Job", "CronJob"]),
        rationale: "A Job without activeDeadlineSeconds that hangs (a stuck connection, a lock) runs forever, holding its resources and, for CronJobs with Forbid, blocking every later run.",
        remediation: "Set `activeDeadlineSeconds` on the Job spec (for CronJobs, in `jobTemplate.spec`) to a bound well above the normal run time.",
        controls: &[(Soc2, "A1.1"), (Nis2, "21(2)(c)")],
        references: &["https://kubernetes.io/docs/concepts/workloads/controllers/job/#job-termination-and-cleanup"],
        eval: |i| {
            let ptr = if base_kind(&i.resource.kind) == "CronJob" { "/spec/jobTemplate/spec" } else { "/spec" };
            let v = i.resource.attrs.pointer(&format!("{ptr}/activeDeadlineSeconds"));
            v.is_none_or(Attr::is_null)
                .then(|| {
                    Hit::new(format!(
                        "{} `{}` has no activeDeadlineSeconds",
                        base_kind(&i.resource.kind),
                        i.resource.name
                    ))
                    .evidence(format!("{ptr}/activeDeadlineSeconds"), Value::Null, None)
                })
                .into_iter()
                .collect()
        },
    },
    Check {
        id: "K8S-REL-018",
        title: "Job is never cleaned up after it finishes",
        domain: Domain::Cost,
        severity: Severity::Low,
        target: Target::K8sKinds(&["Job"]),
        rationale: "A finished Job and its pods stay in the API until deleted; without ttlSecondsAfterFinished they accumulate, slow down list calls and keep their logs and volumes around.",
        remediation: "Set `spec.ttlSecondsAfterFinished` (e.g. 86400) so the TTL controller deletes the Job after it completes.",
        controls: &[(Soc2, "A1.1")],
        references: &["https://kubernetes.io/docs/concepts/workloads/controllers/ttlafterfinished/"],
        eval: |i| {
            let attrs = &i.resource.attrs;
            let owned = items(attrs.pointer("/metadata/ownerReferences")).next().is_some();
            // Helm deletes its hook Jobs itself (`helm.sh/hook-delete-policy`, `before-hook-creation` when none is
            // set), so at most one of each is ever left.
            let helm_hook = i.resource.annotation("helm.sh/hook").is_some();
            (!owned && !helm_hook && attrs.pointer("/spec/ttlSecondsAfterFinished").is_none_or(Attr::is_null))
                .then(|| {
                    Hit::new(format!("Job `{}` has no ttlSecondsAfterFinished", i.resource.name))
                        .evidence("/spec/ttlSecondsAfterFinished", Value::Null, None)
                        .fix(
                            "Delete the Job one day after it finishes",
                            patch(set_op(attrs, "/spec", &["ttlSecondsAfterFinished"], json!(86400))),
                        )
                })
                .into_iter()
                .collect()
        },
    },
    Check {
        id: "K8S-REL-019",
        title: "Bare Pod without a controller",
        domain: Domain::Reliability,
        severity: Severity::Medium,
        target: Target::K8sKinds(&["Pod"]),
        rationale: "A Pod created directly is not recreated when its node fails, is drained or the pod is evicted; the workload silently disappears until someone re-applies it.",
        remediation: "Run the pod through a controller: a Deployment (or StatefulSet) for services, a Job for one-off tasks, a DaemonSet for per-node agents.",
        controls: AVAILABILITY,
        references: &[
            "https://kubernetes.io/docs/concepts/configuration/overview/#naked-pods-vs-replicasets-deployments-and-jobs",
        ],
        eval: |i| {
            let owned = items(i.resource.attrs.pointer("/metadata/ownerReferences")).next().is_some();
            let mirror = i.resource.annotation("kubernetes.io/config.mirror").is_some();
            (!owned && !mirror)
                .then(|| {
                    Hit::new(format!("Pod `{}` is not managed by any controller", i.resource.name)).evidence(
                        "/metadata/ownerReferences",
                        Value::Null,
                        None,
                    )
                })
                .into_iter()
                .collect()
        },
    },
];

/// REL-001/002: app containers of long-running workloads without the probe (batch pods run to completion).
fn missing_probe(i: &Input<'_>, field: &str, label: &str) -> Vec<Hit> {
    if matches!(base_kind(&i.resource.kind), "Job" | "CronJob") {
        return Vec::new();
    }
    per_app_container(i, |c, _| {
        c.value.get(field).is_none_or(Attr::is_null).then(|| {
            Hit::new(format!("container `{}` has no {label} probe", c.name())).evidence(
                format!("{}/{field}", c.pointer()),
                Value::Null,
                None,
            )
        })
    })
}

/// `spec.replicas` of a scalable workload (absent means 1), None for other kinds.
fn declared_replicas(r: &Resource) -> Option<i64> {
    if !SCALABLE.contains(&base_kind(&r.kind)) {
        return None;
    }
    Some(r.attrs.pointer("/spec/replicas").map_or(Some(1), Attr::as_i64).unwrap_or(1))
}

/// Autoscalers that scale the input's workload.
fn autoscalers<'a>(i: &Input<'a>) -> Vec<&'a Resource> {
    let inventory = i.inventory;
    inventory
        .incoming(&i.resource.id)
        .filter(|r| r.kind == RelationKind::Scales)
        .filter_map(|r| inventory.get(&r.from))
        .collect()
}

/// The fewest pods the workload may run: the autoscalers' lowest minReplicas when one scales it, else `spec.replicas`.
fn minimum_replicas(i: &Input<'_>) -> Option<i64> {
    let declared = declared_replicas(i.resource)?;
    let hpa_min =
        autoscalers(i).iter().map(|h| h.attrs.pointer("/spec/minReplicas").and_then(Attr::as_i64).unwrap_or(1)).min();
    Some(hpa_min.unwrap_or(declared))
}

/// Resources (`cpu`, `memory`) an autoscaler scales on by utilization, which needs requests. Without metrics (or with
/// autoscaling/v1's `targetCPUUtilizationPercentage`) the autoscaler targets average CPU utilization.
fn utilization_resources(hpa: &Attr) -> Vec<&str> {
    let metrics: Vec<&Attr> = items(hpa.pointer("/spec/metrics")).collect();
    if hpa.pointer("/spec/targetCPUUtilizationPercentage").is_some() || metrics.is_empty() {
        return vec!["cpu"];
    }
    let mut out = Vec::new();
    for m in metrics {
        // ContainerResource metrics need a request on one named container only; they are not judged here.
        let Some(b) = m.get("resource").filter(|_| str_at(m, "/type") == Some("Resource")) else { continue };
        let by_utilization =
            str_at(b, "/target/type") == Some("Utilization") || b.get("targetAverageUtilization").is_some();
        if let Some(name) = b.get("name").and_then(Attr::as_str).filter(|_| by_utilization)
            && !out.contains(&name)
        {
            out.push(name);
        }
    }
    out
}
