//! Notifications: who is told when a finding opens, reopens or resolves.
//!
//! The outbox is the store's lifecycle log (`finding_events`), written in the same transaction as the run that caused
//! it, and a cursor per notifier (`notifier_cursors`) that moves only after delivery: a crash or restart loses nothing
//! and resumes where delivery stopped (at least once; receivers deduplicate by event id, PagerDuty by `dedup_key`,
//! Alertmanager by labels). Each notifier delivers in order on its own, so one that is down holds back only itself;
//! failures are retried with doubling waits up to five minutes, and a destination that refuses an event for good
//! (a 4xx other than 408 and 429) has it logged and skipped rather than blocking the rest.
//!
//! Destinations: a generic webhook (JSON, HMAC-SHA256 signed), Slack incoming webhooks, PagerDuty Events API v2
//! (trigger/resolve) and Alertmanager API v2, to which every open finding is also re-sent each minute (as Prometheus
//! does), since Alertmanager ends alerts it stops hearing about.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use day2_engine::config::{NotifierConfig, RouteConfig};
use day2_model::{Finding, FindingStatus, Severity};
use day2_store::{FindingEvent, FindingQuery, Store, Transition};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::{State, lease};

/// How often open findings are re-sent to Alertmanager, and how long past that an alert lives unless re-sent.
const RESEND: Duration = Duration::from_secs(60);
const ALERT_LIFETIME_MINUTES: i64 = 5;

/// A notifier ready to deliver: its route and destination, with secrets read from the environment.
pub(crate) struct Notifier {
    name: String,
    route: RouteConfig,
    destination: Destination,
}

enum Destination {
    Alertmanager { url: String },
    Webhook { url: String, secret: Option<Vec<u8>> },
    Slack { url: String },
    PagerDuty { url: String, routing_key: String },
}

/// Why a delivery failed: worth retrying, or not.
#[derive(Debug)]
enum Failure {
    Retry(String),
    Permanent(String),
}

fn env(name: &str, what: &str, notifier: &str) -> Result<String, String> {
    std::env::var(name)
        .map_err(|_| format!("notifications `{notifier}`: {what} is read from ${name}, which is not set"))
}

impl Notifier {
    /// The notifier of a configuration entry; an unset secret variable is an error naming it.
    pub(crate) fn new(config: &NotifierConfig) -> Result<Notifier, String> {
        let name = &config.name;
        let destination = if let Some(a) = &config.alertmanager {
            Destination::Alertmanager { url: format!("{}/api/v2/alerts", a.url.trim_end_matches('/')) }
        } else if let Some(w) = &config.webhook {
            let secret = w.secret_env.as_deref().map(|v| env(v, "the signing secret", name)).transpose()?;
            Destination::Webhook { url: w.url.clone(), secret: secret.map(String::into_bytes) }
        } else if let Some(s) = &config.slack {
            Destination::Slack { url: env(&s.url_env, "the Slack webhook URL", name)? }
        } else if let Some(p) = &config.pagerduty {
            Destination::PagerDuty {
                url: p.url.clone(),
                routing_key: env(&p.routing_key_env, "the routing key", name)?,
            }
        } else {
            return Err(format!("notifications `{name}`: no destination"));
        };
        Ok(Notifier { name: name.clone(), route: config.route.clone(), destination })
    }

    fn routes(&self, f: &Finding) -> bool {
        let route = &self.route;
        f.severity >= route.min_severity
            && (route.domains.is_empty() || route.domains.contains(&f.domain))
            && (route.teams.is_empty() || f.owner.team.as_ref().is_some_and(|t| route.teams.contains(t)))
    }

    /// Whether this event is news for this notifier: an open finding appearing, or an open one resolving.
    fn wants(&self, event: &FindingEvent) -> bool {
        let relevant = match event.transition {
            Transition::Opened | Transition::Reopened => matches!(event.finding.status, FindingStatus::Open { .. }),
            // The finding stops being open either way: whoever was told it opened is told it ended.
            Transition::Resolved | Transition::Suppressed => event.previous.as_deref() == Some("open"),
        };
        relevant && self.routes(&event.finding)
    }

