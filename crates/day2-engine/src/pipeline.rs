//! One pipeline run: collect every source, build and link the inventory, run the checks, apply suppressions, and
//! assemble the [`Report`]. Bad inputs become diagnostics; everything else is still scanned.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use day2_analyze::checks::{self, Checks, ChecksConfig};
use day2_analyze::drift::{self, Drift, DriftConfig, LiveScope};
use day2_analyze::suppress::{SuppressionError, SuppressionRule, Suppressor};
use day2_analyze::{Analyzer, Context};
use day2_collect::files::{self, FileFilter, Input};
use day2_collect::kubernetes::{self, KubernetesConfig};
use day2_collect::manifests::ManifestsConfig;
use day2_collect::terraform::TerraformConfig;
use day2_collect::{aws, link, manifests, postgres, terraform};
use day2_model::{
    Diagnostic, DiagnosticKind, Finding, Inventory, OwnerKeys, Provider, Report, ResourceId, RuleMeta, Severity,
    Snapshot, SourceSummary, Summary,
};

use crate::config::Config;
use day2_policy::{Policies, PolicyConfig};

/// Validated settings for one run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Manifest sources.
    pub manifests: Vec<ManifestsConfig>,
    /// Terraform sources.
    pub terraform: Vec<TerraformConfig>,
    /// Checks to run.
    pub checks: ChecksConfig,
    /// Rego policies to run.
    pub policies: PolicyConfig,
    /// Declared PostgreSQL instances.
    pub postgres: Vec<postgres::DeclaredConfig>,
    /// Live Kubernetes clusters, read from their API or a recording (drift).
    pub live: Vec<KubernetesConfig>,
    /// Live PostgreSQL instances (drift).
    pub live_postgres: Vec<postgres::LiveConfig>,
    /// Live AWS accounts and regions (drift).
    pub live_aws: Vec<aws::AwsConfig>,
    /// Drift noise control.
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
    /// Settings from a configuration; `paths`, when given, replace the configured sources and are sorted into
    /// manifests and Terraform files by content (the first configured manifests source lends its include/exclude
    /// globs, cluster and limits).
    pub fn new(config: &Config, paths: &[PathBuf], config_name: &str) -> Self {
        let mut path_notes = Vec::new();
        let (manifests, terraform) = if paths.is_empty() {
            (config.sources.manifests.clone(), config.sources.terraform.clone())
        } else {
            let template = config.sources.manifests.first().cloned().unwrap_or_default();
            let (m, t, notes) = classify(paths, &template);
            path_notes = notes;
            // Named after the paths as given (not the expanded file lists), so the store sees the same sources each run.
            let manifests = vec![ManifestsConfig {
                source_name: Some(day2_collect::source_name("manifests", paths)),
                paths: m,
                ..template
            }];
            let terraform = if t.is_empty() {
                Vec::new()
            } else {
                let source_name = Some(day2_collect::source_name("terraform", paths));
                vec![TerraformConfig { source_name, paths: t, ..TerraformConfig::default() }]
            };
            (manifests, terraform)
        };
        Settings {
            manifests,
            terraform,
            checks: config.checks.clone(),
            policies: config.policies.clone(),
            postgres: config.sources.postgres.clone(),
            live: config.live.kubernetes.clone(),
            live_postgres: config.live.postgres.clone(),
            live_aws: config.live.aws.clone(),
            drift: config.drift.clone(),
            owners: config.owners.clone(),
            suppressions: config.suppressions.clone(),
            suppressions_from: config_name.to_owned(),
            fail_on: config.fail_on,
            now: Utc::now(),
            path_notes,
        }
    }
}

