//! Helm charts and Kustomize overlays among the files read are rendered by their own tools, so what is checked is
//! what `helm install` or `kubectl apply -k` would send: a folder with `Chart.yaml` by `helm template`, a folder with
//! `kustomization.yaml` by `kubectl kustomize`, when the tool is on PATH.
//!
//! Every rendered object remembers the file it came from: Helm's `# Source:` comments (made relative to the chart
//! folder as given), and for Kustomize the `config.kubernetes.io/origin` annotation that `buildMetadata:
//! [originAnnotations]` adds. That annotation is asked for through a wrapper kustomization in a temporary folder
//! (a symbolic link to the overlay, so Kustomize's load restrictions stay as they are) and removed again from the
//! output, which is otherwise exactly `kubectl kustomize <overlay>`.
//!
//! Folders that another rendered folder uses (a Kustomize base named in an overlay's `resources`, a subchart) are
//! rendered through it, not on their own. The tools run with a time limit and their output within the file size
//! limit; Kustomize plugins stay disabled (its default) and Helm does not contact a cluster (`helm template`).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use day2_input::files::Input;
use serde::{Deserialize, Serialize};

/// Settings of one Helm chart folder (`charts:` in a manifests source).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ChartConfig {
    /// The chart folder (the one holding `Chart.yaml`). Example: `deploy/charts/shop`.
    pub path: PathBuf,
    /// Release name passed to `helm template`. Default: the folder's name.
    pub release: Option<String>,
    /// Namespace passed to `helm template --namespace`. Default: the source's `default_namespace`.
    pub namespace: Option<String>,
    /// Values files, in order (`-f`). Example: `[deploy/values-prod.yaml]`.
    pub values: Vec<PathBuf>,
    /// Single values (`--set key=value`), applied after the files. Example: `{image.tag: "1.4.2"}`.
    pub set: BTreeMap<String, String>,
}

/// The folders to render among a source's inputs.
#[derive(Debug, Default)]
pub(super) struct Folders {
    /// Outermost chart folders.
    pub(super) charts: Vec<PathBuf>,
    /// Kustomize folders no other one uses.
    pub(super) overlays: Vec<PathBuf>,
    /// Every chart and Kustomize folder: their files are read through the tool, not one by one.
    kustomize: Vec<PathBuf>,
}

impl Folders {
    /// Finds chart folders (a `Chart.yaml` input) and Kustomize folders (a `kustomization.yaml`, `.yml` or
    /// `Kustomization` input) among `inputs`.
    pub(super) fn find(inputs: &[Input]) -> Folders {
        let mut charts: Vec<PathBuf> = Vec::new();
        let mut kustomize: Vec<PathBuf> = Vec::new();
        for input in inputs {
            let Input::File(file) = input else { continue };
            let name = file.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
            if name == "Chart.yaml" {
                charts.push(dir);
            } else if matches!(name, "kustomization.yaml" | "kustomization.yml" | "Kustomization") {
                kustomize.push(dir);
            }
        }
        // A subchart (`charts/<name>/Chart.yaml`) renders with its parent.
        let outer: Vec<PathBuf> =
            charts.iter().filter(|c| !charts.iter().any(|o| o != *c && c.starts_with(o))).cloned().collect();
        let used: BTreeSet<PathBuf> = kustomize.iter().flat_map(|dir| used_folders(dir)).collect();
        let overlays = kustomize
            .iter()
            .filter(|d| !used.contains(&canonical(d)) && !outer.iter().any(|c| d.starts_with(c)))
            .cloned()
            .collect();
        Folders { charts: outer, overlays, kustomize }
    }

    /// Is `file` read through a chart, or through Kustomize (when it is rendered)?
    pub(super) fn covers(&self, file: &Path, kustomize_rendered: bool) -> bool {
        self.charts.iter().any(|c| file.starts_with(c))
            || (kustomize_rendered && self.kustomize.iter().any(|k| file.starts_with(k)))
    }
}

