//! `day2.yaml`: sources, checks, owners, suppressions, fail threshold. Every section has defaults, unknown keys are
//! errors that name the field and line, and [`EXAMPLE`] (what `day2 init` writes) is tested to parse.

use std::path::{Path, PathBuf};

use day2_analyze::checks::ChecksConfig;
use day2_analyze::drift::DriftConfig;
use day2_analyze::suppress::SuppressionRule;
use day2_model::{Domain, OwnerKeys, Severity, Side};
use day2_policy::PolicyConfig;
use serde::{Deserialize, Serialize};

pub use crate::notifiers::{
    AlertmanagerConfig, Destination, NotifierConfig, PagerDutyConfig, SlackConfig, WebhookConfig,
};
use crate::sources::SourceConfig;

/// `sources:` as a list; the map form of earlier versions (`sources: {manifests: […]}` beside `live: {…}`) gets an
/// error that shows the new form rather than serde's "invalid type".
fn source_list<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<SourceConfig>, D::Error> {
    struct List;
    impl<'de> serde::de::Visitor<'de> for List {
        type Value = Vec<SourceConfig>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a list of sources, one per entry (`- manifests: {paths: [k8s/]}`)")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut sources = Vec::new();
            while let Some(source) = seq.next_element()? {
                sources.push(source);
            }
            Ok(sources)
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, _map: A) -> Result<Self::Value, A::Error> {
            Err(serde::de::Error::custom(MAP_FORM))
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
    }
    deserializer.deserialize_any(List)
}

/// `live:` is no longer a section of its own.
fn live_section<'de, D: serde::Deserializer<'de>>(_deserializer: D) -> Result<MovedSection, D::Error> {
    Err(serde::de::Error::custom(MAP_FORM))
}

const MAP_FORM: &str = "sources are one list now, declared and live alike, each entry naming its kind: \
`sources: [{manifests: {paths: [k8s/]}}, {terraform: {paths: [prod.tfstate]}}, {kubernetes: {cluster: prod}}]` \
(`sources.postgres` became `postgres_declared`, `live.postgres` became `postgres`; see docs/configuration.md)";

/// What a caller of `day2 serve`'s API may do. Each role can do what the roles before it can.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read findings, resources, sources and outcomes.
    Viewer,
    /// Also start runs.
    Operator,
    /// Also approve remediations.
    Approver,
    /// Also reload the configuration.
    Admin,
}

impl Role {
    /// The name used in configuration and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Approver => "approver",
            Role::Admin => "admin",
        }
    }
}

/// A bearer token of `day2 serve`'s API, stored as its SHA-256 so the file holds no secret (`day2 token` makes one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiToken {
    /// Who holds it, for logs and the audit trail.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// SHA-256 of the token, in hex.
    pub sha256: String,
}

/// `serve:`: settings of `day2 serve` that belong with the fleet rather than the process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ServeConfig {
    /// API tokens. With none, the API is read-only and open (bind it to loopback); with some, every `/api` request
    /// needs one.
    pub tokens: Vec<ApiToken>,
    /// Whether `/metrics` needs a token too (viewer). Default false, so Prometheus scrapes without one.
    pub metrics_need_token: bool,
    /// Replicas sharing one store divide the jobs (a collection per source, check, drift, notifications) through
    /// leases, each taking its fair share: a replica that dies hands its jobs over within this many seconds.
    /// Default 30.
    pub lease_seconds: u64,
    /// A collection still running after this many seconds (1 to 86400) is abandoned and reported as the job's error
    /// (a hung API call): the source is tried again later, but not while the abandoned read is still running.
    /// Default 600.
    pub collection_timeout_seconds: u64,
    /// Days of history the store keeps: resolved findings, resources no longer seen, delivered lifecycle events and
    /// runs older than this are pruned hourly (open findings stay). 0 keeps everything. Default 90.
    pub retention_days: u32,
    /// When each job runs; without it, every `--interval`.
    pub schedule: ScheduleConfig,
    /// Host names a server without tokens answers to besides IP addresses and `localhost` (e.g.
    /// `day2.internal`); a request under any other `Host` gets 421, which stops DNS-rebinding reads from a browser.
    pub hosts: Vec<String>,
}