    /// The request for one event: URL and JSON body.
    fn request(&self, event: &FindingEvent) -> (&str, Value) {
        match &self.destination {
            Destination::Alertmanager { url } => (url, json!([alert(&event.finding, Some(event))])),
            Destination::Webhook { url, .. } => (url, webhook_body(event)),
            Destination::Slack { url } => (url, slack_message(event)),
            Destination::PagerDuty { url, routing_key } => (url, pagerduty_event(event, routing_key)),
        }
    }

    async fn deliver(&self, client: &reqwest::Client, event: &FindingEvent) -> Result<(), Failure> {
        let (url, body) = self.request(event);
        let body = serde_json::to_vec(&body).map_err(|e| Failure::Permanent(e.to_string()))?;
        let mut request = client.post(url).header("content-type", "application/json");
        if let Destination::Webhook { secret: Some(secret), .. } = &self.destination {
            request = request
                .header("x-day2-signature", format!("sha256={}", sign(secret, &body)))
                .header("x-day2-event", event.id.to_string());
        }
        send(request.body(body)).await
    }

    /// Re-sends every open finding it routes to Alertmanager, which ends alerts it stops hearing about.
    async fn resend_open(&self, client: &reqwest::Client, store: &dyn Store) -> Result<(), Failure> {
        let Destination::Alertmanager { url } = &self.destination else { return Ok(()) };
        let open = store.findings(&FindingQuery::default()).await.map_err(|e| Failure::Retry(e.to_string()))?;
        let alerts: Vec<Value> = open.iter().filter(|f| self.routes(f)).map(|f| alert(f, None)).collect();
        if alerts.is_empty() {
            return Ok(());
        }
        send(client.post(url).json(&alerts)).await
    }
}

async fn send(request: reqwest::RequestBuilder) -> Result<(), Failure> {
    // Without the URL: a Slack webhook URL is a secret and errors end up in logs.
    let response = request.send().await.map_err(|e| Failure::Retry(e.without_url().to_string()))?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let text = response.text().await.unwrap_or_default();
    let message = format!("HTTP {status}: {}", text.chars().take(300).collect::<String>());
    if status.is_client_error() && status.as_u16() != 408 && status.as_u16() != 429 {
        Err(Failure::Permanent(message))
    } else {
        Err(Failure::Retry(message))
    }
}

/// HMAC-SHA256 of the body, hex: what `X-Day2-Signature: sha256=…` carries.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else { return String::new() };
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

fn webhook_body(event: &FindingEvent) -> Value {
    json!({
        "event_id": event.id,
        "transition": event.transition.as_str(),
        "at": event.at,
        "finding": event.finding,
    })
}

/// An Alertmanager alert: ending when the finding resolved or was suppressed, else a few minutes ahead (re-sent).
fn alert(f: &Finding, event: Option<&FindingEvent>) -> Value {
    let mut labels = serde_json::Map::new();
    for (key, value) in [
        ("alertname", Some(f.rule_id.as_str())),
        ("severity", Some(f.severity.as_str())),
        ("domain", Some(f.domain.as_str())),
        ("resource", Some(f.resource.as_str())),
        ("finding", Some(f.id.as_str())),
        ("team", f.owner.team.as_deref()),
        ("service", f.owner.service.as_deref()),
    ] {
        if let Some(value) = value {
            labels.insert(key.to_owned(), json!(value));
        }
    }
    let ended = event.and_then(|e| match e.transition {
        Transition::Resolved => Some(f.resolved_at.unwrap_or(e.at)),
        Transition::Suppressed => Some(e.at),
        Transition::Opened | Transition::Reopened => None,
    });
    let ends_at = ended.unwrap_or_else(|| Utc::now() + chrono::Duration::minutes(ALERT_LIFETIME_MINUTES));
    json!({
        "labels": labels,
        "annotations": {"summary": f.title, "description": f.message, "remediation": f.remediation},
        "startsAt": f.first_seen,
        "endsAt": ends_at,
    })
}

fn slack_message(event: &FindingEvent) -> Value {
    let f = &event.finding;
    let (mark, verb) = match event.transition {
        Transition::Opened => (":red_circle:", "new"),
        Transition::Reopened => (":red_circle:", "back"),
        Transition::Resolved => (":white_check_mark:", "resolved"),
        Transition::Suppressed => (":white_check_mark:", "suppressed"),
    };
    let place = match (&f.file, f.line) {
        (Some(file), Some(line)) => format!(" ({file}:{line})"),
        _ => String::new(),
    };
    let team = f.owner.team.as_deref().map(|t| format!(" · team {t}")).unwrap_or_default();
    json!({"text": format!(
        "{mark} *{}* {verb} · {} · `{}`{place}{team}\n{}",
        f.severity.as_str().to_uppercase(), f.rule_id, f.resource, f.message
    )})
}

