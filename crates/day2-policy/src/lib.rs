//! day2 policy as code: Rego policies on [regorus](https://github.com/microsoft/regorus), run unchanged from the two
//! ecosystems that already have policy libraries.
//!
//! - [`rego`]: loading modules (Rego v0 and v1, detected per file), locating errors at `file:line`, value conversion,
//!   METADATA annotations.
//! - [`gatekeeper`]: ConstraintTemplates and Constraints, Gatekeeper's match rules, `input.review`, `data.inventory`.
//! - [`conftest`]: `deny` / `violation` / `warn` rules in configured namespaces, over each object or all at once.
//! - [`suite`]: Gatekeeper's gator suites (`day2 policy verify`); [`unit`]: Rego `test_*` rules (`day2 policy test`).
//! - [`analyzer`]: both kinds of policy as one [`day2_analyze::Analyzer`] over the inventory, producing findings.
//! - [`compliance`]: framework specs (controls mapped to rule ids) and control-level reports.
//!
//! Policies come from directories, OPA bundle directories and `.tar.gz` bundles. They are compiled once; evaluation clones the compiled engines per worker thread and runs objects in parallel.

pub mod analyzer;
pub mod compliance;
pub mod conftest;
pub mod gatekeeper;
pub mod rego;
mod rego_syntax;
pub mod suite;
pub mod unit;

mod bundle;
mod discover;
mod load;

pub use analyzer::{Policies, PolicyConfig};
pub use discover::digest as policy_digest;
pub use rego::RegoVersion;