/// `serve.schedule`: when each job runs, each an interval (`30s`, `5m`) or a cron expression in UTC (`*/10 * * * *`; a
/// sixth, leading field is seconds). Every source is a collection job of its own; the check and drift jobs analyze
/// what the sources hold whenever a collection changed it, and at least on their own schedule. A change to a watched
/// file or cluster collects its source at once regardless.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ScheduleConfig {
    /// How often each source is collected. Default: `--interval`.
    pub collect: Option<String>,
    /// One source's own collection schedule, by source name (`live:prod: 30s`), in place of `collect`.
    pub sources: std::collections::BTreeMap<String, String>,
    /// The check job (checks and policies on what every source holds), at the latest. Default: `--interval`.
    pub check: Option<String>,
    /// The drift job (live sources against declared), at the latest. Default: `--interval`.
    pub drift: Option<String>,
    /// Each start is delayed by a random 0 to this many seconds, so replicas of many fleets do not all hit the same
    /// APIs at the same second. Default 0.
    pub jitter_seconds: u64,
}

/// A parsed job schedule.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// Every so long.
    Every(std::time::Duration),
    /// At the times a cron expression names (UTC).
    Cron(Box<croner::Cron>),
}

/// Why a schedule does not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// `0s`: a job would run without pause.
    #[error("an interval must be longer than zero")]
    ZeroInterval,
    /// Neither form.
    #[error("`{text}` is neither an interval (`5m`) nor a cron expression (`*/10 * * * *`): {cron}")]
    Unreadable {
        /// What was written.
        text: String,
        /// What the cron parser said.
        cron: String,
    },
}

impl Schedule {
    /// Reads `5m` or `*/10 * * * *`.
    pub fn parse(text: &str) -> Result<Schedule, ScheduleError> {
        if let Ok(every) = humantime::parse_duration(text) {
            return if every.is_zero() { Err(ScheduleError::ZeroInterval) } else { Ok(Schedule::Every(every)) };
        }
        croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Optional)
            .build()
            .parse(text)
            .map(|cron| Schedule::Cron(Box::new(cron)))
            .map_err(|e| ScheduleError::Unreadable { text: text.to_owned(), cron: e.to_string() })
    }

    /// How long from `now` until the next run.
    pub fn wait_from(&self, now: chrono::DateTime<chrono::Utc>) -> std::time::Duration {
        match self {
            Schedule::Every(every) => *every,
            Schedule::Cron(cron) => cron
                .find_next_occurrence(&now, false)
                .ok()
                .and_then(|next| (next - now).to_std().ok())
                // A pattern with no next time (31 February) never runs again.
                .unwrap_or(std::time::Duration::MAX),
        }
    }
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            tokens: Vec::new(),
            metrics_need_token: false,
            lease_seconds: 30,
            collection_timeout_seconds: 600,
            retention_days: 90,
            schedule: ScheduleConfig::default(),
            hosts: Vec::new(),
        }
    }
}

impl ServeConfig {
    fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !(1..=3600).contains(&self.lease_seconds) {
            problems.push(format!("serve.lease_seconds: {} is not between 1 and 3600", self.lease_seconds));
        }
        if !(1..=86_400).contains(&self.collection_timeout_seconds) {
            problems.push(format!(
                "serve.collection_timeout_seconds: {} is not between 1 and 86400",
                self.collection_timeout_seconds
            ));
        }
        let named = self.schedule.sources.iter().map(|(name, s)| (format!("sources.{name}"), Some(s)));
        let jobs =
            [("collect", &self.schedule.collect), ("check", &self.schedule.check), ("drift", &self.schedule.drift)];
        for (job, schedule) in jobs.into_iter().map(|(job, s)| (job.to_owned(), s.as_ref())).chain(named) {
            if let Some(Err(e)) = schedule.map(|s| Schedule::parse(s)) {
                problems.push(format!("serve.schedule.{job}: {e}"));
            }
        }
        if self.schedule.jitter_seconds > 3600 {
            problems.push(format!("serve.schedule.jitter_seconds: {} is more than 3600", self.schedule.jitter_seconds));
        }
        if self.retention_days > 36_500 {
            problems.push(format!(
                "serve.retention_days: {} is more than 36500 (a hundred years); 0 keeps everything",
                self.retention_days
            ));
        }
        let mut names = std::collections::BTreeSet::new();
        let mut hashes = std::collections::BTreeMap::new();
        for (i, token) in self.tokens.iter().enumerate() {
            if let Some((first, name)) = hashes.insert(token.sha256.to_ascii_lowercase(), (i, token.name.as_str())) {
                problems.push(format!(
                    "serve.tokens[{i}].sha256: the same hash as serve.tokens[{first}] (`{name}`): one token cannot \
                     have two names and roles; make a new token with `day2 token`"
                ));
            }
            if token.name.trim().is_empty() {
                problems.push(format!("serve.tokens[{i}].name: must not be empty"));
            } else if !names.insert(token.name.as_str()) {
                problems.push(format!("serve.tokens[{i}].name: `{}` is used twice", token.name));
            }
            if token.sha256.len() != 64 || !token.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                problems.push(format!(
                    "serve.tokens[{i}].sha256: must be 64 hex digits (the SHA-256 of the token; `day2 token` prints it)"
                ));
            }
        }
        problems
    }
}

