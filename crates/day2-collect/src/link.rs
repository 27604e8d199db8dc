//! Linking: once every source is collected, derive what no single object says alone — relations between Kubernetes
//! objects (Service→workload, Ingress→Service, HPA/PDB→workload, workload→ServiceAccount/ConfigMap/Secret,
//! RoleBinding→Role and subjects) and each resource's owner (from its labels/tags, falling back to its pod template's
//! and its Namespace's labels).
//!
//! Terraform relations come with the snapshot (they need the plan's configuration) and are added by
//! [`day2_model::Inventory::from_snapshots`].

use std::collections::{BTreeMap, HashMap};

use day2_model::k8s::{base_kind, pod_labels, pod_spec, selector_matches};
use day2_model::{Attr, Inventory, OwnerKeys, Provider, RelationKind, Resource, ResourceId};

/// Relations between providers, where the data names the other end: a ServiceAccount → the IAM role its IRSA
/// annotation (`eks.amazonaws.com/role-arn`) names, a PersistentVolume → the EBS volume of its CSI volume handle
/// (or `awsElasticBlockStore`), a Service of type LoadBalancer → the load balancer its status host name belongs to.
/// The cloud end may be a Terraform resource or a live AWS object; run it over an inventory holding both sides.
pub fn cross_provider(inv: &mut Inventory) {
    let mut roles: HashMap<&str, Vec<&ResourceId>> = HashMap::new();
    let mut volumes: HashMap<&str, Vec<&ResourceId>> = HashMap::new();
    let mut balancers: HashMap<&str, Vec<&ResourceId>> = HashMap::new();
    for r in inv.resources().iter().filter(|r| matches!(r.provider, Provider::Tf | Provider::Aws)) {
        let attr = |key: &str| r.attrs.get(key).and_then(Attr::as_str);
        match r.kind.as_str() {
            // By ARN only: a role name alone may belong to another account of the fleet.
            "aws_iam_role" => {
                if let Some(arn) = attr("arn") {
                    roles.entry(arn).or_default().push(&r.id);
                }
            }
            "aws_ebs_volume" => {
                if let Some(id) = attr("id") {
                    volumes.entry(id).or_default().push(&r.id);
                }
            }
            "aws_lb" | "aws_alb" | "aws_elb" => {
                if let Some(dns) = attr("dns_name") {
                    balancers.entry(dns).or_default().push(&r.id);
                }
            }
            _ => {}
        }
    }
    let mut edges: Vec<Edge> = Vec::new();
    for r in inv.resources().iter().filter(|r| r.provider == Provider::K8s) {
        let mut to = |kind: RelationKind, found: Option<&Vec<&ResourceId>>| {
            edges.extend(found.into_iter().flatten().map(|id| (r.id.clone(), kind, (*id).clone())));
        };
        match base_kind(&r.kind) {
            "ServiceAccount" => {
                if let Some(arn) = r.annotation("eks.amazonaws.com/role-arn") {
                    to(RelationKind::AssumesRole, roles.get(arn));
                }
            }
            "PersistentVolume" => {
                let handle = r
                    .attrs
                    .pointer("/spec/csi/volumeHandle")
                    .or_else(|| r.attrs.pointer("/spec/awsElasticBlockStore/volumeID"))
                    .and_then(Attr::as_str);
                // `aws://eu-west-1a/vol-0abc` in the in-tree form.
                if let Some(volume) = handle.map(|h| h.rsplit('/').next().unwrap_or(h)) {
                    to(RelationKind::BackedBy, volumes.get(volume));
                }
            }
            "Service" => {
                let ingress = r.attrs.pointer("/status/loadBalancer/ingress").and_then(Attr::as_array);
                for hostname in ingress.into_iter().flatten().filter_map(|i| i.get("hostname").and_then(Attr::as_str)) {
                    to(RelationKind::ExposedThrough, balancers.get(hostname));
                }
            }
            _ => {}
        }
    }
    for (from, kind, to) in edges {
        inv.relate(&from, kind, &to);
    }
}

/// Derives owners and Kubernetes relations in place.
pub fn link(inv: &mut Inventory, keys: &OwnerKeys) {
    derive_owners(inv, keys);
    let relations = kubernetes_relations(inv);
    for (from, kind, to) in relations {
        inv.relate(&from, kind, &to);
    }
}

fn derive_owners(inv: &mut Inventory, keys: &OwnerKeys) {
    let namespace_labels: BTreeMap<(String, String), BTreeMap<String, String>> =
        inv.of_kind("Namespace").map(|ns| ((ns.scope.clone(), ns.name.clone()), ns.labels.clone())).collect();
    for r in inv.resources_mut() {
        let mut fallback = namespace_labels.get(&(r.scope.clone(), r.namespace.clone())).cloned().unwrap_or_default();
        if let Some(pod) = pod_labels(r) {
            for (k, v) in pod {
                if let Some(s) = v.as_str() {
                    fallback.insert(k.to_owned(), s.to_owned());
                }
            }
        }
        r.owner = keys.derive(&r.labels, Some(&fallback));
    }
}

