//! Kubernetes checks, one file per area. The list below is the index of areas; each file's `CHECKS` lists its checks.

mod api_versions;
mod images;
mod metadata;
mod network;
mod pod_security;
mod rbac;
mod reliability;
mod resources;

pub(crate) use resources::quantity;
mod secrets;

use day2_model::k8s::{Container, containers, pod_spec};
use day2_model::{Attr, Provider, Resource};
use serde_json::{Value, json};

use super::{Check, Hit, Input};

/// Kubernetes check lists, by area.
pub static CHECKS: &[&[Check]] = &[
    pod_security::CHECKS,
    resources::CHECKS,
    reliability::CHECKS,
    images::CHECKS,
    network::CHECKS,
    rbac::CHECKS,
    secrets::CHECKS,
    api_versions::CHECKS,
    metadata::CHECKS,
];

/// Escapes one JSON pointer segment (RFC 6901: `~` → `~0`, `/` → `~1`).
pub(crate) fn escape(segment: &str) -> String {
    if segment.contains(['~', '/']) { segment.replace('~', "~0").replace('/', "~1") } else { segment.to_owned() }
}

/// An RFC 6902 `add` operation that sets `keys` under the object at `base` to `value`, creating missing parent objects
/// in the same operation (a plain `add` fails when a parent is missing).
pub(crate) fn set_op(root: &Attr, base: &str, keys: &[&str], value: Value) -> Value {
    let mut path = base.to_owned();
    let mut cur = root.pointer(base);
    for (i, key) in keys.iter().enumerate() {
        let next = cur.and_then(|c| c.get(*key));
        path.push('/');
        path.push_str(&escape(key));
        if next.is_none() || i + 1 == keys.len() {
            let mut v = value;
            for k in keys.iter().skip(i + 1).rev() {
                v = json!({ *k: v });
            }
            return json!({"op": "add", "path": path, "value": v});
        }
        cur = next;
    }
    json!({"op": "add", "path": path, "value": value})
}

/// A one-operation patch (as the array RFC 6902 wants).
pub(crate) fn patch(op: Value) -> Value {
    Value::Array(vec![op])
}

/// Runs `f` on every container (init and ephemeral included); collects the hits, each with subject `container <name>`.
pub(crate) fn per_container(input: &Input<'_>, f: impl Fn(&Container<'_>, &Attr) -> Option<Hit>) -> Vec<Hit> {
    let Some((_, spec)) = pod_spec(input.resource) else { return Vec::new() };
    containers(input.resource)
        .iter()
        .filter_map(|c| {
            f(c, spec).map(|h| if h.subject.is_empty() { h.subject(format!("container {}", c.name())) } else { h })
        })
        .collect()
}

/// Like [`per_container`] but skips init and ephemeral containers (probes and similar only apply to app containers).
pub(crate) fn per_app_container(input: &Input<'_>, f: impl Fn(&Container<'_>, &Attr) -> Option<Hit>) -> Vec<Hit> {
    per_container(input, |c, spec| if c.is_init() { None } else { f(c, spec) })
}

/// A security-context field, container first, then the pod's `securityContext` (Kubernetes' precedence).
pub(crate) fn effective<'a>(c: &Container<'a>, spec: &'a Attr, field: &str) -> Option<&'a Attr> {
    c.value.pointer(&format!("/securityContext/{field}")).or_else(|| spec.pointer(&format!("/securityContext/{field}")))
}

/// The pod spec's pointer and value for a workload input (checks with `Target::Workloads` always have one).
pub(crate) fn spec_of<'a>(input: &Input<'a>) -> Option<(&'static str, &'a Attr)> {
    pod_spec(input.resource)
}

/// Environment of a resource, from its owner or from the namespace name.
pub(crate) fn is_production(input: &Input<'_>) -> bool {
    let envs = &input.params.production_environments;
    let r = input.resource;
    r.owner.environment.as_ref().is_some_and(|e| envs.iter().any(|p| p.eq_ignore_ascii_case(e)))
        || envs.iter().any(|p| r.namespace.eq_ignore_ascii_case(p) || r.namespace.ends_with(&format!("-{p}")))
}

/// Kubernetes objects of base kind `kind` (`Service`, `NetworkPolicy`) in `namespace` of the input's cluster.
pub(crate) fn in_namespace<'a>(input: &Input<'a>, namespace: &str, kind: &str) -> impl Iterator<Item = &'a Resource> {
    let resource: &'a Resource = input.resource;
    let scope = resource.scope.as_str();
    let inventory = input.inventory;
    inventory.in_namespace_of_kind(namespace, kind).filter(move |r| r.provider == Provider::K8s && r.scope == scope)
}

/// The object of base kind `kind` named `name` in `namespace` of the input's cluster, whatever its API group.
pub(crate) fn find_named<'a>(input: &Input<'a>, namespace: &str, kind: &str, name: &str) -> Option<&'a Resource> {
    in_namespace(input, namespace, kind).find(|r| r.name == name)
}

/// Is the object of a kind that a CustomResourceDefinition of its cluster, in the inventory, declares cluster-scoped
/// (`spec.scope: Cluster`)? The kinds built into Kubernetes are not known here: the reader does not default a
/// namespace onto those.
pub(crate) fn cluster_scoped_custom_kind(input: &Input<'_>) -> bool {
    let r = input.resource;
    input.inventory.of_kind("apiextensions.k8s.io.CustomResourceDefinition").filter(|crd| crd.scope == r.scope).any(
        |crd| {
            let (group, kind) = (str_at(&crd.attrs, "/spec/group"), str_at(&crd.attrs, "/spec/names/kind"));
            str_at(&crd.attrs, "/spec/scope") == Some("Cluster")
                && group.zip(kind).is_some_and(|(group, kind)| {
                    r.kind.strip_suffix(kind).and_then(|g| g.strip_suffix('.')) == Some(group)
                })
        },
    )
}

/// A string field of an object (`str_at(v, "/spec/type")`).
pub(crate) fn str_at<'a>(v: &'a Attr, ptr: &str) -> Option<&'a str> {
    v.pointer(ptr).and_then(Attr::as_str)
}

/// A scalar as written in the manifest (`512Mi`, `3`), for messages.
pub(crate) fn show(v: &Attr) -> String {
    v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())
}

/// The items of an array field, empty when absent or not an array.
pub(crate) fn items<'a>(v: Option<&'a Attr>) -> impl Iterator<Item = &'a Attr> + 'a {
    v.and_then(Attr::as_array).into_iter().flatten()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn set_op_creates_missing_parents_in_one_operation() {
        let root = Attr::from(json!({"spec": {"c": {"name": "x"}}}));
        assert_eq!(
            set_op(&root, "/spec/c", &["securityContext", "privileged"], json!(false)),
            json!({"op": "add", "path": "/spec/c/securityContext", "value": {"privileged": false}})
        );
        let root = Attr::from(json!({"spec": {"c": {"securityContext": {}}}}));
        assert_eq!(
            set_op(&root, "/spec/c", &["securityContext", "privileged"], json!(false)),
            json!({"op": "add", "path": "/spec/c/securityContext/privileged", "value": false})
        );
        assert_eq!(escape("a/b~c"), "a~1b~0c");
    }
}