/// Which findings a notifier is told about. Every condition given must hold; none given matches everything.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RouteConfig {
    /// Domains (`security`, `drift`, …). Default: all.
    pub domains: Vec<Domain>,
    /// Least severity. Default `info`: all.
    pub min_severity: Severity,
    /// Owning teams. Default: all, unowned findings included.
    pub teams: Vec<String>,
}

impl Default for RouteConfig {
    fn default() -> Self {
        RouteConfig { domains: Vec::new(), min_severity: Severity::Info, teams: Vec::new() }
    }
}

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// What day2 reads, declared and live: `day2 check` reads the declared ones when given no paths (and the live
    /// ones with `--live` or `live_posture`), `day2 drift` compares them, `day2 serve` does both.
    #[serde(deserialize_with = "source_list")]
    #[schemars(with = "Vec<SourceConfig>")]
    pub sources: Vec<SourceConfig>,
    /// `day2 check` reads the live sources too and runs checks and policies on what they hold, as `--live` does
    /// (`day2 serve` always does). Default false.
    pub live_posture: bool,
    /// Which checks run, severity overrides, tunables.
    pub checks: ChecksConfig,
    /// Rego policies (Gatekeeper templates and constraints, conftest modules) run next to the checks.
    pub policies: PolicyConfig,
    /// Drift noise control: ignore rules, field managers, unmanaged globs, the baseline of accepted drift.
    pub drift: DriftConfig,
    /// Label/tag keys that name team, service, environment and owner.
    pub owners: OwnerKeys,
    /// Accepted exceptions.
    pub suppressions: Vec<SuppressionRule>,
    /// Extra files with more suppressions (a YAML list of the same entries), relative to this file.
    pub suppression_files: Vec<PathBuf>,
    /// Fail (exit 1) when an active finding is at or above this severity. Default `high`.
    pub fail_on: Severity,
    /// `day2 serve`: API tokens and roles.
    pub serve: ServeConfig,
    /// `day2 serve`: who is told when findings open and resolve.
    pub notifications: Vec<NotifierConfig>,
    /// Moved into `sources` (an error that says how).
    #[serde(deserialize_with = "live_section", skip_serializing)]
    #[schemars(skip)]
    live: MovedSection,
}

/// A section of earlier versions that is now part of another; reading one is an error that says where it went.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct MovedSection;

impl Default for Config {
    fn default() -> Self {
        Config {
            sources: Vec::new(),
            live_posture: false,
            checks: ChecksConfig::default(),
            policies: PolicyConfig::default(),
            drift: DriftConfig::default(),
            owners: OwnerKeys::default(),
            suppressions: Vec::new(),
            suppression_files: Vec::new(),
            fail_on: Severity::High,
            serve: ServeConfig::default(),
            notifications: Vec::new(),
            live: MovedSection,
        }
    }
}

/// A configuration problem, naming the file and line or field.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: cannot read configuration: {error}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why (once: not also as an error source, which would print it twice).
        error: day2_input::files::ReadError,
    },
    /// The file is not valid or has unknown/mistyped fields.
    #[error("{path}:{line}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line (0 when unknown).
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// Values that parse but do not make sense (unknown check ids, bad globs), one line per problem, each with
    /// the line of the field it names where the file says.
    #[error("{}", invalid_lines(path, problems))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The problems: the line of the field, when found, and what is wrong.
        problems: Vec<(Option<usize>, String)>,
    },
}

