//! `day2 drift`: declared state against live state (a cluster's API, a recording, catalogs, Terraform's refresh).

use std::process::ExitCode;

use anyhow::{Result, bail};
use day2_analyze::drift::baseline::Baseline;
use day2_collect::kubernetes::KubernetesConfig;
use day2_engine::pipeline::{self, Settings};

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
            match config.sources.manifests.first_mut() {
                Some(m) => m.cluster = cluster.clone(),
                None => config
                    .sources
                    .manifests
                    .push(day2_collect::manifests::ManifestsConfig { cluster: cluster.clone(), ..Default::default() }),
            }
        }
    }
    if !args.live.is_empty() || args.context.is_some() {
        let cluster = args.cluster.clone().or_else(|| config.sources.manifests.first().map(|m| m.cluster.clone()));
        let defaults = KubernetesConfig::default();
        config.live.kubernetes = vec![KubernetesConfig {
            cluster: cluster.unwrap_or(defaults.cluster.clone()),
            recorded: args.live.clone(),
            context: args.context.clone(),
            ..defaults
        }];
    }
    config.validate(std::path::Path::new(&config_name))?;
    let settings = Settings::new(&config, &args.paths, &config_name);
    if settings.live.is_empty()
        && settings.live_postgres.is_empty()
        && settings.live_aws.is_empty()
        && settings.terraform.iter().all(|t| t.paths.is_empty())
    {
        bail!(
            "no live state to compare with: give --context <kubeconfig context> or --live <recording>, configure live.kubernetes, live.postgres or live.aws in day2.yaml, or give a Terraform plan (its resource_drift)"
        );
    }
    if settings.manifests.iter().all(|m| m.paths.is_empty())
        && settings.terraform.iter().all(|t| t.paths.is_empty())
        && settings.postgres.iter().all(|p| p.paths.is_empty())
    {
        bail!("no declared state: give paths (`day2 drift k8s/ --live live.yaml`) or configure sources in day2.yaml");
    }
    super::use_store_key(args.report.store.as_ref());
    let mut run = pipeline::drift(&settings);
    // Written before an older baseline is applied, so a refreshed baseline keeps what was accepted before.
    if let Some(path) = &args.write_baseline {
        let baseline = Baseline::of(&run.report.findings, run.report.started_at);
        baseline.write(path)?;
        eprintln!("wrote {} accepted drift finding(s) to {}", baseline.entries.len(), path.display());
    }
    if let Some(path) = &args.baseline {
        let baseline = Baseline::read(path)?;
        baseline.apply(&mut run.report.findings, &path.display().to_string());
        run.report.recount();
    }
    finish(global, run, &args.report)
}
