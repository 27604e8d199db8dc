//! Posture on both sides of the fleet: a posture analyzer (built-in checks, Rego policies) runs on declared state and
//! on live state alike, and the two results become one.
//!
//! - A problem seen on both sides is one finding: the declared one (it names the file and line to fix), marked as
//!   seen live too. Kubernetes objects share their id across sides; an AWS object is matched to the Terraform address
//!   that declares it through [`Inputs::declared_as`].
//! - A problem seen only live (a Deployment made by hand, a security group opened in the console, a manifest fixed in
//!   Git but not yet applied) is a finding about the live object.
//! - Live objects that a controller owns (the ReplicaSets and Pods of a Deployment) are not checked when their owner
//!   is in the same inventory: the owner's finding covers them, once. A bare Pod is checked.

use std::collections::HashMap;

use day2_model::{FindingId, Inventory, Provider, Resource, ResourceId, Side};

use crate::{Analysis, Inputs};

/// Runs `analyze` on the declared inventory (every resource) and on the live one (objects no present controller
/// owns), then merges. `rekey` gives the id a live finding would have about another resource (its declared
/// counterpart), the same way the analyzer computes ids.
pub fn both_sides(
    inputs: &Inputs<'_>,
    analyze: impl Fn(&Inventory, &(dyn Fn(&Resource) -> bool + Sync)) -> Analysis,
    rekey: impl Fn(&day2_model::Finding, &ResourceId) -> FindingId,
) -> Analysis {
    // Declared AWS objects are views of Terraform resources made for drift pairing: checked as the Terraform
    // resources they are, once.
    let mut merged = analyze(inputs.declared, &|r: &Resource| r.provider != Provider::Aws);
    if inputs.live.is_empty() {
        return merged;
    }
    let live = analyze(inputs.live, &|r: &Resource| !owned_by_present_controller(r, inputs.live));
    let mut index: HashMap<FindingId, usize> =
        merged.findings.iter().enumerate().map(|(i, f)| (f.id.clone(), i)).collect();
    let Analysis { findings, diagnostics, rules_run, applicable, rules, coverage } = live;
    for finding in findings {
        let declared_id = match inputs.declared_as.get(&finding.resource) {
            Some(declared) => rekey(&finding, declared),
            None => finding.id.clone(),
        };
        match index.get(&declared_id).and_then(|&i| merged.findings.get_mut(i)) {
            Some(declared) => {
                if !declared.sides.contains(&Side::Live) {
                    declared.sides.push(Side::Live);
                }
            }
            None => {
                index.insert(finding.id.clone(), merged.findings.len());
                merged.findings.push(finding);
            }
        }
    }
    // A rule ran only if it ran on both sides (a policy that failed on live objects has incomplete results there),
    // and it is applicable only if it ran.
    merged.rules_run.retain(|rule| rules_run.contains(rule));
    merged.applicable.extend(applicable);
    let ran = &merged.rules_run;
    merged.applicable.retain(|rule| ran.contains(rule));
    merged.merge(Analysis { findings: Vec::new(), diagnostics, rules, coverage, ..Analysis::default() });
    merged
}

