//! Alertmanager API v2: open findings are alerts, re-sent every minute as Prometheus does (Alertmanager ends alerts
//! it stops hearing about), labelled `alertname` (the rule), `severity`, `domain`, `resource`, `finding`, `team` and
//! `service`; a resolved or suppressed finding ends its alert.

use chrono::Utc;
use day2_engine::config::AlertmanagerConfig;
use day2_model::Finding;
use day2_store::{FindingEvent, Transition};
use serde_json::{Value, json};

use super::{Deliver, Request};

/// How long past its last sending an alert lives unless re-sent.
const ALERT_LIFETIME_MINUTES: i64 = 5;

pub(super) struct Alertmanager {
    url: String,
}

impl Alertmanager {
    pub(super) fn new(config: &AlertmanagerConfig) -> Self {
        Alertmanager { url: format!("{}/api/v2/alerts", config.url.trim_end_matches('/')) }
    }
}

impl Deliver for Alertmanager {
    fn request(&self, event: &FindingEvent) -> Request<'_> {
        Request::json(&self.url, &json!([alert(&event.finding, Some(event))]))
    }

    fn resends(&self) -> bool {
        true
    }

    fn resend(&self, open: &[&Finding]) -> Option<Request<'_>> {
        let alerts: Vec<Value> = open.iter().map(|f| alert(f, None)).collect();
        (!alerts.is_empty()).then(|| Request::json(&self.url, &Value::Array(alerts)))
    }
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