fn invalid_lines(path: &Path, problems: &[(Option<usize>, String)]) -> String {
    let path = path.display();
    let lines: Vec<String> = problems
        .iter()
        .map(|(line, message)| match line {
            Some(line) => format!("{path}:{line}: {message}"),
            None => format!("{path}: {message}"),
        })
        .collect();
    lines.join("\n")
}

/// The 1-based line of the field a problem names (`serve.tokens[1].sha256: …`) in the YAML `text`, found by
/// indentation: block mappings and sequences, with flow collections (`- {name: a, sha256: …}`) resolved to the line
/// they are on. `None` when the problem names no field or the field is not written in the file (a default).
fn field_line(text: &str, problem: &str) -> Option<usize> {
    let field = problem.split([':', ' ']).next()?;
    if field.is_empty() || !field.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.[]".contains(&b)) {
        return None;
    }
    let lines: Vec<&str> = text.lines().collect();
    let line_at = |i: usize| lines.get(i).copied().unwrap_or_default();
    let indent = |l: &str| l.len() - l.trim_start().len();
    let content = |l: &str| !l.trim().is_empty() && !l.trim_start().starts_with('#');
    // The block of lines below `at` indented deeper than `at` itself.
    let block_end = |at: usize, own: usize| {
        (at + 1..lines.len()).find(|&i| content(line_at(i)) && indent(line_at(i)) <= own).unwrap_or(lines.len())
    };
    let (mut start, mut end, mut parent, mut found) = (0, lines.len(), None::<usize>, None);
    for part in field.split('.') {
        let (key, indexes) = match part.split_once('[') {
            Some((key, rest)) => {
                (key, rest.split('[').filter_map(|i| i.trim_end_matches(']').parse::<usize>().ok()).collect())
            }
            None => (part, Vec::new()),
        };
        // A key in this block, at the block's own indentation (or first on a sequence item's line).
        let at = (start..end).find(|&i| {
            let line = line_at(i);
            let body = line.trim_start().trim_start_matches("- ");
            content(line)
                && parent.is_none_or(|p| indent(line) > p || line.trim_start().starts_with("- "))
                && (body.starts_with(&format!("{key}:")) || body.starts_with(&format!("\"{key}\":")))
        });
        let Some(at) = at else { return found.or(Some(start + 1).filter(|_| parent.is_some())) };
        found = Some(at + 1);
        let own = indent(line_at(at)) + if line_at(at).trim_start().starts_with("- ") { 2 } else { 0 };
        (start, end, parent) = (at + 1, block_end(at, own), Some(own));
        for index in indexes {
            let items: Vec<usize> = (start..end).filter(|&i| line_at(i).trim_start().starts_with("- ")).collect();
            let item_indent = items.iter().map(|&i| indent(line_at(i))).min()?;
            let item = *items.iter().filter(|&&i| indent(line_at(i)) == item_indent).nth(index)?;
            found = Some(item + 1);
            (start, end, parent) = (item, block_end(item, item_indent), Some(item_indent));
        }
    }
    found
}

/// Reads a configuration file: a regular file (never a FIFO) of at most 4 MiB.
fn read_config_file(path: &Path) -> Result<String, ConfigError> {
    let input = day2_input::files::Input::File(path.to_owned());
    day2_input::files::read_text(&input, 4 << 20).map_err(|error| ConfigError::Read { path: path.to_owned(), error })
}

impl Config {
    /// The configured sources of one side.
    pub fn sources_of(&self, side: Side) -> impl Iterator<Item = &SourceConfig> {
        self.sources.iter().filter(move |s| s.source().side() == side)
    }

    /// Whether any live source is configured (so there is drift to look for).
    pub fn has_live_sources(&self) -> bool {
        self.sources_of(Side::Live).next().is_some()
    }

