//! Helm-rendered output: `helm template` writes `# Source: <chart>/templates/<file>` above each document, and that
//! template path is what a person edits, so every object keeps it next to its file and line.

/// `# Source: <template>` comments in Helm output, with the separator lines that delimit documents.
pub(super) struct HelmSources {
    /// (line, template) of each `# Source:` comment.
    sources: Vec<(u32, String)>,
    /// Lines of `---` separators.
    separators: Vec<u32>,
}

impl HelmSources {
    pub(super) fn scan(text: &str) -> Self {
        let mut hs = HelmSources { sources: Vec::new(), separators: Vec::new() };
        if !text.contains("# Source:") {
            return hs;
        }
        for (i, line) in text.lines().enumerate() {
            let n = i as u32 + 1;
            if let Some(t) = line.strip_prefix("# Source:") {
                hs.sources.push((n, t.trim().to_owned()));
            } else if line.starts_with("---") {
                hs.separators.push(n);
            }
        }
        hs
    }

    /// The template of the document starting at `line`: the `# Source:` between the preceding separator and the line.
    pub(super) fn template_for(&self, line: u32) -> Option<String> {
        let floor = self.separators.iter().rev().find(|&&s| s < line).copied().unwrap_or(0);
        self.sources.iter().rev().find(|(l, _)| *l < line && *l > floor).map(|(_, t)| t.clone())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn each_document_gets_the_source_comment_above_it() {
        let text = "---\n# Source: shop/templates/svc.yaml\napiVersion: v1\nkind: Service\n---\napiVersion: v1\nkind: ConfigMap\n---\n# Source: shop/templates/cm.yaml\nkind: ConfigMap\n";
        let sources = HelmSources::scan(text);
        assert_eq!(sources.template_for(3).as_deref(), Some("shop/templates/svc.yaml"));
        assert_eq!(sources.template_for(6), None, "the comment above the previous separator is not this document's");
        assert_eq!(sources.template_for(10).as_deref(), Some("shop/templates/cm.yaml"));
        assert!(HelmSources::scan("kind: ConfigMap\n").template_for(1).is_none());
    }
}
