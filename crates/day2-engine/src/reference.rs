//! The reference tables of docs/configuration.md, generated from the JSON Schema of day2.yaml ([`crate::config::schema`]),
//! so the documentation says what the configuration types say (a test compares the two).
//!
//! One section per object type, reached from the top level in order: a table of its keys with their type, default
//! and meaning (the field's doc comment). A tagged enum (`sources[]`, one kind per entry) is a table of its kinds.

use std::collections::{BTreeSet, VecDeque};

use serde_json::Value;

/// Where the generated part of docs/configuration.md starts and ends.
pub const BEGIN: &str = "<!-- BEGIN GENERATED REFERENCE: `day2 config schema`; a test keeps it true -->";
/// See [`BEGIN`].
pub const END: &str = "<!-- END GENERATED REFERENCE -->";

/// The reference tables, in Markdown.
pub fn markdown(schema: &Value) -> String {
    let defs = schema.get("$defs").and_then(Value::as_object);
    let mut out = String::new();
    let mut queue: VecDeque<(String, &Value)> = VecDeque::from([("day2.yaml".to_owned(), schema)]);
    let mut seen: BTreeSet<String> = BTreeSet::new();
    while let Some((name, def)) = queue.pop_front() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let mut refs = Vec::new();
        section(&name, def, &mut out, &mut refs);
        for r in refs {
            if let Some(def) = defs.and_then(|d| d.get(&r)) {
                queue.push_back((r, def));
            }
        }
    }
    out
}

fn section(name: &str, def: &Value, out: &mut String, refs: &mut Vec<String>) {
    let description = text(def.get("description"));
    if let Some(properties) = def.get("properties").and_then(Value::as_object) {
        out.push_str(&format!("### `{name}`\n\n"));
        if !description.is_empty() && name != "day2.yaml" {
            out.push_str(&format!("{description}\n\n"));
        }
        out.push_str("| key | type | default | meaning |\n|---|---|---|---|\n");
        let required: BTreeSet<&str> =
            def.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
        for (key, property) in properties {
            let default = match property.get("default") {
                // A section of its own says its defaults, key by key.
                Some(Value::Object(_)) if property.get("$ref").is_some() => "see its section".to_owned(),
                Some(Value::Null) => "none".to_owned(),
                Some(value) => format!("`{}`", compact(value)),
                None if required.contains(key.as_str()) => "required".to_owned(),
                None => "none".to_owned(),
            };
            let meaning = text(property.get("description"));
            out.push_str(&format!("| `{key}` | {} | {default} | {meaning} |\n", type_of(property, refs)));
        }
        out.push('\n');
    } else if let Some(variants) = def.get("oneOf").and_then(Value::as_array) {
        out.push_str(&format!("### `{name}`\n\n"));
        if !description.is_empty() {
            out.push_str(&format!("{description}\n\n"));
        }
        let tagged: Vec<(&String, &Value, &Value)> = variants
            .iter()
            .filter_map(|v| {
                let (key, inner) = v.get("properties")?.as_object()?.iter().next()?;
                Some((key, inner, v))
            })
            .collect();
        let values: Vec<(String, String)> = variants
            .iter()
            .filter_map(|v| {
                let value = v.get("const").or_else(|| v.get("enum").and_then(|e| e.get(0)))?;
                Some((compact(value).trim_matches('"').to_owned(), text(v.get("description"))))
            })
            .collect();
        if values.len() == variants.len() {
            out.push_str("| value | meaning |\n|---|---|\n");
            for (value, meaning) in values {
                out.push_str(&format!("| `{value}` | {meaning} |\n"));
            }
        } else if tagged.len() == variants.len() {
            out.push_str("| kind | settings | meaning |\n|---|---|---|\n");
            for (key, inner, variant) in tagged {
                let meaning = text(variant.get("description"));
                out.push_str(&format!("| `{key}` | {} | {meaning} |\n", type_of(inner, refs)));
            }
        } else {
            out.push_str("One of:\n\n");
            for variant in variants {
                out.push_str(&format!("- {} — {}\n", type_of(variant, refs), text(variant.get("description"))));
            }
        }
        out.push('\n');
    }
}

/// The type of a property, in words, with links to the sections of the types it names.
fn type_of(property: &Value, refs: &mut Vec<String>) -> String {
    if let Some(r) = property.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap_or(r).to_owned();
        refs.push(name.clone());
        return format!("[`{name}`](#{})", name.to_ascii_lowercase());
    }
    if let Some(values) = property.get("enum").and_then(Value::as_array) {
        let words: Vec<String> = values.iter().map(|v| format!("`{}`", v.as_str().unwrap_or_default())).collect();
        return format!("one of {}", words.join(", "));
    }
    if let Some(constant) = property.get("const") {
        return format!("`{}`", compact(constant));
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(options) = property.get(key).and_then(Value::as_array) {
            let words: Vec<String> = options
                .iter()
                .filter(|o| o.get("type").and_then(Value::as_str) != Some("null"))
                .map(|o| type_of(o, refs))
                .collect();
            return words.join(" or ");
        }
    }
    let types: Vec<&str> = match property.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).filter(|t| *t != "null").collect(),
        _ => Vec::new(),
    };
    match types.first().copied() {
        Some("array") => match property.get("items") {
            Some(items) => format!("list of {}", type_of(items, refs)),
            None => "list".to_owned(),
        },
        Some("object") => match property.get("additionalProperties") {
            Some(values) if values.is_object() => format!("map of {}", type_of(values, refs)),
            _ => "map".to_owned(),
        },
        Some("integer") => match property.get("minimum").and_then(Value::as_f64) {
            Some(min) if min >= 0.0 => "integer ≥ 0".to_owned(),
            _ => "integer".to_owned(),
        },
        Some(other) => other.to_owned(),
        None => "any".to_owned(),
    }
}

/// A doc comment as one table cell: one line, pipes escaped.
fn text(value: Option<&Value>) -> String {
    let text = value.and_then(Value::as_str).unwrap_or_default();
    text.split_whitespace().collect::<Vec<_>>().join(" ").replace('|', "\\|")
}

fn compact(value: &Value) -> String {
    value.to_string().replace('|', "\\|")
}