fn pagerduty_event(event: &FindingEvent, routing_key: &str) -> Value {
    let f = &event.finding;
    let action = match event.transition {
        Transition::Opened | Transition::Reopened => "trigger",
        Transition::Resolved | Transition::Suppressed => "resolve",
    };
    let severity = match f.severity {
        Severity::Critical => "critical",
        Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "info",
    };
    let summary: String = format!("[{}] {}: {}", f.rule_id, f.resource, f.message).chars().take(1024).collect();
    json!({
        "routing_key": routing_key,
        "event_action": action,
        "dedup_key": f.id.as_str(),
        "payload": {
            "summary": summary, "source": f.resource.as_str(), "severity": severity, "timestamp": event.at,
            "component": f.kind, "group": f.owner.team, "class": f.rule_id,
            "custom_details": {"message": f.message, "file": f.file, "line": f.line, "remediation": f.remediation},
        },
    })
}

/// Runs every configured notifier until the server stops, rebuilding them after each reload.
pub(crate) async fn run(state: Arc<State>) {
    loop {
        let loaded = state.loaded();
        let notifiers: Vec<Notifier> = loaded
            .config
            .notifications
            .iter()
            .filter_map(|config| {
                Notifier::new(config).map_err(|e| tracing::error!(error = %e, "Notifier not started.")).ok()
            })
            .collect();
        // Deliveries never end; with no notifiers there is nothing to do until a reload.
        let deliveries = async {
            futures::future::join_all(notifiers.iter().map(|n| deliver_all(&state, n))).await;
            std::future::pending::<()>().await;
        };
        tokio::select! {
            () = deliveries => {}
            () = state.reloaded_notifiers.notified() => tracing::debug!("Rebuilding notifiers after a reload."),
        }
    }
}

/// Delivers the lifecycle log to one notifier, in order, forever.
async fn deliver_all(state: &State, notifier: &Notifier) {
    let client = match reqwest::Client::builder().timeout(Duration::from_secs(10)).build() {
        Ok(client) => client,
        Err(e) => return tracing::error!(notifier = %notifier.name, error = %e, "Cannot build an HTTP client."),
    };
    let store: &dyn Store = state.store.as_ref();
    let mut cursor = None;
    // Alertmanager hears about open findings at once after a start, then every minute.
    let mut last_resend: Option<tokio::time::Instant> = None;
    loop {
        // Another replica delivers while it holds the lease; this one takes over where that one's cursor stands.
        if !state.leases.holds(lease::NOTIFY) {
            let changed = state.leases.changed.notified();
            if !state.leases.holds(lease::NOTIFY) {
                changed.await;
            }
            cursor = None;
            last_resend = None;
            continue;
        }
        let Some(from) = cursor else {
            cursor = Some(read_cursor(store, notifier).await);
            continue;
        };
        // Listen before looking, so a run recorded in between is not missed.
        let recorded = state.recorded.notified();
        tokio::pin!(recorded);
        recorded.as_mut().enable();
        let events = store.events_after(from, 100).await.unwrap_or_else(|e| {
            tracing::warn!(notifier = %notifier.name, error = %e, "Cannot read the lifecycle log.");
            Vec::new()
        });
        for event in &events {
            // Handed over meanwhile: the new holder goes on from the stored position.
            if !state.leases.holds(lease::NOTIFY) {
                break;
            }
            if notifier.wants(event) {
                deliver_one(&client, notifier, event).await;
            }
            // Delivered (or not for this notifier) either way: an unrecorded position only means a repeat after a
            // restart, never a loop now.
            if let Err(e) = store.advance_notifier(&notifier.name, event.id).await {
                tracing::warn!(notifier = %notifier.name, error = %e, "Cannot record delivery; it may repeat after a restart.");
            }
            cursor = Some(event.id);
        }
        if last_resend.is_none_or(|at| at.elapsed() >= RESEND) {
            if let Err(e) = notifier.resend_open(&client, store).await {
                tracing::warn!(notifier = %notifier.name, error = ?e, "Cannot re-send open findings.");
            }
            last_resend = Some(tokio::time::Instant::now());
        }
        if events.is_empty() {
            tokio::select! {
                () = recorded => {}
                () = tokio::time::sleep(RESEND) => {}
                // Lost and maybe regained while waiting: another replica may have delivered; read the position again.
                () = state.leases.changed.notified() => cursor = None,
            }
        }
    }
}