fn canonical(p: &Path) -> PathBuf {
    let p = if p.as_os_str().is_empty() { Path::new(".") } else { p };
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// The folders a kustomization names in `resources`, `bases` and `components` (canonical paths).
fn used_folders(dir: &Path) -> Vec<PathBuf> {
    let file =
        ["kustomization.yaml", "kustomization.yml", "Kustomization"].iter().map(|n| dir.join(n)).find(|p| p.is_file());
    let Some(text) = file.and_then(|f| std::fs::read_to_string(f).ok()) else { return Vec::new() };
    let Ok(doc) = serde_saphyr::from_str::<serde_json::Value>(&text) else { return Vec::new() };
    ["resources", "bases", "components"]
        .iter()
        .flat_map(|k| doc.get(*k).and_then(serde_json::Value::as_array).into_iter().flatten())
        .filter_map(serde_json::Value::as_str)
        .map(|entry| dir.join(entry))
        .filter(|p| p.is_dir())
        .map(|p| canonical(&p))
        .collect()
}

/// Why a folder could not be rendered.
#[derive(Debug, thiserror::Error)]
pub(super) enum RenderError {
    #[error(
        "`{tool}` is not on PATH, so this {what} folder is not rendered; install it, or render the folder yourself \
         and give day2 the output (`{example} | day2 check -`)"
    )]
    NoTool { tool: &'static str, what: &'static str, example: String },
    #[error("`{command}` failed: {stderr}")]
    Failed { command: String, stderr: String },
    #[error("`{command}` did not finish within {seconds} s; stopped")]
    Timeout { command: String, seconds: u64 },
    #[error("`{command}` printed more than the limit of {limit} bytes (limits.max_file_bytes)")]
    TooLarge { command: String, limit: u64 },
    #[error("cannot prepare the render: {0}")]
    Io(#[from] std::io::Error),
}

/// How long a tool may run.
pub(super) const TIMEOUT: Duration = Duration::from_secs(120);

/// `helm template` of a chart folder, with `# Source:` paths under the folder as given.
pub(super) fn helm(
    dir: &Path,
    chart: &ChartConfig,
    default_namespace: &str,
    max_bytes: u64,
) -> Result<String, RenderError> {
    let release = chart.release.clone().unwrap_or_else(|| {
        dir.file_name().and_then(|n| n.to_str()).filter(|n| !n.is_empty()).unwrap_or("release").to_owned()
    });
    let mut args: Vec<String> = vec!["template".into(), release, as_operand(dir)];
    args.push("--namespace".into());
    args.push(chart.namespace.clone().unwrap_or_else(|| default_namespace.to_owned()));
    for v in &chart.values {
        args.push("--values".into());
        args.push(as_operand(v));
    }
    for (k, v) in &chart.set {
        args.push("--set".into());
        args.push(format!("{k}={v}"));
    }
    let example = format!("helm template {}", as_operand(dir));
    let text = run("helm", &args, max_bytes, "Helm chart", example)?;
    Ok(rebase_sources(&text, dir))
}

/// `# Source: <chart>/templates/x.yaml` → `# Source: <dir>/templates/x.yaml`: a path a person can open.
fn rebase_sources(text: &str, dir: &Path) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        match line.strip_prefix("# Source: ") {
            Some(source) => {
                let rest = source.split_once('/').map_or(source, |(_, r)| r);
                out.push_str(&format!("# Source: {}\n", dir.join(rest.trim_end()).display()));
            }
            None => out.push_str(line),
        }
    }
    out
}

/// `kubectl kustomize` of an overlay, each document preceded by a `# Source:` comment naming its origin file.
pub(super) fn kustomize(dir: &Path, max_bytes: u64) -> Result<String, RenderError> {
    let wrapper = tempfile::Builder::new().prefix("day2-kustomize-").tempdir()?;
    let target = canonical(dir);
    std::os::unix::fs::symlink(&target, wrapper.path().join("overlay"))?;
    std::fs::write(
        wrapper.path().join("kustomization.yaml"),
        "resources:\n  - overlay\nbuildMetadata: [originAnnotations]\n",
    )?;
    let args = vec!["kustomize".to_owned(), as_operand(wrapper.path())];
    let example = format!("kubectl kustomize {}", as_operand(dir));
    let text = run("kubectl", &args, max_bytes, "Kustomize", example)?;
    // Origins are relative to the overlay's real parent folder; shown under the overlay's parent as given.
    let shown_base = dir.parent().map(Path::to_path_buf).unwrap_or_default();
    Ok(origins_to_sources(&text, &shown_base))
}

