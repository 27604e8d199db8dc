//! Prometheus series at `/metrics` (OpenMetrics text):
//! - `day2_findings{domain,severity,team}`: open findings in the store;
//! - `day2_runs_total{job,result}` and `day2_run_duration_seconds{job}`: runs of each job;
//! - `day2_source_complete{job,source}` and `day2_source_resources{job,source}`: the last collection of each source
//!   by this replica (`job` is its collection job, `collect:<source>`);
//! - `day2_time_to_detect_seconds{domain,team}` and `day2_time_to_repair_seconds{domain,team}`: histograms of the
//!   outcomes (definitions in `day2_store::outcomes`), observed as the lifecycle log grows after this process
//!   started. Every replica follows the whole log after each analysis it runs and every minute (whichever replica ran the jobs), so aggregate
//!   across replicas with `max`, not `sum`.

use std::collections::{BTreeMap, BTreeSet};

use day2_model::Finding;
use day2_store::Store;
use day2_store::outcomes::{EpisodeTracker, Measured};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
struct FindingLabels {
    domain: String,
    severity: String,
    /// The owning team, `unowned` when no label or tag says.
    team: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunLabels {
    job: String,
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    job: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabels {
    job: String,
    source: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    domain: String,
    team: String,
}

/// How far the outcome histograms have followed the lifecycle log.
#[derive(Default)]
struct LogPosition {
    last_event: i64,
    episodes: EpisodeTracker,
    /// False until the history before this process started has been read (it builds episodes, observes nothing).
    caught_up: bool,
}

/// Buckets of the outcome histograms: a minute to a month.
const OUTCOME_BUCKETS: [f64; 10] = [
    60.0,
    300.0,
    900.0,
    3600.0,
    4.0 * 3600.0,
    86_400.0,
    3.0 * 86_400.0,
    7.0 * 86_400.0,
    14.0 * 86_400.0,
    30.0 * 86_400.0,
];

pub(crate) struct Metrics {
    registry: Registry,
    findings: Family<FindingLabels, Gauge>,
    runs: Family<RunLabels, Counter>,
    durations: Family<JobLabels, Histogram>,
    complete: Family<SourceLabels, Gauge>,
    resources: Family<SourceLabels, Gauge>,
    /// The finding series set by the last refresh, so those that fell to zero can be removed.
    finding_series: std::sync::Mutex<BTreeSet<FindingLabels>>,
    time_to_detect: Family<OutcomeLabels, Histogram>,
    time_to_repair: Family<OutcomeLabels, Histogram>,
    log: tokio::sync::Mutex<LogPosition>,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let mut registry = Registry::with_prefix("day2");
        let findings = Family::<FindingLabels, Gauge>::default();
        registry.register("findings", "Open findings in the store", findings.clone());
        let runs = Family::<RunLabels, Counter>::default();
        registry.register("runs", "Pipeline runs by job and result", runs.clone());
        let durations = Family::<JobLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0])
        });
        registry.register("run_duration_seconds", "Time to collect, analyze and record one run", durations.clone());
        let complete = Family::<SourceLabels, Gauge>::default();
        registry.register("source_complete", "1 when the source's last collection was complete", complete.clone());
        let resources = Family::<SourceLabels, Gauge>::default();
        registry.register("source_resources", "Resources in the source's last collection", resources.clone());
        let outcome = || Family::<OutcomeLabels, Histogram>::new_with_constructor(|| Histogram::new(OUTCOME_BUCKETS));
        let (time_to_detect, time_to_repair) = (outcome(), outcome());
        registry.register(
            "time_to_detect_seconds",
            "From a change to the finding it caused, where the source knows the change time",
            time_to_detect.clone(),
        );
        registry.register("time_to_repair_seconds", "From a finding opened to it resolved", time_to_repair.clone());
        Metrics {
            registry,
            findings,
            runs,
            durations,
            complete,
            resources,
            finding_series: Default::default(),
            time_to_detect,
            time_to_repair,
            log: Default::default(),
        }
    }

    /// Reads the lifecycle log past where it was last read and observes the outcomes it measures. The first call
    /// reads the history only to know which episodes are open.
    pub(crate) async fn follow_log(&self, store: &dyn Store) {
        const PAGE: u32 = 1_000;
        let mut log = self.log.lock().await;
        loop {
            let events = match store.events_after(log.last_event, PAGE).await {
                Ok(events) => events,
                Err(e) => return tracing::warn!(error = %e, "Cannot read the lifecycle log for outcome metrics."),
            };
            for event in &events {
                let measured = log.episodes.follow(event);
                log.last_event = event.id;
                let Some(measured) = measured.filter(|_| log.caught_up) else { continue };
                let labels = OutcomeLabels {
                    domain: event.finding.domain.as_str().to_owned(),
                    team: event.finding.owner.team.clone().unwrap_or_else(|| "unowned".to_owned()),
                };
                match measured {
                    Measured::TimeToDetect(seconds) => self.time_to_detect.get_or_create(&labels).observe(seconds),
                    Measured::TimeToRepair(seconds) => self.time_to_repair.get_or_create(&labels).observe(seconds),
                }
            }
            // Until an empty page: a page can be short because an unreadable event was skipped.
            if events.is_empty() {
                break;
            }
        }
        log.caught_up = true;
    }

    /// Replaces the finding counts with those of `open` (series of counts that fell to zero disappear).
    pub(crate) fn findings(&self, open: &[Finding]) {
        let mut counts: BTreeMap<FindingLabels, i64> = BTreeMap::new();
        for f in open {
            let labels = FindingLabels {
                domain: f.domain.as_str().to_owned(),
                severity: f.severity.as_str().to_owned(),
                team: f.owner.team.clone().unwrap_or_else(|| "unowned".to_owned()),
            };
            *counts.entry(labels).or_default() += 1;
        }
        // Set the new counts, then drop the series that are gone: a scrape in between never sees no series at all.
        let mut previous = self.finding_series.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for (labels, count) in &counts {
            self.findings.get_or_create(labels).set(*count);
        }
        for gone in previous.iter().filter(|l| !counts.contains_key(*l)) {
            self.findings.remove(gone);
        }
        *previous = counts.into_keys().collect();
    }

    pub(crate) fn job(&self, job: &str, seconds: f64, ok: bool) {
        let result = if ok { "ok" } else { "error" };
        self.runs.get_or_create(&RunLabels { job: job.to_owned(), result: result.to_owned() }).inc();
        self.durations.get_or_create(&JobLabels { job: job.to_owned() }).observe(seconds);
    }

    /// Drops the series of a source this replica no longer collects (the replica that does reports it).
    pub(crate) fn forget_source(&self, job: &str, source: &str) {
        let labels = SourceLabels { job: job.to_owned(), source: source.to_owned() };
        self.complete.remove(&labels);
        self.resources.remove(&labels);
    }

    pub(crate) fn source(&self, job: &str, source: &str, complete: bool, resources: usize) {
        let labels = SourceLabels { job: job.to_owned(), source: source.to_owned() };
        self.complete.get_or_create(&labels).set(i64::from(complete));
        self.resources.get_or_create(&labels).set(i64::try_from(resources).unwrap_or(i64::MAX));
    }

    /// The exposition text.
    pub(crate) fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}
