//! day2 analyzers: read the [`Inventory`], produce [`Finding`]s.
//!
//! - [`checks`]: built-in posture checks for Kubernetes and Terraform/AWS, each a static [`checks::Check`] entry.
//! - [`drift`]: declared against live state: missing, unmanaged and changed objects, field by field, and coverage.
//! - [`suppress`]: inline annotations and configured exceptions, with owners and expiry.
//!
//! Analyzers are pure: no I/O, no clock except the `now` in [`Context`], so results are reproducible.

pub mod checks;
pub mod drift;
pub mod suppress;

use chrono::{DateTime, Utc};
use day2_model::{Finding, Inventory};

/// What every analyzer may read besides the inventory.
#[derive(Debug, Clone)]
pub struct Context {
    /// The run's clock: finding timestamps and suppression expiry use this, never the system clock.
    pub now: DateTime<Utc>,
}

/// An analyzer: inventory in, findings out.
pub trait Analyzer: Send + Sync {
    /// Short name, recorded in findings (`checks`, `rego`, `drift`).
    fn name(&self) -> &'static str;
    /// Produces findings; must not panic on any inventory.
    fn analyze(&self, inventory: &Inventory, context: &Context) -> Vec<Finding>;
}
