//! RBAC and identities: over-broad Roles and ClusterRoles (wildcards, secrets, exec, escalation verbs, node proxy,
//! token minting, webhooks), risky bindings (cluster-admin, anonymous groups, default ServiceAccounts, dangling role
//! references) and ServiceAccount token exposure in workloads. Mapped to CIS Kubernetes 5.1.x.

use day2_model::Attr;
use day2_model::k8s::base_kind;

use super::{find_named, items, patch, set_op, spec_of, str_at};
use crate::checks::prelude::*;

/// ClusterRoles every cluster bootstraps; binding to them is normal, so references to them never dangle.
const BUILTIN_CLUSTER_ROLES: &[&str] = &["cluster-admin", "admin", "edit", "view"];

/// Roles the control plane creates in `kube-system` (besides the `system:` ones), which add-ons bind to: metrics-server
/// and every aggregated API server bind `extension-apiserver-authentication-reader`.
const BUILTIN_KUBE_SYSTEM_ROLES: &[&str] = &["extension-apiserver-authentication-reader"];

/// Groups that include unauthenticated users or every identity in the cluster.
const BROAD_GROUPS: &[&str] = &["system:anonymous", "system:unauthenticated", "system:authenticated"];

const READ: &[&str] = &["get", "list", "watch"];
const WRITE: &[&str] = &["create", "update", "patch", "delete", "deletecollection"];

