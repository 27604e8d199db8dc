//! Live AWS state, read with the AWS SDK and shaped like Terraform state so the two pair.
//!
//! Each `live.aws[]` entry is one account and region. Objects become `aws/<scope>/<terraform type>//<name in AWS>`;
//! [`declared_view`] gives the Terraform state's resources of the same types the same ids (by instance id, bucket
//! name, role name, …) and the same canonical attributes ([`normalize`]), so drift pairs them like any other source
//! and compares them field by field. Requests are paced per entry (`requests_per_second`) and retried with the SDK's
//! adaptive mode, which backs off on throttling. A type (or one S3 bucket) that cannot be read makes the snapshot
//! incomplete, so nothing in the scope is reported missing; what was read is kept.

pub use day2_model::aws as normalize;
#[cfg(feature = "aws")]
mod read;

use std::collections::BTreeMap;

use day2_model::{Attr, Provider, Resource, ResourceId};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[cfg(feature = "aws")]
pub use read::collect;

/// One AWS account and region (`- aws: {…}` in `sources`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AwsConfig {
    /// Scope of resource ids (`aws/<name>/…`) and of coverage. Default: the region.
    pub name: Option<String>,
    /// Region. Required: declared state is split between entries by region, which must not depend on the
    /// environment of the machine that runs day2.
    pub region: Option<String>,
    /// Named profile of the shared config and credentials files. Default: the SDK's credential chain
    /// (environment, profile, SSO, web identity, container and instance roles).
    pub profile: Option<String>,
    /// Endpoint override for every service (a test server, a VPC endpoint, LocalStack).
    pub endpoint_url: Option<String>,
    /// Terraform sources (their `name`, the scope of `tf/<name>/…` ids) that describe this account and region.
    /// Default: all. A Terraform resource whose ARN names another region is left to that region's entry.
    pub terraform: Vec<String>,
    /// Terraform resource types to read. Default: all that day2 reads (see docs/configuration.md).
    pub types: Vec<String>,
    /// Requests per second to this account, across all services. Default 10.
    pub requests_per_second: f64,
    /// Attempts per request, with backoff (the SDK's adaptive retry mode). Default 5.
    pub max_attempts: u32,
    /// Seconds allowed for each attempt of a request. Default 30.
    pub timeout_seconds: u64,
    /// Name of the source in reports and the store. Default `live:aws:<name>`.
    pub source_name: Option<String>,
}

impl Default for AwsConfig {
    fn default() -> Self {
        AwsConfig {
            name: None,
            region: None,
            profile: None,
            endpoint_url: None,
            terraform: Vec::new(),
            types: Vec::new(),
            requests_per_second: 10.0,
            max_attempts: 5,
            timeout_seconds: 30,
            source_name: None,
        }
    }
}

impl AwsConfig {
    /// The scope of ids: the name, else the region.
    pub fn scope(&self) -> String {
        self.name.clone().or_else(|| self.region.clone()).unwrap_or_else(|| "default".to_owned())
    }

    /// The source name in reports and the store.
    pub fn source(&self) -> String {
        self.source_name.clone().unwrap_or_else(|| format!("live:aws:{}", self.scope()))
    }

    /// Whether this entry reads `kind`.
    pub fn reads(&self, kind: &str) -> bool {
        normalize::spec(kind).is_some() && (self.types.is_empty() || self.types.iter().any(|t| t == kind))
    }

    /// Problems serde cannot see: no region, unknown types, a pace that is not positive.
    pub fn validate(&self) -> Vec<String> {
        let mut problems: Vec<String> = self
            .types
            .iter()
            .filter(|t| normalize::spec(t).is_none())
            .map(|t| {
                let known: Vec<&str> = normalize::TYPES.iter().map(|s| s.kind).collect();
                format!("types: `{t}` is not a type day2 reads (known: {})", known.join(", "))
            })
            .collect();
        if self.region.as_deref().is_none_or(str::is_empty) {
            problems.insert(
                0,
                "region: required (each entry reads one account and region, e.g. `region: eu-west-1`)".to_owned(),
            );
        }
        if self.requests_per_second.is_nan() || self.requests_per_second <= 0.0 {
            problems.push(format!("requests_per_second: must be above 0, not {}", self.requests_per_second));
        }
        problems
    }
}

/// Builds the live resource of one object read from AWS, from its Terraform-shaped attributes.
pub fn live_resource(config: &AwsConfig, kind: &str, attrs: &Value, origin: day2_model::Origin) -> Option<Resource> {
    let (id, name, attrs) = shaped(config, kind, attrs)?;
    Some(Resource {
        id,
        provider: Provider::Aws,
        scope: config.scope(),
        kind: kind.to_owned(),
        api_version: String::new(),
        namespace: String::new(),
        labels: tag_labels(&attrs),
        owner: Default::default(),
        name,
        attrs: attrs.into(),
        origin,
        source: config.source(),
    })
}

