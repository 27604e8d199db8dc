//! A live Prometheus server: its rule groups (`/api/v1/rules`) and scrape targets (`/api/v1/targets`), each rule and
//! target a resource with its health and last error, so alert hygiene and SLO analyzers (issue [F]) can read them.
//!
//! Resources: `prometheus/<name>/AlertingRule/<group>/<alert>` and `…/RecordingRule/<group>/<record>` (a second rule
//! of one name in a group gets `#2`, `#3`: alerts of one name with several severities are common), and
//! `prometheus/<name>/Target/<scrape pool>/<scrape URL>`. The source has no scope for drift: nothing declares these
//! objects yet (rule files become a declared source with [F]).
//!
//! Only the two read endpoints are called, with a timeout and a cap on the answer's size; a bearer token comes from
//! an environment variable and is never written anywhere, and a URL with a password in it is refused.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use day2_model::{Diagnostic, DiagnosticKind, Origin, Provider, Resource, ResourceId, Side, Snapshot};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A Prometheus server (`- prometheus: {url: http://prometheus:9090}` in `sources`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PrometheusConfig {
    /// Base URL of the server (`http://prometheus:9090`); `/api/v1/rules` and `/api/v1/targets` are read under it.
    pub url: String,
    /// Scope of resource ids (`prometheus/<name>/…`). Default `prometheus`.
    pub name: String,
    /// Environment variable holding a bearer token, for servers behind an authenticating proxy.
    pub bearer_token_env: Option<String>,
    /// Seconds allowed for each request. Default 30.
    pub timeout_seconds: u64,
    /// Largest answer read, in bytes (default 64 MiB); a larger one is an error, not a partial read.
    pub max_response_bytes: u64,
    /// Name of the source in reports and the store. Default `live:prometheus:<name>`.
    pub source_name: Option<String>,
}

impl Default for PrometheusConfig {
    fn default() -> Self {
        PrometheusConfig {
            url: String::new(),
            name: "prometheus".to_owned(),
            bearer_token_env: None,
            timeout_seconds: 30,
            max_response_bytes: 64 << 20,
            source_name: None,
        }
    }
}

impl crate::source::Source for PrometheusConfig {
    fn name(&self) -> String {
        self.source_name.clone().unwrap_or_else(|| format!("live:prometheus:{}", self.name))
    }

    fn side(&self) -> Side {
        Side::Live
    }

    fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        // The URL is never repeated in a message: it may hold a password.
        match reqwest::Url::parse(&self.url) {
            Ok(url) if url.password().is_some() || !url.username().is_empty() => problems.push(
                "url: carries credentials, which would end up in logs; give a token in `bearer_token_env`".to_owned(),
            ),
            Ok(url) if !matches!(url.scheme(), "http" | "https") => {
                problems.push(format!("url: the scheme `{}` is not http or https", url.scheme()))
            }
            Ok(_) => {}
            Err(e) => problems.push(format!("url: not a URL ({e}); e.g. http://prometheus:9090")),
        }
        if !(1..=3600).contains(&self.timeout_seconds) {
            problems.push(format!("timeout_seconds: {} is not between 1 and 3600", self.timeout_seconds));
        }
        problems
    }

    fn collect(&self) -> crate::source::Collecting<'_, Snapshot> {
        Box::pin(collect(self))
    }
}

