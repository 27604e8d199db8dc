//! day2 reporters: render a [`Report`] for people (table, Markdown) and machines (JSON, YAML, SARIF 2.1.0, JUnit XML).
//!
//! One file per format, each a [`Reporter`]; [`Format`] is the index. Adding a format is one file and one enum variant.
//! Reporters only format: they never filter, sort or decide exit codes (the caller does).

mod graph;
mod json;
mod junit;
mod markdown;
mod sarif;
mod table;

use std::io::Write;

use day2_model::Report;

pub use graph::{GraphFormat, render_graph};

/// An output format for `-o`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Format {
    /// Tables grouped by severity with a summary (for people), fitted to the terminal's width: at narrow widths
    /// each finding is a block of lines instead of a row.
    Table,
    /// The same tables, every column at full width whatever the terminal (lines may be long).
    Wide,
    /// The report document (schema: docs/report-schema.json).
    Json,
    /// The report document as YAML.
    Yaml,
    /// SARIF 2.1.0 (GitHub code scanning and other SARIF viewers).
    Sarif,
    /// JUnit XML (CI test reports).
    Junit,
    /// Markdown for a pull-request comment.
    Markdown,
}

impl Format {
    fn reporter(self) -> &'static dyn Reporter {
        match self {
            Format::Table => &table::Table { wide: false },
            Format::Wide => &table::Table { wide: true },
            Format::Json => &json::Json,
            Format::Yaml => &json::Yaml,
            Format::Sarif => &sarif::Sarif,
            Format::Junit => &junit::Junit,
            Format::Markdown => &markdown::Markdown,
        }
    }
}

/// Presentation options that only some formats use.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Use colour (table only). The caller decides from the TTY and `--color`.
    pub color: bool,
    /// Include suppressed findings in human formats (table, Markdown). Machine formats always include them.
    pub show_suppressed: bool,
    /// Add a summary of active findings by team, rule or resource (table only).
    pub group_by: Option<GroupBy>,
    /// The report goes to stdout, so the table may fit the terminal's width (a file gets full-width rows).
    pub to_terminal: bool,
}

/// What `--group-by` counts findings by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum GroupBy {
    /// The owning team (from labels and tags).
    Team,
    /// The rule.
    Rule,
    /// The resource.
    Resource,
}

/// A rendering failure: writing failed or the format could not encode the report.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// Writing to the output failed (e.g. a closed pipe).
    /// (The I/O error is the source, not part of the message: shown with its cause chain it would print twice.)
    #[error("cannot write report")]
    Io(#[from] std::io::Error),
    /// The encoder refused the report.
    #[error("cannot encode report as {format}: {message}")]
    Encode {
        /// The format.
        format: &'static str,
        /// The encoder's message.
        message: String,
    },
}

/// A report renderer.
pub trait Reporter: Sync {
    /// Writes the report.
    fn render(&self, report: &Report, options: &Options, out: &mut dyn Write) -> Result<(), RenderError>;
}

/// Renders `report` as `format`.
pub fn render(format: Format, report: &Report, options: &Options, out: &mut dyn Write) -> Result<(), RenderError> {
    format.reporter().render(report, options, out)
}

/// `file:line` of a finding (with the Helm template when known), or its resource id when it has no file.
pub(crate) fn location(f: &day2_model::Finding) -> String {
    let live = f.sides.contains(&day2_model::Side::Live);
    let at = match (&f.file, f.line) {
        (Some(file), Some(line)) => format!("{file}:{line}"),
        (Some(file), None) => file.clone(),
        // Seen live only: the cluster or account it runs in (`live k8s/prod-eu`); the resource column names it.
        _ if live => {
            let scope: Vec<&str> = f.resource.as_str().splitn(3, '/').take(2).collect();
            format!("live {}", scope.join("/"))
        }
        _ => f.resource.to_string(),
    };
    let at = if live && f.file.is_some() { format!("{at} (and live)") } else { at };
    match &f.template {
        Some(t) => format!("{at} ({t})"),
        None => at,
    }
}

/// Text from inputs (names, messages, reasons) with control characters shown as escapes, so that a manifest cannot
/// drive the terminal (`\x1b]0;…`) or break a table.
pub(crate) fn clean(text: &str) -> std::borrow::Cow<'_, str> {
    if text.chars().any(char::is_control) {
        text.chars()
            .map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() })
            .collect::<String>()
            .into()
    } else {
        text.into()
    }
}

/// A short display name of a finding's resource: `apps.Deployment shop/cart`, `aws_s3_bucket.assets`.
pub(crate) fn resource_label(f: &day2_model::Finding) -> String {
    let id = f.resource.as_str();
    let mut parts = id.splitn(5, '/');
    let (provider, _scope, kind, ns, name) = (parts.next(), parts.next(), parts.next(), parts.next(), parts.next());
    match (provider, kind, ns, name) {
        (Some("tf"), _, _, Some(name)) => name.to_owned(),
        (_, Some(kind), Some(ns), Some(name)) if !ns.is_empty() => format!("{kind} {ns}/{name}"),
        (_, Some(kind), _, Some(name)) => format!("{kind} {name}"),
        _ => id.to_owned(),
    }
}

