//! Kubernetes objects shaped into resources: ids scoped by cluster, namespaces defaulted (or not, for cluster-scoped
//! kinds), labels read, and Secret values masked (day2_model::redact) before anything else sees the object. Shared by
//! declared manifests and objects read from a cluster's API.

use std::collections::BTreeMap;

use day2_model::redact;
use day2_model::{Origin, Provider, Resource, ResourceId};
use serde_json::Value;

pub use day2_model::k8s::qualified_kind;

/// Why an object cannot be a resource. The messages name the kind, and the object's name once it is known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ObjectError {
    /// `apiVersion` or `kind` missing (objects read from an API).
    #[error("object has no apiVersion/kind")]
    NoKind,
    /// No `metadata` at all.
    #[error("{kind} has no `metadata`")]
    NoMetadata {
        /// The object's kind.
        kind: String,
    },
    /// `metadata` is not a mapping.
    #[error("{kind}: `metadata` must be a mapping")]
    MetadataNotMapping {
        /// The object's kind.
        kind: String,
    },
    /// Neither `metadata.name` nor `metadata.generateName`.
    #[error("{kind} has no `metadata.name`")]
    NoName {
        /// The object's kind.
        kind: String,
    },
    /// `metadata.name` empty or not a string.
    #[error("{kind}: `metadata.name` must be a non-empty string")]
    BadName {
        /// The object's kind.
        kind: String,
    },
    /// `metadata.namespace` not a string.
    #[error("{kind} {name}: `metadata.namespace` must be a string")]
    BadNamespace {
        /// The object's kind.
        kind: String,
        /// The object's name.
        name: String,
    },
    /// A label or annotation value that is not a string (an unquoted `true` or number).
    #[error("{kind} {name}: {field} `{key}` must be a string (quote the value)")]
    NotAString {
        /// The object's kind.
        kind: String,
        /// The object's name.
        name: String,
        /// `label` or `annotation`.
        field: &'static str,
        /// The offending key.
        key: String,
    },
}

/// Where Kubernetes objects are read from: the cluster that scopes their ids and the namespace of objects that name none.
pub(super) struct Object<'a> {
    pub(super) cluster: &'a str,
    pub(super) default_namespace: &'a str,
}

impl Object<'_> {
    /// Builds the resource of one object, masking Secret values. `generated` tells apart objects that only carry a
    /// `generateName`.
    pub(super) fn resource(
        &self,
        mut value: Value,
        api_version: String,
        kind: String,
        generated: &str,
        origin: Origin,
        source: &str,
    ) -> Result<Resource, ObjectError> {
        let metadata = match value.get("metadata") {
            None => return Err(ObjectError::NoMetadata { kind }),
            Some(Value::Object(m)) => m,
            Some(_) => return Err(ObjectError::MetadataNotMapping { kind }),
        };
        let name = match (metadata.get("name"), metadata.get("generateName")) {
            (Some(Value::String(n)), _) if !n.is_empty() => n.clone(),
            (None, Some(Value::String(g))) => format!("{g}*{generated}"),
            (Some(_), _) => return Err(ObjectError::BadName { kind }),
            (None, _) => return Err(ObjectError::NoName { kind }),
        };
        let namespace = match metadata.get("namespace") {
            Some(Value::String(ns)) => ns.clone(),
            Some(_) => return Err(ObjectError::BadNamespace { kind, name }),
            None if is_cluster_scoped(&kind) => String::new(),
            None => self.default_namespace.to_owned(),
        };
        let not_a_string = |field, key| ObjectError::NotAString { kind: kind.clone(), name: name.clone(), field, key };
        let labels = string_map(metadata.get("labels")).map_err(|key| not_a_string("label", key))?;
        string_map(metadata.get("annotations")).map_err(|key| not_a_string("annotation", key))?;
        // Credentials become tokens before anything else sees the object (day2_model::redact).
        redact::redact_kubernetes(redact::Redactor::process(), &mut value);
        let kind_id = qualified_kind(&api_version, &kind);
        Ok(Resource {
            id: ResourceId::new(Provider::K8s, self.cluster, &kind_id, &namespace, &name),
            provider: Provider::K8s,
            scope: self.cluster.to_owned(),
            kind: kind_id,
            api_version,
            namespace,
            name,
            labels,
            owner: Default::default(),
            attrs: value.into(),
            origin,
            source: source.to_owned(),
        })
    }
}

/// The resource of one object read from a cluster's API (`apiVersion` and `kind` set): ids scoped by `cluster`,
/// Secret values masked. Cluster-scoped objects carry no namespace, so none is defaulted.
pub fn live_resource(value: Value, cluster: &str, origin: Origin, source: &str) -> Result<Resource, ObjectError> {
    let api_version = value.get("apiVersion").and_then(Value::as_str).unwrap_or_default().to_owned();
    let kind = value.get("kind").and_then(Value::as_str).unwrap_or_default().to_owned();
    if api_version.is_empty() || kind.is_empty() {
        return Err(ObjectError::NoKind);
    }
    Object { cluster, default_namespace: "" }.resource(value, api_version, kind, "", origin, source)
}

/// Kinds that live outside namespaces (built-in API plus common CRDs).
pub fn is_cluster_scoped(kind: &str) -> bool {
    matches!(
        kind,
        "Namespace"
            | "Node"
            | "PersistentVolume"
            | "ClusterRole"
            | "ClusterRoleBinding"
            | "StorageClass"
            | "CustomResourceDefinition"
            | "PriorityClass"
            | "ValidatingWebhookConfiguration"
            | "MutatingWebhookConfiguration"
            | "ValidatingAdmissionPolicy"
            | "ValidatingAdmissionPolicyBinding"
            | "APIService"
            | "IngressClass"
            | "RuntimeClass"
            | "CSIDriver"
            | "CSINode"
            | "VolumeAttachment"
            | "PodSecurityPolicy"
            | "VolumeSnapshotClass"
            | "ClusterIssuer"
            | "ConstraintTemplate"
            | "FlowSchema"
            | "PriorityLevelConfiguration"
            | "CertificateSigningRequest"
    )
}

fn string_map(value: Option<&Value>) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    if let Some(Value::Object(m)) = value {
        for (k, v) in m {
            match v {
                Value::String(s) => {
                    out.insert(k.clone(), s.clone());
                }
                Value::Null => {
                    out.insert(k.clone(), String::new());
                }
                _ => return Err(k.clone()),
            }
        }
    }
    Ok(out)
}

/// True for objects as the API server returns them: only the server assigns `uid` and `resourceVersion`, so a
/// declaration never carries both (an exported `kubectl get -o yaml` does).
pub(super) fn is_live_object(object: &Value) -> bool {
    let meta = object.get("metadata");
    meta.and_then(|m| m.get("uid")).is_some() && meta.and_then(|m| m.get("resourceVersion")).is_some()
}
