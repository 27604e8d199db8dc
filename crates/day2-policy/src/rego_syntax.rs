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

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Words after which an expression continues on the next line.
const KEYWORDS: &[&str] = &["in", "as", "not", "with", "some", "every", "else", "if", "contains", "default"];

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
    // The word being read, and the word that ended just before the current character.
    let mut word = String::new();
    let mut previous_word = String::new();
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
                let mut end = text.len();
                for (j, s) in chars.by_ref() {
                    match (escaped, s) {
                        (true, _) => escaped = false,
                        (false, '\\') if c == '"' => escaped = true,
                        (false, s) if s == c => {
                            end = j + s.len_utf8();
                            break;
                        }
                        _ => {}
                    }
                }
                // The term ends after the closing quote: that is where a `;` may go.
                last = Some((c, end));
                previous_word.clear();
                word.clear();
                newline_after_last = false;
                continue;
            }
            '\n' => {
                newline_after_last = true;
                continue;
            }
            c if c.is_whitespace() => continue,
            _ => {}
        }
        // The word that ended just before `c`, when the last token was a word.
        let continues = is_word_char(c) && last.is_some_and(|(p, end)| end == i && is_word_char(p));
        if !continues {
            let after_word = last.is_some_and(|(p, _)| is_word_char(p));
            previous_word = if after_word { std::mem::take(&mut word) } else { String::new() };
            word.clear();
        }
        let in_body = stack.last().is_some_and(|o| o.body);
        // A keyword (`x in`, `not`, `with … as`) expects what follows: the expression goes on.
        let after_keyword = KEYWORDS.contains(&previous_word.as_str());
        if c == '('
            && in_body
            && newline_after_last
            && !after_keyword
            && let Some((prev, end)) = last
            && (prev.is_alphanumeric() || matches!(prev, '_' | ']' | ')' | '"' | '`'))
        {
            insertions.push((end, ";".to_owned()));
        }
        match c {
            '{' if stack.is_empty() => {
                let prev = last.map(|(p, _)| p);
                // A value (`p = {…}`, `deny contains {…}`) is not a body.
                let value = matches!(prev, Some('=' | ':' | ',' | '(' | '[')) || previous_word == "contains";
                let body = !value && i > statement;
                if body {
                    match head_end {
                        None => head_end = Some(i),
                        Some(end) if prev == Some('}') => {
                            let head = text.get(statement..end).unwrap_or_default();
                            // A head with a comment in it cannot be copied onto one line; it is left to regorus.
                            if !head.contains('#') {
                                insertions.push((i, format!("{} ", head.replace(['\n', '\r'], " ").trim_end())));
                            }
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
        if is_word_char(c) {
            word.push(c);
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
    fn strings_keywords_and_contains_values_are_not_broken() {
        for text in [
            "package p\nimport rego.v1\nr if {\n  input.kind == \"Pod\"\n  (1 + 1) == 2\n}\n",
            "package p\nimport rego.v1\nr if {\n  some x in\n    (input.a)\n}\n",
            "package p\nimport future.keywords\ndeny contains {\"msg\": m} {\n  m := \"x\"\n}\n",
        ] {
            let out = as_opa_reads(text);
            assert!(!out.contains("\";") || out.contains("\"Pod\";"), "{out}");
            assert!(!out.contains("\";Pod"), "{out}");
            if text.contains("contains {") || text.contains("some x in") {
                assert_eq!(out, text);
            }
        }
        assert_eq!(
            as_opa_reads("package p\nimport rego.v1\nr if {\n  input.kind == \"Pod\"\n  (1 + 1) == 2\n}\n"),
            "package p\nimport rego.v1\nr if {\n  input.kind == \"Pod\";\n  (1 + 1) == 2\n}\n"
        );
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
