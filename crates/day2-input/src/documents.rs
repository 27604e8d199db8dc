//! YAML streams and JSON files split into documents, each with the line it starts on.
//!
//! One parser configuration for every reader, so limits and YAML dialect are the same everywhere: the
//! [`Limits`] budget (depth, documents, nodes, file size), an alias-replay cap against alias bombs, and YAML 1.1 octal
//! numbers as Kubernetes reads them. A syntax error costs one document: the stream is re-read document by document so
//! the others are still returned.

use day2_model::{Diagnostic, DiagnosticKind};
use serde::Deserialize;
use serde_json::Value;
use serde_saphyr::Spanned;

use crate::Limits;

/// The documents of a YAML stream or JSON file, each with the line it starts on. Syntax errors and exceeded limits
/// become diagnostics naming the file and line; the documents around a bad one are still returned.
pub fn documents(text: &str, file: &str, limits: &Limits, diagnostics: &mut Vec<Diagnostic>) -> Vec<(Value, u32)> {
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        return Vec::new();
    }
    let is_json =
        file.ends_with(".json") || (trimmed.starts_with('{') && !file.ends_with(".yaml") && !file.ends_with(".yml"));
    if is_json { parse_json(text, file, limits, diagnostics) } else { parse_yaml(text, file, limits, diagnostics) }
}

fn parse_json(text: &str, file: &str, limits: &Limits, diagnostics: &mut Vec<Diagnostic>) -> Vec<(Value, u32)> {
    match crate::json::from_str(text) {
        Ok(v) if crate::depth_exceeds(&v, limits.max_depth) => {
            diagnostics.push(depth_diagnostic(file, 1, limits.max_depth));
            Vec::new()
        }
        Ok(v) => vec![(v, first_content_line(text))],
        Err(e) => {
            diagnostics.push(Diagnostic::new(
                DiagnosticKind::Syntax,
                file,
                u32::try_from(e.line()).ok(),
                format!("invalid JSON: {e}"),
            ));
            Vec::new()
        }
    }
}

fn depth_diagnostic(file: &str, line: u32, limit: usize) -> Diagnostic {
    Diagnostic::new(
        DiagnosticKind::Limit,
        file,
        Some(line),
        format!("document nests deeper than the limit of {limit} levels (limits.max_depth); skipped"),
    )
}

fn first_content_line(text: &str) -> u32 {
    let skipped = text.len() - text.trim_start().len();
    1 + text.get(..skipped).map_or(0, |s| s.matches('\n').count()) as u32
}

fn yaml_options(limits: &Limits) -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = limits.max_depth;
    budget.max_documents = limits.max_documents;
    budget.max_nodes = limits.max_nodes;
    budget.max_events = limits.max_nodes.saturating_mul(2);
    budget.max_reader_input_bytes = Some(usize::try_from(limits.max_file_bytes).unwrap_or(usize::MAX));
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options.with_snippet = false;
    // Aliases may replay at most 100,000 events per file (the parser allows a million): real manifests replay a few
    // dozen, and an alias bomb is cut off in milliseconds rather than seconds.
    options.alias_limits.max_total_replayed_events = limits.max_nodes.min(100_000);
    // Kubernetes reads manifests as YAML 1.1, where `defaultMode: 0644` is octal (420): read them the same way.
    options.legacy_octal_numbers = true;
    options
}

