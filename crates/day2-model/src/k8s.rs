//! Kubernetes object shapes that several crates need: where a workload keeps its pod spec, and label selector matching.
//!
//! Pure functions over raw objects ([`Attr`](crate::Attr)), so they work the same on manifests and on live API objects.

use crate::attr::{Attr, Fields};

use crate::resource::Resource;

/// `apps/v1` + `Deployment` → `apps.Deployment`; core group (`v1`) → `Service`: the kind as resource ids spell it.
pub fn qualified_kind(api_version: &str, kind: &str) -> String {
    match api_version.rsplit_once('/') {
        Some((group, _)) if !group.is_empty() => format!("{group}.{kind}"),
        _ => kind.to_owned(),
    }
}

/// The kind without its API group: `apps.Deployment` → `Deployment`.
pub fn base_kind(kind: &str) -> &str {
    kind.rsplit('.').next().unwrap_or(kind)
}

/// JSON pointer to the pod spec of a workload kind, or None for kinds that run no pods.
pub fn pod_spec_pointer(kind: &str) -> Option<&'static str> {
    match base_kind(kind) {
        "Pod" => Some("/spec"),
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "ReplicationController" | "Job" => {
            Some("/spec/template/spec")
        }
        "CronJob" => Some("/spec/jobTemplate/spec/template/spec"),
        _ => None,
    }
}

/// The pod spec of a workload and the pointer it lives at.
pub fn pod_spec(resource: &Resource) -> Option<(&'static str, &Attr)> {
    let ptr = pod_spec_pointer(&resource.kind)?;
    resource.attrs.pointer(ptr).filter(|v| v.is_object()).map(|v| (ptr, v))
}

/// Labels the workload's pods will carry (`metadata.labels` of a Pod, of the template otherwise).
pub fn pod_labels(resource: &Resource) -> Option<&Fields> {
    let ptr = pod_spec_pointer(&resource.kind)?;
    let meta = ptr.strip_suffix("/spec").map(|p| format!("{p}/metadata/labels")).unwrap_or_default();
    if base_kind(&resource.kind) == "Pod" {
        return resource.attrs.pointer("/metadata/labels").and_then(Attr::as_object);
    }
    resource.attrs.pointer(&meta).and_then(Attr::as_object)
}

/// A container of a pod spec, with where it lives so checks can point at it.
#[derive(Debug, Clone, Copy)]
pub struct Container<'a> {
    /// Pointer to the pod spec (`/spec/template/spec`).
    pub spec_pointer: &'static str,
    /// `containers`, `initContainers` or `ephemeralContainers`.
    pub list: &'static str,
    /// Position in that list.
    pub index: usize,
    /// The container.
    pub value: &'a Attr,
}

impl Container<'_> {
    /// JSON pointer to this container (`/spec/template/spec/containers/0`).
    pub fn pointer(&self) -> String {
        format!("{}/{}/{}", self.spec_pointer, self.list, self.index)
    }

    /// Container name (`?` when absent).
    pub fn name(&self) -> &str {
        self.value.get("name").and_then(Attr::as_str).unwrap_or("?")
    }

    /// True for `initContainers` and `ephemeralContainers`.
    pub fn is_init(&self) -> bool {
        self.list != "containers"
    }
}

/// All containers of a workload: `containers`, `initContainers`, `ephemeralContainers`.
pub fn containers(resource: &Resource) -> Vec<Container<'_>> {
    let Some((ptr, spec)) = pod_spec(resource) else { return Vec::new() };
    let mut out = Vec::new();
    for list in ["containers", "initContainers", "ephemeralContainers"] {
        for (i, c) in spec.get(list).and_then(Attr::as_array).into_iter().flatten().enumerate() {
            if c.is_object() {
                out.push(Container { spec_pointer: ptr, list, index: i, value: c });
            }
        }
    }
    out
}

/// Does a label selector (`matchLabels` / `matchExpressions`, or a plain map as in Service `spec.selector`) match these
/// labels? An empty selector matches everything, as in Kubernetes; a malformed one matches nothing.
pub fn selector_matches(selector: &Attr, labels: Option<&Fields>) -> bool {
    let empty = Fields::default();
    let labels = labels.unwrap_or(&empty);
    let Some(sel) = selector.as_object() else { return false };
    let is_label_selector = sel.contains_key("matchLabels") || sel.contains_key("matchExpressions");
    let match_labels = if is_label_selector { sel.get("matchLabels").and_then(Attr::as_object) } else { Some(sel) };
    for (k, v) in match_labels.into_iter().flatten() {
        if labels.get(k) != Some(v) {
            return false;
        }
    }
    if !is_label_selector {
        return true;
    }
    for expr in sel.get("matchExpressions").and_then(Attr::as_array).into_iter().flatten() {
        let key = expr.get("key").and_then(Attr::as_str).unwrap_or_default();
        let values: Vec<&str> =
            expr.get("values").and_then(Attr::as_array).into_iter().flatten().filter_map(Attr::as_str).collect();
        let actual = labels.get(key).and_then(Attr::as_str);
        let ok = match expr.get("operator").and_then(Attr::as_str) {
            Some("In") => actual.is_some_and(|a| values.contains(&a)),
            Some("NotIn") => actual.is_none_or(|a| !values.contains(&a)),
            Some("Exists") => actual.is_some(),
            Some("DoesNotExist") => actual.is_none(),
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    true
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selectors_follow_kubernetes_semantics() {
        let labels = Attr::from(json!({"app": "cart", "tier": "web"}));
        let l = labels.as_object();
        let selector_matches = |selector: serde_json::Value, labels| selector_matches(&Attr::from(selector), labels);
        assert!(selector_matches(json!({"app": "cart"}), l));
        assert!(!selector_matches(json!({"app": "cart", "x": "y"}), l));
        assert!(selector_matches(
            json!({"matchLabels": {"app": "cart"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["web"]}]}),
            l
        ));
        assert!(!selector_matches(json!({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}), l));
        assert!(selector_matches(json!({}), l));
    }
}
