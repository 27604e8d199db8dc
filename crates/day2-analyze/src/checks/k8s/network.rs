//! Network: how workloads are exposed (NodePort, LoadBalancer, externalIPs, hostPort, Ingress TLS and hosts), whether
//! Services and Ingresses point at something that exists, and NetworkPolicy coverage and breadth.

use day2_model::k8s::base_kind;
use day2_model::{Attr, RelationKind};

use super::{escape, find_named, in_namespace, items, per_container, str_at};
use crate::checks::prelude::*;

/// Namespaces run by the control plane, skipped by namespace-wide policy checks.
pub(super) const SYSTEM_NAMESPACES: &[&str] = &["kube-system", "kube-public", "kube-node-lease"];

/// Ports of databases, caches, brokers and administrative endpoints that must not face the outside.
const SENSITIVE_PORTS: &[(i64, &str)] = &[
    (22, "SSH"),
    (23, "Telnet"),
    (1433, "SQL Server"),
    (1521, "Oracle"),
    (2375, "Docker API"),
    (2376, "Docker API"),
    (2379, "etcd"),
    (2380, "etcd"),
    (3306, "MySQL"),
    (5432, "PostgreSQL"),
    (5601, "Kibana"),
    (5672, "AMQP"),
    (5984, "CouchDB"),
    (6379, "Redis"),
    (8500, "Consul"),
    (9092, "Kafka"),
    (9200, "Elasticsearch"),
    (9300, "Elasticsearch"),
    (10250, "kubelet"),
    (11211, "Memcached"),
    (15672, "RabbitMQ management"),
    (27017, "MongoDB"),
];

/// Annotations that make a cloud load balancer internal-only.
const INTERNAL_LB: &[(&str, &str)] = &[
    ("service.beta.kubernetes.io/aws-load-balancer-internal", "true"),
    ("service.beta.kubernetes.io/aws-load-balancer-scheme", "internal"),
    ("service.beta.kubernetes.io/azure-load-balancer-internal", "true"),
    ("networking.gke.io/load-balancer-type", "Internal"),
    ("cloud.google.com/load-balancer-type", "Internal"),
    ("service.beta.kubernetes.io/oci-load-balancer-internal", "true"),
];

/// Does the Service ask for an internal load balancer, by a cloud annotation or as the AWS Load Balancer Controller's
/// default?
fn internal_load_balancer(r: &Resource) -> bool {
    INTERNAL_LB.iter().any(|(k, v)| r.annotation(k).is_some_and(|a| a.eq_ignore_ascii_case(v)))
        || internal_by_aws_controller(r)
}

/// The AWS Load Balancer Controller (v2.2.0 on) makes the NLB of a Service it reconciles (`aws-load-balancer-type:
/// external`, the older `nlb-ip`, or its load balancer class) internal unless `aws-load-balancer-scheme` says
/// `internet-facing`; with no scheme, the deprecated `aws-load-balancer-internal: "false"` also asks for a public one.
/// The in-tree `nlb` type is internet-facing by default, so it is not covered here.
fn internal_by_aws_controller(r: &Resource) -> bool {
    let reconciled = r
        .annotation("service.beta.kubernetes.io/aws-load-balancer-type")
        .map(str::trim)
        .is_some_and(|t| t.eq_ignore_ascii_case("external") || t.eq_ignore_ascii_case("nlb-ip"))
        || str_at(&r.attrs, "/spec/loadBalancerClass") == Some("service.k8s.aws/nlb");
    let internet_facing = match r.annotation("service.beta.kubernetes.io/aws-load-balancer-scheme") {
        Some(scheme) => scheme.trim().eq_ignore_ascii_case("internet-facing"),
        None => r
            .annotation("service.beta.kubernetes.io/aws-load-balancer-internal")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("false")),
    };
    reconciled && !internet_facing
}

/// Prefix of the AWS Load Balancer Controller's Ingress annotations.
const ALB: &str = "alb.ingress.kubernetes.io/";

