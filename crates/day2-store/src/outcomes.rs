//! Day-2 outcomes from the findings' lifecycle log: how fast problems are detected and repaired, how long drift
//! stays, how old the open findings are, overall and by owning team. One computation over the log, whatever the
//! backend.
//!
//! - **Time to detect**: from the change to the first sighting, for findings whose source knows when the object changed
//!   (`Finding::changed_at`: Kubernetes `managedFields` times); the others are not counted, so the count says how much
//!   of the fleet the figure covers.
//! - **Time to repair**: from opened (or reopened) to resolved, per episode. A suppression stops the clock without
//!   counting as a repair.
//! - **Drift-hours**: hours drift findings were open within the window, by scope (`k8s/prod-eu`, `tf/network`, …).
//! - **Open age**: for findings open at the end of the window, since when.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use day2_model::{Domain, Finding};
use serde::Serialize;

use crate::{FindingEvent, Store, StoreError, Transition};

/// Summary statistics of durations, in seconds.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Durations {
    /// How many durations.
    pub count: usize,
    /// Mean.
    pub mean_seconds: f64,
    /// Median.
    pub p50_seconds: f64,
    /// 90th percentile.
    pub p90_seconds: f64,
    /// Longest.
    pub max_seconds: f64,
}

impl Durations {
    fn of(mut seconds: Vec<f64>) -> Option<Durations> {
        if seconds.is_empty() {
            return None;
        }
        seconds.sort_by(f64::total_cmp);
        // Nearest rank: the smallest value with at least a fraction q of them at or below it.
        let at = |q: f64| {
            let rank = (seconds.len() as f64 * q).ceil() as usize;
            seconds.get(rank.saturating_sub(1)).copied().unwrap_or_default()
        };
        Some(Durations {
            count: seconds.len(),
            mean_seconds: seconds.iter().sum::<f64>() / seconds.len() as f64,
            p50_seconds: at(0.5),
            p90_seconds: at(0.9),
            max_seconds: at(1.0),
        })
    }
}

/// The outcomes of one group of findings (all, or one team's).
#[derive(Debug, Clone, Default, PartialEq, Serialize, schemars::JsonSchema)]
pub struct OutcomeStats {
    /// Findings opened or reopened in the window.
    pub detected: usize,
    /// Findings resolved in the window.
    pub repaired: usize,
    /// Findings open at the end of the window.
    pub open: usize,
    /// Change → first sighting, where the change time is known.
    pub time_to_detect: Option<Durations>,
    /// Opened → resolved, for episodes resolved in the window.
    pub time_to_repair: Option<Durations>,
    /// Age of the findings open at the end of the window.
    pub open_age: Option<Durations>,
    /// Hours drift findings were open within the window.
    pub drift_hours: f64,
}

/// Outcomes over a window.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Outcomes {
    /// Start of the window.
    pub since: DateTime<Utc>,
    /// End of the window (now).
    pub until: DateTime<Utc>,
    /// Every finding.
    pub overall: OutcomeStats,
    /// By owning team; findings without one under `unowned`.
    pub by_team: BTreeMap<String, OutcomeStats>,
    /// Drift-hours by scope (provider and scope of the resource: `k8s/prod-eu`).
    pub drift_hours_by_scope: BTreeMap<String, f64>,
}

/// Durations collected for one group before they are summarised.
#[derive(Default)]
struct Samples {
    detected: usize,
    repaired: usize,
    detect: Vec<f64>,
    repair: Vec<f64>,
    open_age: Vec<f64>,
    drift_hours: f64,
}

impl Samples {
    fn finish(self) -> OutcomeStats {
        OutcomeStats {
            detected: self.detected,
            repaired: self.repaired,
            open: self.open_age.len(),
            time_to_detect: Durations::of(self.detect),
            time_to_repair: Durations::of(self.repair),
            open_age: Durations::of(self.open_age),
            drift_hours: self.drift_hours,
        }
    }
}

/// The team of findings whose resources name none (as in the metrics' labels).
const NO_TEAM: &str = "unowned";

fn team_of(f: &Finding) -> String {
    f.owner.team.clone().unwrap_or_else(|| NO_TEAM.to_owned())
}

/// `k8s/prod-eu/apps.Deployment/shop/cart` → `k8s/prod-eu`.
fn scope_of(f: &Finding) -> &str {
    let id = f.resource.as_str();
    match id.match_indices('/').nth(1) {
        Some((end, _)) => id.get(..end).unwrap_or(id),
        None => id,
    }
}

fn seconds(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_milliseconds().max(0) as f64 / 1000.0
}

/// What the scan of the log has gathered so far.
struct Tally {
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    overall: Samples,
    by_team: BTreeMap<String, Samples>,
    drift_by_scope: BTreeMap<String, f64>,
}

