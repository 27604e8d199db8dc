//! Terraform's JSON configuration syntax (`.tf.json`), rewritten as native HCL so one reader evaluates both.
//!
//! The mapping is the one Terraform documents: top-level `resource`, `data`, `module`, `variable`, `output`,
//! `provider`, `locals` and `terraform` properties are blocks with their labels as nested keys; in a body every
//! property is an argument whose strings are templates (`"${var.name}"`; a string that is one interpolation is the
//! expression itself); `depends_on` lists references as strings; a variable's `type` is a type expression written as
//! a string and its `default` a literal. Nested blocks of resources come out as arguments holding lists of objects,
//! the shape the HCL reader gives blocks anyway.
//!
//! Each generated line knows the JSON line it stands for, so findings point into the `.tf.json` file.

use serde_json::{Map, Value};

/// Native-syntax text of a JSON configuration document, and for each of its lines (0-based) the JSON file's line.
pub(super) struct Rewritten {
    pub(super) text: String,
    pub(super) lines: Vec<u32>,
}

/// Rewrites `text`; the error names the JSON line.
pub(super) fn rewrite(text: &str) -> Result<Rewritten, (Option<u32>, String)> {
    let doc: Value =
        day2_input::json::from_str(text).map_err(|e| (u32::try_from(e.line()).ok(), format!("invalid JSON: {e}")))?;
    let Value::Object(top) = doc else { return Err((Some(1), "a `.tf.json` file must hold a JSON object".into())) };
    let mut w = Writer { out: String::new(), lines: Vec::new(), json: text, cursor: 0, current: 1, counted: 0 };
    for (key, value) in &top {
        match key.as_str() {
            "resource" | "data" => {
                for (kind, named) in objects(value) {
                    for (name, bodies) in objects(named) {
                        w.seek(&[key, kind, name]);
                        for body in bodies_of(bodies) {
                            w.block(&format!("{key} {} {}", quoted(kind), quoted(name)), body, Kind::Resource);
                        }
                    }
                }
            }
            "module" | "variable" | "output" | "provider" => {
                for (name, bodies) in objects(value) {
                    w.seek(&[key, name]);
                    let kind = if key == "variable" { Kind::Variable } else { Kind::Plain };
                    for body in bodies_of(bodies) {
                        w.block(&format!("{key} {}", quoted(name)), body, kind);
                    }
                }
            }
            "locals" => {
                w.seek(&[key]);
                for body in bodies_of(value) {
                    w.block("locals", body, Kind::Plain);
                }
            }
            "terraform" => {
                w.seek(&[key]);
                for body in bodies_of(value) {
                    w.block("terraform", body, Kind::Terraform);
                }
            }
            // Comments (`"//"`) and what the reader does not use (`moved`, `import`, `check`).
            _ => {}
        }
    }
    Ok(Rewritten { text: w.out, lines: w.lines })
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Resource,
    Variable,
    Terraform,
    Plain,
}

struct Writer<'a> {
    out: String,
    lines: Vec<u32>,
    json: &'a str,
    /// Byte offset in the JSON text up to which keys have been found.
    cursor: usize,
    /// JSON line of the block being written.
    current: u32,
    /// Byte offset up to which newlines are counted into `current`.
    counted: usize,
}

impl Writer<'_> {
    /// Moves the cursor past the keys `path` (in document order) and makes their line the current one.
    fn seek(&mut self, path: &[&String]) {
        for key in path {
            let needle = format!("{}:", quoted(key));
            let compact = self.json.get(self.cursor..).and_then(|rest| rest.find(&needle));
            let spaced = self.json.get(self.cursor..).and_then(|rest| rest.find(&format!("{} :", quoted(key))));
            if let Some(at) = compact.into_iter().chain(spaced).min() {
                self.cursor += at + 1;
            }
        }
        // Lines counted from where the last seek ended: keys come in document order, so each byte is counted once.
        let newly = self.json.get(self.counted..self.cursor).unwrap_or_default();
        self.current += newly.matches('\n').count() as u32;
        self.counted = self.cursor.max(self.counted);
    }

    fn line(&mut self, text: &str) {
        self.out.push_str(text);
        self.out.push('\n');
        self.lines.push(self.current);
    }

    fn block(&mut self, header: &str, body: &Value, kind: Kind) {
        self.line(&format!("{header} {{"));
        for (key, value) in body.as_object().into_iter().flatten() {
            if key == "//"
                || (kind == Kind::Resource && matches!(key.as_str(), "lifecycle" | "provisioner" | "connection"))
            {
                continue;
            }
            if kind == Kind::Terraform && key == "required_providers" {
                for inner in bodies_of(value) {
                    self.block("required_providers", inner, Kind::Plain);
                }
                continue;
            }
            let expr = match (kind, key.as_str()) {
                (_, "depends_on") => match value {
                    Value::Array(items) => format!(
                        "[{}]",
                        items
                            .iter()
                            .filter_map(Value::as_str)
                            .filter(|s| is_reference(s))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    _ => continue,
                },
                (Kind::Variable, "type") => match value.as_str() {
                    Some(t) if hcl::edit::parser::parse_expr(t).is_ok() => t.to_owned(),
                    _ => continue,
                },
                (Kind::Variable, "default") => literal(value),
                _ => expression(value),
            };
            self.line(&format!("  {key} = {expr}"));
        }
        self.line("}");
    }
}

