//! One pipeline run: collect every source, build and link the inventories of both sides, run the analyzers over
//! them, apply suppressions (and the drift baseline), and assemble the [`Report`]. Bad inputs become diagnostics;
//! everything else is still analyzed.
//!
//! Two kinds of run share it: a posture run (`day2 check`: built-in checks and Rego policies, on declared state and,
//! with `live_posture`, on live state) and a drift run (`day2 drift`: declared against live). [`record`] stores a
//! run, for the CLI and the server alike.

use std::collections::{BTreeSet, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use day2_analyze::checks::{Checks, ChecksConfig};
use day2_analyze::drift::baseline::Baseline;
use day2_analyze::drift::{Drift, DriftConfig, LiveScope};
use day2_analyze::suppress::{SuppressionError, SuppressionRule, Suppressor};
use day2_analyze::{Analysis, Analyzer, Context, Inputs};
use day2_collect::Source;
use day2_collect::link;
use day2_collect::manifests::ManifestsConfig;
use day2_collect::source::PROGRESS;
use day2_collect::terraform::TerraformConfig;
use day2_input::files::{self, FileFilter, Input};
use day2_model::{
    Diagnostic, DiagnosticKind, Finding, Inventory, OwnerKeys, Provider, Report, ResourceId, Severity, Side, Snapshot,
    SourceSummary, Summary,
};
use day2_policy::{Policies, PolicyConfig};

use crate::config::Config;
use crate::sources::SourceConfig;

/// Validated settings for one run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The sources to read: the configured ones, with paths given on the command line in place of the declared ones.
    pub sources: Vec<SourceConfig>,
    /// A posture run reads the live sources too and checks what they hold.
    pub live_posture: bool,
    /// Checks to run.
    pub checks: ChecksConfig,
    /// Rego policies to run.
    pub policies: PolicyConfig,
    /// Drift noise control and baseline.
    pub drift: DriftConfig,
    /// Ownership keys.
    pub owners: OwnerKeys,
    /// Configured suppressions.
    pub suppressions: Vec<SuppressionRule>,
    /// Where the suppressions came from (for `suppressed by config:<file>`).
    pub suppressions_from: String,
    /// Fail threshold.
    pub fail_on: Severity,
    /// The run's clock.
    pub now: DateTime<Utc>,
    /// Entries of folders given on the command line that were not read (special files, symbolic links).
    pub path_notes: Vec<Diagnostic>,
}

impl Settings {
    /// Settings from a configuration; `paths`, when given, replace the configured declared sources and are sorted
    /// into manifests and Terraform files by content (the first configured manifests source lends its include/exclude
    /// globs, cluster and limits). Live sources stay as configured.
    pub fn new(config: &Config, paths: &[PathBuf], config_name: &str) -> Self {
        let mut path_notes = Vec::new();
        let sources = if paths.is_empty() {
            config.sources.clone()
        } else {
            let template = config.sources.iter().find_map(SourceConfig::manifests).cloned().unwrap_or_default();
            let (m, t, notes) = classify(paths, &template);
            path_notes = notes;
            // Named after the paths as given (not the expanded file lists), so the store sees the same sources each run.
            let mut sources = vec![SourceConfig::Manifests(ManifestsConfig {
                source_name: Some(day2_collect::source_name("manifests", paths)),
                paths: m,
                ..template
            })];
            if !t.is_empty() {
                let source_name = Some(day2_collect::source_name("terraform", paths));
                sources.push(SourceConfig::Terraform(TerraformConfig {
                    source_name,
                    paths: t,
                    ..TerraformConfig::default()
                }));
            }
            sources.extend(config.sources_of(Side::Live).cloned());
            sources
        };
        Settings {
            sources,
            live_posture: config.live_posture,
            checks: config.checks.clone(),
            policies: config.policies.clone(),
            drift: config.drift.clone(),
            owners: config.owners.clone(),
            suppressions: config.suppressions.clone(),
            suppressions_from: config_name.to_owned(),
            fail_on: config.fail_on,
            now: Utc::now(),
            path_notes,
        }
    }

