//! Prometheus series at `/metrics` (OpenMetrics text):
//! - `day2_findings{domain,severity,team}`: open findings in the store;
//! - `day2_runs_total{job,result}` and `day2_run_duration_seconds{job}`: runs of each job;
//! - `day2_source_complete{job,source}` and `day2_source_resources{job,source}`: the last collection of each source
//!   in each job.

use std::collections::{BTreeMap, BTreeSet};

use day2_model::Finding;
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

pub(crate) struct Metrics {
    registry: Registry,
    findings: Family<FindingLabels, Gauge>,
    runs: Family<RunLabels, Counter>,
    durations: Family<JobLabels, Histogram>,
    complete: Family<SourceLabels, Gauge>,
    resources: Family<SourceLabels, Gauge>,
    /// The finding series set by the last refresh, so those that fell to zero can be removed.
    finding_series: std::sync::Mutex<BTreeSet<FindingLabels>>,
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
        Metrics { registry, findings, runs, durations, complete, resources, finding_series: Default::default() }
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