impl Tally {
    /// The overall samples and the finding's team's.
    fn groups(&mut self, finding: &Finding) -> [&mut Samples; 2] {
        [&mut self.overall, self.by_team.entry(team_of(finding)).or_default()]
    }

    fn opened(&mut self, finding: &Finding, at: DateTime<Utc>) {
        if !(self.since..=self.until).contains(&at) {
            return;
        }
        let detect = finding.changed_at.filter(|c| *c <= at).map(|c| seconds(c, at));
        for samples in self.groups(finding) {
            samples.detected += 1;
            samples.detect.extend(detect);
        }
    }

    /// An episode ended at `to` (resolved when `repaired`, else suppressed or still open at the end).
    fn closed(&mut self, finding: &Finding, from: DateTime<Utc>, to: DateTime<Utc>, repaired: bool) {
        let in_window = (self.since..=self.until).contains(&to);
        let drift_hours = match finding.domain {
            Domain::Drift => seconds(from.max(self.since), to.min(self.until)) / 3600.0,
            _ => 0.0,
        };
        if drift_hours > 0.0 {
            *self.drift_by_scope.entry(scope_of(finding).to_owned()).or_default() += drift_hours;
        }
        for samples in self.groups(finding) {
            if repaired && in_window {
                samples.repaired += 1;
                samples.repair.push(seconds(from, to));
            }
            samples.drift_hours += drift_hours;
        }
    }
}

/// Computes the outcomes of the window `since..until` from the whole lifecycle log (oldest first): episodes that began
/// before the window count for the part inside it.
pub fn compute(events: &[FindingEvent], since: DateTime<Utc>, until: DateTime<Utc>) -> Outcomes {
    let mut tally =
        Tally { since, until, overall: Samples::default(), by_team: BTreeMap::new(), drift_by_scope: BTreeMap::new() };
    // The open episode of each finding: since when, and the finding as last logged.
    let mut open: HashMap<&str, (DateTime<Utc>, &Finding)> = HashMap::new();
    for event in events.iter().filter(|e| e.at <= until) {
        let finding = &event.finding;
        match episode_step(event) {
            Step::Opens { detected } => {
                if detected {
                    tally.opened(finding, event.at);
                }
                open.entry(finding.id.as_str()).or_insert((event.at, finding));
            }
            Step::Closes { repaired } => {
                if let Some((from, _)) = open.remove(finding.id.as_str()) {
                    tally.closed(finding, from, event.at, repaired);
                }
            }
            Step::Nothing => {}
        }
    }
    for (from, finding) in open.into_values() {
        tally.closed(finding, from, until, false);
        let age = seconds(from, until);
        for samples in tally.groups(finding) {
            samples.open_age.push(age);
        }
    }
    Outcomes {
        since,
        until,
        overall: tally.overall.finish(),
        by_team: tally.by_team.into_iter().map(|(team, samples)| (team, samples.finish())).collect(),
        drift_hours_by_scope: tally.drift_by_scope,
    }
}

/// What a lifecycle event does to a finding's episode. Only open findings are in an episode: one suppressed from the
/// start never opens one, a suppression ends one without a repair, and the end of a suppression starts one without a
/// new detection.
enum Step {
    Opens { detected: bool },
    Closes { repaired: bool },
    Nothing,
}

fn episode_step(event: &FindingEvent) -> Step {
    let open = matches!(event.finding.status, day2_model::FindingStatus::Open { .. });
    match event.transition {
        Transition::Opened | Transition::Reopened if open => {
            Step::Opens { detected: event.previous.as_deref() != Some("suppressed") }
        }
        Transition::Opened | Transition::Reopened => Step::Nothing,
        Transition::Resolved => Step::Closes { repaired: true },
        Transition::Suppressed => Step::Closes { repaired: false },
    }
}

/// A duration the log just measured (for live histograms).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Measured {
    /// A finding was seen, this many seconds after its object changed.
    TimeToDetect(f64),
    /// A finding was resolved, this many seconds after its episode opened.
    TimeToRepair(f64),
}

/// Follows the log event by event (as `day2 serve` does after each run), pairing each resolution with the opening of
/// its episode, with the same definitions as [`compute`].
#[derive(Debug, Default)]
pub struct EpisodeTracker {
    open: HashMap<String, DateTime<Utc>>,
}

impl EpisodeTracker {
    /// Takes the next event; returns what it measured, if anything.
    pub fn follow(&mut self, event: &FindingEvent) -> Option<Measured> {
        let id = event.finding.id.as_str();
        match episode_step(event) {
            Step::Opens { detected } => {
                self.open.entry(id.to_owned()).or_insert(event.at);
                let changed = event.finding.changed_at.filter(|c| detected && *c <= event.at)?;
                Some(Measured::TimeToDetect(seconds(changed, event.at)))
            }
            Step::Closes { repaired } => {
                let from = self.open.remove(id)?;
                repaired.then(|| Measured::TimeToRepair(seconds(from, event.at)))
            }
            Step::Nothing => None,
        }
    }
}