/// Is the Ingress served by the AWS Load Balancer Controller (class `alb`, or an IngressClass of its controller)?
/// Other controllers ignore the `alb.ingress.kubernetes.io/` annotations, so only then do they say anything.
fn served_by_alb(i: &Input<'_>) -> bool {
    let r = i.resource;
    let class = str_at(&r.attrs, "/spec/ingressClassName").or_else(|| r.annotation("kubernetes.io/ingress.class"));
    class.is_some_and(|class| {
        class == "alb"
            || i.inventory.of_kind("networking.k8s.io.IngressClass").any(|c| {
                c.scope == r.scope
                    && c.name == class
                    && str_at(&c.attrs, "/spec/controller") == Some("ingress.k8s.aws/alb")
            })
    })
}

/// Whether an Ingress of the AWS Load Balancer Controller still forwards plain HTTP when its annotations put TLS on the
/// ALB's listeners (where `spec.tls` is not needed): `Some(false)` when HTTP is redirected to HTTPS or not listened
/// on, `Some(true)` when an HTTP listener forwards next to the HTTPS one, `None` when the ALB has no HTTPS listener
/// (a redirect to a listener that does not exist is no TLS either).
fn alb_forwards_plain_http(r: &Resource) -> Option<bool> {
    let annotation = |key: &str| r.annotation(&format!("{ALB}{key}")).map(str::trim).filter(|v| !v.is_empty());
    let certificate = annotation("certificate-arn").is_some();
    // `ssl-redirect` turns every HTTP listener of the ALB (of its whole IngressGroup) into a redirect to HTTPS.
    let redirect = annotation("ssl-redirect").is_some();
    // Without `listen-ports` the controller listens on HTTPS:443 when given a certificate, on HTTP:80 otherwise.
    let (https, http) = match annotation("listen-ports").and_then(listener_protocols) {
        Some(protocols) => (protocols.iter().any(|p| p == "HTTPS"), protocols.iter().any(|p| p == "HTTP")),
        None => (certificate, !certificate),
    };
    https.then_some(http && !redirect)
}

/// The protocols of an ALB `listen-ports` annotation (`[{"HTTP": 80}, {"HTTPS": 443}]`), None when it does not parse.
fn listener_protocols(ports: &str) -> Option<Vec<String>> {
    let listeners: Vec<serde_json::Map<String, Value>> = serde_json::from_str(ports).ok()?;
    Some(listeners.iter().flat_map(|listener| listener.keys().cloned()).collect())
}

/// Is this Ingress backend an action of the AWS Load Balancer Controller rather than a Service? `port.name:
/// use-annotation` (`servicePort` in the older form) makes the controller read the backend from the
/// `alb.ingress.kubernetes.io/actions.<name>` annotation: a redirect (`ssl-redirect`), a fixed response, a weighted
/// forward.
fn alb_action(ingress: &Attr, backend: &Attr, name: &str) -> bool {
    let port = backend.pointer("/service/port/name").or_else(|| backend.get("servicePort")).and_then(Attr::as_str);
    port == Some("use-annotation")
        && ingress.pointer("/metadata/annotations").and_then(|a| a.get(format!("{ALB}actions.{name}"))).is_some()
}

const EXPOSURE: &[(day2_model::Framework, &str)] =
    &[(Nsa, "network-separation"), (Soc2, "CC6.6"), (Nis2, "21(2)(e)"), (Dora, "Art.9(4)(c)")];
const ROUTING: &[(day2_model::Framework, &str)] = &[(Soc2, "A1.2"), (Nis2, "21(2)(c)"), (Dora, "Art.11")];

/// Pod labels that controllers set on the pods they create, so no pod template carries them: a Service selecting one
/// (a per-pod Service of a StatefulSet) selects pods no manifest shows.
const CONTROLLER_LABELS: &[&str] = &["statefulset.kubernetes.io/pod-name", "apps.kubernetes.io/pod-index"];