/// Parses a YAML stream. On error, re-parses document by document (split at `---` lines) so that one bad document
/// does not hide the others, and reports the error with its absolute line.
fn parse_yaml(text: &str, file: &str, limits: &Limits, diagnostics: &mut Vec<Diagnostic>) -> Vec<(Value, u32)> {
    match serde_saphyr::from_multiple_with_options::<Spanned<Value>>(text, yaml_options(limits)) {
        Ok(docs) => docs.into_iter().map(|d| (d.value, line_of(&d.referenced))).collect(),
        // A limit applies to the whole file: re-reading it in pieces would give each piece a fresh budget.
        Err(e) if e.without_snippet().to_string().contains("budget") => {
            diagnostics.push(yaml_diagnostic(&e, file, 0, text));
            Vec::new()
        }
        Err(_) => {
            let mut docs = Vec::new();
            for (offset, chunk) in split_documents(text) {
                match serde_saphyr::from_multiple_with_options::<Spanned<Value>>(chunk, yaml_options(limits)) {
                    Ok(parsed) => docs.extend(parsed.into_iter().map(|d| (d.value, line_of(&d.referenced) + offset))),
                    Err(e) => diagnostics.push(yaml_diagnostic(&e, file, offset, chunk)),
                }
            }
            docs
        }
    }
}

fn line_of(loc: &serde_saphyr::Location) -> u32 {
    u32::try_from(loc.line()).unwrap_or(u32::MAX).max(1)
}

/// A budget breach in words, not as the parser's debug struct (`Documents { documents: 3 }`).
fn budget_breach(e: &serde_saphyr::Error) -> Option<String> {
    use serde_saphyr::budget::BudgetBreach;
    let serde_saphyr::Error::Budget { breach, .. } = e.without_snippet() else { return None };
    Some(match breach {
        BudgetBreach::Documents { documents } => {
            format!("the file holds more YAML documents than limits.max_documents allows ({documents} read)")
        }
        BudgetBreach::Nodes { nodes } => format!("the file holds more YAML nodes than the parser allows ({nodes})"),
        BudgetBreach::ScalarBytes { total_scalar_bytes } => {
            format!("the file's scalars exceed the parser's size budget ({total_scalar_bytes} bytes)")
        }
        BudgetBreach::Events { events } => format!("the file exceeds the parser's event budget ({events} events)"),
        BudgetBreach::MergeKeys { merge_keys } => format!("the file uses too many YAML merge keys ({merge_keys})"),
        other => format!("the file exceeds a YAML parser limit ({})", breach_name(other)),
    })
}

/// The variant name of a breach, for the rare ones without a message of their own.
fn breach_name(breach: &serde_saphyr::budget::BudgetBreach) -> String {
    let debug = format!("{breach:?}");
    debug.split([' ', '{', '(']).next().unwrap_or_default().to_owned()
}

fn yaml_diagnostic(e: &serde_saphyr::Error, file: &str, offset: u32, chunk: &str) -> Diagnostic {
    let raw = e.without_snippet().to_string();
    // The parser appends positions relative to the chunk it saw; the diagnostic carries the absolute line instead.
    let message =
        raw.split(" at line ").next().unwrap_or(&raw).replace(", set DuplicateKeyPolicy in Options if acceptable", "");
    let message = message.trim_end_matches(|c: char| c == ',' || c.is_whitespace());
    let (kind, message) = if raw.contains("Depth {") {
        (
            DiagnosticKind::Limit,
            "document nests deeper than the depth limit (limits.max_depth); document skipped".to_owned(),
        )
    } else if raw.contains("Alias") || raw.contains("alias replay") || raw.contains("Anchor") {
        (DiagnosticKind::Limit, "YAML aliases expand beyond the limit (an alias bomb?); document skipped".to_owned())
    } else if let Some(breach) = budget_breach(e) {
        (DiagnosticKind::Limit, format!("{breach} (limits in day2.yaml); file skipped"))
    } else {
        (DiagnosticKind::Syntax, format!("invalid YAML: {message}"))
    };
    let line = e.location().map(|l| line_of(&l) + offset).unwrap_or(offset + first_content_line(chunk));
    Diagnostic::new(kind, file, Some(line), message)
}