/// Reads the whole lifecycle log from `store` and computes the outcomes of `since..now`.
pub async fn of_store(store: &dyn Store, since: DateTime<Utc>) -> Result<Outcomes, StoreError> {
    const PAGE: u32 = 10_000;
    let mut events = Vec::new();
    // Until an empty page: a page can be short of PAGE because an unreadable event was skipped.
    loop {
        let page = store.events_after(events.last().map_or(0, |e: &FindingEvent| e.id), PAGE).await?;
        if page.is_empty() {
            break;
        }
        events.extend(page);
    }
    Ok(compute(&events, since, Utc::now()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use chrono::{Duration, TimeZone};
    use day2_model::{FindingStatus, Suppression};
    use day2_testkit::build::{finding, resource};

    use super::*;

    fn event(id: i64, at: DateTime<Utc>, transition: Transition, f: &Finding) -> FindingEvent {
        FindingEvent { id, run_id: id, at, transition, previous: None, finding: f.clone() }
    }

    #[test]
    fn detect_repair_drift_hours_and_open_age() {
        let t0 = Utc.with_ymd_and_hms(2026, 11, 1, 8, 0, 0).unwrap();
        let h = Duration::hours;
        let mut drift = finding("DRIFT-CHANGED", &resource("cart", "live"));
        drift.domain = Domain::Drift;
        drift.owner.team = Some("shop".into());
        drift.changed_at = Some(t0 - Duration::minutes(3));
        let mut check = finding("K8S-POD-001", &resource("web", "m"));
        check.owner.team = None;
        let mut accepted = finding("K8S-POD-008", &resource("db", "m"));
        accepted.status = FindingStatus::Suppressed(Suppression {
            by: "annotation".into(),
            owner: None,
            reason: "accepted".into(),
            expires: None,
        });
        accepted.owner.team = None;
        let mut accepted_again = accepted.clone();
        accepted_again.status = FindingStatus::OPEN;
        let mut suppression_ended = event(7, t0 + h(9), Transition::Opened, &accepted_again);
        suppression_ended.previous = Some("suppressed".into());
        let events = [
            event(1, t0, Transition::Opened, &drift),
            event(2, t0, Transition::Opened, &check),
            // Suppressed from the start: no episode, until the suppression ends (no new detection then).
            event(3, t0, Transition::Opened, &accepted),
            event(4, t0 + h(2), Transition::Resolved, &drift),
            event(5, t0 + h(5), Transition::Reopened, &drift),
            event(6, t0 + h(6), Transition::Suppressed, &check),
            suppression_ended,
        ];
        // Window from t0 + 1h to t0 + 10h.
        let o = compute(&events, t0 + h(1), t0 + h(10));
        // Detected in the window: only the reopening (t0 + 5h); its change time is long before, 5h03m.
        assert_eq!(o.overall.detected, 1);
        assert_eq!(o.overall.time_to_detect.as_ref().unwrap().max_seconds, (5 * 3600 + 180) as f64);
        // Repaired in the window: the drift's first episode, 2 h. The suppression is not a repair.
        assert_eq!(o.overall.repaired, 1);
        assert_eq!(o.overall.time_to_repair.as_ref().unwrap().p50_seconds, 7200.0);
        // Drift-hours inside the window: 1 h (t0+1h..t0+2h) + 5 h (t0+5h..t0+10h).
        assert_eq!(o.drift_hours_by_scope["k8s/c"], 6.0);
        assert_eq!(o.by_team["shop"].drift_hours, 6.0);
        // Open at the end: the reopened drift, for 5 h, and the finding whose suppression ended, for 1 h.
        assert_eq!(o.overall.open, 2);
        assert_eq!(o.by_team["shop"].open_age.as_ref().unwrap().max_seconds, 5.0 * 3600.0);
        assert_eq!(o.by_team[NO_TEAM].open_age.as_ref().unwrap().max_seconds, 3600.0);

        // Followed live, the same log measures the same durations.
        let mut tracker = EpisodeTracker::default();
        let measured: Vec<Measured> = events.iter().filter_map(|e| tracker.follow(e)).collect();
        assert_eq!(
            measured,
            [
                Measured::TimeToDetect(180.0),
                Measured::TimeToRepair(7200.0),
                Measured::TimeToDetect((5 * 3600 + 180) as f64)
            ]
        );

        // Over the whole history: both open first sightings and the reopening count, the one without a change time
        // only as detected; the suppressed finding and the end of its suppression do not.
        let all = compute(&events, t0, t0 + h(10));
        assert_eq!(all.overall.detected, 3);
        assert_eq!(all.overall.time_to_detect.as_ref().unwrap().count, 2);
        assert_eq!(all.overall.time_to_detect.as_ref().unwrap().p50_seconds, 180.0);
    }
}