    /// The sources of one side that name something to read.
    pub fn sources_of(&self, side: Side) -> impl Iterator<Item = &dyn Source> {
        self.sources.iter().map(SourceConfig::source).filter(move |s| s.side() == side && !s.is_empty())
    }
}

/// Splits paths into manifest inputs and Terraform files. Directories are walked with the manifests source's
/// include/exclude globs (plus `**/*.tf` and `**/*.tfstate`); `.tf` configuration, `.tfstate` files and JSON that
/// carries `terraform_version` (standard input included) are Terraform, the rest are manifests. Unreadable paths and special files go to the manifest source,
/// which reports them; entries of folders that are not read come back as notes.
pub fn classify(paths: &[PathBuf], manifests: &ManifestsConfig) -> (Vec<PathBuf>, Vec<PathBuf>, Vec<Diagnostic>) {
    let mut include = manifests.include.clone();
    include.extend(["**/*.tf".to_owned(), "**/*.tfstate".to_owned()]);
    let Ok(filter) = FileFilter::new(&include, &manifests.exclude) else {
        return (paths.to_vec(), Vec::new(), Vec::new());
    };
    let (mut to_manifests, mut to_terraform, mut notes) = (Vec::new(), Vec::new(), Vec::new());
    for path in paths {
        if path.as_os_str() == "-" {
            let text = files::read_text(&Input::Stdin, manifests.limits.max_file_bytes).unwrap_or_default();
            if files::is_terraform_text(text.get(..4096.min(text.len())).unwrap_or(&text)) {
                to_terraform.push(path.clone())
            } else {
                to_manifests.push(path.clone())
            }
            continue;
        }
        if !path.is_dir() && !path.is_file() {
            to_manifests.push(path.clone());
            continue;
        }
        let found = files::expand(std::slice::from_ref(path), &filter);
        for input in found.inputs {
            let Input::File(file) = input else { continue };
            if is_terraform(&file) { to_terraform.push(file) } else { to_manifests.push(file) }
        }
        notes.extend(
            found
                .notes
                .into_iter()
                .map(|(path, why)| Diagnostic::new(DiagnosticKind::NotRead, path.display().to_string(), None, why)),
        );
    }
    (to_manifests, to_terraform, notes)
}

fn is_terraform(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    if name.ends_with(".tfstate") || name.ends_with(".tfstate.json") || day2_collect::terraform::is_configuration(path)
    {
        return true;
    }
    if !name.ends_with(".json") {
        return false;
    }
    let mut head = [0u8; 4096];
    let n = files::open_regular(path).ok().and_then(|mut f| f.read(&mut head).ok()).unwrap_or(0);
    files::is_terraform_text(&String::from_utf8_lossy(head.get(..n).unwrap_or_default()))
}

/// The outcome of a run: the report and the inventory it was computed from (stores record both).
#[derive(Debug)]
pub struct Run {
    /// The report.
    pub report: Report,
    /// The linked inventory: declared objects, and live objects no declaration names.
    pub inventory: Inventory,
    /// Ids of the rules that ran, sorted (stores resolve only findings of these).
    pub rules_run: Vec<String>,
    /// Ids of the rules that applied to at least one resource (compliance: the rest are "not applicable").
    pub applicable: BTreeSet<String>,
    /// The live copies of declared objects (the inventory holds the declared ones).
    pub live_copies: Vec<day2_model::Resource>,
    /// The source that showed each relation of the inventory, in the inventory's order (see [`topology`]).
    pub relation_sources: Vec<String>,
}

/// A linked inventory and what the report says about the sources it came from.
struct Collected {
    inventory: Inventory,
    sources: Vec<SourceSummary>,
    files: usize,
    diagnostics: Vec<Diagnostic>,
}

