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

use day2_engine::config::{Destination, NotifierConfig, RouteConfig};
use day2_model::{Finding, FindingStatus};
use day2_store::{FindingEvent, FindingQuery, Store, Transition};

use crate::{State, lease};

mod alertmanager;
mod pagerduty;
mod slack;
mod webhook;

pub use webhook::sign;

/// How often open findings are re-sent to destinations that want it (Alertmanager).
const RESEND: Duration = Duration::from_secs(60);
/// How often the lifecycle log is looked at for events this replica did not record.
const POLL: Duration = Duration::from_secs(1);

/// A destination's delivery: one file per kind, built from its config (`day2_engine::notifiers`).
trait Deliver: Send + Sync {
    /// The request that tells about one lifecycle event.
    fn request(&self, event: &FindingEvent) -> Request<'_>;

    /// Whether it forgets what it stops hearing about, so the open findings are re-sent every minute.
    fn resends(&self) -> bool {
        false
    }

    /// The request that re-sends what is open (the findings the route selects); None when there is nothing to send
    /// or the destination does not want it.
    fn resend(&self, _open: &[&Finding]) -> Option<Request<'_>> {
        None
    }
}

/// One POST: where, the JSON body, and extra headers.
struct Request<'a> {
    url: &'a str,
    body: Vec<u8>,
    headers: Vec<(&'static str, String)>,
}

impl<'a> Request<'a> {
    fn json(url: &'a str, body: &serde_json::Value) -> Self {
        Request { url, body: serde_json::to_vec(body).unwrap_or_default(), headers: Vec::new() }
    }
}

/// A notifier ready to deliver: its route and destination, with secrets read from the environment.
pub(crate) struct Notifier {
    name: String,
    route: RouteConfig,
    destination: Box<dyn Deliver>,
}

/// Why a delivery failed: worth retrying, or not.
#[derive(Debug)]
enum Failure {
    Retry(String),
    Permanent(String),
}

/// Why a notifier cannot be set up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifierError {
    /// A secret's environment variable is not set (the value is never part of an error).
    #[error("notifications `{notifier}`: {what} is read from ${variable}, which is not set")]
    Unset {
        /// The notifier's name.
        notifier: String,
        /// What the variable holds.
        what: &'static str,
        /// The variable.
        variable: String,
    },
    /// No destination, or several (validation refuses both; this is the guard behind it).
    #[error("notifications `{0}`: give exactly one destination")]
    Destination(String),
}

/// A secret from the environment; unset is an error naming the variable (never the value).
fn env(variable: &str, what: &'static str, notifier: &str) -> Result<String, NotifierError> {
    std::env::var(variable).map_err(|_| NotifierError::Unset {
        notifier: notifier.to_owned(),
        what,
        variable: variable.to_owned(),
    })
}

impl Notifier {
    /// The notifier of a configuration entry; an unset secret variable is an error naming it.
    pub(crate) fn new(config: &NotifierConfig) -> Result<Notifier, NotifierError> {
        let name = &config.name;
        let destination: Box<dyn Deliver> = match config.destination() {
            Some(Destination::Alertmanager(c)) => Box::new(alertmanager::Alertmanager::new(c)),
            Some(Destination::Webhook(c)) => Box::new(webhook::Webhook::new(c, name)?),
            Some(Destination::Slack(c)) => Box::new(slack::Slack::new(c, name)?),
            Some(Destination::PagerDuty(c)) => Box::new(pagerduty::PagerDuty::new(c, name)?),
            None => return Err(NotifierError::Destination(name.clone())),
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

    async fn deliver(&self, client: &reqwest::Client, event: &FindingEvent) -> Result<(), Failure> {
        send(client, self.destination.request(event)).await
    }

    /// Re-sends every open finding it routes, to a destination that wants it.
    async fn resend_open(&self, client: &reqwest::Client, store: &dyn Store) -> Result<(), Failure> {
        if !self.destination.resends() {
            return Ok(());
        }
        let open = store.findings(&FindingQuery::default()).await.map_err(|e| Failure::Retry(e.to_string()))?;
        let routed: Vec<&Finding> = open.iter().filter(|f| self.routes(f)).collect();
        match self.destination.resend(&routed) {
            Some(request) => send(client, request).await,
            None => Ok(()),
        }
    }
}

async fn send(client: &reqwest::Client, request: Request<'_>) -> Result<(), Failure> {
    let mut builder = client.post(request.url).header("content-type", "application/json");
    for (name, value) in request.headers {
        builder = builder.header(name, value);
    }
    // Without the URL: a Slack webhook URL is a secret and errors end up in logs.
    let response = builder.body(request.body).send().await.map_err(|e| Failure::Retry(e.without_url().to_string()))?;
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
                // Runs recorded by another replica (the one holding the check or drift job) are seen within a second.
                () = tokio::time::sleep(POLL) => {}
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
pub(crate) mod tests {
    use super::*;
    use chrono::Utc;
    use day2_model::Severity;
    use day2_testkit::build::{finding, resource};

    /// A lifecycle event of a high drift finding owned by team shop.
    pub(crate) fn event(transition: Transition) -> FindingEvent {
        let mut f = finding("DRIFT-CHANGED", &resource("cart", "live"));
        f.severity = Severity::High;
        f.owner.team = Some("shop".into());
        FindingEvent { id: 7, run_id: 3, at: Utc::now(), transition, previous: None, finding: f }
    }

    fn alertmanager(route: RouteConfig) -> NotifierConfig {
        NotifierConfig {
            name: "n".into(),
            route,
            alertmanager: Some(day2_engine::config::AlertmanagerConfig { url: "http://am:9093".into() }),
            webhook: None,
            slack: None,
            pagerduty: None,
        }
    }

    #[test]
    fn routes_filter_by_severity_domain_and_team() {
        let opened = event(Transition::Opened);
        let wants = |route| Notifier::new(&alertmanager(route)).unwrap().wants(&opened);
        assert!(wants(RouteConfig::default()));
        assert!(!wants(RouteConfig { min_severity: Severity::Critical, ..RouteConfig::default() }));
        assert!(!wants(RouteConfig { teams: vec!["payments".into()], ..RouteConfig::default() }));
        assert!(!wants(RouteConfig { domains: vec![day2_model::Domain::Cost], ..RouteConfig::default() }));
        let mut resolved_suppressed = event(Transition::Resolved);
        resolved_suppressed.previous = Some("suppressed".into());
        assert!(!Notifier::new(&alertmanager(RouteConfig::default())).unwrap().wants(&resolved_suppressed));
    }

    #[test]
    fn only_alertmanager_hears_the_open_findings_again() {
        let open = event(Transition::Opened).finding;
        let am = Notifier::new(&alertmanager(RouteConfig::default())).unwrap();
        let resent = am.destination.resend(&[&open]).unwrap();
        assert_eq!(resent.url, "http://am:9093/api/v2/alerts");
        let alerts: serde_json::Value = serde_json::from_slice(&resent.body).unwrap();
        assert_eq!(alerts[0]["labels"]["alertname"], "DRIFT-CHANGED");
        let hook = NotifierConfig {
            alertmanager: None,
            webhook: Some(day2_engine::config::WebhookConfig { url: "http://hook".into(), secret_env: None }),
            ..alertmanager(RouteConfig::default())
        };
        assert!(Notifier::new(&hook).unwrap().destination.resend(&[&open]).is_none());
        let none = NotifierConfig { alertmanager: None, ..alertmanager(RouteConfig::default()) };
        assert!(Notifier::new(&none).is_err());
    }
}
