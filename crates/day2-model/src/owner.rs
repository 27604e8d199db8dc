//! Ownership: who answers for a resource, derived from labels and tags by configurable keys.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Team, service, environment and owner of a resource. Every field is optional: unknown is honest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Owner {
    /// Owning team.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    /// Service (application) the resource belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Environment: prod, staging, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// A person or alias to contact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

impl Owner {
    /// True when nothing is known.
    pub fn is_empty(&self) -> bool {
        self.team.is_none() && self.service.is_none() && self.environment.is_none() && self.owner.is_none()
    }

    /// A short label for tables: the team, else the owner, else the service.
    pub fn display(&self) -> Option<&str> {
        self.team.as_deref().or(self.owner.as_deref()).or(self.service.as_deref())
    }
}

/// Which label/tag keys carry ownership, tried in order; the first present wins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct OwnerKeys {
    /// Keys for the team. Default: `team`, `app.kubernetes.io/team`, `owner-team`.
    pub team: Vec<String>,
    /// Keys for the service. Default: `app.kubernetes.io/name`, `app.kubernetes.io/part-of`, `service`, `app`.
    pub service: Vec<String>,
    /// Keys for the environment. Default: `env`, `environment`, `app.kubernetes.io/environment`.
    pub environment: Vec<String>,
    /// Keys for a contact. Default: `owner`, `app.kubernetes.io/owner`.
    pub owner: Vec<String>,
}

impl Default for OwnerKeys {
    fn default() -> Self {
        let v = |keys: &[&str]| keys.iter().map(|k| (*k).to_owned()).collect();
        OwnerKeys {
            team: v(&["team", "app.kubernetes.io/team", "owner-team"]),
            service: v(&["app.kubernetes.io/name", "app.kubernetes.io/part-of", "service", "app"]),
            environment: v(&["env", "environment", "app.kubernetes.io/environment"]),
            owner: v(&["owner", "app.kubernetes.io/owner"]),
        }
    }
}

impl OwnerKeys {
    /// Derives an owner from labels/tags; `fallback` (e.g. a Namespace's labels) fills what the object itself lacks.
    pub fn derive(&self, labels: &BTreeMap<String, String>, fallback: Option<&BTreeMap<String, String>>) -> Owner {
        let pick = |keys: &[String]| {
            let find = |map: &BTreeMap<String, String>| {
                keys.iter().find_map(|k| map.get(k).filter(|v| !v.is_empty()).cloned())
            };
            find(labels).or_else(|| fallback.and_then(find))
        };
        Owner {
            team: pick(&self.team),
            service: pick(&self.service),
            environment: pick(&self.environment),
            owner: pick(&self.owner),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn object_labels_win_over_namespace_fallback() {
        let keys = OwnerKeys::default();
        let own: BTreeMap<_, _> = [("app.kubernetes.io/name".to_owned(), "cart".to_owned())].into();
        let ns: BTreeMap<_, _> =
            [("team".to_owned(), "payments".to_owned()), ("app".to_owned(), "ignored".to_owned())].into();
        let owner = keys.derive(&own, Some(&ns));
        assert_eq!(owner.service.as_deref(), Some("cart"));
        assert_eq!(owner.team.as_deref(), Some("payments"));
        assert_eq!(owner.environment, None);
    }
}