type Edge = (ResourceId, RelationKind, ResourceId);

fn kubernetes_relations(inv: &Inventory) -> Vec<Edge> {
    let mut edges = Vec::new();
    let k8s = || inv.resources().iter().filter(|r| r.provider == Provider::K8s);
    let workloads: Vec<&Resource> = k8s().filter(|r| pod_spec(r).is_some()).collect();
    let mut by_namespace: HashMap<(&str, &str), Vec<&Resource>> = HashMap::new();
    for w in &workloads {
        by_namespace.entry((w.scope.as_str(), w.namespace.as_str())).or_default().push(w);
    }
    let pods = PodLabelIndex::new(&workloads);
    let named = |scope: &str, kind: &str, ns: &str, name: &str| ResourceId::new(Provider::K8s, scope, kind, ns, name);
    for r in k8s() {
        let spec = r.attrs.get("spec");
        match base_kind(&r.kind) {
            "Service" => {
                if let Some(sel) =
                    spec.and_then(|s| s.get("selector")).filter(|s| s.as_object().is_some_and(|m| !m.is_empty()))
                {
                    pods.select(r, sel, namespace_workloads(&by_namespace, r), RelationKind::Selects, &mut edges);
                }
            }
            "PodDisruptionBudget" => {
                if let Some(sel) = spec.and_then(|s| s.get("selector")) {
                    pods.select(r, sel, namespace_workloads(&by_namespace, r), RelationKind::Protects, &mut edges);
                }
            }
            "NetworkPolicy" => {
                if let Some(sel) = spec.and_then(|s| s.get("podSelector")) {
                    pods.select(r, sel, namespace_workloads(&by_namespace, r), RelationKind::Selects, &mut edges);
                }
            }
            "HorizontalPodAutoscaler" => {
                let target = spec.and_then(|s| s.get("scaleTargetRef"));
                let kind = target.and_then(|t| t.get("kind")).and_then(Attr::as_str).unwrap_or_default();
                let name = target.and_then(|t| t.get("name")).and_then(Attr::as_str).unwrap_or_default();
                for w in namespace_workloads(&by_namespace, r)
                    .iter()
                    .filter(|w| base_kind(&w.kind) == kind && w.name == name)
                {
                    edges.push((r.id.clone(), RelationKind::Scales, w.id.clone()));
                }
            }
            "Ingress" => {
                for svc in ingress_backends(r) {
                    edges.push((r.id.clone(), RelationKind::RoutesTo, named(&r.scope, "Service", &r.namespace, &svc)));
                }
            }
            "RoleBinding" | "ClusterRoleBinding" => {
                let role = r.attrs.get("roleRef");
                let role_kind = role.and_then(|x| x.get("kind")).and_then(Attr::as_str).unwrap_or_default();
                let role_name = role.and_then(|x| x.get("name")).and_then(Attr::as_str).unwrap_or_default();
                let role_ns = if role_kind == "Role" { r.namespace.as_str() } else { "" };
                let qualified = format!("rbac.authorization.k8s.io.{role_kind}");
                edges.push((r.id.clone(), RelationKind::Grants, named(&r.scope, &qualified, role_ns, role_name)));
                for s in r.attrs.get("subjects").and_then(Attr::as_array).into_iter().flatten() {
                    if s.get("kind").and_then(Attr::as_str) == Some("ServiceAccount") {
                        let name = s.get("name").and_then(Attr::as_str).unwrap_or_default();
                        let ns = s.get("namespace").and_then(Attr::as_str).unwrap_or(&r.namespace);
                        edges.push((
                            r.id.clone(),
                            RelationKind::BindsSubject,
                            named(&r.scope, "ServiceAccount", ns, name),
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    for w in &workloads {
        let Some((_, spec)) = pod_spec(w) else { continue };
        let sa = spec.get("serviceAccountName").and_then(Attr::as_str).unwrap_or("default");
        edges.push((w.id.clone(), RelationKind::RunsAs, named(&w.scope, "ServiceAccount", &w.namespace, sa)));
        let (config_maps, secrets) = pod_references(spec);
        for cm in config_maps {
            edges.push((w.id.clone(), RelationKind::UsesConfigMap, named(&w.scope, "ConfigMap", &w.namespace, &cm)));
        }
        for s in secrets {
            edges.push((w.id.clone(), RelationKind::UsesSecret, named(&w.scope, "Secret", &w.namespace, &s)));
        }
    }
    edges
}

/// The workloads in the same cluster and namespace as `r`.
fn namespace_workloads<'a>(
    index: &'a HashMap<(&'a str, &'a str), Vec<&'a Resource>>,
    r: &'a Resource,
) -> &'a [&'a Resource] {
    index.get(&(r.scope.as_str(), r.namespace.as_str())).map_or(&[], Vec::as_slice)
}

/// Workloads by (cluster, namespace, pod label key, value), so a selector looks only at the workloads carrying its
/// first required label instead of every workload in the namespace.
struct PodLabelIndex<'a> {
    by_label: HashMap<(&'a str, &'a str, &'a str, &'a str), Vec<&'a Resource>>,
}

impl<'a> PodLabelIndex<'a> {
    fn new(workloads: &[&'a Resource]) -> Self {
        let mut by_label: HashMap<_, Vec<&Resource>> = HashMap::new();
        for w in workloads {
            for (k, v) in pod_labels(w).into_iter().flatten() {
                if let Some(v) = v.as_str() {
                    by_label.entry((w.scope.as_str(), w.namespace.as_str(), k, v)).or_default().push(*w);
                }
            }
        }
        PodLabelIndex { by_label }
    }

    /// Relates `from` to the workloads of its namespace whose pods `selector` matches.
    fn select(
        &self,
        from: &Resource,
        selector: &Attr,
        namespace: &[&'a Resource],
        kind: RelationKind,
        edges: &mut Vec<Edge>,
    ) {
        let required = selector.get("matchLabels").or(if selector.get("matchExpressions").is_some() {
            None
        } else {
            Some(selector)
        });
        let first = required
            .and_then(Attr::as_object)
            .and_then(|m| m.iter().next())
            .and_then(|(k, v)| v.as_str().map(|v| (k, v)));
        let candidates: &[&Resource] = match first {
            Some((k, v)) => {
                self.by_label.get(&(from.scope.as_str(), from.namespace.as_str(), k, v)).map_or(&[], Vec::as_slice)
            }
            None => namespace,
        };
        for w in candidates {
            if selector_matches(selector, pod_labels(w)) {
                edges.push((from.id.clone(), kind, w.id.clone()));
            }
        }
    }
}

/// Service names an Ingress routes to (networking.k8s.io/v1 and the older `serviceName` form).
pub fn ingress_backends(ingress: &Resource) -> Vec<String> {
    let mut out = Vec::new();
    let spec = ingress.attrs.get("spec");
    let mut push = |backend: Option<&Attr>| {
        let name =
            backend.and_then(|b| b.pointer("/service/name").or_else(|| b.get("serviceName"))).and_then(Attr::as_str);
        if let Some(n) = name
            && !out.iter().any(|o| o == n)
        {
            out.push(n.to_owned());
        }
    };
    push(spec.and_then(|s| s.get("defaultBackend").or_else(|| s.get("backend"))));
    for rule in spec.and_then(|s| s.get("rules")).and_then(Attr::as_array).into_iter().flatten() {
        for path in rule.pointer("/http/paths").and_then(Attr::as_array).into_iter().flatten() {
            push(path.get("backend"));
        }
    }
    out
}

/// ConfigMaps and Secrets a pod spec reads: volumes, projected sources, env, envFrom, imagePullSecrets.
pub fn pod_references(spec: &Attr) -> (Vec<String>, Vec<String>) {
    let mut cms = Vec::new();
    let mut secrets = Vec::new();
    let add = |list: &mut Vec<String>, v: Option<&Attr>| {
        if let Some(n) = v.and_then(Attr::as_str)
            && !list.iter().any(|x| x == n)
        {
            list.push(n.to_owned());
        }
    };
    for vol in spec.get("volumes").and_then(Attr::as_array).into_iter().flatten() {
        add(&mut cms, vol.pointer("/configMap/name"));
        add(&mut secrets, vol.pointer("/secret/secretName"));
        for src in vol.pointer("/projected/sources").and_then(Attr::as_array).into_iter().flatten() {
            add(&mut cms, src.pointer("/configMap/name"));
            add(&mut secrets, src.pointer("/secret/name"));
        }
    }
    for s in spec.get("imagePullSecrets").and_then(Attr::as_array).into_iter().flatten() {
        add(&mut secrets, s.get("name"));
    }
    for list in ["containers", "initContainers"] {
        for c in spec.get(list).and_then(Attr::as_array).into_iter().flatten() {
            for e in c.get("env").and_then(Attr::as_array).into_iter().flatten() {
                add(&mut cms, e.pointer("/valueFrom/configMapKeyRef/name"));
                add(&mut secrets, e.pointer("/valueFrom/secretKeyRef/name"));
            }
            for e in c.get("envFrom").and_then(Attr::as_array).into_iter().flatten() {
                add(&mut cms, e.pointer("/configMapRef/name"));
                add(&mut secrets, e.pointer("/secretRef/name"));
            }
        }
    }
    (cms, secrets)
}