pub(super) static CHECKS: &[Check] = &[
    Check {
        id: "K8S-RBAC-001",
        title: "Role grants wildcard verbs, resources or API groups",
        domain: Domain::Security,
        severity: Severity::High,
        target: Target::K8sKinds(&["Role", "ClusterRole"]),
        rationale: "A `*` grants everything that exists today and everything added later (new resources, CRDs, subresources such as pods/exec), so the role's real power is unknowable and grows with every install.",
        remediation: "Replace `*` with the explicit API groups, resources and verbs the subject needs.",
        controls: &[(CisK8s, "5.1.3"), (Nsa, "rbac"), (Soc2, "CC6.3"), (Nis2, "21(2)(i)"), (Dora, "Art.9(4)(c)")],
        references: &["https://kubernetes.io/docs/concepts/security/rbac-good-practices/#least-privilege"],
        eval: |i| {
            per_rule(i, |rule| {
                let fields: Vec<&str> =
                    ["apiGroups", "resources", "verbs"].into_iter().filter(|f| strs(rule, f).contains(&"*")).collect();
                (!fields.is_empty()).then(|| format!("uses `*` in {}", fields.join(", ")))
            })
        },
    },
    Check {
        id: "K8S-RBAC-002",
        title: "Binding grants cluster-admin",
        domain: Domain::Security,
        severity: Severity::High,
        target: Target::K8sKinds(&["RoleBinding", "ClusterRoleBinding"]),
        rationale: "cluster-admin can do anything to any object, including reading every Secret and granting itself more; a compromised subject of this binding is a compromised cluster (or namespace, for a RoleBinding).",
        remediation: "Bind a purpose-built role with only the permissions the subject needs; reserve cluster-admin for break-glass human access.",
        controls: &[(CisK8s, "5.1.1"), (Nsa, "rbac"), (Soc2, "CC6.3"), (Nis2, "21(2)(i)"), (Dora, "Art.9(4)(c)")],
        references: &["https://kubernetes.io/docs/reference/access-authn-authz/rbac/#user-facing-roles"],
        eval: |i| {
            let r = i.resource;
            let is_admin = str_at(&r.attrs, "/roleRef/kind") == Some("ClusterRole")
                && str_at(&r.attrs, "/roleRef/name") == Some("cluster-admin");
            if !is_admin || r.name.starts_with("system:") {
                return Vec::new();
            }
            let who: Vec<String> = items(r.attrs.get("subjects")).map(subject_name).collect();
            vec![
                Hit::new(format!(
                    "{} `{}` grants cluster-admin to {}",
                    base_kind(&r.kind),
                    r.name,
                    if who.is_empty() { "no subject".to_owned() } else { who.join(", ") }
                ))
                .evidence("/roleRef/name", json!("cluster-admin"), None),
            ]
        },
    },
    Check {
        id: "K8S-RBAC-003",
        title: "Role can read Secrets",
        domain: Domain::Security,
        severity: Severity::High,
        target: Target::K8sKinds(&["Role", "ClusterRole"]),
        rationale: "get, list or watch on secrets returns their decoded contents: database passwords, API keys, TLS keys and ServiceAccount tokens that grant further access. `list` alone exposes every Secret in scope.",
        remediation: "Remove secrets from the rule, or restrict it to `get` with `resourceNames` naming the specific Secrets the subject needs.",
        controls: &[(CisK8s, "5.1.2"), (Nsa, "rbac"), (Soc2, "CC6.1"), (Nis2, "21(2)(i)"), (Dora, "Art.9(4)(c)")],
        references: &["https://kubernetes.io/docs/concepts/security/rbac-good-practices/#listing-secrets"],
        eval: |i| {
            per_rule(i, |rule| {
                if items(rule.get("resourceNames")).next().is_some() && !verbs_match(rule, &["list", "watch"]) {
                    return None;
                }
                grants(rule, "", &["secrets"], READ).then(|| format!("can {} secrets", matched_verbs(rule, READ)))
            })
        },
    },
    Check {
        id: "K8S-RBAC-004",
        title: "Role can exec or attach into pods",
        domain: Domain::Security,
        severity: Severity::High,
        target: Target::K8sKinds(&["Role", "ClusterRole"]),
        rationale: "pods/exec and pods/attach give a shell in running containers: the holder reads mounted Secrets and tokens, and acts with the pod's identity and network access.",
        remediation: "Remove pods/exec and pods/attach from automation roles; grant them to humans only through just-in-time access.",
        controls: &[(Nsa, "rbac"), (Soc2, "CC6.3"), (Nis2, "21(2)(i)"), (Dora, "Art.9(4)(c)")],
        references: &["https://kubernetes.io/docs/concepts/security/rbac-good-practices/#exec-and-attach"],
        eval: |i| {
            per_rule(i, |rule| {
                let hits: Vec<&str> = ["pods/exec", "pods/attach"]
                    .into_iter()
                    .filter(|r| grants(rule, "", &[r], &["create", "get"]))
                    .collect();
                (!hits.is_empty()).then(|| format!("allows {}", hits.join(" and ")))
            })
        },
    },
    Check {
        id: "K8S-RBAC-005",
        title: "Role grants escalate, bind or impersonate",
        domain: Domain::Security,
        severity: Severity::High,
        target: Target::K8sKinds(&["Role", "ClusterRole"]),
        rationale: "escalate lets a subject edit roles beyond its own permissions, bind lets it bind any role, impersonate lets it act as any user, group or ServiceAccount: each is a direct path to cluster-admin.",
        remediation: "Remove the escalate, bind and impersonate verbs; if a controller needs bind, restrict it with `resourceNames` to the roles it may bind.",
        controls: &[(CisK8s, "5.1.8"), (Nsa, "rbac"), (Soc2, "CC6.3"), (Nis2, "21(2)(i)"), (Dora, "Art.9(4)(c)")],
        references: &["https://kubernetes.io/docs/concepts/security/rbac-good-practices/#escalate-verb"],
        eval: |i| {
            per_rule(i, |rule| {
                // A rule restricted with resourceNames is the remediation this check recommends.
                if !strs(rule, "resourceNames").is_empty() {
                    return None;
                }
                let verbs = strs(rule, "verbs");
                // `*` verbs include these where the rule covers roles, bindings or identities.
                let rbac = ["roles", "clusterroles", "rolebindings", "clusterrolebindings"];
                if verbs.contains(&"*")
                    && (grants(rule, "rbac.authorization.k8s.io", &rbac, &["*"])
                        || grants(rule, "", &["users", "groups", "serviceaccounts"], &["*"]))
                {
                    return Some("grants every verb (`*`), escalate, bind and impersonate among them".to_owned());
                }
                let bad: Vec<&str> =
                    ["escalate", "bind", "impersonate"].into_iter().filter(|v| verbs.contains(v)).collect();
                (!bad.is_empty()).then(|| format!("grants the {} verb(s)", bad.join(", ")))
            })
        },
    },
    Check {
        id: "K8S-RBAC-006",
        title: "Binding grants access to anonymous or all authenticated users",
        domain: Domain::Security,
        severity: Severity::High,
        target: Target::K8sKinds(&["RoleBinding", "ClusterRoleBinding"]),
        rationale: "system:anonymous and system:unauthenticated are everyone who can reach the API server; system:authenticated is every identity, including every ServiceAccount token of every pod. Anything bound to them is effectively public.",
        remediation: "Bind the role to specific users, groups or ServiceAccounts instead of the system-wide groups.",
        controls: &[(Nsa, "rbac"), (Nsa, "authentication"), (Soc2, "CC6.1"), (Nis2, "21(2)(i)"), (Dora, "Art.9(4)(c)")],
        references: &["https://kubernetes.io/docs/reference/access-authn-authz/rbac/#referring-to-subjects"],
        eval: |i| {
            let r = i.resource;
            if r.name.starts_with("system:") {
                return Vec::new();
            }
            let role = str_at(&r.attrs, "/roleRef/name").unwrap_or("?");
            items(r.attrs.get("subjects"))
                .enumerate()
                .filter_map(|(n, s)| {
                    let name = s.get("name").and_then(Attr::as_str)?;
                    BROAD_GROUPS.contains(&name).then(|| {
                        Hit::new(format!("{} `{}` grants `{role}` to {name}", base_kind(&r.kind), r.name))
                            .subject(format!("subject {name}"))
                            .evidence(format!("/subjects/{n}/name"), json!(name), None)
                    })
                })
                .collect()
        },
    },
    Check {
        id: "K8S-RBAC-007",
        title: "Workload runs as the default ServiceAccount",
        domain: Domain::Security,
        severity: Severity::Low,
        target: Target::Workloads,
        rationale: "Every pod that names no ServiceAccount shares the namespace's `default` one, so any permission granted to it for one workload is silently granted to all of them, and their API calls cannot be told apart in audit logs.",
        remediation: "Create a dedicated ServiceAccount per workload and set `serviceAccountName`; keep `default` without bindings.",
        controls: &[(CisK8s, "5.1.5"), (Nsa, "rbac"), (Soc2, "CC6.3"), (Nis2, "21(2)(i)")],
        references: &["https://kubernetes.io/docs/tasks/configure-pod-container/configure-service-account/"],
        eval: |i| {
            let Some((ptr, spec)) = spec_of(i) else { return Vec::new() };
            if service_account(spec) != "default" {
                return Vec::new();
            }
            vec![
                Hit::new(format!(
                    "{} `{}` runs as the default ServiceAccount",
                    base_kind(&i.resource.kind),
                    i.resource.name
                ))
                .evidence(
                    format!("{ptr}/serviceAccountName"),
                    spec.get("serviceAccountName").cloned().unwrap_or_default(),
                    None,
                ),
            ]
        },
    },
    Check {
        id: "K8S-RBAC-008",
        title: "ServiceAccount token is mounted into the pod",
        domain: Domain::Security,
        severity: Severity::Medium,
        target: Target::Workloads,
        rationale: "Unless automounting is disabled, every container gets an API token at /var/run/secrets/kubernetes.io/serviceaccount; most applications never call the API, and an attacker with code execution inherits the token's permissions.",
        remediation: "Set `automountServiceAccountToken: false` on the pod spec (or on its ServiceAccount); mount a projected token explicitly where API access is needed.",
        controls: &[(CisK8s, "5.1.6"), (Nsa, "rbac"), (Soc2, "CC6.1"), (Nis2, "21(2)(i)")],
        references: &[
            "https://kubernetes.io/docs/tasks/configure-pod-container/configure-service-account/#opt-out-of-api-credential-automounting",
        ],
        eval: |i| {
            let Some((ptr, spec)) = spec_of(i) else { return Vec::new() };
            let pod = spec.get("automountServiceAccountToken");
            if pod == Some(&Attr::Bool(false)) {
                return Vec::new();
            }
            let sa = service_account(spec);
            let sa_off = find_named(i, &i.resource.namespace, "ServiceAccount", sa)
                .and_then(|s| s.attrs.get("automountServiceAccountToken"))
                .is_some_and(|v| v == &json!(false));
            if pod.is_none() && sa_off {
                return Vec::new();
            }
            // A ServiceAccount that some (Cluster)RoleBinding grants permissions to is there to call the API:
            // operators and controllers need the token, and disabling it would break them.
            let sa_id = day2_model::ResourceId::new(
                day2_model::Provider::K8s,
                &i.resource.scope,
                "ServiceAccount",
                &i.resource.namespace,
                sa,
            );
            if i.inventory.incoming(&sa_id).any(|rel| rel.kind == day2_model::RelationKind::BindsSubject) {
                return Vec::new();
            }
            vec![
                Hit::new(format!(
                    "{} `{}` mounts the API token of ServiceAccount `{sa}`",
                    base_kind(&i.resource.kind),
                    i.resource.name
                ))
                .evidence(
                    format!("{ptr}/automountServiceAccountToken"),
                    pod.cloned().unwrap_or_default(),
                    Some(json!(false)),
                )
                .fix(
                    "Set automountServiceAccountToken to false on the pod",
                    patch(set_op(&i.resource.attrs, ptr, &["automountServiceAccountToken"], json!(false))),
                ),
            ]
        },
    },
    Check {
        id: "K8S-RBAC-009",
        title: "Binding references a role that does not exist",
        domain: Domain::Security,
        severity: Severity::Low,
        target: Target::K8sKinds(&["RoleBinding", "ClusterRoleBinding"]),
        rationale: "A binding to a missing role grants nothing today, but whoever later creates a role with that name (by mistake or on purpose) instantly hands its permissions to the binding's subjects.",
        remediation: "Delete the stale binding or fix `roleRef` to name the intended Role or ClusterRole.",
        controls: &[(Nsa, "rbac"), (Soc2, "CC6.3"), (Nis2, "21(2)(i)")],
        references: &[
            "https://kubernetes.io/docs/reference/access-authn-authz/rbac/#rolebinding-and-clusterrolebinding",
        ],
        eval: |i| {
            let r = i.resource;
            let (Some(kind), Some(name)) = (str_at(&r.attrs, "/roleRef/kind"), str_at(&r.attrs, "/roleRef/name"))
            else {
                return Vec::new();
            };
            let found = match kind {
                "Role" => {
                    (r.namespace == "kube-system"
                        && (BUILTIN_KUBE_SYSTEM_ROLES.contains(&name) || name.starts_with("system:")))
                        || find_named(i, &r.namespace, "Role", name).is_some()
                }
                "ClusterRole" => {
                    BUILTIN_CLUSTER_ROLES.contains(&name)
                        || name.starts_with("system:")
                        || find_named(i, "", "ClusterRole", name).is_some()
                }
                _ => true,
            };
            if found || r.name.starts_with("system:") {
                return Vec::new();
            }
            vec![
                Hit::new(format!(
                    "{} `{}` references {kind} `{name}`, which does not exist",
                    base_kind(&r.kind),
                    r.name
                ))
                .evidence("/roleRef/name", json!(name), None),
            ]
        },
    },
    Check {
        id: "K8S-RBAC-010",
        title: "Role can create pods or workloads",
        domain: Domain::Security,
        severity: Severity::Medium,
        target: Target::K8sKinds(&["Role", "ClusterRole"]),
        rationale: "Whoever can create pods (directly or through Deployments, Jobs and the like) can run any image with any ServiceAccount of the namespace and mount its Secrets, which makes the permission as strong as the most privileged identity there.",
        remediation: "Limit create on pods and workload kinds to deployment tooling (CI, GitOps controllers) and keep it out of application and human roles.",
        controls: &[(CisK8s, "5.1.4"), (Nsa, "rbac"), (Soc2, "CC6.3"), (Nis2, "21(2)(i)")],
        references: &["https://kubernetes.io/docs/concepts/security/rbac-good-practices/#workload-creation"],
        eval: |i| {
            per_rule(i, |rule| {
                let kinds: Vec<&str> = [
                    ("", "pods"),
                    ("", "replicationcontrollers"),
                    ("apps", "deployments"),
                    ("apps", "statefulsets"),
                    ("apps", "daemonsets"),
                    ("apps", "replicasets"),
                    ("batch", "jobs"),
                    ("batch", "cronjobs"),
                ]
                .into_iter()
                .filter(|(g, r)| grants(rule, g, &[r], &["create"]))
                .map(|(_, r)| r)
                .collect();
                (!kinds.is_empty()).then(|| format!("can create {}", kinds.join(", ")))
            })
        },
    },
    Check {
        id: "K8S-RBAC-011",
        title: "Binding grants permissions to a default ServiceAccount",
        domain: Domain::Security,
        severity: Severity::Medium,
        target: Target::K8sKinds(&["RoleBinding", "ClusterRoleBinding"]),
        rationale: "The `default` ServiceAccount is used by every pod in its namespace that names no other; permissions bound to it are given to all of them, including pods added later by anyone.",
        remediation: "Create a dedicated ServiceAccount for the workload that needs the permissions and bind the role to it instead.",
        controls: &[(CisK8s, "5.1.5"), (Nsa, "rbac"), (Soc2, "CC6.3"), (Nis2, "21(2)(i)")],
        references: &["https://kubernetes.io/docs/concepts/security/service-accounts/#default-service-accounts"],
        eval: |i| {
            let r = i.resource;
            if r.name.starts_with("system:") {
                return Vec::new();
            }
            items(r.attrs.get("subjects"))
                .enumerate()
                .filter(|(_, s)| str_at(s, "/kind") == Some("ServiceAccount") && str_at(s, "/name") == Some("default"))
                .map(|(n, s)| {
                    let ns = str_at(s, "/namespace").unwrap_or(&r.namespace);
                    Hit::new(format!(
                        "{} `{}` grants `{}` to the default ServiceAccount of namespace `{ns}`",
                        base_kind(&r.kind),
                        r.name,
                        str_at(&r.attrs, "/roleRef/name").unwrap_or("?")
                    ))
                    .subject(format!("subject {ns}/default"))
                    .evidence(format!("/subjects/{n}"), s.clone(), None)
                })
                .collect()
        },
    },
    Check {
        id: "K8S-RBAC-012",
        title: "Default ServiceAccount automounts its token",
        domain: Domain::Security,
        severity: Severity::Low,
        target: Target::K8sKinds(&["ServiceAccount"]),
        rationale: "Every pod that does not name a ServiceAccount gets the `default` one's token mounted; disabling automount on it means pods only get a token when they ask for one.",
        remediation: "Set `automountServiceAccountToken: false` on the namespace's `default` ServiceAccount.",
        controls: &[(CisK8s, "5.1.5"), (Nsa, "rbac"), (Soc2, "CC6.1")],
        references: &[
            "https://kubernetes.io/docs/tasks/configure-pod-container/configure-service-account/#opt-out-of-api-credential-automounting",
        ],
        eval: |i| {
            let r = i.resource;
            let v = r.attrs.get("automountServiceAccountToken");
            if r.name != "default" || v == Some(&Attr::Bool(false)) {
                return Vec::new();
            }
            vec![
                Hit::new(format!("default ServiceAccount of namespace `{}` automounts its token", r.namespace))
                    .evidence("/automountServiceAccountToken", v.cloned().unwrap_or_default(), Some(json!(false)))
                    .fix(
                        "Set automountServiceAccountToken to false",
                        patch(set_op(&r.attrs, "", &["automountServiceAccountToken"], json!(false))),
                    ),
            ]
        },
    },
    Check {
        id: "K8S-RBAC-013",
        title: "Role grants access to nodes/proxy",
        domain: Domain::Security,
        severity: Severity::High,
        target: Target::K8sKinds(&["Role", "ClusterRole"]),
        rationale: "nodes/proxy reaches the kubelet API through the API server: the holder can run commands in any container on any node, bypassing audit logging and admission control.",
        remediation: "Remove nodes/proxy; monitoring agents can read metrics from `nodes/metrics` and `nodes/stats` instead.",
        controls: &[(CisK8s, "5.1.10"), (Nsa, "rbac"), (Soc2, "CC6.3"), (Nis2, "21(2)(i)")],
        references: &[
            "https://kubernetes.io/docs/concepts/security/rbac-good-practices/#access-to-proxy-subresource-of-nodes",
        ],
        eval: |i| {
            per_rule(i, |rule| {
                grants(rule, "", &["nodes/proxy"], &["get", "create", "update", "patch"])
                    .then(|| "grants nodes/proxy".to_owned())
            })
        },
    },
    Check {
        id: "K8S-RBAC-014",
        title: "Role can mint ServiceAccount tokens",
        domain: Domain::Security,
        severity: Severity::High,
        target: Target::K8sKinds(&["Role", "ClusterRole"]),
        rationale: "create on serviceaccounts/token issues tokens for any ServiceAccount in scope, so the holder can act as the most privileged ServiceAccount there, with tokens that outlive the holder's own access.",
        remediation: "Remove create on serviceaccounts/token, or restrict it with `resourceNames` to the ServiceAccounts the subject must impersonate.",
        controls: &[(CisK8s, "5.1.13"), (Nsa, "rbac"), (Soc2, "CC6.3"), (Nis2, "21(2)(i)")],
        references: &["https://kubernetes.io/docs/concepts/security/rbac-good-practices/#token-request"],
        eval: |i| {
            per_rule(i, |rule| {
                (items(rule.get("resourceNames")).next().is_none()
                    && grants(rule, "", &["serviceaccounts/token"], &["create"]))
                .then(|| "can create tokens for any ServiceAccount".to_owned())
            })
        },
    },
    Check {
        id: "K8S-RBAC-015",
        title: "Role can modify admission webhooks",
        domain: Domain::Security,
        severity: Severity::High,
        target: Target::K8sKinds(&["ClusterRole"]),
        rationale: "Write access to mutating or validating webhook configurations lets the holder send every API request to a server it controls, reading Secrets on the way and rewriting or silently admitting any object.",
        remediation: "Restrict write verbs on mutatingwebhookconfigurations and validatingwebhookconfigurations to the controllers that own them, with `resourceNames`.",
        controls: &[(CisK8s, "5.1.12"), (Nsa, "rbac"), (Soc2, "CC6.3"), (Nis2, "21(2)(i)")],
        references: &["https://kubernetes.io/docs/concepts/security/rbac-good-practices/#control-admission-webhooks"],
        eval: |i| {
            per_rule(i, |rule| {
                if items(rule.get("resourceNames")).next().is_some() {
                    return None;
                }
                let kinds: Vec<&str> = ["mutatingwebhookconfigurations", "validatingwebhookconfigurations"]
                    .into_iter()
                    .filter(|r| grants(rule, "admissionregistration.k8s.io", &[r], WRITE))
                    .collect();
                (!kinds.is_empty()).then(|| format!("can modify {}", kinds.join(" and ")))
            })
        },
    },
    Check {
        id: "K8S-RBAC-016",
        title: "Role can create PersistentVolumes",
        domain: Domain::Security,
        severity: Severity::Medium,
        target: Target::K8sKinds(&["ClusterRole"]),
        rationale: "Creating a PersistentVolume lets the holder define a hostPath volume and bind it to their own claim, mounting any directory of a node (kubelet credentials, container runtime socket) into a pod.",
        remediation: "Leave PersistentVolume creation to storage provisioners; users should create PersistentVolumeClaims against a StorageClass.",
        controls: &[(CisK8s, "5.1.9"), (Nsa, "rbac"), (Soc2, "CC6.3")],
        references: &["https://kubernetes.io/docs/concepts/security/rbac-good-practices/#persistent-volume-creation"],
        eval: |i| {
            per_rule(i, |rule| {
                grants(rule, "", &["persistentvolumes"], &["create"]).then(|| "can create persistentvolumes".to_owned())
            })
        },
    },
];