/// Reads the sources, one after another (each parallel inside where it can be), on a runtime of the run's own.
fn collect<'a>(sources: impl Iterator<Item = &'a dyn Source>) -> Vec<Snapshot> {
    let sources: Vec<&dyn Source> = sources.collect();
    if sources.is_empty() {
        return Vec::new();
    }
    match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => sources.iter().map(|s| runtime.block_on(s.collect())).collect(),
        Err(e) => {
            tracing::error!(error = %e, "cannot start the runtime to read sources");
            Vec::new()
        }
    }
}

/// Snapshots of the declared sources, with the notes on paths given on the command line.
fn declared_snapshots(settings: &Settings) -> Vec<Snapshot> {
    let mut snapshots = collect(settings.sources_of(Side::Declared));
    if !settings.path_notes.is_empty() {
        match snapshots.first_mut() {
            Some(first) => first.diagnostics.extend(settings.path_notes.iter().cloned()),
            None => snapshots.push(Snapshot {
                source: settings.sources.first().map(|s| s.source().name()).unwrap_or_default(),
                complete: true,
                diagnostics: settings.path_notes.clone(),
                ..Snapshot::default()
            }),
        }
    }
    snapshots
}

/// Builds and links the inventory of `snapshots`; bad inputs and duplicates become diagnostics.
fn build(mut snapshots: Vec<Snapshot>, owners: &OwnerKeys) -> Collected {
    let sources: Vec<SourceSummary> = snapshots
        .iter()
        .map(|s| SourceSummary {
            name: s.source.clone(),
            complete: s.complete,
            files: s.files,
            resources: s.resources.len(),
        })
        .collect();
    let files = snapshots.iter().map(|s| s.files).sum();
    let mut diagnostics: Vec<Diagnostic> = snapshots
        .iter_mut()
        .flat_map(|s| std::mem::take(&mut s.diagnostics))
        .filter(|d| d.kind != DiagnosticKind::Skipped)
        .collect();
    let (mut inventory, duplicates) = Inventory::from_snapshots(snapshots);
    for dup in duplicates {
        let (file, line) = dup.location().map(|(f, l)| (f.to_owned(), Some(l))).unwrap_or_default();
        diagnostics.push(Diagnostic::new(
            DiagnosticKind::Duplicate,
            file,
            line,
            format!("duplicate object {}: already read from another source; this copy is ignored", dup.id),
        ));
    }
    link::link(&mut inventory, owners);
    Collected { inventory, sources, files, diagnostics }
}

/// What a run looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunKind {
    /// Checks and policies.
    Posture,
    /// Declared against live.
    Drift,
}

/// The analyzers of a kind of run, compiled once from validated settings (checks selected, Rego parsed, drift rules
/// built): what runs. `day2 serve` keeps them between runs and compiles again only when the configuration or a
/// policy file changes. Configuration problems met while compiling are diagnostics of every run that uses them.
pub struct Analyzers {
    kind: RunKind,
    list: Vec<Box<dyn Analyzer>>,
    problems: Vec<Diagnostic>,
}

impl Analyzers {
    /// Compiles the analyzers of `kind`.
    pub fn new(settings: &Settings, kind: RunKind) -> Self {
        let config_problem =
            |message: String| Diagnostic::new(DiagnosticKind::Config, &settings.suppressions_from, None, message);
        let (mut list, mut problems): (Vec<Box<dyn Analyzer>>, Vec<Diagnostic>) = (Vec::new(), Vec::new());
        match kind {
            RunKind::Posture => {
                match Checks::new(&settings.checks) {
                    Ok(checks) => list.push(Box::new(checks)),
                    Err(errors) => problems.extend(errors.iter().map(|e| config_problem(e.to_string()))),
                }
                if !settings.policies.paths.is_empty() {
                    let (policies, found) = Policies::load(&settings.policies);
                    problems.extend(found);
                    list.push(Box::new(policies));
                }
            }
            RunKind::Drift => match Drift::new(&settings.drift) {
                Ok(drift) => list.push(Box::new(drift)),
                Err(e) => problems.push(config_problem(e.to_string())),
            },
        }
        Analyzers { kind, list, problems }
    }

