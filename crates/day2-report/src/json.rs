//! JSON and YAML: the report document itself, unchanged (schema in docs/report-schema.json).

use std::io::Write;

use day2_model::Report;
use rayon::prelude::*;

use crate::{Options, RenderError, Reporter};

pub(crate) struct Json;
pub(crate) struct Yaml;

/// How many findings are encoded at once, on every core, before they are written in order: enough to keep the cores
/// busy, few enough that the encoded text held at a time stays a few megabytes.
const BATCH: usize = 4096;

/// The text `serde_json`'s pretty printer writes for the report's empty findings list, at the top level.
const EMPTY_FINDINGS: &str = "\n  \"findings\": [],";

impl Reporter for Json {
    /// The same bytes as `serde_json::to_writer_pretty(out, report)`, but with the findings (nearly all of a large
    /// report) encoded on every core, batch by batch, while the rest of the document is encoded once around them.
    fn render(&self, report: &Report, _: &Options, out: &mut dyn Write) -> Result<(), RenderError> {
        let encode_error = |e: serde_json::Error| RenderError::Encode { format: "json", message: e.to_string() };
        let shell = Report {
            schema_version: report.schema_version,
            tool_version: report.tool_version.clone(),
            started_at: report.started_at,
            fail_on: report.fail_on,
            summary: report.summary.clone(),
            sources: report.sources.clone(),
            findings: Vec::new(),
            resolved: report.resolved.clone(),
            diagnostics: report.diagnostics.clone(),
            rules: report.rules.clone(),
            coverage: report.coverage.clone(),
        };
        let text = serde_json::to_string_pretty(&shell).map_err(encode_error)?;
        // Keys are written with real quotes only where they are keys: in strings, quotes are escaped.
        let Some(at) = text.find(EMPTY_FINDINGS) else {
            return Err(RenderError::Encode { format: "json", message: "report layout changed".to_owned() });
        };
        // `…"findings": ` | `[]` | `,…`
        let list = at + EMPTY_FINDINGS.len() - "[],".len();
        let (before, after) = (text.get(..list).unwrap_or_default(), text.get(list + "[]".len()..).unwrap_or_default());
        out.write_all(before.as_bytes())?;
        out.write_all(b"[")?;
        for (n, batch) in report.findings.chunks(BATCH).enumerate() {
            let encoded: Vec<Vec<u8>> =
                batch.par_iter().map(encode_finding).collect::<Result<_, _>>().map_err(encode_error)?;
            for (i, finding) in encoded.iter().enumerate() {
                out.write_all(if n == 0 && i == 0 { b"\n    " } else { b",\n    " })?;
                out.write_all(finding)?;
            }
        }
        if !report.findings.is_empty() {
            out.write_all(b"\n  ")?;
        }
        out.write_all(b"]")?;
        out.write_all(after.as_bytes())?;
        writeln!(out)?;
        Ok(())
    }
}

/// One finding as the pretty printer writes it inside the findings list: two levels deep, so every line after the
/// first is indented by four more spaces (JSON strings hold no raw line breaks, so every `\n` starts a line).
fn encode_finding(finding: &day2_model::Finding) -> Result<Vec<u8>, serde_json::Error> {
    let flat = serde_json::to_vec_pretty(finding)?;
    let mut nested = Vec::with_capacity(flat.len() + flat.len() / 8);
    for &byte in &flat {
        nested.push(byte);
        if byte == b'\n' {
            nested.extend_from_slice(b"    ");
        }
    }
    Ok(nested)
}

impl Reporter for Yaml {
    fn render(&self, report: &Report, _: &Options, out: &mut dyn Write) -> Result<(), RenderError> {
        let text = serde_saphyr::to_string(report)
            .map_err(|e| RenderError::Encode { format: "yaml", message: e.to_string() })?;
        out.write_all(text.as_bytes())?;
        Ok(())
    }
}