/// Splits a YAML stream at document separator lines. Returns (lines before the chunk, chunk text).
fn split_documents(text: &str) -> Vec<(u32, &str)> {
    let mut chunks = Vec::new();
    let mut start = 0usize;
    let mut start_line = 0u32;
    let mut pos = 0usize;
    for (line_no, line) in (0u32..).zip(text.split_inclusive('\n')) {
        let is_separator =
            line.starts_with("---") && line.get(3..).is_none_or(|r| r.trim().is_empty() || r.starts_with(' '));
        if is_separator && pos > start {
            chunks.push((start_line, text.get(start..pos).unwrap_or("")));
            start = pos;
            start_line = line_no;
        }
        pos += line.len();
    }
    if start < text.len() {
        chunks.push((start_line, text.get(start..).unwrap_or("")));
    }
    chunks
}

/// The lines of the elements of the document starting at `doc_line`: the entries of its `items` when `list_kind`
/// (a `kind: List`), else of the document itself (a top-level sequence). Read by a second, span-only parse, as such
/// documents are rare; empty when the document is not of that shape.
pub fn element_lines(text: &str, doc_line: u32, list_kind: bool, limits: &Limits) -> Vec<u32> {
    let docs = serde_saphyr::from_multiple_with_options::<Spanned<ElementLines>>(text, yaml_options(limits));
    docs.ok()
        .and_then(|docs| docs.into_iter().find(|d| line_of(&d.referenced) == doc_line))
        .filter(|d| d.value.from_items == list_kind)
        .map(|d| d.value.lines)
        .unwrap_or_default()
}

/// The lines of a document's elements: a sequence's entries, or a mapping's `items` entries. Written as a visitor
/// because serde's buffering (`untagged`, `flatten`) would lose the spans.
struct ElementLines {
    lines: Vec<u32>,
    from_items: bool,
}

impl<'de> Deserialize<'de> for ElementLines {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ElementLinesVisitor)
    }
}

struct ElementLinesVisitor;

/// A scalar document: no elements.
const NO_ELEMENTS: ElementLines = ElementLines { lines: Vec::new(), from_items: false };

fn spanned_lines<'de, A: serde::de::SeqAccess<'de>>(mut seq: A) -> Result<Vec<u32>, A::Error> {
    let mut lines = Vec::new();
    while let Some(item) = seq.next_element::<Spanned<serde::de::IgnoredAny>>()? {
        lines.push(line_of(&item.referenced));
    }
    Ok(lines)
}

/// The `items` value of a List: a sequence whose element lines are wanted.
struct ItemLines(Vec<u32>);

impl<'de> Deserialize<'de> for ItemLines {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ElementLinesVisitor).map(|e| ItemLines(if e.from_items { Vec::new() } else { e.lines }))
    }
}