    /// A digest of the policy files the posture analyzers compile (names and contents): analyzers compiled from the
    /// same configuration when it was the same are still current.
    pub fn policy_digest(settings: &Settings) -> u64 {
        day2_policy::policy_digest(&settings.policies.paths)
    }
}

/// Runs the posture analyzers once: on declared state, and on live state too with `live_posture`.
pub fn run(settings: &Settings) -> Run {
    execute(settings, RunKind::Posture)
}

/// One drift run: the declared sources against the live ones, field by field, with coverage per scope.
pub fn drift(settings: &Settings) -> Run {
    execute(settings, RunKind::Drift)
}

/// Reads one source, blocking (on a runtime of its own): a collection job of `day2 serve`.
pub fn collect_source(source: &dyn Source) -> Snapshot {
    collect(std::iter::once(source)).pop().unwrap_or_else(|| Snapshot {
        source: source.name(),
        diagnostics: vec![Diagnostic::new(
            DiagnosticKind::Unreadable,
            source.name(),
            None,
            "the source was not read: no runtime to read it on (see the log)",
        )],
        ..Snapshot::default()
    })
}

/// Collects what a run of `kind` reads, then analyzes it.
fn execute(settings: &Settings, kind: RunKind) -> Run {
    let analyzers = Analyzers::new(settings, kind);
    tracing::trace!(target: PROGRESS, stage = "reading files");
    let mut snapshots = declared_snapshots(settings);
    if kind == RunKind::Drift || settings.live_posture {
        tracing::trace!(target: PROGRESS, stage = "reading live state");
        snapshots.extend(collect(settings.sources_of(Side::Live)));
    }
    analyze(settings, &analyzers, snapshots)
}