/// Moves each document's `config.kubernetes.io/origin` annotation into a `# Source:` comment above it, removing the
/// annotation (and `annotations:` when it held nothing else). Output of kubectl is regular (two-space indent,
/// sorted keys, block scalars), which is what this reads.
fn origins_to_sources(text: &str, base: &Path) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, doc) in text.split("\n---\n").enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        let lines: Vec<&str> = doc.lines().collect();
        let mut kept: Vec<&str> = Vec::with_capacity(lines.len());
        let mut origin: Option<String> = None;
        let mut n = 0;
        while let Some(line) = lines.get(n) {
            let indent = line.len() - line.trim_start().len();
            if line.trim_start().starts_with("config.kubernetes.io/origin:") {
                n += 1;
                while let Some(inner) = lines.get(n) {
                    if inner.len() - inner.trim_start().len() <= indent {
                        break;
                    }
                    let entry = inner.trim();
                    if let Some(p) = entry.strip_prefix("path: ").or_else(|| entry.strip_prefix("configuredIn: ")) {
                        origin.get_or_insert_with(|| normalize(&base.join(p.trim())).display().to_string());
                    }
                    n += 1;
                }
                // `annotations:` with nothing left under it goes too.
                if kept.last().is_some_and(|l| l.trim() == "annotations:")
                    && lines.get(n).is_none_or(|next| next.len() - next.trim_start().len() < indent)
                {
                    kept.pop();
                }
                continue;
            }
            kept.push(line);
            n += 1;
        }
        if let Some(o) = origin {
            out.push_str(&format!("# Source: {o}\n"));
        }
        for line in kept {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Lexically removes `.` and `dir/..` steps.
fn normalize(p: &Path) -> PathBuf {
    let mut out: Vec<std::path::Component<'_>> = Vec::new();
    for c in p.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir if matches!(out.last(), Some(std::path::Component::Normal(_))) => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out.iter().collect()
}

/// A path as a command-line operand that cannot be taken for an option.
fn as_operand(p: &Path) -> String {
    let s = p.display().to_string();
    if s.starts_with('-') { format!("./{s}") } else { s }
}

/// Runs `tool args`, returning its standard output; stops it after [`TIMEOUT`] or `max_bytes` of output.
fn run(
    tool: &'static str,
    args: &[String],
    max_bytes: u64,
    what: &'static str,
    example: String,
) -> Result<String, RenderError> {
    let command = format!("{tool} {}", args.join(" "));
    let mut cmd = Command::new(tool);
    cmd.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(RenderError::NoTool { tool, what, example }),
        Err(e) => return Err(RenderError::Io(e)),
    };
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(out) = stdout {
            let _ = out.take(max_bytes.saturating_add(1)).read_to_end(&mut buf);
        }
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(err) = stderr {
            let _ = err.take(64 * 1024).read_to_end(&mut buf);
        }
        buf
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(RenderError::Timeout { command, seconds: TIMEOUT.as_secs() });
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = reader.join().unwrap_or_default();
    let err = err_reader.join().unwrap_or_default();
    if out.len() as u64 > max_bytes {
        return Err(RenderError::TooLarge { command, limit: max_bytes });
    }
    if !status.success() {
        let stderr = String::from_utf8_lossy(&err).trim().lines().take(5).collect::<Vec<_>>().join(" / ");
        return Err(RenderError::Failed { command, stderr });
    }
    String::from_utf8(out).map_err(|_| RenderError::Failed { command, stderr: "output is not UTF-8".into() })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn origin_annotations_become_source_comments_and_leave_the_object_as_kustomize_prints_it() {
        let text = "apiVersion: v1\nkind: Service\nmetadata:\n  annotations:\n    config.kubernetes.io/origin: |\n      path: ../base/service.yaml\n  labels:\n    a: b\n  name: s\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  annotations:\n    config.kubernetes.io/origin: |\n      configuredIn: ../base/kustomization.yaml\n      configuredBy:\n        kind: ConfigMapGenerator\n    keep: me\n  name: c\n";
        let out = origins_to_sources(text, Path::new("deploy/overlays"));
        assert_eq!(
            out,
            "# Source: deploy/base/service.yaml\napiVersion: v1\nkind: Service\nmetadata:\n  labels:\n    a: b\n  name: s\n---\n# Source: deploy/base/kustomization.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  annotations:\n    keep: me\n  name: c\n"
        );
    }

    #[test]
    fn helm_sources_are_rebased_on_the_chart_folder() {
        let out = rebase_sources("---\n# Source: shop/templates/svc.yaml\nkind: Service\n", Path::new("deploy/chart"));
        assert_eq!(out, "---\n# Source: deploy/chart/templates/svc.yaml\nkind: Service\n");
    }
}
