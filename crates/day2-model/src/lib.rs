//! day2's shared vocabulary: every crate speaks in these types.
//!
//! This crate holds data and the pure logic that belongs to it (identity, ordering, hashing, indexing). It does no I/O and
//! nothing async, so analyzers, stores, reporters and tests can depend on it for free.
//!
//! Main types: [`ResourceId`], [`Resource`] (its raw object an [`Attr`]), [`Snapshot`], [`Inventory`], [`Finding`], [`Severity`], [`Domain`],
//! [`ControlRef`], [`Diagnostic`] and the [`Report`] that a run hands to reporters and stores.

pub mod attr;
pub mod aws;
pub mod diagnostic;
pub mod finding;
pub mod graph;
pub mod inventory;
pub mod k8s;
pub mod owner;
pub mod redact;
pub mod report;
pub mod resource;

pub use attr::{Attr, Fields};
pub use diagnostic::{Diagnostic, DiagnosticKind};
pub use finding::{
    ControlRef, Domain, Evidence, Finding, FindingId, FindingStatus, Fix, Framework, Impact, Severity, Suppression,
};
pub use graph::{Graph, GraphFilter};
pub use inventory::{Inventory, Relation, RelationKind};
pub use owner::{Owner, OwnerKeys};
pub use report::{Coverage, Report, RuleMeta, SourceSummary, Summary, report_schema};
pub use resource::{Change, DeclaredAttributes, Examined, Origin, Provider, Resource, ResourceId, Side, Snapshot};
