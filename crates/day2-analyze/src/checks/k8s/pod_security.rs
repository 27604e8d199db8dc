//! Pod security: privileges, host namespaces, host paths, users, capabilities, filesystems, seccomp, AppArmor.
//! Mapped to the Pod Security Standards (baseline/restricted), CIS Kubernetes 5.2.x and the NSA-CISA guide.

use super::{effective, patch, per_container, set_op, spec_of};
use crate::checks::prelude::*;
use day2_model::Attr;

/// Capabilities the PSS baseline profile allows to be added.
const BASELINE_CAPS: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

pub(super) static CHECKS: &[Check] = &[
    Check {
        id: "K8S-POD-001",
        title: "Container runs privileged",
        domain: Domain::Security,
        severity: Severity::Critical,
        target: Target::Workloads,
        rationale: "A privileged container has every capability and full access to the host's devices; a compromise of the container is a compromise of the node and everything scheduled on it.",
        remediation: "Remove `securityContext.privileged: true` (or set it to false). Grant only the specific capabilities the process needs.",
        controls: &[
            (CisK8s, "5.2.2"),
            (Nsa, "pod-security/non-privileged"),
            (PssBaseline, "privileged-containers"),
            (Soc2, "CC6.1"),
            (Nis2, "21(2)(i)"),
            (Dora, "Art.9(4)(c)"),
        ],
        references: &["https://kubernetes.io/docs/concepts/security/pod-security-standards/#baseline"],
        eval: |i| {
            per_container(i, |c, _| {
                let v = c.value.pointer("/securityContext/privileged")?;
                (v == &json!(true)).then(|| {
                let ptr = c.pointer();
                Hit::new(format!("container `{}` runs privileged", c.name()))
                    .evidence(format!("{ptr}/securityContext/privileged"), v.clone(), Some(json!(false)))
                    .fix("Set securityContext.privileged to false", patch(json!({"op": "replace", "path": format!("{ptr}/securityContext/privileged"), "value": false})))
            })
            })
        },
    },
    Check {
        id: "K8S-POD-002",
        title: "Pod shares the host PID namespace",
        domain: Domain::Security,
        severity: Severity::High,
        target: Target::Workloads,
        rationale: "With hostPID a container sees every process on the node and can signal or trace them, which leaks secrets from other workloads' environments and enables escapes.",
        remediation: "Remove `hostPID: true` from the pod spec.",
        controls: &[
            (CisK8s, "5.2.3"),
            (Nsa, "pod-security/host-namespaces"),
            (PssBaseline, "host-namespaces"),
            (Soc2, "CC6.1"),
            (Nis2, "21(2)(i)"),
            (Dora, "Art.9(4)(c)"),
        ],
        references: &["https://kubernetes.io/docs/concepts/security/pod-security-standards/#baseline"],
        eval: |i| host_namespace(i, "hostPID"),
    },
    Check {
        id: "K8S-POD-003",
        title: "Pod shares the host IPC namespace",
        domain: Domain::Security,
        severity: Severity::High,
        target: Target::Workloads,
        rationale: "With hostIPC a container can read and write the shared memory of every process on the node.",
        remediation: "Remove `hostIPC: true` from the pod spec.",
        controls: &[
            (CisK8s, "5.2.4"),
            (Nsa, "pod-security/host-namespaces"),
            (PssBaseline, "host-namespaces"),
            (Soc2, "CC6.1"),
            (Nis2, "21(2)(i)"),
        ],
        references: &["https://kubernetes.io/docs/concepts/security/pod-security-standards/#baseline"],
        eval: |i| host_namespace(i, "hostIPC"),
    },
    Check {
        id: "K8S-POD-004",
        title: "Pod shares the host network namespace",
        domain: Domain::Security,
        severity: Severity::High,
        target: Target::Workloads,
        rationale: "With hostNetwork a container binds to the node's interfaces, bypasses NetworkPolicies and can sniff or spoof node traffic and reach node-local services.",
        remediation: "Remove `hostNetwork: true`; expose the workload through a Service instead.",
        controls: &[
            (CisK8s, "5.2.5"),
            (Nsa, "pod-security/host-namespaces"),
            (PssBaseline, "host-namespaces"),
            (Soc2, "CC6.6"),
            (Nis2, "21(2)(i)"),
        ],
        references: &["https://kubernetes.io/docs/concepts/security/pod-security-standards/#baseline"],
        eval: |i| host_namespace(i, "hostNetwork"),
    },
    Check {
        id: "K8S-POD-005",
        title: "Pod mounts a hostPath volume",
        domain: Domain::Security,
        severity: Severity::High,
        target: Target::Workloads,
        rationale: "hostPath volumes expose the node's filesystem; writable mounts of paths like /, /etc, /var/run/docker.sock or /var/lib/kubelet give node takeover.",
        remediation: "Replace hostPath volumes with emptyDir, ConfigMap, Secret or PersistentVolumeClaim volumes.",
        controls: &[
            (CisK8s, "5.2.12"),
            (Nsa, "pod-security/immutable-filesystem"),
            (PssBaseline, "hostpath-volumes"),
            (Soc2, "CC6.1"),
            (Nis2, "21(2)(i)"),
        ],
        references: &["https://kubernetes.io/docs/concepts/storage/volumes/#hostpath"],
        eval: |i| {
            let Some((ptr, spec)) = spec_of(i) else { return Vec::new() };
            spec.get("volumes")
                .and_then(Attr::as_array)
                .into_iter()
                .flatten()
                .enumerate()
                .filter_map(|(n, v)| {
                    let path = v.pointer("/hostPath/path")?;
                    let name = v.get("name").and_then(Attr::as_str).unwrap_or("?");
                    Some(
                        Hit::new(format!("volume `{name}` mounts host path {path}"))
                            .subject(format!("volume {name}"))
                            .evidence(format!("{ptr}/volumes/{n}/hostPath/path"), path.clone(), None),
                    )
                })
                .collect()
        },
    },
    Check {
        id: "K8S-POD-006",
        title: "Container may run as root",
        domain: Domain::Security,
        severity: Severity::Medium,
        target: Target::Workloads,
        rationale: "Without runAsNonRoot the kubelet lets an image run as UID 0; a process escaping the container then does so as root on the node.",
        remediation: "Set `securityContext.runAsNonRoot: true` on the pod or container, and build images with a non-root USER.",
        controls: &[
            (CisK8s, "5.2.7"),
            (Nsa, "pod-security/non-root"),
            (PssRestricted, "running-as-non-root"),
            (Soc2, "CC6.1"),
            (Nis2, "21(2)(i)"),
        ],
        references: &["https://kubernetes.io/docs/concepts/security/pod-security-standards/#restricted"],
        eval: |i| {
            per_container(i, |c, spec| {
                let non_root = effective(c, spec, "runAsNonRoot") == Some(&Attr::Bool(true));
                let uid = effective(c, spec, "runAsUser").and_then(Attr::as_i64);
                if non_root || uid.is_some_and(|u| u > 0) {
                    return None;
                }
                let ptr = c.pointer();
                let hit = Hit::new(format!("container `{}` does not set runAsNonRoot", c.name())).evidence(
                    format!("{ptr}/securityContext/runAsNonRoot"),
                    effective(c, spec, "runAsNonRoot").cloned().unwrap_or_default(),
                    Some(json!(true)),
                );
                // With runAsUser 0 the kubelet would refuse to start the container: changing the user is not mechanical.
                if uid == Some(0) {
                    return Some(hit);
                }
                Some(hit.fix(
                    "Set securityContext.runAsNonRoot to true",
                    patch(set_op(&i.resource.attrs, &ptr, &["securityContext", "runAsNonRoot"], json!(true))),
                ))
            })
        },
    },
    Check {
        id: "K8S-POD-007",
        title: "Container runs as UID 0",
        domain: Domain::Security,
        severity: Severity::High,
        target: Target::Workloads,
        rationale: "runAsUser: 0 explicitly runs the process as root, defeating runAsNonRoot and most container isolation assumptions.",
        remediation: "Set `runAsUser` to a non-zero UID (e.g. 10001) that the image supports.",
        controls: &[
            (CisK8s, "5.2.7"),
            (Nsa, "pod-security/non-root"),
            (PssRestricted, "running-as-non-root-user"),
            (Soc2, "CC6.1"),
        ],
        references: &["https://kubernetes.io/docs/concepts/security/pod-security-standards/#restricted"],
        eval: |i| {
            per_container(i, |c, spec| {
                let v = effective(c, spec, "runAsUser")?;
                (v.as_i64() == Some(0)).then(|| {
                    Hit::new(format!("container `{}` runs as UID 0", c.name())).evidence(
                        format!("{}/securityContext/runAsUser", c.pointer()),
                        v.clone(),
                        None,
                    )
                })
            })
        },
    },
    Check {
        id: "K8S-POD-008",
        title: "Container allows privilege escalation",
        domain: Domain::Security,
        severity: Severity::Medium,
        target: Target::Workloads,
        rationale: "Unless allowPrivilegeEscalation is false, a process can gain more privileges than its parent through setuid binaries or file capabilities.",
        remediation: "Set `securityContext.allowPrivilegeEscalation: false` on every container.",
        controls: &[
            (CisK8s, "5.2.6"),
            (Nsa, "pod-security/privilege-escalation"),
            (PssRestricted, "privilege-escalation"),
            (Soc2, "CC6.1"),
            (Nis2, "21(2)(i)"),
        ],
        references: &["https://kubernetes.io/docs/tasks/configure-pod-container/security-context/"],
        eval: |i| {
            per_container(i, |c, _| {
                let v = c.value.pointer("/securityContext/allowPrivilegeEscalation");
                if v == Some(&Attr::Bool(false)) || privileged_or_sys_admin(c.value) {
                    return None;
                }
                let ptr = c.pointer();
                Some(
                    Hit::new(format!("container `{}` does not set allowPrivilegeEscalation: false", c.name()))
                        .evidence(
                            format!("{ptr}/securityContext/allowPrivilegeEscalation"),
                            v.cloned().unwrap_or_default(),
                            Some(json!(false)),
                        )
                        .fix(
                            "Set securityContext.allowPrivilegeEscalation to false",
                            patch(set_op(
                                &i.resource.attrs,
                                &ptr,
                                &["securityContext", "allowPrivilegeEscalation"],
                                json!(false),
                            )),
                        ),
                )
            })
        },
    },
    Check {
        id: "K8S-POD-009",
        title: "Container adds capabilities beyond the baseline set",
        domain: Domain::Security,
        severity: Severity::High,
        target: Target::Workloads,
        rationale: "Capabilities such as SYS_ADMIN, NET_ADMIN or SYS_PTRACE are close to root on the node; the PSS baseline forbids adding anything outside a small default set.",
        remediation: "Remove the extra entries from `securityContext.capabilities.add`; redesign the workload if it truly needs them.",
        controls: &[
            (CisK8s, "5.2.9"),
            (Nsa, "pod-security/capabilities"),
            (PssBaseline, "capabilities"),
            (Soc2, "CC6.1"),
            (Nis2, "21(2)(i)"),
        ],
        references: &["https://kubernetes.io/docs/concepts/security/pod-security-standards/#baseline"],
        eval: |i| {
            per_container(i, |c, _| {
                let added = c.value.pointer("/securityContext/capabilities/add")?.as_array()?;
                let bad: Vec<&str> = added
                    .iter()
                    .filter_map(Attr::as_str)
                    .filter(|cap| !BASELINE_CAPS.contains(&cap.trim_start_matches("CAP_")))
                    .collect();
                (!bad.is_empty()).then(|| {
                    Hit::new(format!("container `{}` adds {}", c.name(), bad.join(", "))).evidence(
                        format!("{}/securityContext/capabilities/add", c.pointer()),
                        json!(bad),
                        None,
                    )
                })
            })
        },
    },
    Check {
        id: "K8S-POD-010",
        title: "Container does not drop all capabilities",
        domain: Domain::Security,
        severity: Severity::Low,
        target: Target::Workloads,
        rationale: "Container runtimes grant a default capability set (CHOWN, SETUID, NET_RAW, …). The restricted profile requires dropping ALL and adding back only NET_BIND_SERVICE.",
        remediation: "Set `securityContext.capabilities.drop: [\"ALL\"]` and add back only what is needed.",
        controls: &[
            (CisK8s, "5.2.8"),
            (Nsa, "pod-security/capabilities"),
            (PssRestricted, "capabilities"),
            (Soc2, "CC6.1"),
        ],
        references: &["https://kubernetes.io/docs/concepts/security/pod-security-standards/#restricted"],
        eval: |i| {
            per_container(i, |c, _| {
                let drop = c.value.pointer("/securityContext/capabilities/drop");
                let drops_all = drop
                    .and_then(Attr::as_array)
                    .is_some_and(|d| d.iter().any(|x| x.as_str().is_some_and(|s| s.eq_ignore_ascii_case("ALL"))));
                if drops_all {
                    return None;
                }
                let ptr = c.pointer();
                Some(
                    Hit::new(format!("container `{}` does not drop ALL capabilities", c.name()))
                        .evidence(
                            format!("{ptr}/securityContext/capabilities/drop"),
                            drop.cloned().unwrap_or_default(),
                            Some(json!(["ALL"])),
                        )
                        .fix(
                            "Set securityContext.capabilities.drop to [ALL]",
                            patch(set_op(
                                &i.resource.attrs,
                                &ptr,
                                &["securityContext", "capabilities", "drop"],
                                json!(["ALL"]),
                            )),
                        ),
                )
            })
        },
    },
    Check {
        id: "K8S-POD-011",
        title: "Container root filesystem is writable",
        domain: Domain::Security,
        severity: Severity::Low,
        target: Target::Workloads,
        rationale: "A writable root filesystem lets an attacker drop tools and persist changes inside the container; an immutable one confines writes to declared volumes.",
        remediation: "Set `securityContext.readOnlyRootFilesystem: true` and mount emptyDir volumes where the process must write.",
        controls: &[(CisK8s, "5.7.3"), (Nsa, "pod-security/immutable-filesystem"), (Soc2, "CC6.8"), (Nis2, "21(2)(i)")],
        references: &["https://kubernetes.io/docs/tasks/configure-pod-container/security-context/"],
        eval: |i| {
            per_container(i, |c, _| {
                let v = c.value.pointer("/securityContext/readOnlyRootFilesystem");
                if v == Some(&Attr::Bool(true)) {
                    return None;
                }
                let ptr = c.pointer();
                Some(
                    Hit::new(format!("container `{}` has a writable root filesystem", c.name()))
                        .evidence(
                            format!("{ptr}/securityContext/readOnlyRootFilesystem"),
                            v.cloned().unwrap_or_default(),
                            Some(json!(true)),
                        )
                        .fix(
                            "Set securityContext.readOnlyRootFilesystem to true",
                            patch(set_op(
                                &i.resource.attrs,
                                &ptr,
                                &["securityContext", "readOnlyRootFilesystem"],
                                json!(true),
                            )),
                        ),
                )
            })
        },
    },
    Check {
        id: "K8S-POD-012",
        title: "No seccomp profile set",
        domain: Domain::Security,
        severity: Severity::Low,
        target: Target::Workloads,
        rationale: "Without a seccomp profile the container may use every system call, widening the kernel attack surface; the restricted profile requires RuntimeDefault or Localhost.",
        remediation: "Set `securityContext.seccompProfile.type: RuntimeDefault` on the pod.",
        controls: &[(CisK8s, "5.7.2"), (Nsa, "pod-security/seccomp"), (PssRestricted, "seccomp"), (Soc2, "CC6.8")],
        references: &["https://kubernetes.io/docs/tutorials/security/seccomp/"],
        eval: |i| {
            let Some((ptr, spec)) = spec_of(i) else { return Vec::new() };
            let pod_ok = matches!(
                spec.pointer("/securityContext/seccompProfile/type").and_then(Attr::as_str),
                Some("RuntimeDefault" | "Localhost")
            );
            per_container(i, |c, _| {
                let t = c.value.pointer("/securityContext/seccompProfile/type").and_then(Attr::as_str);
                match t {
                    Some("RuntimeDefault" | "Localhost") => None,
                    Some(other) => {
                        Some(Hit::new(format!("container `{}` uses seccomp profile {other}", c.name())).evidence(
                            format!("{}/securityContext/seccompProfile/type", c.pointer()),
                            json!(other),
                            Some(json!("RuntimeDefault")),
                        ))
                    }
                    None if pod_ok => None,
                    None => Some(
                        Hit::new(format!("container `{}` has no seccomp profile", c.name()))
                            .evidence(
                                format!("{ptr}/securityContext/seccompProfile"),
                                Value::Null,
                                Some(json!({"type": "RuntimeDefault"})),
                            )
                            .fix(
                                "Set the pod's seccompProfile to RuntimeDefault",
                                patch(set_op(
                                    &i.resource.attrs,
                                    ptr,
                                    &["securityContext", "seccompProfile"],
                                    json!({"type": "RuntimeDefault"}),
                                )),
                            ),
                    ),
                }
            })
        },
    },
];

/// Privileged containers and those adding CAP_SYS_ADMIN can always escalate: the API server rejects
/// `allowPrivilegeEscalation: false` for them, and K8S-POD-001/009 already report them.
fn privileged_or_sys_admin(container: &Attr) -> bool {
    container.pointer("/securityContext/privileged") == Some(&Attr::Bool(true))
        || container.pointer("/securityContext/capabilities/add").and_then(Attr::as_array).is_some_and(|caps| {
            caps.iter().filter_map(Attr::as_str).any(|c| c.trim_start_matches("CAP_") == "SYS_ADMIN")
        })
}

fn host_namespace(i: &Input<'_>, field: &str) -> Vec<Hit> {
    let Some((ptr, spec)) = spec_of(i) else { return Vec::new() };
    match spec.get(field) {
        Some(v) if v == &json!(true) => vec![
            Hit::new(format!("pod sets {field}: true"))
                .evidence(format!("{ptr}/{field}"), v.clone(), Some(json!(false)))
                .fix(format!("Remove {field}"), patch(json!({"op": "remove", "path": format!("{ptr}/{field}")}))),
        ],
        _ => Vec::new(),
    }
}