/// Roles the cluster bootstraps or fills in itself (aggregated ClusterRoles): not something a manifest author fixes.
fn is_builtin_role(r: &Resource) -> bool {
    r.name.starts_with("system:")
        || r.attrs.get("aggregationRule").is_some()
        || (base_kind(&r.kind) == "ClusterRole" && BUILTIN_CLUSTER_ROLES.contains(&r.name.as_str()))
}

/// Runs `f` on each rule of a Role/ClusterRole; `f` describes the problem ("can get secrets") or returns None.
fn per_rule(i: &Input<'_>, f: impl Fn(&Attr) -> Option<String>) -> Vec<Hit> {
    let r = i.resource;
    if is_builtin_role(r) {
        return Vec::new();
    }
    items(r.attrs.get("rules"))
        .enumerate()
        .filter_map(|(n, rule)| {
            let what = f(rule)?;
            Some(
                Hit::new(format!("{} `{}` rule {n} {what}", base_kind(&r.kind), r.name))
                    .subject(format!("rule {n}"))
                    .evidence(format!("/rules/{n}"), rule.clone(), None),
            )
        })
        .collect()
}

/// The strings of a rule's list field (`verbs`, `resources`, `apiGroups`).
fn strs<'a>(rule: &'a Attr, key: &str) -> Vec<&'a str> {
    items(rule.get(key)).filter_map(Attr::as_str).collect()
}

