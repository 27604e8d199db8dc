//! day2 engine: the `day2.yaml` configuration and one pipeline run — collect, link, analyze, suppress, report.
//!
//! `day2 check` runs the pipeline once; `day2 serve` (later) will run the same pieces on a schedule. The engine owns
//! the order of steps and the rule that nothing already collected is lost when one input is bad.
//!
//! - [`config`]: the configuration file, validated before any I/O on sources.
//! - [`pipeline`]: one run, producing a [`day2_model::Report`] and the inventory it was computed from.

pub mod config;
pub mod pipeline;

pub use config::{Config, ConfigError};
pub use pipeline::{Run, Settings, run};