/// A run over snapshots already taken (by `execute`, or by `day2 serve`'s collection jobs, read back from the store).
/// Each snapshot belongs to the configured source of its name: a live one counts only in a drift run or with
/// `live_posture`, and a live source without a snapshot is a scope not read (its declared objects are not compared).
pub fn analyze(settings: &Settings, analyzers: &Analyzers, snapshots: Vec<Snapshot>) -> Run {
    let clock = std::time::Instant::now();
    let kind = analyzers.kind;
    let read_live = kind == RunKind::Drift || settings.live_posture;
    let live_sources: Vec<&dyn Source> = if read_live { settings.sources_of(Side::Live).collect() } else { Vec::new() };
    let side_of =
        |name: &str| settings.sources.iter().map(SourceConfig::source).find(|s| s.name() == name).map(|s| s.side());
    let (live_snapshots, declared_snapshots): (Vec<Snapshot>, Vec<Snapshot>) = snapshots
        .into_iter()
        .filter(|s| read_live || side_of(&s.source) != Some(Side::Live))
        .partition(|s| side_of(&s.source) == Some(Side::Live));
    tracing::trace!(target: PROGRESS, stage = "linking the inventory");
    let mut declared = build(declared_snapshots, &settings.owners);
    // A live source whose objects are declared under other ids (AWS objects by Terraform addresses) shapes the
    // declarations as it reads them, so the two sides pair.
    let mut declared_as: HashMap<ResourceId, ResourceId> = HashMap::new();
    for source in &live_sources {
        for (declaration, view) in source.declared_view(declared.inventory.resources()) {
            declared_as.insert(view.id.clone(), declaration);
            declared.inventory.insert(view);
        }
    }
    let scopes: Vec<LiveScope> = live_sources
        .iter()
        .filter_map(|source| {
            let (provider, scope) = source.scope()?;
            let snapshot = live_snapshots.iter().find(|s| s.source == source.name())?;
            Some(LiveScope { provider, scope, complete: snapshot.complete, examined: snapshot.examined.clone() })
        })
        .collect();
    let live = build(live_snapshots, &settings.owners);
    tracing::info!(
        elapsed_ms = clock.elapsed().as_millis() as u64,
        declared = declared.inventory.len(),
        live = live.inventory.len(),
        "Linked the inventories."
    );
    let mut diagnostics = declared.diagnostics;
    diagnostics.extend(live.diagnostics);
    if kind == RunKind::Drift {
        diagnostics.extend(uncompared_scopes(settings, &declared.inventory, &scopes));
    }

    let context = Context { now: settings.now };
    let inputs =
        Inputs { declared: &declared.inventory, live: &live.inventory, scopes: &scopes, declared_as: &declared_as };
    let mut analysis = Analysis::default();
    diagnostics.extend(analyzers.problems.iter().cloned());
    for analyzer in &analyzers.list {
        tracing::trace!(target: PROGRESS, stage = %format_args!("running {} on {} resources", analyzer.name(), inputs.declared.len() + inputs.live.len()));
        analysis.merge(analyzer.analyze(&inputs, &context));
        tracing::info!(
            elapsed_ms = clock.elapsed().as_millis() as u64,
            analyzer = analyzer.name(),
            findings = analysis.findings.len(),
            "Analyzed."
        );
    }
    let Analysis { mut findings, diagnostics: analyzed, rules_run, applicable, mut rules, coverage } = analysis;
    diagnostics.extend(analyzed);
    tracing::trace!(target: PROGRESS, stage = "suppressing and sorting findings");
    diagnostics.extend(suppress(settings, &declared.inventory, &mut findings));
    if kind == RunKind::Drift {
        diagnostics.extend(apply_baseline(settings, &mut findings));
    }
    sort(&mut findings);
    rules.sort_by(|a, b| a.id.cmp(&b.id));

    let mut sources = declared.sources;
    if kind == RunKind::Drift {
        // A store resolves the findings of complete sources only. A declared source is complete for drift when every
        // object of it was compared with a complete live scope (Terraform plans carry their own refresh).
        for source in &mut sources {
            source.complete &= declared.inventory.resources().iter().filter(|r| r.source == source.name).all(|r| {
                r.provider == Provider::Tf
                    || scopes.iter().any(|s| s.complete && s.provider == r.provider && s.scope == r.scope)
            });
        }
    }
    sources.extend(live.sources);
    let mut report = Report {
        schema_version: Report::SCHEMA_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").to_owned(),
        started_at: settings.now,
        fail_on: settings.fail_on,
        summary: Summary {
            files: declared.files + live.files,
            resources: declared.inventory.len() + live.inventory.len(),
            ..Summary::default()
        },
        sources,
        rules,
        coverage,
        findings,
        resolved: Vec::new(),
        diagnostics,
    };
    report.recount();
    tracing::info!(elapsed_ms = clock.elapsed().as_millis() as u64, findings = report.findings.len(), "Run done.");
    let Topology { inventory, live_copies, relation_sources } =
        topology(declared.inventory, live.inventory, &declared_as);
    Run { report, inventory, rules_run: rules_run.into_iter().collect(), applicable, live_copies, relation_sources }
}

/// Both sides of a run as one graph.
struct Topology {
    inventory: Inventory,
    live_copies: Vec<day2_model::Resource>,
    relation_sources: Vec<String>,
}

