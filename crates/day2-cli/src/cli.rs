//! Command-line definitions. Every flag's help, the man-style long help and shell completions come from here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use day2_report::Format;
use day2_store::StoreLocation;

const EXIT_CODES: &str = "Exit codes:
  0  nothing active at or above --fail-on, no input errors
  1  at least one active finding at or above --fail-on
  2  usage, configuration or input errors (the rest is still scanned and reported)";

/// day2 keeps production healthy after go-live: it scans declared state (Kubernetes manifests, Helm/Kustomize output,
/// Terraform state and plans) for security and reliability problems, maps them to compliance controls, and tracks them
/// across runs.
#[derive(Debug, Parser)]
#[command(name = "day2", version, after_long_help = EXIT_CODES, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// Configuration file. Default: ./day2.yaml when it exists.
    #[arg(long, short = 'c', global = true, env = "DAY2_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// More logging on stderr (-v info, -vv debug, -vvv trace). DAY2_LOG overrides (e.g. DAY2_LOG=day2=debug).
    #[arg(long, short = 'v', global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// When to colour output.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Colour when stdout is a terminal and NO_COLOR is unset.
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SeverityArg {
    Critical,
    High,
    Medium,
    Low,
    Info,
}

impl From<SeverityArg> for day2_model::Severity {
    fn from(s: SeverityArg) -> Self {
        match s {
            SeverityArg::Critical => Self::Critical,
            SeverityArg::High => Self::High,
            SeverityArg::Medium => Self::Medium,
            SeverityArg::Low => Self::Low,
            SeverityArg::Info => Self::Info,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scan declared state with the built-in checks and report findings.
    #[command(after_long_help = CHECK_HELP)]
    Check(CheckArgs),
    /// List or explain the built-in checks.
    #[command(subcommand)]
    Checks(ChecksCommand),
    /// Test Rego policies: Gatekeeper suites (gator verify) and Rego unit tests (opa test).
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Compare declared state with live state: missing, unmanaged and changed objects, field by field.
    #[command(after_long_help = DRIFT_HELP)]
    Drift(DriftArgs),
    /// Control-level compliance reports (CIS, NSA, PSS, SOC 2, NIS2, DORA, or your own framework file).
    #[command(subcommand)]
    Compliance(ComplianceCommand),
    /// Run continuously: collect each source, check and drift into a store, with an HTTP API and Prometheus metrics.
    #[command(after_long_help = SERVE_HELP)]
    Serve(ServeArgs),
    /// List findings recorded by `day2 check --store`.
    Findings(FindingsArgs),
    /// Ask the store anything in SQL (read-only): findings, resources and runs across time.
    #[command(after_long_help = QUERY_HELP)]
    Query(QueryArgs),
    /// Day-2 outcomes from the store: time to detect, time to repair, drift-hours, open-finding age, by team.
    #[command(after_long_help = OUTCOMES_HELP)]
    Outcomes(OutcomesArgs),
    /// Make an API token for `day2 serve`: prints the token once and the line for day2.yaml (its hash).
    #[command(after_long_help = TOKEN_HELP)]
    Token(TokenArgs),
    /// Write a commented example day2.yaml.
    Init(InitArgs),
    /// Draw the topology: resources and their relations across Kubernetes, Terraform and the cloud.
    #[command(after_long_help = GRAPH_HELP)]
    Graph(GraphArgs),
    /// Check day2.yaml, or print its JSON Schema for editors and CI.
    #[command(subcommand, after_long_help = CONFIG_HELP)]
    Config(ConfigCommand),
    /// Print shell completions (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

const CHECK_HELP: &str = "Examples:
  day2 check examples/fleet                     scan a directory (manifests and Terraform JSON are told apart by content)
  helm template shop ./chart | day2 check -     scan rendered Helm output from stdin
  kubectl kustomize overlays/prod | day2 check -
  day2 check k8s/ -o sarif --out day2.sarif      write SARIF for code scanning
  day2 check --fail-on critical                 only critical findings fail the run
  day2 check --store day2.db                    remember findings; report new and resolved ones
  day2 check . --severity critical,high --namespace shop   show and judge only these findings
  day2 check . -o json --out base.json && day2 check . --baseline base.json   fail only on new findings
  day2 check --policy policies/gatekeeper k8s/  run Rego policies (Gatekeeper, conftest) next to the built-in checks
  day2 check --policy deny.rego --combine k8s/   conftest rules over all objects at once

Exit codes:
  0  nothing active at or above --fail-on, no input errors
  1  at least one active finding at or above --fail-on
  2  usage, configuration or input errors (the rest is still scanned and reported)";

/// How a scan's report is written, judged and recorded (shared by `check` and `drift`).
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = Format::Table)]
    pub output: Format,
    /// Write the report to this file instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Fail (exit 1) when an active finding is at or above this severity. Default: fail_on in day2.yaml, else high.
    #[arg(long, value_enum)]
    pub fail_on: Option<SeverityArg>,
    /// Record resources and findings in this store (a SQLite file, or a `postgres://` URL) and report what is new and
    /// resolved since the last run.
    #[arg(long, value_name = "FILE|URL", env = "DAY2_STORE")]
    pub store: Option<StoreLocation>,
    /// Show suppressed findings in table and Markdown output (JSON, YAML, SARIF and JUnit always include them).
    #[arg(long)]
    pub show_suppressed: bool,
    #[command(flatten)]
    pub filter: FilterArgs,
}