/// Does the selector pair `key: name` name a custom resource of the Service's namespace the way operators label the
/// pods they make for it: the kind as the key (`prometheus: k8s` for the Prometheus `k8s`), or the instance label?
fn names_a_custom_resource(i: &Input<'_>, key: &str, name: &str) -> bool {
    i.inventory.in_namespace(&i.resource.namespace).any(|r| {
        let group = r.api_version.rsplit_once('/').map_or("", |(g, _)| g);
        let custom = group.contains('.') && (!group.ends_with(".k8s.io") || group.ends_with(".x-k8s.io"));
        let kind = r.kind.rsplit('.').next().unwrap_or(&r.kind);
        custom && r.name == name && (key.eq_ignore_ascii_case(kind) || key == "app.kubernetes.io/instance")
    })
}

/// Does a selector with these `key: value` pairs select pods that no manifest shows: pods a controller labels itself
/// ([`CONTROLLER_LABELS`]) or pods an operator makes for a custom resource of the namespace? Services (NET-008) and
/// disruption budgets (REL-007) that select such pods select something.
pub(super) fn selects_pods_made_by_controllers<'a>(
    i: &Input<'_>,
    mut pairs: impl Iterator<Item = (&'a str, &'a str)>,
) -> bool {
    pairs.any(|(key, value)| CONTROLLER_LABELS.contains(&key) || names_a_custom_resource(i, key, value))
}

