//! day2 sources: turn declared state into [`Snapshot`]s of [`day2_model::Resource`]s.
//!
//! Each source is one module behind its own cargo feature; adding a source is one new module plus one line here.
//! Sources read and normalise; they never judge (that is day2-analyze) and never mutate anything.
//!
//! - [`manifests`]: Kubernetes YAML/JSON (files, directories, stdin; multi-document, `List`, Helm and Kustomize output).
//! - [`terraform`]: Terraform state v4 and `terraform show -json` output for state and plans.
//! - [`aws`]: live AWS state (EC2, VPC, S3, IAM, RDS) read with the AWS SDK into Terraform's resource shapes, to pair
//!   with Terraform state.
//! - [`kubernetes`]: live Kubernetes state from a cluster's API (discovery, paginated lists), or from [`recorded`].
//! - [`recorded`]: recorded live Kubernetes state (`kubectl get -o yaml` output), for offline drift.
//! - [`postgres`]: PostgreSQL settings, roles, databases, extensions and schemas, declared (YAML) and live (catalogs).
//! - [`prometheus`]: a live Prometheus server's rules and scrape targets.
//! - [`link`]: relations and ownership derived across sources once everything is collected.
//!
//! Reading files and YAML/JSON documents within [`Limits`] is day2-input's (shared with policy loading); `Limits` is
//! re-exported here because the sources' configurations and parsers take it.

#[cfg(feature = "terraform")]
pub mod aws;
#[cfg(feature = "manifests")]
mod field_types;
#[cfg(feature = "kubernetes")]
pub mod kubernetes;
pub mod link;
#[cfg(feature = "manifests")]
pub mod manifests;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "prometheus")]
pub mod prometheus;
#[cfg(feature = "manifests")]
pub mod recorded;
pub mod source;
#[cfg(feature = "terraform")]
pub mod terraform;

pub use day2_input::Limits;
pub use day2_model::Snapshot;
pub use source::Source;

/// The thread pool that parses inputs. Its threads get 64 MiB stacks (virtual memory, touched only as needed) so that
/// a document nested up to the configured depth limit cannot overflow a worker's stack, even in debug builds.
/// None when no thread could be started; callers then work on the current thread.
pub fn parse_pool() -> Option<&'static rayon::ThreadPool> {
    static POOL: std::sync::OnceLock<Option<rayon::ThreadPool>> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .stack_size(64 * 1024 * 1024)
            .thread_name(|i| format!("day2-parse-{i}"))
            .build()
            .ok()
    })
    .as_ref()
}

/// A short, stable source name: `manifests:k8s/,helm/`, or `manifests:k8s/a.yaml (+41 more)` for long lists. Every
/// resource carries it, so it must stay small whatever the number of paths.
pub fn source_name(kind: &str, paths: &[std::path::PathBuf]) -> String {
    let shown: Vec<String> = paths.iter().take(3).map(|p| p.display().to_string()).collect();
    match paths.len() {
        0..=3 => format!("{kind}:{}", shown.join(",")),
        n => format!("{kind}:{} (+{} more)", shown.join(","), n - 3),
    }
}