/// Which findings a report shows (and its exit code counts); the store still records all of them.
#[derive(Debug, Args, Default)]
pub struct FilterArgs {
    /// Only these severities, repeated or comma-separated: `--severity critical,high`.
    #[arg(long, value_enum, value_delimiter = ',', value_name = "SEVERITY")]
    pub severity: Vec<SeverityArg>,
    /// Only rules matching these ids or globs: `--rule 'K8S-POD-*'`.
    #[arg(long, value_name = "GLOB")]
    pub rule: Vec<String>,
    /// Only resources in these namespaces.
    #[arg(long, value_name = "NAMESPACE")]
    pub namespace: Vec<String>,
    /// Only resources owned by these teams (from labels and tags; see `owners` in day2.yaml).
    #[arg(long, value_name = "TEAM")]
    pub team: Vec<String>,
    /// Add a summary of active findings by team, rule or resource to the table: where to start.
    #[arg(long, value_enum, value_name = "BY")]
    pub group_by: Option<day2_report::GroupBy>,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Files, directories (walked recursively) or - for stdin. Default: the sources in day2.yaml.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub report: ReportArgs,
    /// Run only these checks (repeatable; adds to checks.enable in day2.yaml).
    #[arg(long = "check", value_name = "ID")]
    pub only: Vec<String>,
    /// Skip these checks (repeatable; adds to checks.disable in day2.yaml).
    #[arg(long = "skip", value_name = "ID")]
    pub skip: Vec<String>,
    /// Rego policies to run too: a directory or file of ConstraintTemplates + Constraints (Gatekeeper) and/or .rego
    /// modules (conftest: deny/violation/warn in package main). Repeatable; adds to policies.paths in day2.yaml.
    #[arg(long = "policy", value_name = "PATH")]
    pub policies: Vec<PathBuf>,
    /// Evaluate conftest policies once over all objects, as `[{path, contents}]` (conftest's --combine).
    #[arg(long)]
    pub combine: bool,
    /// Read the live sources of day2.yaml too (clusters, accounts, recordings) and run the checks and policies on
    /// what they hold: a hand-made privileged Deployment or a security group opened in the console is found as
    /// live. A problem seen on both sides is one finding.
    #[arg(long)]
    pub live: bool,
    /// Accept the findings of an earlier report (`day2 check -o json --out baseline.json`): they are reported as
    /// suppressed by the baseline, and only new ones fail the run.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
}

const DRIFT_HELP: &str =
    "Live state comes from a cluster's API (--context, or a `kubernetes` source with context / kubeconfig in day2.yaml;
read only: discovery, then list), from recorded API objects (`kubectl get deploy,svc,cm -A -o yaml > live.yaml`,
given with --live or a `kubernetes` source's `recorded`), from PostgreSQL catalogs and AWS accounts (`postgres` and
`aws` sources), and from Terraform plans' own refresh (resource_drift). Objects pair by id, so declared and live
sources must name the same cluster (`cluster` of the manifests and kubernetes sources, or --cluster).

