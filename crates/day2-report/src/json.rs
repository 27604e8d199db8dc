//! JSON and YAML: the report document itself, unchanged (schema in docs/report-schema.json).

use std::io::Write;

use day2_model::Report;

use crate::{Options, RenderError, Reporter};

pub(crate) struct Json;
pub(crate) struct Yaml;

impl Reporter for Json {
    fn render(&self, report: &Report, _: &Options, out: &mut dyn Write) -> Result<(), RenderError> {
        serde_json::to_writer_pretty(&mut *out, report)
            .map_err(|e| RenderError::Encode { format: "json", message: e.to_string() })?;
        writeln!(out)?;
        Ok(())
    }
}

impl Reporter for Yaml {
    fn render(&self, report: &Report, _: &Options, out: &mut dyn Write) -> Result<(), RenderError> {
        let text = serde_saphyr::to_string(report)
            .map_err(|e| RenderError::Encode { format: "yaml", message: e.to_string() })?;
        out.write_all(text.as_bytes())?;
        Ok(())
    }
}
