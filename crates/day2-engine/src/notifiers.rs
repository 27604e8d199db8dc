//! The registry of notifiers: every kind of destination `day2 serve` tells about findings, in one flat list.
//!
//! One entry of `notifications:` in day2.yaml is a name, a route and exactly one destination key
//! (`webhook: {url: …}`); [`NotifierConfig::destination`] gives that destination as one variant of
//! [`Destination`], which the server turns into the delivery of its module (`day2_server::notify::<kind>`). Adding a
//! notifier is: its config struct here, one line in the list below, and its delivery file in the server.

use serde::{Deserialize, Serialize};

use crate::config::RouteConfig;

/// Declares [`NotifierConfig`] (one optional key per kind, so the YAML names the kind) and [`Destination`] from one
/// list of `Variant(key: ConfigType)` lines.
macro_rules! notifiers {
    ($( $(#[$doc:meta])* $variant:ident($key:ident: $config:ty), )*) => {
        /// One notifier (`notifications[]`): a name, a route, and exactly one destination.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct NotifierConfig {
            /// Unique name: logs, and where delivery resumes after a restart.
            pub name: String,
            /// Which findings it is told about.
            #[serde(default)]
            pub route: RouteConfig,
            $( $(#[$doc])* pub $key: Option<$config>, )*
        }

        /// Where a notifier delivers.
        #[derive(Debug, Clone, Copy, PartialEq)]
        pub enum Destination<'a> {
            $( $(#[$doc])* $variant(&'a $config), )*
        }

        impl NotifierConfig {
            /// The destinations given (validation says there must be exactly one).
            pub fn destinations(&self) -> Vec<Destination<'_>> {
                let mut given = Vec::new();
                $( if let Some(config) = &self.$key { given.push(Destination::$variant(config)); } )*
                given
            }

            /// The keys a destination may be given under.
            pub const KINDS: &[&str] = &[$( stringify!($key), )*];
        }

        impl Destination<'_> {
            /// What is wrong with its settings.
            fn validate(&self) -> Vec<String> {
                match self { $( Destination::$variant(config) => config.validate(), )* }
            }
        }
    };
}

notifiers! {
    /// Alertmanager destination.
    Alertmanager(alertmanager: AlertmanagerConfig),
    /// Webhook destination.
    Webhook(webhook: WebhookConfig),
    /// Slack destination.
    Slack(slack: SlackConfig),
    /// PagerDuty destination.
    PagerDuty(pagerduty: PagerDutyConfig),
}

impl NotifierConfig {
    /// The one destination, once validated.
    pub fn destination(&self) -> Option<Destination<'_>> {
        match self.destinations().as_slice() {
            [one] => Some(*one),
            _ => None,
        }
    }
}

/// A destination URL must be http(s).
fn http_url(url: &str) -> Vec<String> {
    if url.starts_with("http://") || url.starts_with("https://") {
        Vec::new()
    } else {
        vec![format!("`{url}` is not an http(s) URL")]
    }
}

/// Alertmanager API v2: open findings are alerts (re-sent every minute, as Prometheus does), resolved ones end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerConfig {
    /// Base URL (`http://alertmanager:9093`); alerts go to `<url>/api/v2/alerts`, labelled `alertname` (the rule),
    /// `severity`, `domain`, `resource`, `finding`, `team` and `service`.
    pub url: String,
}

/// A generic webhook: one POST per lifecycle event, its JSON body signed with HMAC-SHA256.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Where to POST `{event_id, transition, at, finding}`, one request per lifecycle event (`X-Day2-Event` carries
    /// the event id, for deduplication).
    pub url: String,
    /// Environment variable holding the signing secret; the signature goes in `X-Day2-Signature: sha256=<hex>`.
    pub secret_env: Option<String>,
}

/// A Slack incoming webhook: one message per lifecycle event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    /// Environment variable holding the webhook URL (it is a secret).
    pub url_env: String,
}

/// PagerDuty Events API v2: an opened finding triggers, a resolved one resolves, deduplicated by finding id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PagerDutyConfig {
    /// Environment variable holding the integration's routing key.
    pub routing_key_env: String,
    /// Events API endpoint. Default `https://events.pagerduty.com/v2/enqueue`.
    #[serde(default = "PagerDutyConfig::default_url")]
    pub url: String,
}

impl PagerDutyConfig {
    fn default_url() -> String {
        "https://events.pagerduty.com/v2/enqueue".to_owned()
    }
}

impl AlertmanagerConfig {
    fn validate(&self) -> Vec<String> {
        http_url(&self.url)
    }
}

impl WebhookConfig {
    fn validate(&self) -> Vec<String> {
        http_url(&self.url)
    }
}

impl SlackConfig {
    fn validate(&self) -> Vec<String> {
        Vec::new()
    }
}

impl PagerDutyConfig {
    fn validate(&self) -> Vec<String> {
        http_url(&self.url)
    }
}

/// Names given once each, and exactly one valid destination per notifier.
pub(crate) fn validate(notifiers: &[NotifierConfig]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut names = std::collections::BTreeSet::new();
    for (i, n) in notifiers.iter().enumerate() {
        if n.name.trim().is_empty() || !names.insert(n.name.as_str()) {
            problems.push(format!("notifications[{i}].name: must be given and unique"));
        }
        let destinations = n.destinations();
        if destinations.len() != 1 {
            problems.push(format!("notifications[{i}]: give exactly one of {}", NotifierConfig::KINDS.join(", ")));
        }
        for destination in destinations {
            problems.extend(destination.validate().into_iter().map(|p| format!("notifications[{i}]: {p}")));
        }
    }
    problems
}
