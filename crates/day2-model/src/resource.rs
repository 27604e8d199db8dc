//! Resources: one object that day2 knows about, declared (from Git) or live (from an API), and the snapshots that carry them.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::attr::Attr;
use crate::owner::Owner;

/// Where a resource comes from. The provider is the first segment of its [`ResourceId`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// Kubernetes objects (manifests or API).
    K8s,
    /// Terraform resources (state or plan).
    Tf,
    /// AWS objects seen through the AWS API.
    Aws,
    /// PostgreSQL objects.
    Postgres,
    /// Prometheus rules and scrape targets.
    Prometheus,
}

impl Provider {
    /// The lowercase name used in resource ids.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::K8s => "k8s",
            Provider::Tf => "tf",
            Provider::Aws => "aws",
            Provider::Postgres => "postgres",
            Provider::Prometheus => "prometheus",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Stable, human-readable identity: `provider/scope/kind/namespace/name`.
///
/// Examples: `k8s/prod-eu/apps.Deployment/shop/cart`, `k8s/prod-eu/Namespace//shop` (cluster-scoped: empty namespace),
/// `tf/infra/terraform.tfstate/aws_instance/module.web.aws_instance.web[0]`. The name is the last segment and may itself
/// contain `/` (Terraform addresses with for_each keys do), so parsing splits at most four times.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct ResourceId(String);

impl ResourceId {
    /// Builds an id from its parts.
    pub fn new(provider: Provider, scope: &str, kind: &str, namespace: &str, name: &str) -> Self {
        let mut s = String::with_capacity(
            provider.as_str().len() + scope.len() + kind.len() + namespace.len() + name.len() + 4,
        );
        s.push_str(provider.as_str());
        for part in [scope, kind, namespace, name] {
            s.push('/');
            s.push_str(part);
        }
        ResourceId(s)
    }

    /// The namespace part (empty for cluster-scoped objects and cloud resources).
    pub fn namespace(&self) -> &str {
        self.0.split('/').nth(3).unwrap_or_default()
    }

    /// Wraps an id string read back from a store or a config file.
    pub fn from_raw(raw: impl Into<String>) -> Self {
        ResourceId(raw.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a declaration says about single attributes of an object, by JSON pointer into its attrs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DeclaredAttributes {
    /// Declaring lines (`/ingress/0/cidr_blocks` → 16): a finding whose evidence points inside the object gets the
    /// nearest one.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub lines: std::collections::BTreeMap<String, u32>,
    /// Attributes that are set but whose values are known only after apply (absent from the attrs): nothing may be
    /// concluded from their absence.
    #[serde(default, skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    pub unknown: std::collections::BTreeSet<String>,
}

impl DeclaredAttributes {
    /// Nothing known about single attributes.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty() && self.unknown.is_empty()
    }
}

/// How day2 learned about a resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Origin {
    /// From declared state: a manifest or a Terraform file.
    Declared {
        /// Path of the file, as given on the command line or in config (`-` for stdin).
        file: String,
        /// 1-based line of the object in the file (0 when the format carries no lines, e.g. Terraform JSON).
        line: u32,
        /// Helm template path from a `# Source:` comment, when the file is Helm-rendered output.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        template: Option<String>,
        /// Terraform module address (`module.net.module.vpc`), empty for the root module.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        module: Option<String>,
        /// What is known about single attributes, where the format says (Terraform configuration and plans).
        #[serde(default, skip_serializing_if = "DeclaredAttributes::is_empty")]
        attributes: DeclaredAttributes,
    },
    /// From a live API.
    Live {
        /// Name of the source that observed it.
        source: String,
        /// When it was observed.
        observed_at: DateTime<Utc>,
    },
}

impl Origin {
    /// Which side of the fleet this origin is on.
    pub fn side(&self) -> Side {
        match self {
            Origin::Declared { .. } => Side::Declared,
            Origin::Live { .. } => Side::Live,
        }
    }

    /// `file:line` for declared resources, for messages and reports.
    pub fn location(&self) -> Option<(&str, u32)> {
        match self {
            Origin::Declared { file, line, .. } => Some((file.as_str(), *line)),
            Origin::Live { .. } => None,
        }
    }
}

/// The two sides of a fleet: what Git (or a state file) declares, and what runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// Manifests, Terraform, declaration files.
    Declared,
    /// A cluster's API, a cloud account, a database's catalogs (or a recording of them).
    Live,
}

impl Side {
    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Declared => "declared",
            Side::Live => "live",
        }
    }
}

