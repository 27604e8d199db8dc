//! The topology ([`day2_model::Graph`]) as Graphviz DOT, Mermaid or JSON.
//!
//! Names come from inputs, so every label is escaped for its language: a resource named `x"]; evil [label="y` stays a
//! label. DOT groups nodes by provider and scope (one cluster box each) and colours them by their worst active
//! finding; objects seen only live have a dashed border.

use std::collections::BTreeMap;
use std::io::Write;

use day2_model::graph::Node;
use day2_model::{Graph, Severity, Side};

/// A format for `day2 graph -o`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum GraphFormat {
    /// Graphviz DOT (`| dot -Tsvg > fleet.svg`).
    Dot,
    /// Mermaid flowchart (Markdown renderers on GitHub and GitLab draw it).
    Mermaid,
    /// Nodes and edges as JSON.
    Json,
}

/// Writes `graph` as `format`.
pub fn render_graph(format: GraphFormat, graph: &Graph, out: &mut dyn Write) -> Result<(), crate::RenderError> {
    match format {
        GraphFormat::Dot => dot(graph, out)?,
        GraphFormat::Mermaid => mermaid(graph, out)?,
        GraphFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, graph)
                .map_err(|e| crate::RenderError::Encode { format: "json", message: e.to_string() })?;
            writeln!(out)?;
        }
    }
    Ok(())
}

/// The label of a node: its kind, then namespace/name.
fn label(node: &Node) -> String {
    let place = if node.namespace.is_empty() { node.name.clone() } else { format!("{}/{}", node.namespace, node.name) };
    format!("{}\n{place}", node.kind)
}

fn fill(worst: Option<Severity>) -> &'static str {
    match worst {
        Some(Severity::Critical) => "#f8a5a5",
        Some(Severity::High) => "#fbc88d",
        Some(Severity::Medium) => "#fbe98d",
        Some(Severity::Low) => "#cfe3f7",
        Some(Severity::Info) | None => "#ffffff",
    }
}

/// A DOT double-quoted string: backslashes and quotes escaped, line breaks as `\n`, other control characters dropped.
fn dot_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn dot(graph: &Graph, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "digraph day2 {{")?;
    writeln!(out, "  rankdir=LR;")?;
    writeln!(out, "  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", fontsize=10];")?;
    writeln!(out, "  edge [fontname=\"Helvetica\", fontsize=8];")?;
    let index: BTreeMap<&str, usize> = graph.nodes.iter().enumerate().map(|(i, n)| (n.id.as_str(), i)).collect();
    let mut groups: BTreeMap<String, Vec<(usize, &Node)>> = BTreeMap::new();
    for (i, node) in graph.nodes.iter().enumerate() {
        let group: Vec<&str> = node.id.as_str().splitn(3, '/').take(2).collect();
        groups.entry(group.join("/")).or_default().push((i, node));
    }
    for (number, (group, nodes)) in groups.iter().enumerate() {
        writeln!(out, "  subgraph cluster_{number} {{")?;
        writeln!(out, "    label={};", dot_string(group))?;
        writeln!(out, "    style=rounded; color=\"#999999\";")?;
        for (i, node) in nodes {
            let style = if node.side == Side::Live { ", style=\"rounded,filled,dashed\"" } else { "" };
            writeln!(
                out,
                "    n{i} [label={}, tooltip={}, fillcolor=\"{}\"{style}];",
                dot_string(&label(node)),
                dot_string(node.id.as_str()),
                fill(node.worst)
            )?;
        }
        writeln!(out, "  }}")?;
    }
    for edge in &graph.edges {
        if let (Some(from), Some(to)) = (index.get(edge.from.as_str()), index.get(edge.to.as_str())) {
            writeln!(out, "  n{from} -> n{to} [label={}];", dot_string(edge.kind.as_str()))?;
        }
    }
    if graph.truncated {
        writeln!(out, "  truncated [shape=note, label=\"more resources matched: narrow the filter\"];")?;
    }
    writeln!(out, "}}")
}

/// A Mermaid quoted label: line breaks as `<br>`, and everything but letters, digits and plain punctuation as an
/// entity code (`#34;`), so no name can end the label, start a comment (`%%`, also after a Unicode line separator) or
/// become markup.
fn mermaid_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '\n' => out.push_str("<br>"),
            c if c.is_ascii_alphanumeric() || " ./:_-=,()[]{}@+*!?'".contains(c) => out.push(c),
            c if c.is_control() => {}
            c => out.push_str(&format!("#{};", u32::from(c))),
        }
    }
    out.push('"');
    out
}

fn mermaid(graph: &Graph, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "flowchart LR")?;
    let index: BTreeMap<&str, usize> = graph.nodes.iter().enumerate().map(|(i, n)| (n.id.as_str(), i)).collect();
    for (i, node) in graph.nodes.iter().enumerate() {
        writeln!(out, "  n{i}[{}]", mermaid_string(&label(node)))?;
        if let Some(worst) = node.worst.filter(|w| *w >= Severity::Low) {
            writeln!(out, "  class n{i} {}", worst.as_str())?;
        }
    }
    for edge in &graph.edges {
        if let (Some(from), Some(to)) = (index.get(edge.from.as_str()), index.get(edge.to.as_str())) {
            writeln!(out, "  n{from} -->|{}| n{to}", edge.kind.as_str())?;
        }
    }
    for severity in [Severity::Critical, Severity::High, Severity::Medium, Severity::Low] {
        writeln!(out, "  classDef {} fill:{}", severity.as_str(), fill(Some(severity)))?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use day2_model::ResourceId;

    #[test]
    fn labels_from_inputs_cannot_break_out() {
        let node = Node {
            id: ResourceId::from_raw("k8s/c/Pod/ns/x\"]; evil [label=\"y"),
            kind: "Pod".into(),
            namespace: "ns".into(),
            name: "x\"]; evil [label=\"y\\\n#<b>".into(),
            team: None,
            side: Side::Live,
            worst: Some(Severity::High),
            findings: 1,
        };
        let graph = Graph { nodes: vec![node], edges: Vec::new(), truncated: false };
        let mut text = Vec::new();
        render_graph(GraphFormat::Dot, &graph, &mut text).unwrap();
        let dot = String::from_utf8(text).unwrap();
        assert!(dot.contains(r#"label="Pod\nns/x\"]; evil [label=\"y\\\n#<b>""#), "{dot}");
        assert!(!dot.contains("evil [label=\"y\"]"), "{dot}");
        let mut text = Vec::new();
        render_graph(GraphFormat::Mermaid, &graph, &mut text).unwrap();
        let mermaid = String::from_utf8(text).unwrap();
        assert!(mermaid.contains(r#"n0["Pod<br>ns/x#34;]#59; evil [label=#34;y#92;<br>#35;#60;b#62;"]"#), "{mermaid}");
        let comment = Node { name: "a\u{2028}%%x".into(), ..graph.nodes[0].clone() };
        let mut text = Vec::new();
        render_graph(GraphFormat::Mermaid, &Graph { nodes: vec![comment], ..Graph::default() }, &mut text).unwrap();
        assert!(String::from_utf8(text).unwrap().contains("a#8232;#37;#37;x"));
    }
}
