//! The topology: resources as nodes and relations as edges, cut to what a person (or a tool) asked about — a scope,
//! a namespace, an owner, a kind, or the neighbourhood of one resource — and bounded in size.
//!
//! Built from plain lists (resources, relations, findings), so the CLI builds it from a run's inventory and the
//! server from its store. Each node carries the worst active finding on it, for colouring.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Finding, Relation, RelationKind, Resource, ResourceId, Severity, Side};

/// One resource in the graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Node {
    /// The resource.
    pub id: ResourceId,
    /// Its kind (`apps.Deployment`, `aws_security_group`).
    pub kind: String,
    /// Its namespace, empty when it has none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Its owning team, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    /// Declared (in Git or a state file), or seen only live.
    pub side: Side,
    /// The most severe active finding on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worst: Option<Severity>,
    /// How many active findings it has.
    pub findings: usize,
}

/// One relation in the graph.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
pub struct Edge {
    /// Where it starts.
    pub from: ResourceId,
    /// What it is.
    pub kind: RelationKind,
    /// Where it ends.
    pub to: ResourceId,
}

/// Which part of the topology to show. Every condition given must hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct GraphFilter {
    /// Cluster, account or state (the second segment of ids).
    pub scope: Option<String>,
    /// Namespace.
    pub namespace: Option<String>,
    /// Owning team.
    pub owner: Option<String>,
    /// Kind, with or without its group (`Deployment`, `apps.Deployment`, `aws_iam_role`).
    pub kind: Option<String>,
    /// Only what is within `depth` relations of this resource (either direction).
    pub around: Option<ResourceId>,
    /// How far from `around` to go. Default 2.
    pub depth: usize,
    /// At most this many nodes (the rest is cut, and the graph says so). Default 2000.
    pub max_nodes: usize,
}

impl Default for GraphFilter {
    fn default() -> Self {
        GraphFilter { scope: None, namespace: None, owner: None, kind: None, around: None, depth: 2, max_nodes: 2000 }
    }
}

impl GraphFilter {
    fn selects(&self, r: &Resource) -> bool {
        self.scope.as_ref().is_none_or(|s| &r.scope == s)
            && self.namespace.as_ref().is_none_or(|n| &r.namespace == n)
            && self.owner.as_ref().is_none_or(|o| r.owner.team.as_ref() == Some(o))
            && self.kind.as_ref().is_none_or(|k| &r.kind == k || crate::k8s::base_kind(&r.kind) == k)
    }
}

/// A part of the topology.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Graph {
    /// Resources, by id.
    pub nodes: Vec<Node>,
    /// Relations between them, sorted.
    pub edges: Vec<Edge>,
    /// More nodes matched than `max_nodes`: the graph shows the first ones by id.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

impl Graph {
    /// The part of the topology `filter` selects.
    pub fn build<'a>(
        resources: impl IntoIterator<Item = &'a Resource>,
        relations: &[Relation],
        findings: &[Finding],
        filter: &GraphFilter,
    ) -> Graph {
        let resources: BTreeMap<&ResourceId, &Resource> = resources.into_iter().map(|r| (&r.id, r)).collect();
        let mut selected: BTreeSet<&ResourceId> =
            resources.iter().filter(|(_, r)| filter.selects(r)).map(|(id, _)| *id).collect();
        if let Some(around) = &filter.around {
            selected = neighbourhood(around, filter.depth, relations, &resources)
                .into_iter()
                .filter(|id| selected.contains(id) || *id == around)
                .collect();
        }
        let truncated = selected.len() > filter.max_nodes;
        let selected: BTreeSet<&ResourceId> = selected.into_iter().take(filter.max_nodes).collect();
        let mut worst: BTreeMap<&ResourceId, (Severity, usize)> = BTreeMap::new();
        for f in findings.iter().filter(|f| f.status.is_active()) {
            let entry = worst.entry(&f.resource).or_insert((f.severity, 0));
            entry.0 = entry.0.max(f.severity);
            entry.1 += 1;
        }
        let nodes = selected
            .iter()
            .filter_map(|id| resources.get(id))
            .map(|r| Node {
                id: r.id.clone(),
                kind: r.kind.clone(),
                namespace: r.namespace.clone(),
                name: r.name.clone(),
                team: r.owner.team.clone(),
                side: r.origin.side(),
                worst: worst.get(&r.id).map(|w| w.0),
                findings: worst.get(&r.id).map_or(0, |w| w.1),
            })
            .collect();
        let edges: BTreeSet<Edge> = relations
            .iter()
            .filter(|r| selected.contains(&r.from) && selected.contains(&r.to))
            .map(|r| Edge { from: r.from.clone(), kind: r.kind, to: r.to.clone() })
            .collect();
        Graph { nodes, edges: edges.into_iter().collect(), truncated }
    }
}

/// The resources within `depth` relations of `start`, either direction, `start` included.
fn neighbourhood<'a>(
    start: &'a ResourceId,
    depth: usize,
    relations: &'a [Relation],
    resources: &BTreeMap<&'a ResourceId, &'a Resource>,
) -> BTreeSet<&'a ResourceId> {
    let mut adjacent: BTreeMap<&ResourceId, Vec<&ResourceId>> = BTreeMap::new();
    for r in relations {
        adjacent.entry(&r.from).or_default().push(&r.to);
        adjacent.entry(&r.to).or_default().push(&r.from);
    }
    let mut seen: BTreeSet<&ResourceId> = BTreeSet::new();
    if !resources.contains_key(start) {
        return seen;
    }
    let mut queue = VecDeque::from([(start, 0)]);
    seen.insert(start);
    while let Some((id, distance)) = queue.pop_front() {
        if distance == depth {
            continue;
        }
        for next in adjacent.get(id).into_iter().flatten() {
            if seen.insert(next) {
                queue.push_back((next, distance + 1));
            }
        }
    }
    seen
}