/// Reads the rules and the targets. A request that fails makes the snapshot incomplete and is a diagnostic; what
/// the other request returned is kept.
pub async fn collect(config: &PrometheusConfig) -> Snapshot {
    let source = crate::source::Source::name(config);
    let mut snapshot = Snapshot { source: source.clone(), complete: true, ..Snapshot::default() };
    let place = format!("prometheus:{}", config.name);
    let client = match client(config) {
        Ok(client) => client,
        Err(message) => {
            snapshot.complete = false;
            snapshot.diagnostics.push(Diagnostic::new(DiagnosticKind::Unreadable, &place, None, message));
            return snapshot;
        }
    };
    let origin = Origin::Live { source: source.clone(), observed_at: Utc::now() };
    let resource = |kind: &str, namespace: &str, name: &str, mut attrs: Value| {
        day2_model::redact::redact_tree(day2_model::redact::Redactor::process(), &mut attrs);
        Resource {
            id: ResourceId::new(Provider::Prometheus, &config.name, kind, namespace, name),
            provider: Provider::Prometheus,
            scope: config.name.clone(),
            kind: kind.to_owned(),
            api_version: String::new(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            labels: labels(attrs.get("labels")),
            owner: Default::default(),
            attrs: attrs.into(),
            origin: origin.clone(),
            source: source.clone(),
        }
    };
    match get(&client, config, "/api/v1/rules").await {
        Ok(data) => {
            // Rule names repeat within a group (one alert per severity), and a group name may repeat across files.
            let mut seen: BTreeMap<String, usize> = BTreeMap::new();
            for group in data.get("groups").and_then(Value::as_array).into_iter().flatten() {
                let group_name = group.get("name").and_then(Value::as_str).unwrap_or_default();
                for rule in group.get("rules").and_then(Value::as_array).into_iter().flatten() {
                    let kind = match rule.get("type").and_then(Value::as_str) {
                        Some("alerting") => "AlertingRule",
                        Some("recording") => "RecordingRule",
                        _ => continue,
                    };
                    let name = rule.get("name").and_then(Value::as_str).unwrap_or_default();
                    let count = seen.entry(format!("{kind}/{group_name}/{name}")).or_default();
                    *count += 1;
                    let unique = if *count == 1 { name.to_owned() } else { format!("{name}#{count}") };
                    let mut attrs = rule.clone();
                    if let Some(object) = attrs.as_object_mut() {
                        // Firing alerts change every evaluation: state, not configuration.
                        object.remove("alerts");
                        object.insert(
                            "group".into(),
                            json!({"name": group_name, "file": group.get("file"), "interval": group.get("interval")}),
                        );
                    }
                    snapshot.resources.push(resource(kind, group_name, &unique, attrs));
                }
            }
        }
        Err(message) => fail(&mut snapshot, &place, "rules", message),
    }
    match get(&client, config, "/api/v1/targets").await {
        Ok(data) => {
            for target in data.get("activeTargets").and_then(Value::as_array).into_iter().flatten() {
                let pool = target.get("scrapePool").and_then(Value::as_str).unwrap_or_default();
                let url = target.get("scrapeUrl").and_then(Value::as_str).map(without_query).unwrap_or_default();
                let mut attrs = target.clone();
                if let Some(object) = attrs.as_object_mut() {
                    // What service discovery saw before relabelling: large and not what is scraped.
                    object.remove("discoveredLabels");
                    // Scrape parameters (`params:`) can carry tokens: the URLs are kept without them.
                    for key in ["scrapeUrl", "globalUrl"] {
                        if let Some(Value::String(u)) = object.get_mut(key) {
                            *u = without_query(u);
                        }
                    }
                }
                snapshot.resources.push(resource("Target", pool, &url, attrs));
            }
        }
        Err(message) => fail(&mut snapshot, &place, "targets", message),
    }
    snapshot
}

fn fail(snapshot: &mut Snapshot, place: &str, what: &str, message: String) {
    snapshot.complete = false;
    snapshot.diagnostics.push(Diagnostic::new(
        DiagnosticKind::Unreadable,
        place,
        None,
        format!("cannot read the {what}: {message}"),
    ));
}

fn client(config: &PrometheusConfig) -> Result<reqwest::Client, String> {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(variable) = &config.bearer_token_env {
        let token = std::env::var(variable).map_err(|_| format!("bearer_token_env: `{variable}` is not set"))?;
        let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| format!("bearer_token_env: `{variable}` does not hold a token that fits in a header"))?;
        value.set_sensitive(true);
        headers.insert(reqwest::header::AUTHORIZATION, value);
    }
    reqwest::Client::builder()
        .timeout(Duration::from_secs(config.timeout_seconds))
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))
}

/// GETs an API path and returns its `data`, reading at most `max_response_bytes`.
async fn get(client: &reqwest::Client, config: &PrometheusConfig, path: &str) -> Result<Value, String> {
    let url = format!("{}{path}", config.url.trim_end_matches('/'));
    let mut response = client.get(&url).send().await.map_err(|e| format!("{path}: {}", e.without_url()))?;
    let status = response.status();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| format!("{path}: {}", e.without_url()))? {
        if body.len() as u64 + chunk.len() as u64 > config.max_response_bytes {
            return Err(format!(
                "{path}: the answer is larger than max_response_bytes ({})",
                config.max_response_bytes
            ));
        }
        body.extend_from_slice(&chunk);
    }
    if !status.is_success() {
        return Err(format!("{path}: HTTP {status}"));
    }
    let answer: Value = serde_json::from_slice(&body).map_err(|e| format!("{path}: not JSON: {e}"))?;
    if answer.get("status").and_then(Value::as_str) != Some("success") {
        let error = answer.get("error").and_then(Value::as_str).unwrap_or("no error given");
        return Err(format!("{path}: the server answered `{error}`"));
    }
    answer.get("data").cloned().ok_or_else(|| format!("{path}: the answer has no `data`"))
}

/// A URL without its query string (the parameter names kept, their values not).
fn without_query(url: &str) -> String {
    match url.split_once('?') {
        Some((base, query)) => {
            let names: Vec<&str> = query.split('&').map(|p| p.split('=').next().unwrap_or_default()).collect();
            format!("{base}?{}", names.iter().map(|n| format!("{n}=…")).collect::<Vec<_>>().join("&"))
        }
        None => url.to_owned(),
    }
}

fn labels(value: Option<&Value>) -> BTreeMap<String, String> {
    value
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::source::Source;

    #[test]
    fn urls_with_credentials_or_other_schemes_are_refused() {
        let with = |url: &str| PrometheusConfig { url: url.into(), ..PrometheusConfig::default() }.validate();
        assert!(with("http://prometheus:9090").is_empty());
        assert!(with("http://admin:hunter2@prometheus:9090")[0].contains("carries credentials"));
        assert!(with("file:///etc/passwd")[0].contains("scheme `file` is not http or https"));
        assert!(
            with("ftp://u:pw@host")[0].contains("carries credentials") && !with("ftp://u:pw@host")[0].contains("pw")
        );
        assert!(with("")[0].starts_with("url: not a URL"));
    }
}
