//! PagerDuty Events API v2: an opened finding triggers, a resolved one resolves, deduplicated by finding id. The
//! routing key is a secret, read from the environment.

use day2_engine::config::PagerDutyConfig;
use day2_model::Severity;
use day2_store::{FindingEvent, Transition};
use serde_json::{Value, json};

use super::{Deliver, NotifierError, Request, env};

pub(super) struct PagerDuty {
    url: String,
    routing_key: String,
}

impl PagerDuty {
    pub(super) fn new(config: &PagerDutyConfig, notifier: &str) -> Result<Self, NotifierError> {
        Ok(PagerDuty {
            url: config.url.clone(),
            routing_key: env(&config.routing_key_env, "the routing key", notifier)?,
        })
    }
}

impl Deliver for PagerDuty {
    fn request(&self, event: &FindingEvent) -> Request<'_> {
        Request::json(&self.url, &pagerduty_event(event, &self.routing_key))
    }
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::notify::tests::event;

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
}