/// One inventory of both sides, with every relation: the declared objects, the live objects no declaration names
/// (findings about hand-made objects need them stored, under their live source, so they resolve when a complete read
/// no longer has them), the relations of each side, Terraform addresses → the live objects they declare, and the
/// relations across providers (`link::cross_provider`). The declared and live copies of one object are one node;
/// the live copies are returned beside it.
///
/// Each relation is kept under the source that showed it, so that a run which does not read live state (`day2
/// check` without `--live`) does not drop what only live state says: a relation only the live side holds, or one
/// that ends at a live-only object, or a Terraform address → the live object it declares, belongs to the live source;
/// the rest to the source of its `from` end.
fn topology(declared: Inventory, live: Inventory, declared_as: &HashMap<ResourceId, ResourceId>) -> Topology {
    let mut inventory = declared;
    let mut live_copies = Vec::new();
    for r in live.resources() {
        if inventory.get(&r.id).is_some() {
            live_copies.push(r.clone());
        } else {
            inventory.insert(r.clone());
        }
    }
    let declared_relations: std::collections::HashSet<(&ResourceId, day2_model::RelationKind, &ResourceId)> =
        inventory.relations().iter().map(|r| (&r.from, r.kind, &r.to)).collect();
    let only_live: Vec<day2_model::Relation> =
        live.relations().iter().filter(|r| !declared_relations.contains(&(&r.from, r.kind, &r.to))).cloned().collect();
    for relation in &only_live {
        inventory.relate(&relation.from, relation.kind, &relation.to);
    }
    for (view, declaration) in declared_as {
        inventory.relate(declaration, day2_model::RelationKind::Declares, view);
    }
    link::cross_provider(&mut inventory);
    let only_live: std::collections::HashSet<(&ResourceId, day2_model::RelationKind, &ResourceId)> =
        only_live.iter().map(|r| (&r.from, r.kind, &r.to)).collect();
    let source_of = |id: &ResourceId| inventory.get(id).map(|r| r.source.clone()).unwrap_or_default();
    let live_source = |id: &ResourceId| live.get(id).map(|r| r.source.clone());
    let relation_sources = inventory
        .relations()
        .iter()
        .map(|r| {
            let ends_live = inventory.get(&r.to).is_some_and(|to| to.origin.side() == Side::Live);
            if only_live.contains(&(&r.from, r.kind, &r.to)) {
                live_source(&r.from).unwrap_or_else(|| source_of(&r.from))
            } else if ends_live {
                source_of(&r.to)
            } else if r.kind == day2_model::RelationKind::Declares {
                live_source(&r.to).unwrap_or_else(|| source_of(&r.from))
            } else {
                source_of(&r.from)
            }
        })
        .collect();
    Topology { inventory, live_copies, relation_sources }
}

/// Declared objects of a scope no live source names were not compared: said, rather than silence (a cluster name
/// that differs between sources and recording is the usual cause).
fn uncompared_scopes(settings: &Settings, declared: &Inventory, scopes: &[LiveScope]) -> Vec<Diagnostic> {
    let mut uncompared: BTreeSet<String> = BTreeSet::new();
    for r in declared.resources().iter().filter(|r| matches!(r.provider, Provider::K8s | Provider::Postgres)) {
        if !scopes.iter().any(|s| s.provider == r.provider && s.scope == r.scope) {
            uncompared.insert(format!("{}/{}", r.provider.as_str(), r.scope));
        }
    }
    let known: Vec<String> = scopes.iter().map(|s| format!("{}/{}", s.provider.as_str(), s.scope)).collect();
    uncompared
        .into_iter()
        .map(|scope| {
            tracing::warn!(scope = %scope, "declared objects not compared: no live state for this scope");
            Diagnostic::new(
                DiagnosticKind::Skipped,
                &settings.suppressions_from,
                None,
                format!(
                    "declared objects of {scope} were not compared: no live source names that scope (live scopes: {}); check the cluster or instance names",
                    if known.is_empty() { "none".to_owned() } else { known.join(", ") }
                ),
            )
        })
        .collect()
}

/// Reports the drift a baseline accepted as suppressed (`drift.baseline`, or `day2 drift --baseline`).
fn apply_baseline(settings: &Settings, findings: &mut [Finding]) -> Vec<Diagnostic> {
    let Some(path) = &settings.drift.baseline else { return Vec::new() };
    match Baseline::read(path) {
        Ok(baseline) => {
            baseline.apply(findings, &path.display().to_string());
            Vec::new()
        }
        Err(e) => vec![Diagnostic::new(DiagnosticKind::Config, path.display().to_string(), None, e.to_string())],
    }
}