/// `(key, value)` of an object; nothing for other values.
fn objects(v: &Value) -> impl Iterator<Item = (&String, &Value)> {
    v.as_object().into_iter().flat_map(Map::iter)
}

/// A block's bodies: an object is one, an array of objects several.
fn bodies_of(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(items) => items.iter().filter(|i| i.is_object()).collect(),
        Value::Object(_) => vec![v],
        _ => Vec::new(),
    }
}

fn quoted(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

/// A JSON value as an expression: strings are templates, and a string that is a single interpolation is its
/// expression (so `"${var.tags}"` stays a map).
fn expression(v: &Value) -> String {
    match v {
        Value::String(s) => match single_interpolation(s) {
            Some(inner) => format!("({inner})"),
            None => quoted(s),
        },
        Value::Array(items) => format!("[{}]", items.iter().map(expression).collect::<Vec<_>>().join(", ")),
        Value::Object(m) => format!(
            "{{ {} }}",
            m.iter().map(|(k, v)| format!("{} = {}", quoted(k), expression(v))).collect::<Vec<_>>().join(", ")
        ),
        other => other.to_string(),
    }
}

/// A JSON value as a literal: template sequences in strings are escaped.
fn literal(v: &Value) -> String {
    match v {
        Value::String(s) => quoted(&s.replace("${", "$${").replace("%{", "%%{")),
        Value::Array(items) => format!("[{}]", items.iter().map(literal).collect::<Vec<_>>().join(", ")),
        Value::Object(m) => format!(
            "{{ {} }}",
            m.iter().map(|(k, v)| format!("{} = {}", quoted(k), literal(v))).collect::<Vec<_>>().join(", ")
        ),
        other => other.to_string(),
    }
}

fn single_interpolation(s: &str) -> Option<&str> {
    let inner = s.strip_prefix("${")?.strip_suffix('}')?;
    let inner = inner.trim_start_matches('~').trim_end_matches('~');
    (!inner.contains("${") && hcl::edit::parser::parse_expr(inner).is_ok()).then_some(inner)
}

/// `aws_s3_bucket.logs` or `module.net`: a reference `depends_on` may hold.
fn is_reference(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '[' | ']' | '"'))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn json_configuration_becomes_native_syntax_with_its_lines() {
        let json = r#"{
  "variable": {
    "cidr": {"type": "list(string)", "default": ["0.0.0.0/0"]}
  },
  "resource": {
    "aws_security_group": {
      "web": {
        "name": "web-${var.env}",
        "ingress": [{"from_port": 22, "cidr_blocks": "${var.cidr}"}],
        "depends_on": ["aws_vpc.main"],
        "lifecycle": {"prevent_destroy": true}
      }
    }
  }
}"#;
        let r = rewrite(json).unwrap();
        let body = hcl::edit::parser::parse_body(&r.text).unwrap();
        let sg = body.get_blocks("resource").next().unwrap();
        assert!(sg.body.get_attribute("lifecycle").is_none());
        let header = r.text.lines().position(|l| l.starts_with("resource")).unwrap();
        assert_eq!(r.lines[header], 7, "the line of the resource's name in the JSON file");
        assert!(r.text.contains("depends_on = [aws_vpc.main]"), "{}", r.text);
        assert!(r.text.contains("\"cidr_blocks\" = (var.cidr)"), "{}", r.text);
        assert!(r.text.contains("type = list(string)"), "{}", r.text);
    }

    #[test]
    fn bad_json_names_its_line() {
        let Err((line, message)) = rewrite("{\n  \"resource\": [\n}") else { panic!("accepted") };
        assert_eq!(line, Some(3));
        assert!(message.starts_with("invalid JSON"));
    }
}
