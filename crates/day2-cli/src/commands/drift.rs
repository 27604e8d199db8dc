//! `day2 drift`: declared state against live state (a cluster's API, a recording, catalogs, Terraform's refresh).

use std::process::ExitCode;

use anyhow::{Result, bail};
use day2_analyze::drift::DriftConfig;
use day2_analyze::drift::baseline::Baseline;
use day2_collect::kubernetes::KubernetesConfig;
use day2_collect::manifests::ManifestsConfig;
use day2_engine::pipeline::{self, Settings};
use day2_engine::sources::SourceConfig;
use day2_model::Side;

use super::check::finish;
use super::load_config;
use crate::cli::{DriftArgs, Global};

pub fn run(global: &Global, args: DriftArgs) -> Result<ExitCode> {
    let (mut config, config_name) = load_config(global)?;
    if let Some(s) = args.report.fail_on {
        config.fail_on = s.into();
    }
    if let Some(cluster) = &args.cluster {
        // The cluster names the command line's inputs; configured sources keep their own. Paths given on the
        // command line take their settings from the first manifests source.
        if !args.paths.is_empty() {
            match config.sources.iter_mut().find_map(SourceConfig::manifests_mut) {
                Some(m) => m.cluster = cluster.clone(),
                None => config
                    .sources
                    .push(SourceConfig::Manifests(ManifestsConfig { cluster: cluster.clone(), ..Default::default() })),
            }
        }
    }
    if !args.live.is_empty() || args.context.is_some() {
        // The command line's cluster replaces the configured ones.
        let first_cluster = config.sources.iter().find_map(SourceConfig::manifests).map(|m| m.cluster.clone());
        let cluster = args.cluster.clone().or(first_cluster);
        let defaults = KubernetesConfig::default();
        config.sources.retain(|s| !matches!(s, SourceConfig::Kubernetes(_)));
        config.sources.push(SourceConfig::Kubernetes(KubernetesConfig {
            cluster: cluster.unwrap_or(defaults.cluster.clone()),
            recorded: args.live.clone(),
            context: args.context.clone(),
            ..defaults
        }));
    }
    if let Some(path) = &args.baseline {
        config.drift.baseline = Some(path.clone());
    }
    config.validate(std::path::Path::new(&config_name))?;
    let settings = Settings::new(&config, &args.paths, &config_name);
    let has_terraform = settings.sources.iter().any(|s| matches!(s, SourceConfig::Terraform(t) if !t.paths.is_empty()));
    if settings.sources_of(Side::Live).next().is_none() && !has_terraform {
        bail!(
            "no live state to compare with: give --context <kubeconfig context> or --live <recording>, add a live source to `sources` in day2.yaml (kubernetes, postgres, aws), or give a Terraform plan (its resource_drift)"
        );
    }
    if settings.sources_of(Side::Declared).next().is_none() {
        bail!("no declared state: give paths (`day2 drift k8s/ --live live.yaml`) or configure sources in day2.yaml");
    }
    super::use_store_key(args.report.store.as_ref());
    // Written before the baseline is applied, so a refreshed baseline keeps what was accepted before.
    if let Some(path) = &args.write_baseline {
        let unfiltered =
            Settings { drift: DriftConfig { baseline: None, ..settings.drift.clone() }, ..settings.clone() };
        let mut run = pipeline::drift(&unfiltered);
        let baseline = Baseline::of(&run.report.findings, run.report.started_at);
        baseline.write(path)?;
        crate::progress::finish();
        eprintln!("wrote {} accepted drift finding(s) to {}", baseline.entries.len(), path.display());
        if let Some(older) = &settings.drift.baseline {
            Baseline::read(older)?.apply(&mut run.report.findings, &older.display().to_string());
            run.report.recount();
        }
        return finish(global, run, &args.report);
    }
    let run = pipeline::drift(&settings);
    finish(global, run, &args.report)
}
