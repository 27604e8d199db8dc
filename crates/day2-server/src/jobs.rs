//! Jobs are data: what a configuration runs, each with its lease and schedule, derived from the source list.
//!
//! - one collection job per source (`collect:<source name>`), on `serve.schedule.sources.<name>`, else
//!   `serve.schedule.collect`, else `--interval`: it reads the source and stores the snapshot;
//! - the `check` job (built-in checks and Rego policies on what every source holds, declared and live) and, with live
//!   sources, the `drift` job (declared against live): each runs when a snapshot it reads changed, and at least on
//!   `serve.schedule.check` / `serve.schedule.drift`.
//!
//! Adding a kind of job (a restore drill, an SLO evaluation, a cost import) is one variant of [`Work`], its line in
//! [`of`], and its arm in the scheduler.

use day2_engine::config::Config;
use day2_engine::pipeline::RunKind;
use day2_engine::sources::SourceConfig;

/// What a job does.
#[derive(Debug, Clone)]
pub(crate) enum Work {
    /// Read one source and store its snapshot.
    Collect(Box<SourceConfig>),
    /// Analyze the stored snapshots of every source.
    Analyze(RunKind),
}

/// One job: its name (in the API, the log and metrics), what it does and when.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub(crate) name: String,
    pub(crate) work: Work,
    /// An interval or a cron expression (validated at load); None: every `--interval`.
    pub(crate) schedule: Option<String>,
}

impl Job {
    /// The lease that says which replica runs it.
    pub(crate) fn lease(&self) -> String {
        lease_of(&self.name)
    }
}

/// The name of the job that collects `source`.
pub(crate) fn collection(source: &str) -> String {
    format!("collect:{source}")
}

/// The source a job collects, if it is a collection.
pub(crate) fn collected_source(job: &str) -> Option<&str> {
    job.strip_prefix("collect:")
}

/// The lease of the job named `job`.
pub(crate) fn lease_of(job: &str) -> String {
    format!("job:{job}")
}

/// The job a lease is for (the others: `notify`, replica membership).
pub(crate) fn job_of(lease: &str) -> Option<&str> {
    lease.strip_prefix("job:")
}

/// The jobs of a configuration, in a stable order: collections in source order, then the analyses.
pub(crate) fn of(config: &Config) -> Vec<Job> {
    let schedule = &config.serve.schedule;
    let mut jobs: Vec<Job> = config
        .sources
        .iter()
        .filter(|entry| !entry.source().is_empty())
        .map(|entry| {
            let name = entry.source().name();
            Job {
                schedule: schedule.sources.get(&name).or(schedule.collect.as_ref()).cloned(),
                name: collection(&name),
                work: Work::Collect(Box::new(entry.clone())),
            }
        })
        .collect();
    jobs.push(Job { name: "check".into(), work: Work::Analyze(RunKind::Posture), schedule: schedule.check.clone() });
    if config.has_live_sources() {
        jobs.push(Job { name: "drift".into(), work: Work::Analyze(RunKind::Drift), schedule: schedule.drift.clone() });
    }
    jobs
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn every_source_is_a_job_with_its_own_schedule() {
        let text = "sources:\n  - manifests: {paths: [k8s]}\n  - kubernetes: {cluster: prod, recorded: [live.json]}\n  - terraform: {paths: []}\nserve:\n  schedule: {collect: 5m, sources: {'live:prod': 30s}, check: 1h}\n";
        let config = Config::parse(text, std::path::Path::new("day2.yaml")).unwrap();
        let jobs = of(&config);
        let named: Vec<(&str, Option<&str>)> = jobs.iter().map(|j| (j.name.as_str(), j.schedule.as_deref())).collect();
        assert_eq!(
            named,
            [
                ("collect:manifests:k8s", Some("5m")),
                ("collect:live:prod", Some("30s")),
                ("check", Some("1h")),
                ("drift", None)
            ],
            "a source that names nothing to read is no job"
        );
        assert_eq!(jobs[1].lease(), "job:collect:live:prod");
    }
}
