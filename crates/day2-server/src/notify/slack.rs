//! A Slack incoming webhook: one message per lifecycle event. The URL is a secret, read from the environment.

use day2_engine::config::SlackConfig;
use day2_store::{FindingEvent, Transition};
use serde_json::{Value, json};

use super::{Deliver, NotifierError, Request, env};

pub(super) struct Slack {
    url: String,
}

impl Slack {
    pub(super) fn new(config: &SlackConfig, notifier: &str) -> Result<Self, NotifierError> {
        Ok(Slack { url: env(&config.url_env, "the Slack webhook URL", notifier)? })
    }
}

impl Deliver for Slack {
    fn request(&self, event: &FindingEvent) -> Request<'_> {
        Request::json(&self.url, &message(event))
    }
}

fn message(event: &FindingEvent) -> Value {
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::notify::tests::event;

    #[test]
    fn slack_says_what_and_where() {
        let text = message(&event(Transition::Opened))["text"].as_str().unwrap().to_owned();
        assert!(text.starts_with(":red_circle: *HIGH* new · DRIFT-CHANGED"), "{text}");
        assert!(text.contains("team shop"), "{text}");
        assert!(message(&event(Transition::Resolved))["text"].as_str().unwrap().contains("resolved"));
    }
}
