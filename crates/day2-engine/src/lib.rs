//! day2 engine: the `day2.yaml` configuration and one pipeline run — collect, link, analyze, suppress, report.
//!
//! `day2 check` and `day2 drift` run the pipeline once; `day2 serve` runs the same pieces on a schedule. The engine
//! owns the order of steps and the rule that nothing already collected is lost when one input is bad.
//!
//! - [`config`]: the configuration file, validated before any I/O on sources.
//! - [`sources`]: the registry of source kinds, the one list a new source is added to.
//! - [`pipeline`]: one run, producing a [`day2_model::Report`] and the inventory it was computed from, and
//!   [`pipeline::record`], the one way a run is stored.

pub mod config;
pub mod notifiers;
pub mod pipeline;
pub mod reference;
pub mod sources;

pub use config::{Config, ConfigError};
pub use pipeline::{Run, Settings, run};
