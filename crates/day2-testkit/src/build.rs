//! Builders for model values in tests: a Deployment [`resource`] and a [`finding`] on it, with every field filled so
//! tests only spell out what they are about.

use chrono::Utc;
use day2_model::{Finding, Origin, Owner, Provider, Resource, ResourceId, Severity};

/// A declared `apps.Deployment` `shop/<name>` in cluster `c`, read from `<name>.yaml` line 1 by source `source`.
pub fn resource(name: &str, source: &str) -> Resource {
    Resource {
        id: ResourceId::new(Provider::K8s, "c", "apps.Deployment", "shop", name),
        provider: Provider::K8s,
        scope: "c".into(),
        kind: "apps.Deployment".into(),
        api_version: "apps/v1".into(),
        namespace: "shop".into(),
        name: name.into(),
        labels: Default::default(),
        owner: Default::default(),
        attrs: serde_json::json!({"metadata": {"name": name}}).into(),
        origin: Origin::Declared {
            file: format!("{name}.yaml"),
            line: 1,
            template: None,
            module: None,
            attributes: Default::default(),
        },
        source: source.into(),
    }
}

/// An open, high-severity security finding of `rule` on `r`, seen now.
pub fn finding(rule: &str, r: &Resource) -> Finding {
    Finding {
        severity: Severity::High,
        title: format!("title of {rule}").into(),
        message: format!("{rule} on {}", r.name),
        template: None,
        owner: Owner::default(),
        remediation: "fix it".into(),
        ..Finding::about(r, "checks", rule, "", Utc::now())
    }
}