/// Splits paths into manifest inputs and Terraform files. Directories are walked with the manifests source's
/// include/exclude globs (plus `**/*.tfstate`); `.tfstate` files and JSON that carries `terraform_version` (standard
/// input included) are Terraform, the rest are manifests. Unreadable paths and special files go to the manifest source,
/// which reports them; entries of folders that are not read come back as notes.
pub fn classify(paths: &[PathBuf], manifests: &ManifestsConfig) -> (Vec<PathBuf>, Vec<PathBuf>, Vec<Diagnostic>) {
    let mut include = manifests.include.clone();
    include.push("**/*.tfstate".to_owned());
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
    if name.ends_with(".tfstate") || name.ends_with(".tfstate.json") {
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
    /// The linked inventory.
    pub inventory: Inventory,
    /// Ids of the rules that ran, sorted (stores resolve only findings of these).
    pub rules_run: Vec<String>,
    /// Ids of the rules that applied to at least one resource (compliance: the rest are "not applicable").
    pub applicable: BTreeSet<String>,
}

/// A linked inventory and what the report says about the sources it came from.
struct Collected {
    inventory: Inventory,
    sources: Vec<SourceSummary>,
    files: usize,
    diagnostics: Vec<Diagnostic>,
}

/// Snapshots of the declared sources.
fn declared_snapshots(settings: &Settings) -> Vec<Snapshot> {
    let mut snapshots: Vec<Snapshot> =
        settings.manifests.iter().filter(|m| !m.paths.is_empty()).map(manifests::collect).collect();
    if !settings.path_notes.is_empty() {
        match snapshots.first_mut() {
            Some(first) => first.diagnostics.extend(settings.path_notes.iter().cloned()),
            None => snapshots.push(Snapshot {
                source: settings.manifests.first().and_then(|m| m.source_name.clone()).unwrap_or_default(),
                complete: true,
                diagnostics: settings.path_notes.clone(),
                ..Snapshot::default()
            }),
        }
    }
    snapshots.extend(settings.terraform.iter().filter(|t| !t.paths.is_empty()).map(terraform::collect));
    snapshots.extend(settings.postgres.iter().filter(|p| !p.paths.is_empty()).map(postgres::collect_declared));
    snapshots
}

/// Live snapshots with the scope each covers: Kubernetes clusters (API or recording), PostgreSQL catalogs, AWS.
fn live_snapshots(settings: &Settings) -> (Vec<Snapshot>, Vec<LiveScope>) {
    let mut snapshots = Vec::new();
    let mut scopes = Vec::new();
    if settings.live.is_empty() && settings.live_postgres.is_empty() && settings.live_aws.is_empty() {
        return (snapshots, scopes);
    }
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the runtime for live sources");
            return (snapshots, scopes);
        }
    };
    let mut add = |snapshot: Snapshot, provider: Provider, scope: &str| {
        let examined = snapshot.examined.clone();
        scopes.push(LiveScope { provider, scope: scope.to_owned(), complete: snapshot.complete, examined });
        snapshots.push(snapshot);
    };
    for k in &settings.live {
        add(runtime.block_on(kubernetes::collect(k)), Provider::K8s, &k.cluster);
    }
    for p in &settings.live_postgres {
        add(runtime.block_on(postgres::collect_live(p)), Provider::Postgres, &p.instance);
    }
    #[cfg(feature = "aws")]
    for a in &settings.live_aws {
        add(runtime.block_on(aws::collect(a)), Provider::Aws, &a.scope());
    }
    (snapshots, scopes)
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

/// Runs the pipeline once.
pub fn run(settings: &Settings) -> Run {
    let clock = std::time::Instant::now();
    let snapshots = declared_snapshots(settings);
    tracing::info!(elapsed_ms = clock.elapsed().as_millis() as u64, "Collected sources.");
    let Collected { inventory, sources, files, mut diagnostics } = build(snapshots, &settings.owners);
    tracing::info!(
        elapsed_ms = clock.elapsed().as_millis() as u64,
        resources = inventory.len(),
        "Built and linked the inventory."
    );

    let context = Context { now: settings.now };
    let mut rules_run = Vec::new();
    let mut applicable = BTreeSet::new();
    let mut findings =
        match Checks::new(&settings.checks) {
            Ok(checks) => {
                rules_run = checks.enabled().iter().map(|c| c.id.to_owned()).collect();
                applicable.extend(checks.applicable(&inventory).into_iter().map(str::to_owned));
                checks.analyze(&inventory, &context)
            }
            Err(errors) => {
                diagnostics.extend(errors.iter().map(|e| {
                    Diagnostic::new(DiagnosticKind::Config, &settings.suppressions_from, None, e.to_string())
                }));
                Vec::new()
            }
        };
    let policies = (!settings.policies.paths.is_empty()).then(|| {
        let (policies, problems) = Policies::load(&settings.policies);
        diagnostics.extend(problems);
        let policy_run = policies.run(&inventory, &context);
        tracing::info!(
            elapsed_ms = clock.elapsed().as_millis() as u64,
            evaluations = policy_run.evaluations,
            findings = policy_run.findings.len(),
            "Ran Rego policies."
        );
        diagnostics.extend(policy_run.diagnostics);
        findings.extend(policy_run.findings);
        rules_run.extend(policies.rule_ids().into_iter().filter(|id| !policy_run.errored.contains(id)));
        applicable.extend(policy_run.applicable.into_iter().filter(|id| !policy_run.errored.contains(id)));
        policies
    });
    rules_run.sort();
    diagnostics.extend(suppress(settings, &inventory, &mut findings));
    tracing::info!(
        elapsed_ms = clock.elapsed().as_millis() as u64,
        findings = findings.len(),
        "Ran checks and suppressions."
    );
    sort(&mut findings);

    let mut report = Report {
        schema_version: Report::SCHEMA_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").to_owned(),
        started_at: settings.now,
        fail_on: settings.fail_on,
        summary: Summary { files, resources: inventory.len(), ..Summary::default() },
        sources,
        rules: rules_of(&findings, policies.as_ref()),
        coverage: Vec::new(),
        findings,
        resolved: Vec::new(),
        diagnostics,
    };
    report.recount();
    Run { report, inventory, rules_run, applicable }
}

