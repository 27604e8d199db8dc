//! The registry of sources: every kind of source day2 reads, in one flat list.
//!
//! Each entry is one variant of [`SourceConfig`], the tagged enum that one item of `sources:` in day2.yaml
//! deserializes into (`- manifests: {paths: [k8s/]}`), holding the configuration struct of a module of day2-collect
//! that implements [`Source`]. Path resolution, validation, the declared/live split, collection, watching, scheduling,
//! health and metrics all go through [`SourceConfig::source`], so adding a source is: a module with its config struct
//! and `impl Source`, one line below, and its tests.

use day2_collect::Source;
use serde::{Deserialize, Serialize};

/// Declares [`SourceConfig`] and its dispatch from one list of `Variant(ConfigType)` lines.
macro_rules! sources {
    ($( $(#[$doc:meta])* $variant:ident($config:ty), )*) => {
        /// One entry of `sources:` in day2.yaml: the kind of source (the key) and its settings.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
        #[serde(rename_all = "snake_case", deny_unknown_fields)]
        pub enum SourceConfig {
            $( $(#[$doc])* $variant($config), )*
        }

        impl SourceConfig {
            /// The source this entry configures.
            pub fn source(&self) -> &dyn Source {
                match self { $( SourceConfig::$variant(config) => config, )* }
            }

            /// The same, to resolve its paths.
            pub fn source_mut(&mut self) -> &mut dyn Source {
                match self { $( SourceConfig::$variant(config) => config, )* }
            }

        }
    };
}

sources! {
    /// Kubernetes manifests: YAML or JSON files and folders, Helm and Kustomize output (declared).
    Manifests(day2_collect::manifests::ManifestsConfig),
    /// Terraform state files and `terraform show -json` output of state or plans (declared).
    Terraform(day2_collect::terraform::TerraformConfig),
    /// PostgreSQL declaration files: settings, roles, databases, extensions, schemas (declared).
    PostgresDeclared(day2_collect::postgres::DeclaredConfig),
    /// A Kubernetes cluster, read from its API or from a recording of it (live).
    Kubernetes(day2_collect::kubernetes::KubernetesConfig),
    /// A PostgreSQL instance, read from its catalogs (live).
    Postgres(day2_collect::postgres::LiveConfig),
    /// An AWS account and region, read with the AWS SDK in Terraform's resource shapes (live).
    Aws(day2_collect::aws::AwsConfig),
    /// A Prometheus server: its alerting and recording rules and its scrape targets, with their health (live).
    Prometheus(day2_collect::prometheus::PrometheusConfig),
}

impl SourceConfig {
    /// The manifests settings of a `manifests` entry: the first one lends its globs, cluster and limits to paths
    /// given on the command line.
    pub fn manifests(&self) -> Option<&day2_collect::manifests::ManifestsConfig> {
        match self {
            SourceConfig::Manifests(m) => Some(m),
            _ => None,
        }
    }

    /// The same, to change them.
    pub fn manifests_mut(&mut self) -> Option<&mut day2_collect::manifests::ManifestsConfig> {
        match self {
            SourceConfig::Manifests(m) => Some(m),
            _ => None,
        }
    }
}
