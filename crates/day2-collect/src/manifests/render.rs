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

use crate::source::{canonical, normalize};
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

/// Does the kustomization in `dir` name a remote resource (a Git or HTTP URL)? Those are not fetched during a scan.
pub(super) fn remote_resource(dir: &Path) -> Option<String> {
    entries(dir).into_iter().find(|e| e.contains("://") || e.starts_with("github.com/") || e.starts_with("git@"))
}

/// The entries of `resources`, `bases` and `components` in the kustomization of `dir`.
fn entries(dir: &Path) -> Vec<String> {
    let file =
        ["kustomization.yaml", "kustomization.yml", "Kustomization"].iter().map(|n| dir.join(n)).find(|p| p.is_file());
    let Some(text) = file.and_then(|f| std::fs::read_to_string(f).ok()) else { return Vec::new() };
    let Ok(doc) = serde_saphyr::from_str::<serde_json::Value>(&text) else { return Vec::new() };
    ["resources", "bases", "components"]
        .iter()
        .flat_map(|k| doc.get(*k).and_then(serde_json::Value::as_array).cloned().unwrap_or_default())
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

/// The folders a kustomization names in `resources`, `bases` and `components` (canonical paths).
fn used_folders(dir: &Path) -> Vec<PathBuf> {
    entries(dir).into_iter().map(|entry| dir.join(entry)).filter(|p| p.is_dir()).map(|p| canonical(&p)).collect()
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
    #[error(
        "the kustomization names a remote resource (`{0}`), which a scan does not fetch; render it yourself and give day2 the output"
    )]
    Remote(String),
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
        dir.file_name().and_then(|n| n.to_str()).filter(|n| release_name(n)).unwrap_or("release").to_owned()
    });
    // Flags first, each with its value in one argument, and `--` before the operands: nothing taken from a folder
    // or file name can become a flag (a folder named `--post-renderer=sh` would otherwise run a program).
    let mut args: Vec<String> = vec!["template".into(), "--include-crds".into(), "--skip-tests".into()];
    args.push(format!("--namespace={}", chart.namespace.as_deref().unwrap_or(default_namespace)));
    for v in &chart.values {
        args.push(format!("--values={}", v.display()));
    }
    for (k, v) in &chart.set {
        args.push(format!("--set={k}={v}"));
    }
    // A relative chart path starts with `./`, so Helm never takes it for a repository reference (`bitnami/redis`).
    let chart_path = if dir.is_absolute() || dir.starts_with(".") {
        dir.display().to_string()
    } else {
        format!("./{}", dir.display())
    };
    args.extend(["--".to_owned(), release, chart_path]);
    let example = format!("helm template {}", as_operand(dir));
    let text = run("helm", &args, max_bytes, "Helm chart", example)?;
    Ok(rebase_sources(&text, dir))
}

/// A release name Helm accepts: DNS-1123 label characters, at most 53 of them.
fn release_name(name: &str) -> bool {
    (1..=53).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// A chart folder that cannot be rendered as it stands: a library chart, or a symbolic link leading out of it
/// (`.Files.Get` would read what it points at). `None` when it can.
pub(super) fn unrenderable_chart(dir: &Path) -> Option<String> {
    let chart = std::fs::read_to_string(dir.join("Chart.yaml")).unwrap_or_default();
    if chart.lines().any(|l| l.trim() == "type: library") {
        return Some("a library chart: it renders nothing on its own".to_owned());
    }
    let root = canonical(dir);
    let escaping = walk_links(dir).into_iter().find(|link| !canonical(link).starts_with(&root));
    escaping.map(|link| format!("{} is a symbolic link leading out of the chart; not rendered", link.display()))
}

fn walk_links(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_symlink() => out.push(path),
            Ok(t) if t.is_dir() => out.extend(walk_links(&path)),
            _ => {}
        }
    }
    out
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
    if let Some(remote) = remote_resource(dir) {
        return Err(RenderError::Remote(remote));
    }
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
    Ok(origins_to_sources(&text, dir))
}