/// One drift run: the declared sources against the recorded live ones, field by field, with coverage per scope.
pub fn drift(settings: &Settings) -> Run {
    let clock = std::time::Instant::now();
    let mut declared = build(declared_snapshots(settings), &settings.owners);
    // Terraform state declares AWS objects: give them their AWS ids and shape so they pair with what AWS holds.
    for a in &settings.live_aws {
        for view in aws::declared_view(a, declared.inventory.resources().iter()) {
            declared.inventory.insert(view);
        }
    }
    let (live_snapshots, scopes) = live_snapshots(settings);
    let live = build(live_snapshots, &settings.owners);
    tracing::info!(
        elapsed_ms = clock.elapsed().as_millis() as u64,
        declared = declared.inventory.len(),
        live = live.inventory.len(),
        "Collected declared and live state."
    );
    let mut diagnostics = declared.diagnostics;
    diagnostics.extend(live.diagnostics);
    // Declared objects of a scope no live source names were not compared; say so rather than stay silent (a cluster
    // name that differs between sources and recording is the usual cause).
    let mut uncompared: BTreeSet<String> = BTreeSet::new();
    for r in declared.inventory.resources().iter().filter(|r| matches!(r.provider, Provider::K8s | Provider::Postgres))
    {
        if !scopes.iter().any(|s| s.provider == r.provider && s.scope == r.scope) {
            uncompared.insert(format!("{}/{}", r.provider.as_str(), r.scope));
        }
    }
    for scope in uncompared {
        let known: Vec<String> = scopes.iter().map(|s| format!("{}/{}", s.provider.as_str(), s.scope)).collect();
        tracing::warn!(scope = %scope, "declared objects not compared: no live state for this scope");
        diagnostics.push(Diagnostic::new(
            DiagnosticKind::Skipped,
            &settings.suppressions_from,
            None,
            format!(
                "declared objects of {scope} were not compared: no live source names that scope (live scopes: {}); check the cluster or instance names",
                if known.is_empty() { "none".to_owned() } else { known.join(", ") }
            ),
        ));
    }
    let context = Context { now: settings.now };
    let mut configured = true;
    let (mut findings, coverage) = match Drift::new(&settings.drift) {
        Ok(drift) => {
            let mut outcome = drift.compare(&declared.inventory, &live.inventory, &scopes, &context);
            outcome.findings.extend(drift.plan_drift(&declared.inventory, &context));
            (outcome.findings, outcome.coverage)
        }
        Err(e) => {
            diagnostics.push(Diagnostic::new(DiagnosticKind::Config, &settings.suppressions_from, None, e.to_string()));
            configured = false;
            (Vec::new(), Vec::new())
        }
    };
    // A store resolves findings of the rules that ran; "missing" did not run where a live collection was partial.
    // Terraform plans carry their own refresh (resource_drift), complete for the resources they hold.
    let all_complete = scopes.iter().all(|s| s.complete);
    let nothing_compared = scopes.is_empty() && settings.terraform.iter().all(|t| t.paths.is_empty());
    let rules_run: Vec<String> = if !configured || nothing_compared {
        Vec::new()
    } else {
        drift::RULES.iter().filter(|r| all_complete || **r != drift::MISSING).map(|r| (*r).to_owned()).collect()
    };
    diagnostics.extend(suppress(settings, &declared.inventory, &mut findings));
    sort(&mut findings);
    tracing::info!(elapsed_ms = clock.elapsed().as_millis() as u64, findings = findings.len(), "Compared.");
    // A store resolves the findings of complete sources only. A declared source is complete for drift when every
    // object of it was compared with a complete live scope (Terraform plans carry their own refresh).
    let mut sources = declared.sources;
    for source in &mut sources {
        source.complete &= declared.inventory.resources().iter().filter(|r| r.source == source.name).all(|r| {
            r.provider == Provider::Tf
                || scopes.iter().any(|s| s.complete && s.provider == r.provider && s.scope == r.scope)
        });
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
        rules: rules_of(&findings, None),
        coverage,
        findings,
        resolved: Vec::new(),
        diagnostics,
    };
    report.recount();
    // Unmanaged findings are about live objects: the stored inventory holds them too, under their live source, so
    // their findings resolve when a complete recording no longer has them.
    let mut inventory = declared.inventory;
    for r in live.inventory.resources() {
        inventory.insert(r.clone());
    }
    Run { report, inventory, rules_run, applicable: BTreeSet::new() }
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
    findings.sort_unstable_by(|a, b| {
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

/// Rule metadata for the rules that appear in `findings`, in id order: built-in checks, then loaded policies.
pub fn rules_of(findings: &[Finding], policies: Option<&Policies>) -> Vec<RuleMeta> {
    let ids: BTreeSet<&str> = findings.iter().map(|f| f.rule_id.as_str()).collect();
    ids.into_iter()
        .filter_map(|id| {
            checks::find(id)
                .map(rule_meta)
                .or_else(|| drift::rule_meta(id))
                .or_else(|| policies.and_then(|p| p.rule_meta(id)))
        })
        .collect()
}

/// Metadata of a built-in check.
pub fn rule_meta(c: &checks::Check) -> RuleMeta {
    RuleMeta {
        id: c.id.to_owned(),
        title: c.title.to_owned(),
        domain: c.domain,
        severity: c.severity,
        rationale: c.rationale.to_owned(),
        remediation: c.remediation.to_owned(),
        references: c.references.iter().map(|s| (*s).to_owned()).collect(),
        controls: c.control_refs(),
    }
}