/// The Terraform state's resources that this entry reads, as the AWS objects they declare: same ids as
/// [`live_resource`], with the Terraform address as name and the state's file, line and module as
/// origin, so findings trace to the declaration.
/// Each comes with the id of the Terraform resource it views.
pub fn declared_view<'r>(
    config: &AwsConfig,
    terraform: impl Iterator<Item = &'r Resource> + Clone,
) -> Vec<(ResourceId, Resource)> {
    // S3 bucket settings carry no region of their own: they are where their bucket is, wherever it is declared.
    let bucket_regions: BTreeMap<&str, &str> = terraform
        .clone()
        .filter(|r| r.provider == Provider::Tf && r.kind == "aws_s3_bucket")
        .filter_map(|r| Some((r.attrs.get("bucket")?.as_str()?, region_of(r)?)))
        .collect();
    terraform
        .filter(|r| r.provider == Provider::Tf && config.reads(&r.kind))
        .filter(|r| config.terraform.is_empty() || config.terraform.contains(&r.scope))
        .filter(|r| {
            let bucket = || r.attrs.get("bucket").and_then(Attr::as_str).and_then(|b| bucket_regions.get(b).copied());
            match (region_of(r).or_else(bucket), &config.region) {
                (Some(region), Some(wanted)) => region == wanted,
                // Global (IAM), or a region the state does not say.
                _ => true,
            }
        })
        .filter_map(|r| {
            let (id, _, attrs) = shaped(config, &r.kind, &r.attrs.to_value())?;
            let view = Resource {
                id,
                provider: Provider::Aws,
                scope: config.scope(),
                kind: r.kind.clone(),
                api_version: r.api_version.clone(),
                namespace: String::new(),
                name: r.name.clone(),
                labels: tag_labels(&attrs),
                owner: r.owner.clone(),
                attrs: attrs.into(),
                origin: r.origin.clone(),
                source: r.source.clone(),
            };
            Some((r.id.clone(), view))
        })
        .collect()
}

/// The region a Terraform resource lives in: its ARN's, else its `region` attribute (S3 buckets, and every resource
/// from provider 6 on). None for global services.
fn region_of(r: &Resource) -> Option<&str> {
    let from_arn = r.attrs.get("arn").and_then(Attr::as_str).and_then(normalize::arn_region);
    from_arn.or_else(|| r.attrs.get("region").and_then(Attr::as_str).filter(|s| !s.is_empty()))
}

/// The id, name in AWS and attributes of an object of `kind`: the same id on both sides, so they pair (drift
/// compares them in the canonical shape of [`normalize::project`]).
fn shaped(config: &AwsConfig, kind: &str, attrs: &Value) -> Option<(ResourceId, String, Value)> {
    let spec = normalize::spec(kind)?;
    let name = normalize::identity(spec, attrs)?;
    let id = ResourceId::new(Provider::Aws, &config.scope(), kind, "", &name);
    Some((id, name, attrs.clone()))
}

/// Tags as labels: Terraform's `tags_all` (provider default tags included) when the state has it, else `tags`.
fn tag_labels(attrs: &Value) -> BTreeMap<String, String> {
    let tags_all = attrs.get("tags_all").and_then(Value::as_object).filter(|t| !t.is_empty());
    tags_all
        .or_else(|| attrs.get("tags").and_then(Value::as_object))
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
        .collect()
}

impl crate::source::Source for AwsConfig {
    fn name(&self) -> String {
        self.source()
    }

    fn side(&self) -> day2_model::Side {
        day2_model::Side::Live
    }

    fn scope(&self) -> Option<(Provider, String)> {
        Some((Provider::Aws, self.scope()))
    }

    fn validate(&self) -> Vec<String> {
        let mut problems = AwsConfig::validate(self);
        if cfg!(not(feature = "aws")) {
            problems.push("this build of day2 has no AWS support (cargo feature `aws`)".to_owned());
        }
        problems
    }

    fn declared_view(&self, declared: &[Resource]) -> Vec<(ResourceId, Resource)> {
        declared_view(self, declared.iter())
    }

    fn collect(&self) -> crate::source::Collecting<'_, day2_model::Snapshot> {
        #[cfg(feature = "aws")]
        return Box::pin(collect(self));
        #[cfg(not(feature = "aws"))]
        return Box::pin(async move {
            let message = "this build of day2 has no AWS support (cargo feature `aws`)";
            day2_model::Snapshot {
                source: self.source(),
                complete: false,
                diagnostics: vec![day2_model::Diagnostic::new(
                    day2_model::DiagnosticKind::Unreadable,
                    format!("aws:{}", self.scope()),
                    None,
                    message,
                )],
                ..day2_model::Snapshot::default()
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_names_its_region() {
        let problems = AwsConfig::default().validate();
        assert!(problems.first().is_some_and(|p| p.starts_with("region: required")), "{problems:?}");
        assert!(AwsConfig { region: Some("eu-west-1".into()), ..AwsConfig::default() }.validate().is_empty());
    }
}