pub(super) static CHECKS: &[Check] = &[
    Check {
        id: "K8S-NET-001",
        title: "Service is exposed through a NodePort",
        domain: Domain::Security,
        severity: Severity::Medium,
        target: Target::K8sKinds(&["Service"]),
        rationale: "A NodePort opens the port on every node of the cluster, bypassing the ingress layer's TLS, authentication and logging, and exposes the service wherever the nodes are reachable.",
        remediation: "Use a ClusterIP Service behind an Ingress or Gateway, or a LoadBalancer restricted with `loadBalancerSourceRanges`.",
        controls: EXPOSURE,
        references: &["https://kubernetes.io/docs/concepts/services-networking/service/#type-nodeport"],
        eval: |i| {
            if str_at(&i.resource.attrs, "/spec/type") != Some("NodePort") {
                return Vec::new();
            }
            let node_ports: Vec<String> = items(i.resource.attrs.pointer("/spec/ports"))
                .filter_map(|p| p.get("nodePort"))
                .map(super::show)
                .collect();
            let which = if node_ports.is_empty() {
                "auto-assigned node ports".to_owned()
            } else {
                format!("node port(s) {}", node_ports.join(", "))
            };
            vec![
                Hit::new(format!(
                    "Service `{}` is of type NodePort and listens on {which} of every node",
                    i.resource.name
                ))
                .evidence("/spec/type", json!("NodePort"), Some(json!("ClusterIP"))),
            ]
        },
    },
    Check {
        id: "K8S-NET-002",
        title: "LoadBalancer Service open to any source address",
        domain: Domain::Security,
        severity: Severity::Medium,
        target: Target::K8sKinds(&["Service"]),
        rationale: "A public LoadBalancer without loadBalancerSourceRanges accepts connections from the whole internet; every service exposed this way is reachable by scanners within minutes.",
        remediation: "Set `spec.loadBalancerSourceRanges` to the client CIDRs, make the load balancer internal (cloud annotation), or expose the service through an Ingress.",
        controls: EXPOSURE,
        references: &["https://kubernetes.io/docs/tasks/access-application-cluster/configure-cloud-provider-firewall/"],
        eval: |i| {
            let r = i.resource;
            if str_at(&r.attrs, "/spec/type") != Some("LoadBalancer") || internal_load_balancer(r) {
                return Vec::new();
            }
            let ranges: Vec<&str> =
                items(r.attrs.pointer("/spec/loadBalancerSourceRanges")).filter_map(Attr::as_str).collect();
            let annotated = r.annotation("service.beta.kubernetes.io/load-balancer-source-ranges").unwrap_or_default();
            let open = ranges
                .iter()
                .copied()
                .chain(annotated.split(',').map(str::trim).filter(|s| !s.is_empty()))
                .collect::<Vec<_>>();
            if !open.is_empty() && !open.iter().any(|c| *c == "0.0.0.0/0" || *c == "::/0") {
                return Vec::new();
            }
            vec![Hit::new(format!("LoadBalancer Service `{}` accepts traffic from any address", r.name)).evidence(
                "/spec/loadBalancerSourceRanges",
                r.attrs.pointer("/spec/loadBalancerSourceRanges").cloned().unwrap_or_default(),
                None,
            )]
        },
    },
    Check {
        id: "K8S-NET-003",
        title: "Service sets externalIPs",
        domain: Domain::Security,
        severity: Severity::High,
        target: Target::K8sKinds(&["Service"]),
        rationale: "Any user who can create a Service with externalIPs can intercept traffic to those addresses from inside the cluster (CVE-2020-8554); legitimate uses are rare and better served by a LoadBalancer.",
        remediation: "Remove `spec.externalIPs`; use a LoadBalancer Service or an Ingress, and block the field cluster-wide with the DenyServiceExternalIPs admission plugin.",
        controls: &[(Nsa, "network-separation"), (Soc2, "CC6.6"), (Nis2, "21(2)(e)")],
        references: &[
            "https://kubernetes.io/docs/concepts/services-networking/service/#external-ips",
            "https://github.com/kubernetes/kubernetes/issues/97076",
        ],
        eval: |i| {
            let ips: Vec<&Attr> = items(i.resource.attrs.pointer("/spec/externalIPs")).collect();
            if ips.is_empty() {
                return Vec::new();
            }
            vec![
                Hit::new(format!(
                    "Service `{}` claims externalIPs {}",
                    i.resource.name,
                    ips.iter().map(|v| super::show(v)).collect::<Vec<_>>().join(", ")
                ))
                .evidence("/spec/externalIPs", json!(ips), None),
            ]
        },
    },
    Check {
        id: "K8S-NET-004",
        title: "Namespace has no NetworkPolicy",
        domain: Domain::Security,
        severity: Severity::Medium,
        target: Target::K8sKinds(&["Namespace"]),
        rationale: "Without any NetworkPolicy every pod in the namespace accepts connections from every pod in the cluster; one compromised workload anywhere can reach all of them.",
        remediation: "Add a default-deny NetworkPolicy (`podSelector: {}` with policyTypes Ingress and Egress) and explicit allow policies for the flows the namespace needs.",
        controls: &[
            (CisK8s, "5.3.2"),
            (Nsa, "network-separation"),
            (Soc2, "CC6.6"),
            (Nis2, "21(2)(e)"),
            (Dora, "Art.9(4)(c)"),
        ],
        references: &["https://kubernetes.io/docs/concepts/services-networking/network-policies/#default-policies"],
        eval: |i| {
            let ns = i.resource.name.as_str();
            if SYSTEM_NAMESPACES.contains(&ns) || in_namespace(i, ns, "NetworkPolicy").next().is_some() {
                return Vec::new();
            }
            vec![Hit::new(format!("namespace `{ns}` has no NetworkPolicy")).evidence("/metadata/name", json!(ns), None)]
        },
    },
    Check {
        id: "K8S-NET-005",
        title: "Workload is not selected by any NetworkPolicy",
        domain: Domain::Security,
        severity: Severity::Low,
        target: Target::Workloads,
        rationale: "Pods that no NetworkPolicy selects are non-isolated: they accept traffic from anywhere in the cluster even when their namespace has policies for other pods.",
        remediation: "Cover the pods with a NetworkPolicy, ideally a namespace-wide default deny (`podSelector: {}`) plus specific allow rules.",
        controls: &[(CisK8s, "5.3.2"), (Nsa, "network-separation"), (Soc2, "CC6.6"), (Nis2, "21(2)(e)")],
        references: &[
            "https://kubernetes.io/docs/concepts/services-networking/network-policies/#isolated-and-non-isolated-pods",
        ],
        eval: |i| {
            let inventory = i.inventory;
            let covered = inventory
                .incoming(&i.resource.id)
                .filter(|r| r.kind == RelationKind::Selects)
                .filter_map(|r| inventory.get(&r.from))
                .any(|p| base_kind(&p.kind) == "NetworkPolicy");
            if covered || SYSTEM_NAMESPACES.contains(&i.resource.namespace.as_str()) {
                return Vec::new();
            }
            vec![
                Hit::new(format!(
                    "{} `{}` is not selected by any NetworkPolicy",
                    base_kind(&i.resource.kind),
                    i.resource.name
                ))
                .evidence("/metadata/namespace", json!(i.resource.namespace), None),
            ]
        },
    },
    Check {
        id: "K8S-NET-006",
        title: "Ingress serves hosts without TLS",
        domain: Domain::Security,
        severity: Severity::Medium,
        target: Target::K8sKinds(&["Ingress"]),
        rationale: "Hosts an Ingress serves without a TLS section are plain HTTP: credentials, session cookies and personal data cross the network in clear text and can be altered in transit.",
        remediation: "Add a `spec.tls` entry covering every host (cert-manager can issue the certificate) and redirect HTTP to HTTPS.",
        controls: &[(Nsa, "network-separation"), (Soc2, "CC6.7"), (Nis2, "21(2)(h)"), (Dora, "Art.9(4)(c)")],
        references: &["https://kubernetes.io/docs/concepts/services-networking/ingress/#tls"],
        eval: |i| {
            let attrs = &i.resource.attrs;
            let tls: Vec<&Attr> = items(attrs.pointer("/spec/tls")).collect();
            if tls.is_empty() {
                let alb = served_by_alb(i).then(|| alb_forwards_plain_http(i.resource)).flatten();
                return match alb {
                    Some(false) => Vec::new(),
                    Some(true) => {
                        let ptr = format!("/metadata/annotations/{}", escape(&format!("{ALB}listen-ports")));
                        let listeners = attrs.pointer(&ptr).cloned().unwrap_or_default();
                        vec![
                            Hit::new(format!(
                                "Ingress `{}` has an HTTPS listener on its ALB but also forwards plain HTTP (an HTTP \
                                 listener without {ALB}ssl-redirect)",
                                i.resource.name
                            ))
                            .evidence(ptr, listeners, None),
                        ]
                    }
                    None => vec![Hit::new(format!("Ingress `{}` has no TLS configuration", i.resource.name)).evidence(
                        "/spec/tls",
                        Value::Null,
                        None,
                    )],
                };
            }
            if tls.iter().any(|t| items(t.get("hosts")).next().is_none()) {
                return Vec::new();
            }
            let tls_hosts: Vec<&str> =
                tls.iter().flat_map(|t| items(t.get("hosts"))).filter_map(Attr::as_str).collect();
            let uncovered: Vec<&str> = items(attrs.pointer("/spec/rules"))
                .filter_map(|r| r.get("host").and_then(Attr::as_str))
                .filter(|h| !tls_hosts.iter().any(|t| host_matches(t, h)))
                .collect();
            (!uncovered.is_empty())
                .then(|| {
                    Hit::new(format!("Ingress `{}` serves {} without TLS", i.resource.name, uncovered.join(", ")))
                        .evidence("/spec/tls", json!(tls_hosts), None)
                })
                .into_iter()
                .collect()
        },
    },
    Check {
        id: "K8S-NET-007",
        title: "Ingress routes to a Service that does not exist",
        domain: Domain::Reliability,
        severity: Severity::Medium,
        target: Target::K8sKinds(&["Ingress"]),
        rationale: "A backend naming a missing Service answers 503 for its paths; usually a Service was renamed or never deployed in this namespace, and users see errors while the Ingress looks healthy.",
        remediation: "Point the backend at an existing Service in the Ingress's namespace, or deploy the Service it names.",
        controls: ROUTING,
        references: &["https://kubernetes.io/docs/concepts/services-networking/ingress/#the-ingress-resource"],
        eval: |i| {
            let ns = i.resource.namespace.as_str();
            backends(&i.resource.attrs)
                .into_iter()
                .filter(|(name, _)| find_named(i, ns, "Service", name).is_none())
                .map(|(name, ptr)| {
                    Hit::new(format!(
                        "Ingress `{}` routes to Service `{name}`, which does not exist in namespace `{ns}`",
                        i.resource.name
                    ))
                    .subject(format!("service {name}"))
                    .evidence(ptr, json!(name), None)
                })
                .collect()
        },
    },
    Check {
        id: "K8S-NET-008",
        title: "Service selects no workload",
        domain: Domain::Reliability,
        severity: Severity::Medium,
        target: Target::K8sKinds(&["Service"]),
        rationale: "A Service whose selector matches no pod template has no endpoints: clients get connection refused or timeouts. It usually means a label was renamed on one side only.",
        remediation: "Make `spec.selector` match the pod template labels of the workload behind the Service.",
        controls: ROUTING,
        references: &["https://kubernetes.io/docs/concepts/services-networking/service/#defining-a-service"],
        eval: |i| {
            let attrs = &i.resource.attrs;
            let selector = attrs.pointer("/spec/selector").and_then(Attr::as_object).filter(|m| !m.is_empty());
            if selector.is_none() || str_at(attrs, "/spec/type") == Some("ExternalName") {
                return Vec::new();
            }
            if i.inventory.outgoing(&i.resource.id).any(|r| r.kind == RelationKind::Selects) {
                return Vec::new();
            }
            if selector.is_some_and(|m| {
                selects_pods_made_by_controllers(i, m.iter().map(|(k, v)| (k, v.as_str().unwrap_or_default())))
            }) {
                return Vec::new();
            }
            vec![
                Hit::new(format!(
                    "Service `{}` selects no workload in namespace `{}`",
                    i.resource.name, i.resource.namespace
                ))
                .evidence("/spec/selector", json!(selector), None),
            ]
        },
    },
    Check {
        id: "K8S-NET-009",
        title: "Container binds a host port",
        domain: Domain::Security,
        severity: Severity::Medium,
        target: Target::Workloads,
        rationale: "hostPort binds the port on the node's interfaces, bypassing NetworkPolicies and Services, and limits scheduling to one such pod per node; the PSS baseline profile forbids it.",
        remediation: "Remove `hostPort` and expose the container through a Service (or a DaemonSet with hostNetwork only for genuine node agents).",
        controls: &[(CisK8s, "5.2.13"), (Nsa, "network-separation"), (PssBaseline, "host-ports"), (Soc2, "CC6.6")],
        references: &["https://kubernetes.io/docs/concepts/security/pod-security-standards/#baseline"],
        eval: |i| {
            // In the node's network namespace every container port is a port of the node, and the API server sets
            // `hostPort` to `containerPort` by itself: removing it changes nothing, and NetworkPolicies do not apply
            // to such pods anyway. K8S-POD-004 reports hostNetwork itself.
            if super::spec_of(i).and_then(|(_, spec)| spec.get("hostNetwork")).and_then(Attr::as_bool) == Some(true) {
                return Vec::new();
            }
            per_container(i, |c, _| {
                let ptr = c.pointer();
                let bound: Vec<(usize, &Attr)> = items(c.value.get("ports"))
                    .enumerate()
                    .filter_map(|(n, p)| {
                        p.get("hostPort").filter(|h| h.as_i64().is_some_and(|v| v > 0)).map(|h| (n, h))
                    })
                    .collect();
                if bound.is_empty() {
                    return None;
                }
                let list: Vec<String> = bound.iter().map(|(_, h)| super::show(h)).collect();
                let ops: Vec<Value> = bound
                    .iter()
                    .map(|(n, _)| json!({"op": "remove", "path": format!("{ptr}/ports/{n}/hostPort")}))
                    .collect();
                let mut hit = Hit::new(format!("container `{}` binds host port(s) {}", c.name(), list.join(", ")));
                for (n, h) in &bound {
                    hit = hit.evidence(format!("{ptr}/ports/{n}/hostPort"), (*h).clone(), None);
                }
                Some(hit.fix("Remove hostPort", Value::Array(ops)))
            })
        },
    },
    Check {
        id: "K8S-NET-010",
        title: "NetworkPolicy allows ingress from anywhere",
        domain: Domain::Security,
        severity: Severity::Medium,
        target: Target::K8sKinds(&["NetworkPolicy"]),
        rationale: "An ingress rule without `from`, with an empty peer `{}` or with ipBlock 0.0.0.0/0 admits every source, inside and outside the cluster, which defeats the isolation the policy appears to provide.",
        remediation: "List the allowed sources explicitly: podSelector / namespaceSelector for in-cluster clients, ipBlock with narrow CIDRs for external ones.",
        controls: &[(CisK8s, "5.3.2"), (Nsa, "network-separation"), (Soc2, "CC6.6"), (Nis2, "21(2)(e)")],
        references: &[
            "https://kubernetes.io/docs/concepts/services-networking/network-policies/#behavior-of-to-and-from-selectors",
        ],
        eval: |i| open_rules(i, "ingress", "from"),
    },
    Check {
        id: "K8S-NET-011",
        title: "NetworkPolicy allows egress to anywhere on any port",
        domain: Domain::Security,
        severity: Severity::Low,
        target: Target::K8sKinds(&["NetworkPolicy"]),
        rationale: "An egress rule with no destination and no ports lets the selected pods open connections to anything, which is what data exfiltration and command-and-control traffic need.",
        remediation: "Restrict egress rules to the destinations (podSelector, namespaceSelector, ipBlock) and ports the workload uses, plus DNS.",
        controls: &[(Nsa, "network-separation"), (Soc2, "CC6.6"), (Nis2, "21(2)(e)")],
        references: &[
            "https://kubernetes.io/docs/concepts/services-networking/network-policies/#allow-all-egress-traffic",
        ],
        eval: |i| {
            items(i.resource.attrs.pointer("/spec/egress"))
                .enumerate()
                .filter_map(|(n, rule)| {
                    let any_port = items(rule.get("ports")).next().is_none();
                    (any_port && peers_everything(rule.get("to"))).then(|| {
                        Hit::new(format!(
                            "NetworkPolicy `{}` egress rule {n} allows every destination on every port",
                            i.resource.name
                        ))
                        .subject(format!("egress rule {n}"))
                        .evidence(format!("/spec/egress/{n}"), rule.clone(), None)
                    })
                })
                .collect()
        },
    },
    Check {
        id: "K8S-NET-012",
        title: "Externally exposed Service publishes a database or admin port",
        domain: Domain::Security,
        severity: Severity::High,
        target: Target::K8sKinds(&["Service"]),
        rationale: "Databases, caches, brokers, SSH and the kubelet API are routinely brute-forced and exploited when reachable from outside the cluster; they should only be reachable from the workloads that use them.",
        remediation: "Make the Service ClusterIP and reach the port through the application or a bastion; if external access is unavoidable, use an internal load balancer with `loadBalancerSourceRanges`.",
        controls: EXPOSURE,
        references: &[
            "https://kubernetes.io/docs/concepts/services-networking/service/#publishing-services-service-types",
        ],
        eval: |i| {
            let attrs = &i.resource.attrs;
            if !matches!(str_at(attrs, "/spec/type"), Some("LoadBalancer" | "NodePort")) {
                return Vec::new();
            }
            // An internal load balancer, or one restricted to source ranges, is the remediation this check recommends.
            let r = i.resource;
            let internal = internal_load_balancer(r);
            let restricted = items(attrs.pointer("/spec/loadBalancerSourceRanges"))
                .filter_map(Attr::as_str)
                .any(|c| c != "0.0.0.0/0" && c != "::/0");
            if str_at(attrs, "/spec/type") == Some("LoadBalancer") && (internal || restricted) {
                return Vec::new();
            }
            items(attrs.pointer("/spec/ports"))
                .enumerate()
                .filter_map(|(n, p)| {
                    let port = p.get("port").and_then(Attr::as_i64);
                    let target = p.get("targetPort").and_then(Attr::as_i64);
                    let (num, what) = SENSITIVE_PORTS.iter().find(|(s, _)| port == Some(*s) || target == Some(*s))?;
                    Some(
                        Hit::new(format!(
                            "{} Service `{}` exposes port {num} ({what})",
                            str_at(attrs, "/spec/type").unwrap_or_default(),
                            i.resource.name
                        ))
                        .subject(format!("port {}", port.unwrap_or(*num)))
                        .evidence(format!("/spec/ports/{n}"), p.clone(), None),
                    )
                })
                .collect()
        },
    },
    Check {
        id: "K8S-NET-013",
        title: "Ingress rule matches any host",
        domain: Domain::Security,
        severity: Severity::Low,
        target: Target::K8sKinds(&["Ingress"]),
        rationale: "A rule without `host` answers for every hostname that reaches the controller, including ones you do not own pointed at your IP; it also cannot be covered by a certificate and collides with other teams' Ingresses.",
        remediation: "Set `host` on every rule to the exact name the service is published under.",
        controls: &[(Nsa, "network-separation"), (Soc2, "CC6.6")],
        references: &["https://kubernetes.io/docs/concepts/services-networking/ingress/#ingress-rules"],
        eval: |i| {
            items(i.resource.attrs.pointer("/spec/rules"))
                .enumerate()
                .filter(|(_, r)| r.get("host").and_then(Attr::as_str).is_none_or(str::is_empty))
                .map(|(n, _)| {
                    Hit::new(format!("Ingress `{}` rule {n} has no host and matches every hostname", i.resource.name))
                        .subject(format!("rule {n}"))
                        .evidence(format!("/spec/rules/{n}/host"), Value::Null, None)
                })
                .collect()
        },
    },
];