/// Does the rule grant one of `verbs` (or `*`) on one of `resources` in API `group` (or `*`)? Resources match by name,
/// by `*` (every resource: a wildcard role grants what every specific check looks for, besides K8S-RBAC-001's own
/// finding) and by subresource wildcards (`pods/*`, `*/scale`).
fn grants(rule: &Attr, group: &str, resources: &[&str], verbs: &[&str]) -> bool {
    let groups = strs(rule, "apiGroups");
    let granted = strs(rule, "resources");
    (groups.contains(&group) || groups.contains(&"*"))
        && resources.iter().any(|want| {
            granted.iter().any(|g| {
                // `*` is every resource, `*/scale` a subresource of every resource, `pods/*` every subresource.
                *g == "*"
                    || g == want
                    || g.strip_prefix('*').is_some_and(|sub| sub.starts_with('/') && want.ends_with(sub))
                    || g.strip_suffix('*').is_some_and(|p| p.ends_with('/') && want.starts_with(p))
            })
        })
        && verbs_match(rule, verbs)
}

/// Does the rule grant one of `verbs` (or `*`)?
fn verbs_match(rule: &Attr, verbs: &[&str]) -> bool {
    let granted = strs(rule, "verbs");
    granted.contains(&"*") || verbs.iter().any(|v| granted.contains(v))
}

/// Which of `verbs` the rule grants, for messages.
fn matched_verbs(rule: &Attr, verbs: &[&str]) -> String {
    let granted = strs(rule, "verbs");
    if granted.contains(&"*") {
        return "*".to_owned();
    }
    verbs.iter().filter(|v| granted.contains(v)).copied().collect::<Vec<_>>().join("/")
}

/// A binding subject as `Kind name` (`ServiceAccount shop/cart`).
fn subject_name(s: &Attr) -> String {
    let kind = str_at(s, "/kind").unwrap_or("?");
    let name = str_at(s, "/name").unwrap_or("?");
    match str_at(s, "/namespace") {
        Some(ns) => format!("{kind} {ns}/{name}"),
        None => format!("{kind} {name}"),
    }
}

/// The ServiceAccount a pod spec runs as (`serviceAccountName`, the deprecated `serviceAccount`, else `default`).
fn service_account(spec: &Attr) -> &str {
    spec.get("serviceAccountName")
        .or_else(|| spec.get("serviceAccount"))
        .and_then(Attr::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or("default")
}
