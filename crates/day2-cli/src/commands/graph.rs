//! `day2 graph`: the topology of one run (declared, and live with `--live`) as DOT, Mermaid or JSON.

use std::process::ExitCode;

use anyhow::{Result, bail};
use day2_engine::pipeline::{self, Settings};
use day2_model::{Graph, GraphFilter, ResourceId, Side};

use super::load_config;
use crate::cli::{Global, GraphArgs};

pub fn run(global: &Global, args: GraphArgs) -> Result<ExitCode> {
    let (mut config, config_name) = load_config(global)?;
    config.live_posture |= args.live;
    let settings = Settings::new(&config, &args.paths, &config_name);
    if settings.sources_of(Side::Declared).next().is_none() && !(args.live && config.has_live_sources()) {
        bail!("nothing to draw: give paths (`day2 graph k8s/`) or configure sources in day2.yaml");
    }
    let run = pipeline::run(&settings);
    for d in run.report.diagnostics.iter().filter(|d| d.kind.is_error()) {
        eprintln!("warning: {d}");
    }
    let filter = GraphFilter {
        scope: args.scope,
        namespace: args.namespace,
        owner: args.owner,
        kind: args.kind,
        around: args.around.map(ResourceId::from_raw),
        depth: args.depth,
        max_nodes: args.max_nodes,
    };
    let inventory = &run.inventory;
    let graph = Graph::build(inventory.resources(), inventory.relations(), &run.report.findings, &filter);
    if filter.around.is_some() && graph.nodes.is_empty() {
        bail!("--around: no resource has that id (ids look like k8s/<cluster>/apps.Deployment/<namespace>/<name>)");
    }
    let mut text = Vec::new();
    day2_report::render_graph(args.output, &graph, &mut text)?;
    match args.out {
        Some(path) => {
            std::fs::write(&path, text).map_err(|e| anyhow::anyhow!("{}: cannot write: {e}", path.display()))?
        }
        None => super::print_out(String::from_utf8_lossy(&text).trim_end())?,
    }
    Ok(ExitCode::SUCCESS)
}
