//! `day2 query`: one read-only SQL statement over the store, as a table or JSON. The store is opened for this query
//! alone, read-only and never migrated ([`day2_store::query`]).

use std::process::ExitCode;

use anyhow::Result;
use comfy_table::{ContentArrangement, Table, presets};
use day2_store::{QueryLimits, QueryResult};
use serde_json::{Map, Value};

use crate::cli::{QueryArgs, QueryFormat};

pub fn run(args: QueryArgs) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let limits = QueryLimits { rows: args.limit as usize, timeout: args.timeout, ..QueryLimits::default() };
    let answer = runtime.block_on(day2_store::query::run(&args.store, &args.sql, &limits))?;
    if answer.truncated {
        eprintln!("note: more rows exist than --limit {} shows", args.limit);
    }
    let text = match args.output {
        QueryFormat::Json => serde_json::to_string_pretty(&objects(&answer))?,
        QueryFormat::Table => table(&answer),
    };
    super::print_out(&text)?;
    Ok(ExitCode::SUCCESS)
}

fn objects(answer: &QueryResult) -> Vec<Map<String, Value>> {
    answer.rows.iter().map(|row| answer.columns.iter().cloned().zip(row.iter().cloned()).collect()).collect()
}

fn table(answer: &QueryResult) -> String {
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Dynamic);
    t.set_header(&answer.columns);
    for row in &answer.rows {
        t.add_row(row.iter().map(|v| match v {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        }));
    }
    let rows = answer.rows.len();
    format!("{t}\n({rows} row{})", if rows == 1 { "" } else { "s" })
}