#[cfg(test)]
pub(crate) mod sample;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn render_str(format: Format, options: Options) -> String {
        let mut buf = Vec::new();
        render(format, &sample::report(), &options, &mut buf).unwrap();
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn sarif_validates_against_the_official_2_1_0_schema() {
        let mut schema: serde_json::Value =
            serde_json::from_str(include_str!("../tests/schemas/sarif-schema-2.1.0.json")).unwrap();
        // Known erratum in the published schema: run.language's pattern has a stray `]` that strict regex engines
        // reject when the schema itself is checked. We validate everything else unchanged, formats included.
        for def in ["run", "toolComponent"] {
            schema["definitions"][def]["properties"]["language"]["pattern"] = "^[a-zA-Z]{2}(-[a-zA-Z]{2})?$".into();
        }
        let validator = jsonschema::draft7::options().should_validate_formats(true).build(&schema).unwrap();
        let doc: serde_json::Value = serde_json::from_str(&render_str(Format::Sarif, Options::default())).unwrap();
        let errors: Vec<String> =
            validator.iter_errors(&doc).map(|e| format!("{} at {}", e, e.instance_path())).collect();
        assert!(errors.is_empty(), "{errors:#?}");
        let run = &doc["runs"][0];
        assert_eq!(run["results"].as_array().unwrap().len(), 3);
        assert_eq!(
            run["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            "k8s/my%20app/cart.yaml"
        );
        assert_eq!(run["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"], 12);
        assert_eq!(run["results"][1]["suppressions"][0]["justification"], "vendor agent");
        assert_eq!(run["tool"]["driver"]["rules"][0]["properties"]["security-severity"], "8.0");
        let expired = run["results"].as_array().unwrap().iter().find_map(|r| r["properties"].get("expiredSuppression"));
        assert_eq!(expired.unwrap(), &serde_json::json!({"reason": "vendor agent", "expires": "2027-01-31"}));
        assert_eq!(
            run["invocations"][0]["toolExecutionNotifications"][0]["locations"][0]["physicalLocation"]["region"]["startLine"],
            3
        );
    }

    #[test]
    fn json_is_byte_for_byte_what_serde_json_pretty_prints() {
        let mut report = sample::report();
        for findings in [0, 1, 3, 9000] {
            report.findings = sample::report().findings.into_iter().cycle().take(findings).collect();
            let mut ours = Vec::new();
            render(Format::Json, &report, &Options::default(), &mut ours).unwrap();
            let mut theirs = serde_json::to_vec_pretty(&report).unwrap();
            theirs.push(b'\n');
            assert!(ours == theirs, "{findings} findings:\n{}", String::from_utf8_lossy(&ours));
        }
    }

    #[test]
    fn json_and_yaml_round_trip_to_the_report() {
        let json = render_str(Format::Json, Options::default());
        let back: day2_model::Report = serde_json::from_str(&json).unwrap();
        assert_eq!(back.findings.len(), 3);
        assert_eq!(back.summary.suppressed, 1);
        let yaml = render_str(Format::Yaml, Options::default());
        let value: serde_json::Value = serde_saphyr::from_str(&yaml).unwrap();
        assert_eq!(value["findings"][0]["rule_id"], "K8S-POD-001");
    }

    #[test]
    fn junit_is_well_formed_xml_with_one_suite_per_rule() {
        let xml = render_str(Format::Junit, Options::default());
        let mut reader = quick_xml::Reader::from_str(&xml);
        let (mut suites, mut failures, mut skipped, mut errors) = (0, 0, 0, 0);
        loop {
            match reader.read_event().unwrap() {
                quick_xml::events::Event::Eof => break,
                quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e) => match e.name().as_ref() {
                    b"testsuite" => suites += 1,
                    b"failure" => failures += 1,
                    b"skipped" => skipped += 1,
                    b"error" => errors += 1,
                    _ => {}
                },
                _ => {}
            }
        }
        assert_eq!((suites, failures, skipped, errors), (4, 2, 1, 1), "{xml}");
    }

    #[test]
    fn human_formats_group_and_summarise() {
        let table = render_str(
            Format::Table,
            Options { color: false, show_suppressed: true, group_by: None, to_terminal: false },
        );
        assert!(table.contains("CRITICAL (1)") && table.contains("MEDIUM (1)"), "{table}");
        assert!(table.contains("suppression expired 2027-01-31"), "{table}");
        assert!(table.contains("SUPPRESSED (1)") && table.contains("INPUT ERRORS (1)"), "{table}");
        assert!(
            table.contains("Scanned 3 files, 7 resources: 1 critical, 0 high, 1 medium, 0 low, 0 info · 1 suppressed"),
            "{table}"
        );
        assert!(!table.contains('\x1b'), "no colour without a TTY, and input escapes are neutralised");
        assert!(table.contains("\\u{1b}]0;title\\u{7}"), "{table}");
        let md = render_str(
            Format::Markdown,
            Options { color: false, show_suppressed: true, group_by: None, to_terminal: false },
        );
        assert!(md.contains("### day2 check failed") && md.contains("| critical | `K8S-POD-001` |"), "{md}");
        assert!(md.contains("runs privileged \\| with"), "pipes escaped: {md}");
        assert!(!md.contains('\x1b'), "{md}");
    }
}
