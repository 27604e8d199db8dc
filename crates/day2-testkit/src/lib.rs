//! Test and benchmark helpers. Dev-only: never a dependency of a shipped crate.
//!
//! [`build`] fills model values for tests; [`corpus`] generates realistic inputs of any size: Kubernetes manifests (one Deployment per file, every fifth also
//! with a Service and a ConfigMap, a fixed share with the problems real repositories have) and a Terraform plan.

// Dev-only generator: indices are always taken modulo the array length.
#![allow(clippy::indexing_slicing)]

pub mod build;
pub mod corpus;
pub mod http_sink;
pub mod kube_api;
pub mod moto;
pub mod postgres;

/// A loopback port that was free a moment ago, for a test server to listen on.
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