/// Whether a controller that is itself in `inventory` owns this live Kubernetes object.
fn owned_by_present_controller(resource: &Resource, inventory: &Inventory) -> bool {
    if resource.provider != Provider::K8s {
        return false;
    }
    let Some(owners) = resource.attrs.pointer("/metadata/ownerReferences").and_then(|o| o.as_array()) else {
        return false;
    };
    owners.iter().filter(|o| o.get("controller").and_then(|c| c.as_bool()) == Some(true)).any(|owner| {
        let field = |name: &str| owner.get(name).and_then(|v| v.as_str()).unwrap_or_default();
        let kind = day2_model::k8s::qualified_kind(field("apiVersion"), field("kind"));
        let id = ResourceId::new(Provider::K8s, &resource.scope, &kind, &resource.namespace, field("name"));
        // A namespaced object may also be owned by a cluster-scoped one (an operator's cluster-scoped custom resource
        // owns the DaemonSets it makes), whose id has no namespace. Kubernetes allows no other owner, so looking in
        // both places finds the owner whatever the scope of its kind, CRD in the inventory or not.
        let cluster_scoped = ResourceId::new(Provider::K8s, &resource.scope, &kind, "", field("name"));
        inventory.get(&id).is_some() || (!resource.namespace.is_empty() && inventory.get(&cluster_scoped).is_some())
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use day2_model::{Finding, Origin, Snapshot};
    use serde_json::json;

    fn live(kind: &str, name: &str, attrs: serde_json::Value) -> Resource {
        Resource {
            id: ResourceId::new(Provider::K8s, "c", kind, "shop", name),
            provider: Provider::K8s,
            scope: "c".into(),
            kind: kind.into(),
            api_version: String::new(),
            namespace: "shop".into(),
            name: name.into(),
            labels: Default::default(),
            owner: Default::default(),
            attrs: attrs.into(),
            origin: Origin::Live { source: "live:c".into(), observed_at: chrono::Utc::now() },
            source: "live:c".into(),
        }
    }

    #[test]
    fn owned_objects_are_left_to_their_controller() {
        let owner_ref = |kind: &str, name: &str| json!({"metadata": {"ownerReferences": [{"apiVersion": "apps/v1", "kind": kind, "name": name, "controller": true}]}});
        let resources = vec![
            live("apps.Deployment", "web", json!({})),
            live("apps.ReplicaSet", "web-1", owner_ref("Deployment", "web")),
            live("Pod", "web-1-a", owner_ref("ReplicaSet", "web-1")),
            live("Pod", "orphan", owner_ref("ReplicaSet", "gone")),
            live("Pod", "bare", json!({})),
        ];
        let (inventory, _) =
            Inventory::from_snapshots(vec![Snapshot { resources: resources.clone(), ..Snapshot::default() }]);
        let checked: Vec<&str> =
            resources.iter().filter(|r| !owned_by_present_controller(r, &inventory)).map(|r| r.name.as_str()).collect();
        assert_eq!(checked, ["web", "orphan", "bare"]);
    }

    #[test]
    fn a_cluster_scoped_owner_is_found_without_a_namespace() {
        let owner = Resource {
            id: ResourceId::new(Provider::K8s, "c", "nvidia.com.ClusterPolicy", "", "cluster-policy"),
            namespace: String::new(),
            ..live("nvidia.com.ClusterPolicy", "cluster-policy", json!({}))
        };
        let owner_ref = json!({"metadata": {"ownerReferences": [
            {"apiVersion": "nvidia.com/v1", "kind": "ClusterPolicy", "name": "cluster-policy", "controller": true}
        ]}});
        let owned = live("apps.DaemonSet", "nvidia-driver-daemonset", owner_ref);
        let (inventory, _) =
            Inventory::from_snapshots(vec![Snapshot { resources: vec![owner, owned.clone()], ..Snapshot::default() }]);
        assert!(owned_by_present_controller(&owned, &inventory));
    }

    #[test]
    fn one_problem_on_both_sides_is_one_finding() {
        let declared_pod = Resource {
            origin: Origin::Declared {
                file: "pod.yaml".into(),
                line: 3,
                template: None,
                module: None,
                attributes: Default::default(),
            },
            ..live("Pod", "bare", json!({}))
        };
        let (declared, _) =
            Inventory::from_snapshots(vec![Snapshot { resources: vec![declared_pod], ..Default::default() }]);
        let (live_inventory, _) = Inventory::from_snapshots(vec![Snapshot {
            resources: vec![live("Pod", "bare", json!({})), live("Pod", "hand-made", json!({}))],
            ..Default::default()
        }]);
        let no_mapping = HashMap::new();
        let inputs = Inputs { declared: &declared, live: &live_inventory, scopes: &[], declared_as: &no_mapping };
        let now = chrono::Utc::now();
        let analysis = both_sides(
            &inputs,
            |inventory, include| Analysis {
                findings: inventory
                    .resources()
                    .iter()
                    .filter(|r| include(r))
                    .map(|r| Finding::about(r, "checks", "R", "", now))
                    .collect(),
                ..Analysis::default()
            },
            |f, id| FindingId::compute(&f.analyzer, &f.rule_id, id, &f.subject),
        );
        let seen: Vec<(&str, Vec<Side>, Option<u32>)> = analysis
            .findings
            .iter()
            .map(|f| (f.resource.as_str().rsplit('/').next().unwrap(), f.sides.clone(), f.line))
            .collect();
        assert_eq!(seen, [("bare", vec![Side::Declared, Side::Live], Some(3)), ("hand-made", vec![Side::Live], None)]);
    }
}