impl<'de> serde::de::Visitor<'de> for ElementLinesVisitor {
    type Value = ElementLines;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<ElementLines, A::Error> {
        Ok(ElementLines { lines: spanned_lines(seq)?, from_items: false })
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<ElementLines, A::Error> {
        let mut lines = Vec::new();
        while let Some(key) = map.next_key::<Value>()? {
            if key == "items" {
                lines = map.next_value::<ItemLines>()?.0;
            } else {
                map.next_value::<serde::de::IgnoredAny>()?;
            }
        }
        Ok(ElementLines { lines, from_items: true })
    }

    fn visit_bool<E>(self, _: bool) -> Result<ElementLines, E> {
        Ok(NO_ELEMENTS)
    }
    fn visit_i64<E>(self, _: i64) -> Result<ElementLines, E> {
        Ok(NO_ELEMENTS)
    }
    fn visit_u64<E>(self, _: u64) -> Result<ElementLines, E> {
        Ok(NO_ELEMENTS)
    }
    fn visit_f64<E>(self, _: f64) -> Result<ElementLines, E> {
        Ok(NO_ELEMENTS)
    }
    fn visit_str<E>(self, _: &str) -> Result<ElementLines, E> {
        Ok(NO_ELEMENTS)
    }
    fn visit_unit<E>(self) -> Result<ElementLines, E> {
        Ok(NO_ELEMENTS)
    }
    fn visit_none<E>(self) -> Result<ElementLines, E> {
        Ok(NO_ELEMENTS)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn read(text: &str, limits: &Limits) -> (Vec<(Value, u32)>, Vec<Diagnostic>) {
        let mut diagnostics = Vec::new();
        (documents(text, "t.yaml", limits, &mut diagnostics), diagnostics)
    }

    #[test]
    fn quoted_scalars_continued_at_the_parent_s_indentation_parse_as_kubernetes_reads_them() {
        // CRDs and Helm charts in the wild (`description: "When set, defaults⏎  to false."`); go-yaml accepts it.
        for text in [
            "data:\n  description: \"When set, defaults\n  to false.\"\n",
            "metadata:\n  annotations:\n    description: 'When set, defaults\n    to false.'\n",
        ] {
            let mut diagnostics = Vec::new();
            let docs = documents(text, "f.yaml", &Limits::default(), &mut diagnostics);
            assert!(diagnostics.is_empty(), "{text}: {diagnostics:?}");
            let value = &docs[0].0;
            let found =
                value.pointer("/data/description").or_else(|| value.pointer("/metadata/annotations/description"));
            assert_eq!(found, Some(&serde_json::json!("When set, defaults to false.")), "{text}");
        }
    }

    #[test]
    fn file_modes_are_octal_as_kubernetes_reads_them() {
        let (docs, _) = read("defaultMode: 0644\n", &Limits::default());
        assert_eq!(docs[0].0["defaultMode"], 420);
    }

    #[test]
    fn one_bad_document_does_not_hide_the_others() {
        let text = "a: 1\n---\nkey: [unclosed\n---\n# c\nb: 2\n";
        let (docs, diagnostics) = read(text, &Limits::default());
        let lines: Vec<u32> = docs.iter().map(|(_, line)| *line).collect();
        assert_eq!(lines, [1, 6], "the first line of content, past the comment");
        assert_eq!(diagnostics.len(), 1);
        assert_eq!(diagnostics[0].kind, DiagnosticKind::Syntax);
        assert_eq!(diagnostics[0].file, "t.yaml");
        assert!(diagnostics[0].line.unwrap() >= 3, "{:?}", diagnostics[0]);
    }

    #[test]
    fn document_limits_apply_to_the_whole_file() {
        let limits = Limits { max_documents: 2, ..Limits::default() };
        let (docs, diagnostics) = read(&"a: 1\n---\n".repeat(3), &limits);
        assert!(docs.is_empty());
        assert_eq!(diagnostics[0].kind, DiagnosticKind::Limit, "{diagnostics:?}");
        let message = &diagnostics[0].message;
        assert!(
            message.starts_with("the file holds more YAML documents than limits.max_documents allows"),
            "{message}"
        );
        assert!(!message.contains('{'), "no debug struct: {message}");
    }

    #[test]
    fn json_is_read_strictly_and_within_the_depth_limit() {
        let mut diagnostics = Vec::new();
        let docs = documents("\n{\"a\": 1}", "t.json", &Limits::default(), &mut diagnostics);
        assert_eq!(docs, [(serde_json::json!({"a": 1}), 2)]);
        documents("{\"a\": 1, \"a\": 2}", "t.json", &Limits::default(), &mut diagnostics);
        assert_eq!(diagnostics[0].kind, DiagnosticKind::Syntax);
        let deep = format!("{}1{}", "[".repeat(5), "]".repeat(5));
        documents(&deep, "t.json", &Limits { max_depth: 3, ..Limits::default() }, &mut diagnostics);
        assert_eq!(diagnostics[1].kind, DiagnosticKind::Limit);
    }

    #[test]
    fn element_lines_of_lists_and_sequences() {
        let list = "kind: List\nitems:\n- a: 1\n- b: 2\n";
        assert_eq!(element_lines(list, 1, true, &Limits::default()), [3, 4]);
        assert!(element_lines(list, 1, false, &Limits::default()).is_empty(), "a List is not a sequence");
        let sequence = "---\n- a: 1\n\n- b: 2\n";
        assert_eq!(element_lines(sequence, 2, false, &Limits::default()), [2, 4]);
    }
}