/// Records a run in the store: its resources, findings (with their lifecycle), coverage and topology. The one way runs are
/// recorded, by `day2 check --store`, `day2 drift --store` and `day2 serve`.
pub async fn record(
    store: &dyn day2_store::Store,
    run: &Run,
) -> Result<day2_store::RunOutcome, day2_store::StoreError> {
    let record = day2_store::RunRecord {
        started_at: run.report.started_at,
        sources: &run.report.sources,
        resources: run.inventory.resources(),
        findings: &run.report.findings,
        rules_run: &run.rules_run,
    };
    let outcome = store.record_run(&record).await?;
    store.record_coverage(run.report.started_at, &run.report.coverage).await?;
    let relations: Vec<(day2_model::Relation, String)> =
        run.inventory.relations().iter().cloned().zip(run.relation_sources.iter().cloned()).collect();
    store
        .record_topology(&day2_store::TopologyRecord {
            started_at: run.report.started_at,
            sources: &run.report.sources,
            relations: &relations,
            live_copies: &run.live_copies,
        })
        .await?;
    Ok(outcome)
}

/// Applies annotations and configured suppressions; returns the problems found in them. An annotation problem is
/// located at the object that carries the annotation.
fn suppress(settings: &Settings, inventory: &Inventory, findings: &mut [Finding]) -> Vec<Diagnostic> {
    let config_problem =
        |message: String| Diagnostic::new(DiagnosticKind::Config, &settings.suppressions_from, None, message);
    match Suppressor::new(&settings.suppressions, &settings.suppressions_from) {
        Ok(s) => {
            warn_of_suppressions_matching_nothing(&s, findings, &settings.suppressions_from);
            s.apply(findings, inventory, settings.now.date_naive())
                .into_iter()
                .map(|e| match &e {
                    SuppressionError::Annotation { resource, .. } => {
                        match inventory.get(&ResourceId::from_raw(resource.as_str())).and_then(|r| r.location()) {
                            Some((file, line)) => {
                                Diagnostic::new(DiagnosticKind::Config, file, Some(line), e.to_string())
                            }
                            None => config_problem(e.to_string()),
                        }
                    }
                    _ => config_problem(e.to_string()),
                })
                .collect()
        }
        Err(errors) => errors.iter().map(|e| config_problem(e.to_string())).collect(),
    }
}

/// A configured suppression whose rule matches no built-in check, no drift rule and no rule of this run's findings
/// silences nothing (a typo, a renamed rule): said as a warning, since a policy's rule may simply not fire today.
fn warn_of_suppressions_matching_nothing(suppressor: &Suppressor, findings: &[Finding], source: &str) {
    let mut ids: Vec<&str> = day2_analyze::checks::all().map(|c| c.id).collect();
    ids.extend([day2_analyze::drift::CHANGED, day2_analyze::drift::MISSING, day2_analyze::drift::UNMANAGED]);
    ids.extend(findings.iter().map(|f| f.rule_id.as_str()));
    for (index, rule) in suppressor.matching_none(&ids) {
        tracing::warn!(
            config = source,
            "suppressions[{index}]: rule `{rule}` matches no check, drift rule or finding of this run, so it silences nothing"
        );
    }
}

/// Most severe first, then by file, line, rule, resource and subject: deterministic output for diffs and snapshots
/// (finding ids are unique, so the last tie-break makes the unstable sort deterministic).
pub fn sort(findings: &mut [Finding]) {
    use rayon::slice::ParallelSliceMut as _;
    // On every core: with thousands of findings, a sort on one thread is a good part of a run's serial time.
    findings.par_sort_unstable_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.file.cmp(&b.file))
            .then_with(|| a.line.cmp(&b.line))
            .then_with(|| a.rule_id.cmp(&b.rule_id))
            .then_with(|| a.resource.cmp(&b.resource))
            .then_with(|| a.subject.cmp(&b.subject))
            .then_with(|| a.id.cmp(&b.id))
    });
}

/// Metadata of the built-in rules (checks and drift) that appear in `findings`, in id order: for reports of
/// findings read back from a store.
pub fn builtin_rules_of(findings: &[Finding]) -> Vec<day2_model::RuleMeta> {
    let ids: BTreeSet<&str> = findings.iter().map(|f| f.rule_id.as_str()).collect();
    ids.into_iter()
        .filter_map(|id| {
            day2_analyze::checks::find(id)
                .map(day2_analyze::checks::Check::meta)
                .or_else(|| day2_analyze::drift::rule_meta(id))
        })
        .collect()
}