Examples:
  day2 drift -c examples/fleet/day2.yaml                       the example fleet against its recorded live state
  day2 drift k8s/ --context prod-eu --cluster prod-eu          declared manifests against the cluster of a context
  day2 drift k8s/ --live live.yaml --cluster prod-eu           declared manifests against a recording
  day2 drift -o json --store day2.db                           remember drift; report what is new and what was fixed
  day2 drift --write-baseline drift-baseline.json              accept today's drift ...
  day2 drift --baseline drift-baseline.json                    ... and from then on see only new drift

Classes: DRIFT-MISSING (declared, not live; only when the live collection was complete), DRIFT-UNMANAGED (live,
declared nowhere; owned objects and the platform's own are not counted), DRIFT-CHANGED (field by field, with the
declared and live values and the declaring file and line). IaC coverage per cluster is in the summary.

Exit codes: as `day2 check`.";

const SERVE_HELP: &str =
    "Every source is a job: collected every --interval (or on serve.schedule), its snapshot kept in the store.
The check job (what `day2 check --live` runs) and, when live sources are configured, the drift job (what `day2 drift`
runs) analyze the stored snapshots whenever one changes; each run is recorded, so findings are new, open, resolved or
reopened with timestamps. A change to a watched file or cluster collects its source at once. A job's run never
overlaps its next. SIGTERM or Ctrl-C stops after the running jobs; SIGHUP reloads day2.yaml and the TLS certificate.

Several replicas with one --store postgres://… divide the jobs (one per source, check, drift, notifications) through
leases, each taking its fair share; a replica that dies hands its jobs over within serve.lease_seconds (30).

HTTP (the OpenAPI document is at /api/v1/openapi.json; roles from serve.tokens):
  GET  /healthz, /readyz        liveness; ready once every job had its first turn
  GET  /api/v1/findings         stored findings, paged; filters: domain, severity, team, status, limit, offset
  GET  /api/v1/resources        stored resources, paged; filters: provider, kind, namespace, team
  GET  /api/v1/drift            IaC coverage per live scope and the open drift findings
  GET  /api/v1/sources          last run of each job, last collection of each source
  GET  /api/v1/outcomes         time to detect, time to repair, drift-hours, open age (?since=30d)
  GET  /api/v1/leases           which replica runs which job
  POST /api/v1/runs             run this replica's jobs now (operator)
  POST /api/v1/config/reload    reload day2.yaml and the certificate (admin)
  GET  /metrics                 Prometheus: findings, runs, durations, sources, outcome histograms

Examples:
  day2 serve -c examples/fleet/day2.yaml                        the example fleet, API on 127.0.0.1:8080
  day2 serve -c day2.yaml --listen 0.0.0.0:8443 --tls-cert tls.crt --tls-key tls.key --store /var/lib/day2/day2.db
  day2 serve -c day2.yaml --store postgres://day2@db.internal/day2      one of several replicas";

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address of the HTTP API and metrics. An address other hosts can reach (0.0.0.0, a LAN address) needs API
    /// tokens (serve.tokens) or --allow-anonymous-reads.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// Serve a non-loopback --listen address without API tokens: every finding and resource becomes readable by
    /// anyone who can connect. Without this flag such a start is refused.
    #[arg(long)]
    pub allow_anonymous_reads: bool,
    /// The store: a SQLite file (created when missing), or `postgres://user@host/db` shared by several replicas,
    /// which divide the jobs between them through leases (`serve.lease_seconds`).
    #[arg(long, value_name = "FILE|URL", env = "DAY2_STORE", default_value = "day2.db")]
    pub store: StoreLocation,
    /// Serve HTTPS with this PEM certificate chain (needs --tls-key). Re-read on SIGHUP, so a renewed certificate is
    /// served without a restart.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Time between the starts of each job's runs (collections, and the analyses at the latest), unless
    /// serve.schedule says otherwise: `30s`, `5m`, `1h`.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = humantime::parse_duration)]
    pub interval: std::time::Duration,
}

