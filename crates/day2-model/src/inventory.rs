//! The inventory: an in-memory index over the resources of one or more snapshots, with the relations between them.
//!
//! Analyzers read it; they never mutate it. Indexes are by id, by kind, by namespace and by label, plus outgoing and
//! incoming relation lists. Relations are added by whoever understands them (the Kubernetes and Terraform linkers in
//! day2-collect); the inventory only stores them.

use std::collections::HashMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::resource::{Change, Resource, ResourceId, Snapshot};

/// How two resources are related. Read as "from <kind> to".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RelationKind {
    /// A Service (or PDB, NetworkPolicy) selects a workload's pods.
    Selects,
    /// An Ingress routes to a Service.
    RoutesTo,
    /// An HPA scales a workload.
    Scales,
    /// A PodDisruptionBudget protects a workload.
    Protects,
    /// A workload runs as a ServiceAccount.
    RunsAs,
    /// A workload reads a ConfigMap.
    UsesConfigMap,
    /// A workload reads a Secret.
    UsesSecret,
    /// A (Cluster)RoleBinding grants a (Cluster)Role.
    Grants,
    /// A (Cluster)RoleBinding names a subject (ServiceAccount, …).
    BindsSubject,
    /// A Terraform resource's configuration references another.
    References,
    /// A Terraform `depends_on`.
    DependsOn,
    /// A Terraform address declares a live cloud object (`aws_instance.web` → `i-0abc`).
    Declares,
    /// A ServiceAccount assumes a cloud role (IRSA: `eks.amazonaws.com/role-arn`).
    AssumesRole,
    /// A PersistentVolume is backed by a cloud volume (CSI volume handle, `awsElasticBlockStore`).
    BackedBy,
    /// A Service of type LoadBalancer is exposed through a cloud load balancer (by its host name).
    ExposedThrough,
}

impl RelationKind {
    /// The kebab-case name used in files and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            RelationKind::Selects => "selects",
            RelationKind::RoutesTo => "routes-to",
            RelationKind::Scales => "scales",
            RelationKind::Protects => "protects",
            RelationKind::RunsAs => "runs-as",
            RelationKind::UsesConfigMap => "uses-config-map",
            RelationKind::UsesSecret => "uses-secret",
            RelationKind::Grants => "grants",
            RelationKind::BindsSubject => "binds-subject",
            RelationKind::References => "references",
            RelationKind::DependsOn => "depends-on",
            RelationKind::Declares => "declares",
            RelationKind::AssumesRole => "assumes-role",
            RelationKind::BackedBy => "backed-by",
            RelationKind::ExposedThrough => "exposed-through",
        }
    }
}

/// A directed edge between two resources.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct Relation {
    /// Source resource.
    pub from: ResourceId,
    /// Kind of relation.
    pub kind: RelationKind,
    /// Target resource.
    pub to: ResourceId,
}

/// Index over resources. Build with [`Inventory::from_snapshots`], then add relations.
#[derive(Debug, Default)]
pub struct Inventory {
    resources: Vec<Resource>,
    by_id: HashMap<ResourceId, usize>,
    by_kind: HashMap<String, Vec<usize>>,
    by_namespace: HashMap<String, Vec<usize>>,
    by_namespace_kind: HashMap<(String, String), Vec<usize>>,
    by_label: HashMap<(String, String), Vec<usize>>,
    relations: Vec<Relation>,
    changes: Vec<Change>,
    outgoing: HashMap<usize, Vec<usize>>,
    incoming: HashMap<usize, Vec<usize>>,
    /// Every relation by its ends and kind, so a relation is recorded once (linkers of both sides may find it).
    known: std::collections::HashSet<(usize, RelationKind, usize)>,
}

impl Inventory {
    /// Indexes the resources of the given snapshots and the relations they carry. When two snapshots declare the same id,
    /// the first one wins and the duplicates are returned so the caller can report them.
    pub fn from_snapshots(snapshots: Vec<Snapshot>) -> (Self, Vec<Resource>) {
        let mut inv = Inventory::default();
        let mut duplicates = Vec::new();
        let mut relations = Vec::new();
        for snap in snapshots {
            relations.extend(snap.relations);
            inv.changes.extend(snap.changes);
            for r in snap.resources {
                if inv.by_id.contains_key(&r.id) {
                    duplicates.push(r);
                } else {
                    inv.insert(r);
                }
            }
        }
        for rel in &relations {
            inv.relate(&rel.from, rel.kind, &rel.to);
        }
        (inv, duplicates)
    }

    /// Adds a resource; returns false (and changes nothing) when its id is already present.
    pub fn insert(&mut self, resource: Resource) -> bool {
        if self.by_id.contains_key(&resource.id) {
            return false;
        }
        let idx = self.resources.len();
        self.by_id.insert(resource.id.clone(), idx);
        self.by_kind.entry(resource.kind.clone()).or_default().push(idx);
        self.by_namespace.entry(resource.namespace.clone()).or_default().push(idx);
        let base = crate::k8s::base_kind(&resource.kind).to_owned();
        self.by_namespace_kind.entry((resource.namespace.clone(), base)).or_default().push(idx);
        for (k, v) in &resource.labels {
            self.by_label.entry((k.clone(), v.clone())).or_default().push(idx);
        }
        self.resources.push(resource);
        true
    }