    /// Reads and validates a configuration file; paths are resolved relative to it and suppression files merged in.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = read_config_file(path)?;
        let mut config = Self::parse(&text, path)?;
        let base = path.parent().unwrap_or(Path::new("."));
        for file in config.suppression_files.clone() {
            let full = base.join(&file);
            let text = read_config_file(&full)?;
            let extra: Vec<SuppressionRule> = parse_yaml(&text, &full)?;
            config.suppressions.extend(extra);
        }
        for source in &mut config.sources {
            source.source_mut().resolve_paths(base);
        }
        day2_collect::source::resolve_all(base, &mut config.policies.paths);
        config.drift.baseline = config.drift.baseline.as_deref().map(|p| day2_collect::source::resolve(base, p));
        config.validate_text(path, Some(&text))?;
        Ok(config)
    }

    /// Parses configuration text (`path` only names it in errors).
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        parse_yaml(text, path)
    }

    /// Checks what serde cannot: check ids exist, globs compile, reasons are given.
    pub fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        self.validate_text(path, None)
    }

    /// [`validate`](Self::validate), naming the line of each problem's field in `text`, the file as read.
    fn validate_text(&self, path: &Path, text: Option<&str>) -> Result<(), ConfigError> {
        let mut problems: Vec<String> = Vec::new();
        if let Err(errors) = day2_analyze::checks::Checks::new(&self.checks) {
            problems.extend(errors.iter().map(ToString::to_string));
        }
        if let Err(e) = day2_analyze::drift::Drift::new(&self.drift) {
            problems.push(e.to_string());
        }
        if let Err(errors) = day2_analyze::suppress::Suppressor::new(&self.suppressions, "") {
            problems.extend(errors.iter().map(ToString::to_string));
        }
        let mut names = std::collections::BTreeMap::new();
        for (i, source) in self.sources.iter().enumerate() {
            let source = source.source();
            problems.extend(source.validate().into_iter().map(|p| format!("sources[{i}].{p}")));
            // Findings resolve per source and jobs lease per source: two sources of one name would undo each other.
            if let Some(first) = names.insert(source.name(), i) {
                problems.push(format!(
                    "sources[{i}]: named `{}` like sources[{first}]; give one of them a `source_name` (or a \
                     different cluster, instance or name)",
                    source.name()
                ));
            }
        }
        for name in self.serve.schedule.sources.keys().filter(|name| !names.contains_key(name.as_str())) {
            let known: Vec<&str> = names.keys().map(String::as_str).collect();
            problems.push(format!(
                "serve.schedule.sources.{name}: no source is named `{name}` (sources: {})",
                if known.is_empty() { "none".to_owned() } else { known.join(", ") }
            ));
        }
        problems.extend(self.serve.validate());
        problems.extend(crate::notifiers::validate(&self.notifications));
        if problems.is_empty() {
            Ok(())
        } else {
            let problems = problems.into_iter().map(|p| (text.and_then(|t| field_line(t, &p)), p)).collect();
            Err(ConfigError::Invalid { path: path.to_owned(), problems })
        }
    }
}

fn parse_yaml<T: serde::de::DeserializeOwned>(text: &str, path: &Path) -> Result<T, ConfigError> {
    let mut options = serde_saphyr::Options::default();
    options.with_snippet = false;
    serde_saphyr::from_str_with_options(text, options).map_err(|e| ConfigError::Parse {
        path: path.to_owned(),
        line: e.location().map(|l| l.line()).unwrap_or(0),
        message: e.without_snippet().to_string(),
    })
}

/// The JSON Schema of day2.yaml, from the configuration types and their doc comments.
pub fn schema() -> serde_json::Value {
    let mut schema = schemars::schema_for!(Config).to_value();
    if let Some(object) = schema.as_object_mut() {
        object.insert("title".into(), "day2.yaml".into());
        object.insert(
            "description".into(),
            "Configuration of day2, the Day-2 operations engine (docs/configuration.md).".into(),
        );
    }
    schema
}