#[derive(Debug, Args)]
pub struct DriftArgs {
    /// Declared files or directories. Default: the sources in day2.yaml.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Recorded live objects (files or directories of `kubectl get -o yaml|json` output). Default: the `kubernetes`
    /// sources of day2.yaml.
    #[arg(long, value_name = "PATH", conflicts_with = "context")]
    pub live: Vec<PathBuf>,
    /// Read live objects from the cluster of this kubeconfig context ($KUBECONFIG or ~/.kube/config).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// Cluster name for the declared paths and the live cluster or recording given on the command line.
    #[arg(long, value_name = "NAME")]
    pub cluster: Option<String>,
    /// Accept the drift found now: write it to this file (review and commit it), so `--baseline` shows only new drift.
    #[arg(long, value_name = "FILE")]
    pub write_baseline: Option<PathBuf>,
    /// Suppress drift recorded in this baseline file, as long as the same fields hold the same live values.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    #[command(flatten)]
    pub report: ReportArgs,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Run Gatekeeper gator suites (kind: Suite): each case's violations must match its assertions.
    #[command(after_long_help = "Examples:
  day2 policy verify policies/gatekeeper                 every suite.yaml below the directory
  day2 policy verify policies/gatekeeper/requiredlabels/suite.yaml --run 'disallowed'
  day2 policy verify -v policies/gatekeeper             print every case, not only failures

Exit codes: 0 all cases pass, 1 a test or case fails (a template that does not compile fails its test), 2 a suite
file cannot be read or none is found.")]
    Verify {
        /// Suite files or directories to search for them.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Only tests and cases whose `test/case` name matches this regex.
        #[arg(long, value_name = "REGEX")]
        run: Option<String>,
    },
    /// Run Rego unit tests (test_* rules) with the policies and data documents beside them, like `opa test`.
    #[command(after_long_help = "Examples:
  day2 policy test policies/conftest
  day2 policy test policies/conftest --run latest
  day2 policy test -v policies/conftest                 print every test, not only failures

Exit codes: 0 all tests pass, 1 a test fails or errors, 2 a file cannot be read or compiled.")]
    Test {
        /// Directories or files with .rego modules, *_test.rego tests and data documents (YAML/JSON).
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Only tests whose name (data.<package>.<rule>) contains this text.
        #[arg(long, value_name = "TEXT")]
        run: Option<String>,
        /// Rego syntax of the files (auto detects per file).
        #[arg(long, value_enum, default_value_t = RegoVersionArg::Auto)]
        rego_version: RegoVersionArg,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RegoVersionArg {
    Auto,
    V0,
    V1,
}

impl From<RegoVersionArg> for day2_policy::RegoVersion {
    fn from(v: RegoVersionArg) -> Self {
        match v {
            RegoVersionArg::Auto => Self::Auto,
            RegoVersionArg::V0 => Self::V0,
            RegoVersionArg::V1 => Self::V1,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum ComplianceCommand {
    /// Scan, then report per control of a framework: pass, fail (with the findings as evidence) or not applicable.
    #[command(after_long_help = "Examples:
  day2 compliance report --framework nis2 examples/fleet
  day2 compliance report --framework cis-k8s --policy policies/gatekeeper k8s/ -o html --out cis.html
  day2 compliance report --framework policies/compliance/examples/acme-baseline.yaml k8s/

Exit codes: 0 no control fails, 1 a control fails, 2 configuration or input errors.")]
    Report(ComplianceArgs),
    /// List the bundled frameworks.
    List,
}

#[derive(Debug, Args)]
pub struct ComplianceArgs {
    /// Bundled framework id (cis-k8s, cis-aws, nsa, pss-baseline, pss-restricted, soc2, nis2, dora) or a framework
    /// file.
    #[arg(long, short = 'f', value_name = "ID|FILE")]
    pub framework: String,
    /// Files or directories to scan. Default: the sources in day2.yaml.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Rego policies to run too (repeatable).
    #[arg(long = "policy", value_name = "PATH")]
    pub policies: Vec<PathBuf>,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = ComplianceFormat::Table)]
    pub output: ComplianceFormat,
    /// Write the report to this file instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ComplianceFormat {
    Table,
    Json,
    Markdown,
    Html,
}

const GRAPH_HELP: &str = "Nodes are resources (coloured by their worst active finding; dashed: seen only live), edges
their relations: Service selects workload, Ingress routes to Service, workload runs as ServiceAccount and uses
ConfigMaps and Secrets, bindings grant roles, Terraform references, a Terraform address declares a live AWS object,
a ServiceAccount assumes an IAM role (IRSA), a PersistentVolume is backed by an EBS volume, a LoadBalancer Service is
exposed through a load balancer. The declared and live copies of one object are one node.

Examples:
  day2 graph examples/fleet -o dot | dot -Tsvg > fleet.svg
  day2 graph -c examples/fleet/day2.yaml --live --namespace shop -o mermaid
  day2 graph --around k8s/shop-prod-eu/apps.Deployment/shop/cart --depth 1 -o json";

#[derive(Debug, Args)]
pub struct GraphArgs {
    /// Files or directories. Default: the sources in day2.yaml.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = day2_report::GraphFormat::Dot)]
    pub output: day2_report::GraphFormat,
    /// Write to this file instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Read the live sources of day2.yaml too.
    #[arg(long)]
    pub live: bool,
    /// Only this cluster, account or state (the second segment of resource ids).
    #[arg(long, value_name = "SCOPE")]
    pub scope: Option<String>,
    /// Only this namespace.
    #[arg(long, value_name = "NAME")]
    pub namespace: Option<String>,
    /// Only resources of this owning team.
    #[arg(long, value_name = "TEAM")]
    pub owner: Option<String>,
    /// Only this kind (`Deployment`, `apps.Deployment`, `aws_iam_role`).
    #[arg(long, value_name = "KIND")]
    pub kind: Option<String>,
    /// Only what is within --depth relations of this resource id.
    #[arg(long, value_name = "ID")]
    pub around: Option<String>,
    /// How far from --around to go.
    #[arg(long, default_value_t = 2)]
    pub depth: usize,
    /// At most this many nodes.
    #[arg(long, default_value_t = 2000)]
    pub max_nodes: usize,
}

const CONFIG_HELP: &str = "Examples:
  day2 config validate                          check ./day2.yaml (or --config FILE): every problem with its line
  day2 config validate examples/fleet/day2.yaml
  day2 config schema -o day2.schema.json        the JSON Schema of day2.yaml, from the configuration types
  # yaml-language-server: $schema=day2.schema.json    first line of day2.yaml: editors complete and check it

Exit codes: 0 valid, 2 invalid (each problem names the file, line and field).";

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Check a configuration file: syntax, unknown or mistyped fields, values that do not make sense (unknown
    /// check ids, bad globs, sources without a region), each with its line. Nothing is read but the file (and the
    /// suppression files it names).
    Validate {
        /// The file. Default: --config, else ./day2.yaml.
        file: Option<PathBuf>,
    },
    /// Print the JSON Schema (draft 2020-12) of day2.yaml.
    Schema {
        /// Write it to this file instead of stdout.
        #[arg(long, short = 'o', value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ChecksCommand {
    /// List the built-in checks.
    List {
        /// Output format.
        #[arg(long, short = 'o', value_enum, default_value_t = ListFormat::Table)]
        output: ListFormat,
        /// Only checks for this provider.
        #[arg(long, value_enum)]
        provider: Option<ProviderArg>,
        /// Only checks mapped to this framework (cis-k8s, cis-aws, nsa, pss-baseline, pss-restricted, soc2, nis2, dora).
        #[arg(long)]
        framework: Option<String>,
    },
    /// Explain one check: why it matters, how to fix it, compliance mappings, a failing and a passing example.
    Explain {
        /// Check id, e.g. K8S-POD-001.
        id: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProviderArg {
    K8s,
    Tf,
}

#[derive(Debug, Args)]
pub struct FindingsArgs {
    /// The store written by `day2 check --store` or `day2 serve`: a SQLite file or a `postgres://` URL.
    #[arg(long, value_name = "FILE|URL", env = "DAY2_STORE", default_value = "day2.db")]
    pub store: StoreLocation,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = Format::Table)]
    pub output: Format,
    /// Include suppressed and resolved findings.
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub filter: FilterArgs,
    #[command(subcommand)]
    pub action: Option<FindingsAction>,
}

#[derive(Debug, Subcommand)]
pub enum FindingsAction {
    /// Everything known about one finding: rule, resource, evidence, fix, controls, history.
    Show {
        /// The finding id, or a prefix of it that names one finding (as `day2 findings -o json` prints them).
        id: String,
    },
}

const QUERY_HELP: &str =
    "Relations (columns in docs/query.md): the stable views finding_list and resource_list, and the tables
runs, findings, resources, finding_events and coverage.

One SELECT (or WITH … SELECT) in the store's dialect, calling the functions docs/query.md lists. It runs on
a connection of its own that cannot write, read or write files, run programs or see other tables: on SQLite
a read-only connection with an authorizer; on PostgreSQL a read-only transaction, logged in as the store's
unprivileged query login. Anything else is refused before it runs, with the reason.

Limits: --timeout (default 30s), --limit rows (default 10000; a note on stderr says when more exist) and an
answer of at most 64 MiB.

Examples:
  day2 query \"SELECT severity, count(*) AS n FROM finding_list WHERE state = 'open' GROUP BY severity\"
  day2 query \"SELECT team, count(*) FROM finding_list WHERE domain = 'drift' AND state = 'open' GROUP BY team\" -o json
  day2 query \"SELECT rule_id, resource_id, first_seen, resolved_at FROM finding_list WHERE state = 'resolved'\"
  day2 query \"SELECT kind, count(*) FROM resource_list GROUP BY kind ORDER BY 2 DESC\"

Exit codes: 0 answered, 2 the store is missing, or the statement is refused, fails or hits a limit.";

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// One SQL statement, in the dialect of the store (SQLite or PostgreSQL).
    #[arg(value_name = "SQL")]
    pub sql: String,
    /// The store written by `day2 check --store`, `day2 drift --store` or `day2 serve`: a SQLite file or a
    /// `postgres://` URL.
    #[arg(long, value_name = "FILE|URL", env = "DAY2_STORE", default_value = "day2.db")]
    pub store: StoreLocation,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = QueryFormat::Table)]
    pub output: QueryFormat,
    /// Rows shown at most; when more exist, stderr says so.
    #[arg(long, value_name = "ROWS", default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: u32,
    /// Time the statement may run before it is stopped.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = humantime::parse_duration)]
    pub timeout: std::time::Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum QueryFormat {
    /// A table for people.
    Table,
    /// An array of objects, one per row, keyed by column.
    Json,
}

const OUTCOMES_HELP: &str =
    "Computed from the findings' lifecycle log that `day2 check --store`, `day2 drift --store` and
`day2 serve` keep:
  time to detect   change → first sighting, where the source knows when the object changed (Kubernetes
                   managedFields times); the count says how many findings that covers
  time to repair   opened → resolved, per episode, for those resolved in the window (a suppression is no repair)
  drift-hours      hours drift findings were open within the window, by scope
  open age         how long the findings open now have been open

Examples:
  day2 outcomes --store day2.db
  day2 outcomes --since 7d -o json
  day2 outcomes --store postgres://day2@db/day2 --since 90d";

#[derive(Debug, Args)]
pub struct OutcomesArgs {
    /// The store: a SQLite file or a `postgres://` URL.
    #[arg(long, value_name = "FILE|URL", env = "DAY2_STORE", default_value = "day2.db")]
    pub store: StoreLocation,
    /// The window, back from now: `7d`, `30d`, `12h`.
    #[arg(long, value_name = "DURATION", default_value = "30d", value_parser = humantime::parse_duration)]
    pub since: std::time::Duration,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = QueryFormat::Table)]
    pub output: QueryFormat,
}

const TOKEN_HELP: &str = "Roles, each able to do what the ones before it can:
  viewer     read findings, sources, resources, metrics
  operator   start runs (POST /api/v1/runs)
  approver   approve remediations
  admin      reload the configuration (POST /api/v1/config/reload)

Examples:
  day2 token --name ci-bot --role operator

Callers send it as `Authorization: Bearer <token>`. day2.yaml keeps only its SHA-256, so the file holds no secret;
to revoke a token, delete its entry and reload (SIGHUP).";

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// Who will hold the token (shown in logs).
    #[arg(long)]
    pub name: String,
    /// What it may do.
    #[arg(long, value_enum, default_value_t = TokenRole::Viewer)]
    pub role: TokenRole,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TokenRole {
    /// Read.
    Viewer,
    /// Read and start runs.
    Operator,
    /// Also approve remediations.
    Approver,
    /// Also reload the configuration.
    Admin,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where to write the file.
    #[arg(default_value = "day2.yaml")]
    pub path: PathBuf,
    /// Overwrite an existing file.
    #[arg(long)]
    pub force: bool,
}