/// One object: a Kubernetes manifest, a Terraform resource instance, a live API object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Resource {
    /// Stable identity.
    pub id: ResourceId,
    /// Provider (first id segment).
    pub provider: Provider,
    /// Cluster, account/region or state file (second id segment).
    pub scope: String,
    /// Kind: `apps.Deployment`, `Service`, `aws_s3_bucket`, …
    pub kind: String,
    /// API version for Kubernetes objects (`apps/v1`), provider name for Terraform (`registry.terraform.io/hashicorp/aws`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// Namespace, empty when cluster-scoped or not applicable.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// Name (Terraform: the full address).
    pub name: String,
    /// Labels (Kubernetes) or tags (cloud).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Team / service / environment / owner, derived from labels and tags.
    #[serde(default, skip_serializing_if = "Owner::is_empty")]
    pub owner: Owner,
    /// The raw object, unmodified apart from masked secrets.
    pub attrs: Attr,
    /// Where it came from.
    pub origin: Origin,
    /// Name of the source (snapshot) that produced it.
    pub source: String,
}

impl Resource {
    /// A Kubernetes annotation (or, for cloud resources, a tag) by key.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        match self.provider {
            Provider::K8s => {
                self.attrs.pointer("/metadata/annotations").and_then(|a| a.get(key)).and_then(|v| v.as_str())
            }
            _ => self.labels.get(key).map(String::as_str),
        }
    }

    /// `file:line` of the declaration, when declared.
    pub fn location(&self) -> Option<(&str, u32)> {
        self.origin.location()
    }

    /// The declaring line of the attribute at `pointer`, or of the nearest enclosing one that has a line; the
    /// object's own line when none has.
    pub fn line_of(&self, pointer: &str) -> Option<u32> {
        let Origin::Declared { line, attributes, .. } = &self.origin else { return None };
        let mut at = pointer;
        loop {
            if let Some(l) = attributes.lines.get(at) {
                return Some(*l);
            }
            match at.rfind('/') {
                Some(i) if i > 0 => at = &at[..i],
                _ => return Some(*line),
            }
        }
    }

    /// Is the attribute at `pointer`, or one enclosing it, set to a value known only after apply?
    pub fn unknown_at(&self, pointer: &str) -> bool {
        let Origin::Declared { attributes, .. } = &self.origin else { return false };
        attributes
            .unknown
            .iter()
            .any(|u| pointer == u || pointer.strip_prefix(u.as_str()).is_some_and(|rest| rest.starts_with('/')))
    }

    /// The Helm template it was rendered from (`# Source:`), when declared by one.
    pub fn template(&self) -> Option<&str> {
        match &self.origin {
            Origin::Declared { template, .. } => template.as_deref(),
            Origin::Live { .. } => None,
        }
    }
}

/// Everything one source saw in one run.
///
/// `complete == false` means collection failed or was cut short: consumers must not conclude that anything absent from
/// this snapshot is gone (no "missing" drift, no resolving of findings).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Snapshot {
    /// Source name, e.g. `manifests:examples/fleet/k8s`.
    pub source: String,
    /// The resources seen.
    pub resources: Vec<Resource>,
    /// Whether everything in scope was read.
    pub complete: bool,
    /// Problems met while reading (bad files, skipped documents).
    pub diagnostics: Vec<crate::Diagnostic>,
    /// Files read.
    pub files: usize,
    /// Relations the source itself knows (e.g. Terraform references from plan configuration).
    pub relations: Vec<crate::Relation>,
    /// Changes a plan announces (`resource_changes`) or has detected (`resource_drift`).
    pub changes: Vec<Change>,
    /// What a live collection looked at; absence means "gone" only within it.
    pub examined: Examined,
}

/// What a live collection looked at, so drift calls "missing" only what was looked for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Examined {
    /// Everything in the scope (database catalogs, cloud APIs, a declared source).
    #[default]
    Everything,
    /// Only the kinds and namespaces present in the snapshot: a recording holds what someone chose to export
    /// (`kubectl get deploy,svc -n shop`), so an object of another kind or namespace was not looked at.
    WhatIsPresent,
    /// These kinds (qualified as in resource ids, `apps.Deployment`) were listed, in these namespaces (`None`: all).
    Listed {
        /// Kinds listed.
        kinds: std::collections::BTreeSet<String>,
        /// Namespaces listed, `None` for all; cluster-scoped kinds are listed whole either way.
        namespaces: Option<std::collections::BTreeSet<String>>,
    },
}

/// A change to a resource announced by declared state, e.g. one entry of a Terraform plan's `resource_changes` or
/// `resource_drift`. Kept for the drift and cost analyzers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// The resource concerned.
    pub id: ResourceId,
    /// Actions: `create`, `update`, `delete`, `no-op`, `read` (Terraform's words).
    pub actions: Vec<String>,
    /// State before (null for a create).
    pub before: serde_json::Value,
    /// State after (null for a delete); unknown values are absent.
    pub after: serde_json::Value,
    /// True for drift detected outside the configuration (`resource_drift`), false for planned changes.
    pub drift: bool,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn resource_id_joins_parts_with_empty_namespace_for_cluster_scope() {
        let id = ResourceId::new(Provider::K8s, "prod", "Namespace", "", "shop");
        assert_eq!(id.as_str(), "k8s/prod/Namespace//shop");
    }
}