/// Moves each document's `config.kubernetes.io/origin` annotation into a `# Source:` comment above it, removing the
/// annotation (and `annotations:` when it held nothing else). Output of kubectl is regular (two-space indent,
/// sorted keys, block scalars), which is what this reads: only `metadata.annotations` at the top level is touched.
///
/// Kustomize gives the overlay's own files as `overlay/<file>` (the wrapper's link) and every other file relative to
/// the overlay's parent folder; both are shown under `dir` as given.
fn origins_to_sources(text: &str, dir: &Path) -> String {
    let shown = |p: &str| match p.strip_prefix("overlay/") {
        Some(own) => normalize(&dir.join(own)),
        None => normalize(&dir.join("..").join(p)),
    };
    let mut out = String::with_capacity(text.len());
    for (i, doc) in text.split("\n---\n").enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        let lines: Vec<&str> = doc.lines().collect();
        let mut kept: Vec<&str> = Vec::with_capacity(lines.len());
        let mut origin: Option<String> = None;
        let mut n = 0;
        // Where the scan is: under the top-level `metadata:`, and in its `annotations:`.
        let (mut in_metadata, mut in_annotations) = (false, false);
        while let Some(line) = lines.get(n) {
            let indent = line.len() - line.trim_start().len();
            if indent == 0 {
                in_metadata = *line == "metadata:";
                in_annotations = false;
            } else if indent == 2 {
                in_annotations = in_metadata && line.trim_end() == "  annotations:";
            }
            if in_annotations && indent == 4 && line.trim_start().starts_with("config.kubernetes.io/origin:") {
                n += 1;
                while let Some(inner) = lines.get(n) {
                    if inner.len() - inner.trim_start().len() <= indent {
                        break;
                    }
                    let entry = inner.trim();
                    if let Some(p) = entry.strip_prefix("path: ").or_else(|| entry.strip_prefix("configuredIn: ")) {
                        origin.get_or_insert_with(|| shown(p.trim()).display().to_string());
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

/// A line of a tool's error output, or a stand-in when it may quote a credential from the chart or its values (the
/// message goes into reports, logs and the store).
fn without_credentials(line: &str) -> &str {
    use day2_model::redact::{credential_value, is_literal, secret_name};
    let assigns = line.split_whitespace().any(|w| {
        w.split_once(['=', ':'])
            .is_some_and(|(k, v)| secret_name(k.trim_matches('"')) && is_literal(v.trim_matches('"')))
    });
    if assigns || credential_value(line) { "(a line that may quote a credential, left out)" } else { line }
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
    // The repository is not trusted with day2's environment (CI tokens): the tool gets what it needs to run, and git
    // (remote Kustomize bases) never asks for credentials. Its own process group lets a timeout stop its children.
    cmd.env_clear().env("GIT_TERMINAL_PROMPT", "0");
    for keep in ["PATH", "HOME", "LANG", "TMPDIR"] {
        if let Some(v) = std::env::var_os(keep) {
            cmd.env(keep, v);
        }
    }
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
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
        // The first 64 KiB are kept for the message; the rest is read and dropped, so a chatty tool never blocks.
        let (mut kept, mut chunk) = (Vec::new(), [0u8; 8192]);
        if let Some(mut err) = stderr {
            while let Ok(n) = err.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                let room = (64 * 1024usize).saturating_sub(kept.len()).min(n);
                kept.extend_from_slice(chunk.get(..room).unwrap_or_default());
            }
        }
        kept
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > TIMEOUT {
            // The whole group: git and plugins a tool started stop with it.
            let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", child.id())]).status();
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
        let text = String::from_utf8_lossy(&err);
        let stderr = text.trim().lines().take(5).map(without_credentials).collect::<Vec<_>>().join(" / ");
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
        let out = origins_to_sources(text, Path::new("deploy/overlays/prod"));
        assert_eq!(
            out,
            "# Source: deploy/base/service.yaml\napiVersion: v1\nkind: Service\nmetadata:\n  labels:\n    a: b\n  name: s\n---\n# Source: deploy/base/kustomization.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  annotations:\n    keep: me\n  name: c\n"
        );
    }

    #[test]
    fn an_overlay_s_own_files_and_its_bases_are_shown_under_the_folder_given() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  annotations:\n    config.kubernetes.io/origin: |\n      path: overlay/extra.yaml\n  name: x\ndata:\n  note: |\n    config.kubernetes.io/origin: |\n      path: kept\n";
        let out = origins_to_sources(text, Path::new("."));
        assert!(out.starts_with("# Source: extra.yaml\n"), "{out}");
        assert!(out.contains("    config.kubernetes.io/origin: |\n      path: kept"), "data is data: {out}");
        let base = origins_to_sources(
            "metadata:\n  annotations:\n    config.kubernetes.io/origin: |\n      path: ../base/a.yaml\n",
            Path::new("."),
        );
        assert!(base.starts_with("# Source: ../../base/a.yaml\n"), "{base}");
    }

    #[test]
    fn tool_errors_never_quote_credentials() {
        assert_eq!(
            without_credentials("Error: template: shop/templates/a.yaml:3: bad"),
            "Error: template: shop/templates/a.yaml:3: bad"
        );
        for line in ["error: password=hunter2-hunter2 is invalid", "bad url postgres://app:s3cret@db/orders"] {
            assert!(!without_credentials(line).contains("hunter2") && !without_credentials(line).contains("s3cret"));
        }
    }

    #[test]
    fn release_names_from_folders_cannot_be_flags() {
        assert!(release_name("shop-api"));
        assert!(!release_name("--post-renderer=sh") && !release_name("Shop") && !release_name(""));
    }

    #[test]
    fn helm_sources_are_rebased_on_the_chart_folder() {
        let out = rebase_sources("---\n# Source: shop/templates/svc.yaml\nkind: Service\n", Path::new("deploy/chart"));
        assert_eq!(out, "---\n# Source: deploy/chart/templates/svc.yaml\nkind: Service\n");
    }
}