/// Does a TLS host (possibly `*.example.com`) cover a rule host?
fn host_matches(tls: &str, host: &str) -> bool {
    if tls.eq_ignore_ascii_case(host) {
        return true;
    }
    match (tls.strip_prefix("*."), host.split_once('.')) {
        (Some(domain), Some((_, rest))) => domain.eq_ignore_ascii_case(rest),
        _ => false,
    }
}

/// Service names an Ingress routes to, each with the pointer of the first backend naming it (networking.k8s.io/v1 and
/// the older `serviceName` form). Backends that are AWS Load Balancer Controller actions name no Service.
fn backends(attrs: &Attr) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut push = |backend: Option<&Attr>, ptr: String| {
        let Some(b) = backend else { return };
        let (name, field) =
            match (b.pointer("/service/name").and_then(Attr::as_str), b.get("serviceName").and_then(Attr::as_str)) {
                (Some(n), _) => (n, "/service/name"),
                (None, Some(n)) => (n, "/serviceName"),
                _ => return,
            };
        if alb_action(attrs, b, name) {
            return;
        }
        if !out.iter().any(|(o, _)| o == name) {
            out.push((name.to_owned(), format!("{ptr}{field}")));
        }
    };
    for key in ["defaultBackend", "backend"] {
        push(attrs.pointer(&format!("/spec/{key}")), format!("/spec/{key}"));
    }
    for (r, rule) in items(attrs.pointer("/spec/rules")).enumerate() {
        for (p, path) in items(rule.pointer("/http/paths")).enumerate() {
            push(path.get("backend"), format!("/spec/rules/{r}/http/paths/{p}/backend"));
        }
    }
    out
}

/// True when a rule's peer list admits everyone: absent, empty, or containing `{}` or an all-addresses ipBlock.
fn peers_everything(peers: Option<&Attr>) -> bool {
    let list: Vec<&Attr> = items(peers).collect();
    list.is_empty()
        || list.iter().any(|p| {
            p.as_object().is_some_and(|m| m.is_empty())
                || (matches!(str_at(p, "/ipBlock/cidr"), Some("0.0.0.0/0" | "::/0"))
                    && items(p.pointer("/ipBlock/except")).next().is_none())
        })
}

/// NET-010: rules in `direction` whose `peers` admit everyone.
fn open_rules(i: &Input<'_>, direction: &str, peers: &str) -> Vec<Hit> {
    items(i.resource.attrs.pointer(&format!("/spec/{direction}")))
        .enumerate()
        .filter(|(_, rule)| peers_everything(rule.get(peers)))
        .map(|(n, rule)| {
            Hit::new(format!("NetworkPolicy `{}` {direction} rule {n} admits traffic from any source", i.resource.name))
                .subject(format!("{direction} rule {n}"))
                .evidence(format!("/spec/{direction}/{n}"), rule.clone(), None)
        })
        .collect()
}