/// Where a notifier stands in the lifecycle log, asked until the store answers.
async fn read_cursor(store: &dyn Store, notifier: &Notifier) -> i64 {
    let mut pause = Duration::from_secs(1);
    loop {
        match store.notifier_cursor(&notifier.name).await {
            Ok(cursor) => return cursor,
            Err(e) => {
                tracing::warn!(notifier = %notifier.name, error = %e, "Cannot read the notifier's position; retrying.");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(300));
            }
        }
    }
}

/// Delivers one event, retrying with doubling waits until it is accepted or refused for good.
async fn deliver_one(client: &reqwest::Client, notifier: &Notifier, event: &FindingEvent) {
    let mut pause = Duration::from_secs(1);
    loop {
        match notifier.deliver(client, event).await {
            Ok(()) => {
                tracing::info!(notifier = %notifier.name, event = event.id, finding = %event.finding.id, transition = event.transition.as_str(), "Notified.");
                return;
            }
            Err(Failure::Permanent(e)) => {
                tracing::error!(notifier = %notifier.name, event = event.id, error = %e, "The destination refused the event; skipped.");
                return;
            }
            Err(Failure::Retry(e)) => {
                tracing::warn!(notifier = %notifier.name, event = event.id, error = %e, retry_in_s = pause.as_secs(), "Delivery failed; retrying.");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(300));
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use day2_testkit::build::{finding, resource};

    fn event(transition: Transition) -> FindingEvent {
        let mut f = finding("DRIFT-CHANGED", &resource("cart", "live"));
        f.severity = Severity::High;
        f.owner.team = Some("shop".into());
        FindingEvent { id: 7, run_id: 3, at: Utc::now(), transition, previous: None, finding: f }
    }

    #[test]
    fn pagerduty_triggers_and_resolves_by_finding() {
        let opened = pagerduty_event(&event(Transition::Opened), "key");
        assert_eq!((opened["event_action"].as_str(), opened["routing_key"].as_str()), (Some("trigger"), Some("key")));
        assert_eq!(opened["payload"]["severity"], "error");
        assert_eq!(opened["payload"]["group"], "shop");
        let resolved = pagerduty_event(&event(Transition::Resolved), "key");
        assert_eq!(resolved["event_action"], "resolve");
        assert_eq!(resolved["dedup_key"], opened["dedup_key"], "the same incident");
    }

    #[test]
    fn slack_says_what_and_where() {
        let text = slack_message(&event(Transition::Opened))["text"].as_str().unwrap().to_owned();
        assert!(text.starts_with(":red_circle: *HIGH* new · DRIFT-CHANGED"), "{text}");
        assert!(text.contains("team shop"), "{text}");
        assert!(slack_message(&event(Transition::Resolved))["text"].as_str().unwrap().contains("resolved"));
    }

    #[test]
    fn signatures_are_hmac_sha256() {
        // RFC 4231, test case 2.
        let mac = sign(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(mac, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }

    #[test]
    fn routes_filter_by_severity_domain_and_team() {
        let config = |route: RouteConfig| NotifierConfig {
            name: "n".into(),
            route,
            alertmanager: Some(day2_engine::config::AlertmanagerConfig { url: "http://am:9093".into() }),
            webhook: None,
            slack: None,
            pagerduty: None,
        };
        let opened = event(Transition::Opened);
        let wants = |route| Notifier::new(&config(route)).unwrap().wants(&opened);
        assert!(wants(RouteConfig::default()));
        assert!(!wants(RouteConfig { min_severity: Severity::Critical, ..RouteConfig::default() }));
        assert!(!wants(RouteConfig { teams: vec!["payments".into()], ..RouteConfig::default() }));
        assert!(!wants(RouteConfig { domains: vec![day2_model::Domain::Cost], ..RouteConfig::default() }));
        let mut resolved_suppressed = event(Transition::Resolved);
        resolved_suppressed.previous = Some("suppressed".into());
        assert!(!Notifier::new(&config(RouteConfig::default())).unwrap().wants(&resolved_suppressed));
    }
}
