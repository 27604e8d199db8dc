//! A generic webhook: one POST per lifecycle event, `{event_id, transition, at, finding}`, signed with HMAC-SHA256
//! when a secret is configured (`X-Day2-Signature: sha256=<hex>`, `X-Day2-Event: <id>`).

use day2_engine::config::WebhookConfig;
use day2_store::FindingEvent;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use super::{Deliver, NotifierError, Request, env};

pub(super) struct Webhook {
    url: String,
    secret: Option<Vec<u8>>,
}

impl Webhook {
    pub(super) fn new(config: &WebhookConfig, notifier: &str) -> Result<Self, NotifierError> {
        let secret = config.secret_env.as_deref().map(|v| env(v, "the signing secret", notifier)).transpose()?;
        Ok(Webhook { url: config.url.clone(), secret: secret.map(String::into_bytes) })
    }
}

impl Deliver for Webhook {
    fn request(&self, event: &FindingEvent) -> Request<'_> {
        let body = json!({
            "event_id": event.id,
            "transition": event.transition.as_str(),
            "at": event.at,
            "finding": event.finding,
        });
        let mut request = Request::json(&self.url, &body);
        if let Some(secret) = &self.secret {
            let signature = format!("sha256={}", sign(secret, &request.body));
            request.headers.push(("x-day2-signature", signature));
            request.headers.push(("x-day2-event", event.id.to_string()));
        }
        request
    }
}

/// HMAC-SHA256 of the body, hex: what `X-Day2-Signature: sha256=…` carries.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else { return String::new() };
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmac_sha256() {
        // RFC 4231, test case 2.
        let mac = sign(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(mac, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }
}
