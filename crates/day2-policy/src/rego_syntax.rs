//! Rego that OPA accepts and regorus 0.14 parses differently, rewritten before regorus sees it. Every rewrite keeps
//! each line where it was (text is only inserted within lines), so errors and findings still name the author's lines.
//!
//! - **Rules with several bodies** (`p { a } { b }`, Rego v0): OPA reads them as one rule per body, regorus as an
//!   `else` without the keyword ("else cannot be used with set rules"). Each further body gets the rule's head
//!   written before it: `p { a } p { b }`.
//! - **A newline ends an expression** in a rule body: in OPA, `x := input.a` followed by a line starting with `(`
//!   are two expressions; regorus reads a call `input.a(…)`. A `;` is written at the end of the first line.
//!
//! Strings (`"…"`, `` `…` ``) and comments are skipped; the scan is one pass over the text.

use std::borrow::Cow;

/// `text` with the rewrites above, borrowed when none applies.
pub(crate) fn as_opa_reads(text: &str) -> Cow<'_, str> {
    let insertions = scan(text);
    if insertions.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + insertions.iter().map(|(_, s)| s.len()).sum::<usize>());
    let mut at = 0;
    for (offset, insert) in insertions {
        out.push_str(text.get(at..offset).unwrap_or_default());
        out.push_str(&insert);
        at = offset;
    }
    out.push_str(text.get(at..).unwrap_or_default());
    Cow::Owned(out)
}

/// One open bracket: its character, and for a `{`, whether it is a rule body.
struct Open {
    bracket: char,
    body: bool,
}

/// Where to insert what, in increasing offsets.
fn scan(text: &str) -> Vec<(usize, String)> {
    let mut insertions = Vec::new();
    let mut stack: Vec<Open> = Vec::new();
    // The start of the current top-level statement, and where its head ends (its first body's `{`).
    let mut statement = 0usize;
    let mut head_end: Option<usize> = None;
    // The last significant character outside strings and comments, and the offset just after it.
    let mut last: Option<(char, usize)> = None;
    // Inside a body: a newline was seen after `last`.
    let mut newline_after_last = false;
    let mut at_line_start = true;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if at_line_start && stack.is_empty() && !c.is_whitespace() && !matches!(c, '#' | '{' | '}') {
            statement = i;
            head_end = None;
        }
        at_line_start = c == '\n';
        match c {
            '#' => {
                while chars.next_if(|&(_, c)| c != '\n').is_some() {}
                continue;
            }
            '"' | '`' => {
                let mut escaped = false;
                for (_, s) in chars.by_ref() {
                    match (escaped, s) {
                        (true, _) => escaped = false,
                        (false, '\\') if c == '"' => escaped = true,
                        (false, s) if s == c => break,
                        _ => {}
                    }
                }
            }
            '\n' => {
                newline_after_last = true;
                continue;
            }
            c if c.is_whitespace() => continue,
            _ => {}
        }
        let in_body = stack.last().is_some_and(|o| o.body);
        if c == '('
            && in_body
            && newline_after_last
            && let Some((prev, end)) = last
            && (prev.is_alphanumeric() || matches!(prev, '_' | ']' | ')' | '"' | '`'))
        {
            insertions.push((end, ";".to_owned()));
        }
        match c {
            '{' if stack.is_empty() => {
                let prev = last.map(|(p, _)| p);
                let body = !matches!(prev, Some('=' | ':' | ',' | '(' | '[')) && i > statement;
                if body {
                    match head_end {
                        None => head_end = Some(i),
                        Some(end) if prev == Some('}') => {
                            let head =
                                text.get(statement..end).unwrap_or_default().split_whitespace().collect::<Vec<_>>();
                            insertions.push((i, format!("{} ", head.join(" "))));
                        }
                        Some(_) => {}
                    }
                }
                stack.push(Open { bracket: '{', body });
            }
            '(' | '[' | '{' => stack.push(Open { bracket: c, body: false }),
            ')' | ']' | '}'
                if stack.last().is_some_and(|o| matches!((o.bracket, c), ('(', ')') | ('[', ']') | ('{', '}'))) =>
            {
                stack.pop();
            }
            _ => {}
        }
        last = Some((c, i + c.len_utf8()));
        newline_after_last = false;
    }
    insertions.sort_by_key(|(offset, _)| *offset);
    insertions
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn further_bodies_get_the_head_and_lines_stay_put() {
        let text = "package p\n\ndeny[msg] {\n  input.a\n  msg := \"a\"\n} {\n  input.b\n  msg := \"{b}\"\n}\n\nallow { true }\n";
        let out = as_opa_reads(text);
        assert_eq!(
            out,
            "package p\n\ndeny[msg] {\n  input.a\n  msg := \"a\"\n} deny[msg] {\n  input.b\n  msg := \"{b}\"\n}\n\nallow { true }\n"
        );
        assert_eq!(out.lines().count(), text.lines().count());
    }

    #[test]
    fn values_else_and_single_bodies_are_left_alone() {
        for text in [
            "package p\nx = {\"a\": 1} { true }\n",
            "package p\nx = 1 { false } else = 2 { true }\n",
            "package p\nimport rego.v1\ndeny contains msg if {\n  msg := \"x\"\n}\n",
            "package p\n# p { a } { b }\ns := \"} {\"\n",
        ] {
            assert!(matches!(as_opa_reads(text), Cow::Borrowed(_)), "{text}");
        }
    }

    #[test]
    fn a_newline_ends_an_expression_before_a_parenthesis() {
        let text = "package p\nimport rego.v1\nr if {\n  x := input.parameters.x # the limit\n  (x + 1) > 2\n  f(\n    (x))\n}\n";
        assert_eq!(
            as_opa_reads(text),
            "package p\nimport rego.v1\nr if {\n  x := input.parameters.x; # the limit\n  (x + 1) > 2\n  f(\n    (x))\n}\n"
        );
    }
}