/// The commented example that `day2 init` writes.
pub const EXAMPLE: &str = include_str!("day2.example.yaml");

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn example_parses_and_validates() {
        let c = Config::parse(EXAMPLE, Path::new("day2.yaml")).unwrap();
        c.validate(Path::new("day2.yaml")).unwrap();
        assert_eq!(c.fail_on, Severity::High);
        assert!(!c.sources.is_empty() && !c.suppressions.is_empty());
    }

    #[test]
    fn unknown_fields_name_the_line() {
        let err = Config::parse("fail_on: high\nchecks:\n  disabled: [X]\n", Path::new("day2.yaml")).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("day2.yaml:3:"), "{text}");
        assert!(text.contains("disabled"), "{text}");
    }

    #[test]
    fn schedules_are_intervals_or_cron_expressions() {
        let good = "serve:\n  schedule: {check: '*/10 * * * *', drift: 5m, jitter_seconds: 30}\n";
        let c = Config::parse(good, Path::new("day2.yaml")).unwrap();
        c.validate(Path::new("day2.yaml")).unwrap();
        assert!(matches!(Schedule::parse("5m"), Ok(Schedule::Every(d)) if d.as_secs() == 300));
        let bad = "serve:\n  schedule: {check: every tuesday, drift: 0s}\n";
        let err = Config::parse(bad, Path::new("day2.yaml")).unwrap().validate(Path::new("day2.yaml")).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("serve.schedule.check: `every tuesday` is neither an interval"), "{text}");
        assert!(text.contains("serve.schedule.drift: an interval must be longer than zero"), "{text}");
        // A source's own schedule names a configured source, by the name its jobs and findings go by.
        let per_source = "sources:\n  - manifests: {paths: [k8s]}\nserve:\n  schedule:\n    collect: 1m\n    sources:\n      manifests:k8s: 10s\n      kubernetes:prd: 5s\n      manifests:x: often\n";
        let err =
            Config::parse(per_source, Path::new("day2.yaml")).unwrap().validate(Path::new("day2.yaml")).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(
                "serve.schedule.sources.kubernetes:prd: no source is named `kubernetes:prd` (sources: manifests:k8s)"
            ),
            "{text}"
        );
        assert!(text.contains("serve.schedule.sources.manifests:x: `often` is neither"), "{text}");
        assert!(!text.contains("manifests:k8s:"), "{text}");
    }

    #[test]
    fn every_invalid_field_names_its_line() {
        let hash = "ab".repeat(32);
        let yaml = format!(
            "fail_on: high\nserve:\n  lease_seconds: 0\n  collection_timeout_seconds: 0\n  tokens:\n    - {{name: ci, role: viewer, sha256: {hash}}}\n    - name: ops\n      role: admin\n      sha256: nothex\nsuppressions:\n  - rule: K8S-POD-001\n    resource: '*'\n    reason: ''\n"
        );
        let config = Config::parse(&yaml, Path::new("day2.yaml")).unwrap();
        let text = config.validate_text(Path::new("day2.yaml"), Some(&yaml)).unwrap_err().to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines.iter().any(|l| l.starts_with("day2.yaml:3: serve.lease_seconds")), "{text}");
        assert!(
            lines.iter().any(|l| l.starts_with("day2.yaml:4: serve.collection_timeout_seconds: 0 is not")),
            "{text}"
        );
        assert!(lines.iter().any(|l| l.starts_with("day2.yaml:9: serve.tokens[1].sha256")), "{text}");
        assert!(lines.iter().any(|l| l.starts_with("day2.yaml:11: suppressions[0]")), "{text}");
        assert_eq!(field_line(&yaml, "serve.tokens[0].sha256: x"), Some(6), "a flow mapping: its line");
        assert_eq!(field_line(&yaml, "unknown check id"), None);
    }

    #[test]
    fn two_tokens_with_one_hash_are_invalid() {
        let hash = "ab".repeat(32);
        let yaml = format!(
            "serve:\n  tokens:\n    - {{name: ci, role: viewer, sha256: {hash}}}\n    - {{name: ops, role: admin, sha256: {}}}\n",
            hash.to_uppercase()
        );
        let err = Config::parse(&yaml, Path::new("day2.yaml")).unwrap().validate(Path::new("day2.yaml")).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("serve.tokens[1].sha256: the same hash as serve.tokens[0] (`ci`)"), "{text}");
    }

    #[test]
    fn unknown_check_ids_are_invalid() {
        let c = Config::parse("checks:\n  disable: [K8S-NOPE-1]\n", Path::new("day2.yaml")).unwrap();
        assert!(c.validate(Path::new("day2.yaml")).unwrap_err().to_string().contains("unknown check id `K8S-NOPE-1`"));
    }
}