    /// Records a relation between two known resources; unknown ends and a relation already known are ignored
    /// (returns false).
    pub fn relate(&mut self, from: &ResourceId, kind: RelationKind, to: &ResourceId) -> bool {
        let (Some(&f), Some(&t)) = (self.by_id.get(from), self.by_id.get(to)) else {
            return false;
        };
        if !self.known.insert((f, kind, t)) {
            return false;
        }
        let edge = self.relations.len();
        self.relations.push(Relation { from: from.clone(), kind, to: to.clone() });
        self.outgoing.entry(f).or_default().push(edge);
        self.incoming.entry(t).or_default().push(edge);
        true
    }

    /// All resources, in insertion order.
    pub fn resources(&self) -> &[Resource] {
        &self.resources
    }

    /// Mutable access for enrichment steps that run before analysis (owner derivation); ids must not change.
    pub fn resources_mut(&mut self) -> impl Iterator<Item = &mut Resource> {
        self.resources.iter_mut()
    }

    /// Number of resources.
    pub fn len(&self) -> usize {
        self.resources.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.resources.is_empty()
    }

    /// A resource by id.
    pub fn get(&self, id: &ResourceId) -> Option<&Resource> {
        self.by_id.get(id).and_then(|&i| self.resources.get(i))
    }

    /// Resources of a kind (`apps.Deployment`, `aws_s3_bucket`).
    pub fn of_kind<'a>(&'a self, kind: &str) -> impl Iterator<Item = &'a Resource> + 'a {
        self.indexed(self.by_kind.get(kind))
    }

    /// Resources in a namespace (empty string: cluster-scoped and non-Kubernetes resources).
    pub fn in_namespace<'a>(&'a self, namespace: &str) -> impl Iterator<Item = &'a Resource> + 'a {
        self.indexed(self.by_namespace.get(namespace))
    }

    /// Resources in a namespace whose kind, without its API group, is `base_kind` (`NetworkPolicy` finds
    /// `networking.k8s.io.NetworkPolicy`). Indexed: checks call this once per object.
    pub fn in_namespace_of_kind<'a>(
        &'a self,
        namespace: &str,
        base_kind: &str,
    ) -> impl Iterator<Item = &'a Resource> + 'a {
        self.indexed(self.by_namespace_kind.get(&(namespace.to_owned(), base_kind.to_owned())))
    }

    /// Resources whose labels/tags have `key` = `value`.
    pub fn with_label<'a>(&'a self, key: &str, value: &str) -> impl Iterator<Item = &'a Resource> + 'a {
        self.indexed(self.by_label.get(&(key.to_owned(), value.to_owned())))
    }

    /// All relations.
    pub fn relations(&self) -> &[Relation] {
        &self.relations
    }

    /// Changes announced by declared state: Terraform plans' `resource_changes` and `resource_drift`.
    pub fn changes(&self) -> &[Change] {
        &self.changes
    }

    /// Relations leaving `id`.
    pub fn outgoing<'a>(&'a self, id: &ResourceId) -> impl Iterator<Item = &'a Relation> + 'a {
        self.edges(&self.outgoing, id)
    }

    /// Relations arriving at `id`.
    pub fn incoming<'a>(&'a self, id: &ResourceId) -> impl Iterator<Item = &'a Relation> + 'a {
        self.edges(&self.incoming, id)
    }

    fn indexed<'a>(&'a self, idx: Option<&'a Vec<usize>>) -> impl Iterator<Item = &'a Resource> + 'a {
        idx.into_iter().flatten().filter_map(|&i| self.resources.get(i))
    }

    fn edges<'a>(
        &'a self,
        map: &'a HashMap<usize, Vec<usize>>,
        id: &ResourceId,
    ) -> impl Iterator<Item = &'a Relation> + 'a {
        self.by_id.get(id).and_then(|i| map.get(i)).into_iter().flatten().filter_map(|&e| self.relations.get(e))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;
    use crate::resource::{Origin, Provider};

    fn resource(kind: &str, ns: &str, name: &str, labels: &[(&str, &str)]) -> Resource {
        Resource {
            id: ResourceId::new(Provider::K8s, "c", kind, ns, name),
            provider: Provider::K8s,
            scope: "c".into(),
            kind: kind.into(),
            api_version: String::new(),
            namespace: ns.into(),
            name: name.into(),
            labels: labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            owner: Default::default(),
            attrs: crate::Attr::Null,
            origin: Origin::Declared {
                file: "f".into(),
                line: 1,
                template: None,
                module: None,
                attributes: Default::default(),
            },
            source: "s".into(),
        }
    }

    #[test]
    fn indexes_answer_by_kind_namespace_label_and_relation() {
        let web = resource("apps.Deployment", "shop", "web", &[("team", "a")]);
        let svc = resource("Service", "shop", "web", &[("team", "a")]);
        let np = resource("networking.k8s.io.NetworkPolicy", "shop", "deny", &[]);
        let snapshot = Snapshot {
            resources: vec![web.clone(), svc.clone(), np, web.clone()],
            relations: vec![Relation { from: svc.id.clone(), kind: RelationKind::Selects, to: web.id.clone() }],
            ..Snapshot::default()
        };
        let (mut inv, duplicates) = Inventory::from_snapshots(vec![snapshot]);
        assert_eq!((inv.len(), duplicates.len()), (3, 1));
        assert_eq!(inv.of_kind("Service").count(), 1);
        assert_eq!(inv.in_namespace("shop").count(), 3);
        assert_eq!(inv.in_namespace_of_kind("shop", "NetworkPolicy").count(), 1);
        assert_eq!(inv.with_label("team", "a").count(), 2);
        assert_eq!(inv.incoming(&web.id).next().map(|r| &r.from), Some(&svc.id));
        assert!(!inv.relate(&web.id, RelationKind::Selects, &ResourceId::from_raw("k8s/c/Service/shop/missing")));
    }
}
