//! The findings' lifecycle, decided once for every backend: given what the store held before a run, which findings
//! are new, reopened, suppressed or resolved, and what each backend writes. Backends only read and write rows.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use day2_model::{Finding, FindingStatus, Severity};

use crate::{RunOutcome, RunRecord, StoreError, StoredState, Transition};

/// A stored finding's state before the run.
pub(crate) struct Prior {
    pub state: StoredState,
    pub first_seen: DateTime<Utc>,
}

/// A finding of the run, as it is to be stored.
pub(crate) struct Seen<'a> {
    /// The finding with its first-seen time.
    pub finding: Finding,
    /// The source that saw it, else its resource's (findings resolve per source).
    pub source: &'a str,
    pub state: StoredState,
    /// It had been resolved and is back.
    pub reopened: bool,
}

/// A lifecycle event to append to the log.
pub(crate) struct Logged {
    pub finding: Finding,
    pub transition: Transition,
    pub previous: Option<StoredState>,
}

/// A finding still open or suppressed in the store, in a source the run read completely.
pub(crate) struct Unresolved {
    pub id: String,
    pub rule_id: String,
    pub state: StoredState,
    /// The JSON finding as last stored.
    pub data: String,
}

pub(crate) fn state_of(f: &Finding) -> StoredState {
    match f.status {
        FindingStatus::Suppressed(_) => StoredState::Suppressed,
        FindingStatus::Resolved => StoredState::Resolved,
        FindingStatus::Open { .. } => StoredState::Open,
    }
}

/// One item per id, the last of each (as repeated upserts would leave it), in their order.
pub(crate) fn last_per_id<T>(items: &[T], id: impl Fn(&T) -> &str) -> Vec<&T> {
    let mut last: HashMap<&str, usize> = HashMap::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        last.insert(id(item), i);
    }
    items.iter().enumerate().filter(|(i, item)| last.get(id(item)) == Some(i)).map(|(_, item)| item).collect()
}

/// The run's findings, one per id (the last wins).
pub(crate) fn distinct_findings<'a>(run: &RunRecord<'a>) -> Vec<&'a Finding> {
    last_per_id(run.findings, |f| f.id.as_str())
}

/// Decides what each finding of the run becomes, given the stored state of those ids (`prior`), and fills the
/// outcome's new, reopened and first-seen entries.
pub(crate) fn plan_seen<'a>(
    run: &RunRecord<'a>,
    findings: &[&'a Finding],
    prior: &HashMap<String, Prior>,
    outcome: &mut RunOutcome,
) -> (Vec<Seen<'a>>, Vec<Logged>) {
    let source_of: HashMap<&str, &str> = run.resources.iter().map(|r| (r.id.as_str(), r.source.as_str())).collect();
    let mut seen = Vec::with_capacity(findings.len());
    let mut logged = Vec::new();
    for f in findings {
        let previous = prior.get(f.id.as_str());
        let first_seen = previous.map_or(run.started_at, |p| p.first_seen);
        let reopened = previous.is_some_and(|p| p.state == StoredState::Resolved);
        if previous.is_none() || reopened {
            outcome.new.push(f.id.clone());
        }
        if reopened {
            outcome.reopened.push(f.id.clone());
        }
        outcome.first_seen.insert(f.id.clone(), first_seen);
        let mut stored = (*f).clone();
        stored.first_seen = first_seen;
        let state = state_of(f);
        let transition = match (previous.map(|p| p.state), state) {
            (None, _) => Some(Transition::Opened),
            (Some(StoredState::Resolved), _) => Some(Transition::Reopened),
            // A suppression that expired (or was removed) opens the finding for whoever is told.
            (Some(StoredState::Suppressed), StoredState::Open) => Some(Transition::Opened),
            (Some(StoredState::Open), StoredState::Suppressed) => Some(Transition::Suppressed),
            _ => None,
        };
        if let Some(transition) = transition {
            logged.push(Logged { finding: stored.clone(), transition, previous: previous.map(|p| p.state) });
        }
        // The finding's own source (posture on live state names the live one); else its resource's.
        let source = match f.source.as_str() {
            "" => source_of.get(f.resource.as_str()).copied().unwrap_or_default(),
            own => own,
        };
        seen.push(Seen { finding: stored, source, state, reopened });
    }
    (seen, logged)
}

/// Which of the stored unresolved findings of completely read sources this run resolves: those it did not see, of
/// rules that ran. Each comes back marked resolved at the run's start.
pub(crate) fn plan_resolved(
    run: &RunRecord<'_>,
    findings: &[&Finding],
    candidates: Vec<Unresolved>,
) -> Result<Vec<Logged>, StoreError> {
    let seen: HashSet<&str> = findings.iter().map(|f| f.id.as_str()).collect();
    let mut resolved = Vec::new();
    for candidate in candidates {
        if seen.contains(candidate.id.as_str()) || run.rules_run.binary_search(&candidate.rule_id).is_err() {
            continue;
        }
        let mut f: Finding = serde_json::from_str(&candidate.data).map_err(|e| StoreError::Decode(e.to_string()))?;
        f.status = FindingStatus::Resolved;
        f.resolved_at = Some(run.started_at);
        resolved.push(Logged { finding: f, transition: Transition::Resolved, previous: Some(candidate.state) });
    }
    Ok(resolved)
}

/// The names of the sources read completely: only their findings can resolve.
pub(crate) fn complete_sources<'a>(run: &RunRecord<'a>) -> Vec<&'a str> {
    run.sources.iter().filter(|s| s.complete).map(|s| s.name.as_str()).collect()
}

/// The listing order: most severe first, then by declaring file and line.
pub(crate) const LISTING_ORDER: &str = " ORDER BY severity_rank, file NULLS FIRST, line NULLS FIRST, id";

/// The position of a severity in the listing order (0 is critical).
pub(crate) fn severity_rank(severity: Severity) -> i16 {
    Severity::DESCENDING.iter().position(|s| *s == severity).map_or(4, |p| p as i16)
}

pub(crate) fn json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Decode(e.to_string()))
}
