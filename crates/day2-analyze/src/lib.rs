//! day2 analyzers: read the [`Inventory`], produce [`Finding`]s.
//!
//! - [`checks`]: built-in posture checks for Kubernetes and Terraform/AWS, each a static [`checks::Check`] entry.
//! - [`drift`]: declared against live state: missing, unmanaged and changed objects, field by field, and coverage.
//! - [`suppress`]: inline annotations and configured exceptions, with owners and expiry.
//!
//! Analyzers are pure: no I/O, no clock except the `now` in [`Context`], so results are reproducible.

pub mod checks;
pub mod drift;
pub mod posture;
pub mod suppress;

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use day2_model::{Coverage, Diagnostic, Finding, Inventory, ResourceId, RuleMeta};

pub use drift::LiveScope;

/// What every analyzer may read besides the inventory.
#[derive(Debug, Clone)]
pub struct Context {
    /// The run's clock: finding timestamps and suppression expiry use this, never the system clock.
    pub now: DateTime<Utc>,
}

/// Everything a run collected, as analyzers read it: both sides of the fleet, each linked on its own (declared and
/// live copies of one object share an id, so they cannot share an inventory).
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    /// Declared state: manifests, Terraform, declaration files.
    pub declared: &'a Inventory,
    /// Live state: clusters, accounts, catalogs (empty when no live source was read).
    pub live: &'a Inventory,
    /// What each live source covered, and whether it was read completely.
    pub scopes: &'a [LiveScope],
    /// Live objects whose declaration has another id (an AWS object and the Terraform address that declares it):
    /// live id → declared id, so a problem seen on both is one finding.
    pub declared_as: &'a std::collections::HashMap<ResourceId, ResourceId>,
}

/// What an analyzer concluded: the findings and what a store and a compliance report need to judge them.
#[derive(Debug, Default)]
pub struct Analysis {
    /// Findings.
    pub findings: Vec<Finding>,
    /// Problems met (a policy that failed to evaluate), naming file and line where known.
    pub diagnostics: Vec<Diagnostic>,
    /// Rules that ran to completion: a store resolves open findings of these rules only.
    pub rules_run: BTreeSet<String>,
    /// Rules that applied to at least one resource (compliance calls the rest "not applicable").
    pub applicable: BTreeSet<String>,
    /// Metadata of the rules in `findings`.
    pub rules: Vec<RuleMeta>,
    /// What was compared, per live scope (drift).
    pub coverage: Vec<Coverage>,
}

impl Analysis {
    /// Adds another analysis to this one. Into an empty one, the findings are moved, not copied: a run's findings
    /// are megabytes, and a copy into fresh memory costs a page fault per 4 KiB.
    pub fn merge(&mut self, other: Analysis) {
        if self.findings.is_empty() {
            self.findings = other.findings;
        } else {
            self.findings.extend(other.findings);
        }
        self.diagnostics.extend(other.diagnostics);
        self.rules_run.extend(other.rules_run);
        self.applicable.extend(other.applicable);
        for rule in other.rules {
            if !self.rules.iter().any(|r| r.id == rule.id) {
                self.rules.push(rule);
            }
        }
        self.coverage.extend(other.coverage);
    }
}

/// An analyzer: inventories in, an analysis out. Built from validated configuration, so running cannot fail; what
/// goes wrong on one input is a diagnostic, and everything else is analyzed.
pub trait Analyzer: Send + Sync {
    /// Short name, recorded in findings (`checks`, `rego`, `drift`).
    fn name(&self) -> &'static str;
    /// Analyzes; must not panic on any inventory.
    fn analyze(&self, inputs: &Inputs<'_>, context: &Context) -> Analysis;
}
