//! Bearer tokens and roles.
//!
//! Tokens live in day2.yaml as their SHA-256 (`serve.tokens`), so the file holds no secret and can sit in Git. A
//! request presents `Authorization: Bearer <token>`; its hash is compared with every configured one in constant time.
//! With no tokens configured the API is read-only: reads are open and every mutating endpoint answers 401 saying how
//! to configure one. Roles are ordered (viewer < operator < approver < admin); an endpoint names the least role it
//! needs.

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use day2_engine::config::{Role, ServeConfig};
use serde_json::json;
use sha2::{Digest, Sha256};

/// The prefix of tokens `day2 token` makes, so secret scanners can recognise a leaked one.
const PREFIX: &str = "day2_";

/// A new random token (32 bytes from the operating system, hex).
pub fn new_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(format!("{PREFIX}{}", hex::encode(bytes)))
}

/// The SHA-256 of a token, in hex, as `serve.tokens[].sha256` holds it.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Who made a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Caller {
    /// The token's name; `anonymous` when no tokens are configured.
    pub name: String,
    pub role: Role,
}

/// The configured tokens, hashed.
pub(crate) struct Tokens {
    tokens: Vec<(String, Role, [u8; 32])>,
    metrics_need_token: bool,
}

/// Why a request is refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// No token, an unknown one, or no tokens configured for an endpoint that needs one: 401.
    Unauthenticated(String),
    /// A valid token whose role is too low: 403.
    Forbidden(String),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Unauthenticated(message) => (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer realm=\"day2\"")],
                Json(json!({"error": message})),
            )
                .into_response(),
            Refusal::Forbidden(message) => (StatusCode::FORBIDDEN, Json(json!({"error": message}))).into_response(),
        }
    }
}

impl Tokens {
    pub(crate) fn new(config: &ServeConfig) -> Tokens {
        let tokens = config
            .tokens
            .iter()
            .filter_map(|t| {
                let mut hash = [0u8; 32];
                // Validated when the configuration was loaded; a malformed hash simply matches nothing.
                hex::decode_to_slice(&t.sha256, &mut hash).ok()?;
                Some((t.name.clone(), t.role, hash))
            })
            .collect();
        Tokens { tokens, metrics_need_token: config.metrics_need_token }
    }

    /// Whether `/metrics` needs a viewer token.
    pub(crate) fn metrics_need_token(&self) -> bool {
        self.metrics_need_token && !self.tokens.is_empty()
    }

    /// The caller of a request that needs `least`, or why it is refused.
    pub(crate) fn authorize(&self, headers: &HeaderMap, least: Role) -> Result<Caller, Refusal> {
        if self.tokens.is_empty() {
            if least == Role::Viewer {
                return Ok(Caller { name: "anonymous".to_owned(), role: Role::Viewer });
            }
            return Err(Refusal::Unauthenticated(
                "this endpoint changes state and no API tokens are configured: add one to serve.tokens in day2.yaml \
                 (`day2 token --name NAME --role ROLE` makes it)"
                    .to_owned(),
            ));
        }
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| Refusal::Unauthenticated("send `Authorization: Bearer <token>`".to_owned()))?;
        let hash: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        // Every configured token is compared, each in constant time, so timing says nothing about which one is near.
        let found = self.tokens.iter().fold(None, |found, (name, role, known)| {
            let equal = known.iter().zip(&hash).fold(0u8, |diff, (a, b)| diff | (a ^ b)) == 0;
            if equal { Some((name, *role)) } else { found }
        });
        let Some((name, role)) = found else {
            return Err(Refusal::Unauthenticated("the token is not one of serve.tokens".to_owned()));
        };
        if role < least {
            return Err(Refusal::Forbidden(format!(
                "token `{name}` has role {}; this endpoint needs {} or above",
                role.as_str(),
                least.as_str()
            )));
        }
        Ok(Caller { name: name.clone(), role })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use day2_engine::config::ApiToken;

    fn headers(token: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, format!("Bearer {token}").parse().unwrap());
        headers
    }

    #[test]
    fn roles_are_ordered_and_tokens_are_matched_by_hash() {
        let token = new_token().unwrap();
        assert!(token.starts_with("day2_") && token.len() == 5 + 64);
        let config = ServeConfig {
            tokens: vec![ApiToken { name: "ci".into(), role: Role::Operator, sha256: token_hash(&token) }],
            metrics_need_token: false,
            ..ServeConfig::default()
        };
        let tokens = Tokens::new(&config);
        let caller = tokens.authorize(&headers(&token), Role::Operator).unwrap();
        assert_eq!((caller.name.as_str(), caller.role), ("ci", Role::Operator));
        assert!(tokens.authorize(&headers(&token), Role::Viewer).is_ok());
        assert!(matches!(tokens.authorize(&headers(&token), Role::Admin), Err(Refusal::Forbidden(_))));
        assert!(matches!(tokens.authorize(&headers("day2_guess"), Role::Viewer), Err(Refusal::Unauthenticated(_))));
        assert!(matches!(tokens.authorize(&HeaderMap::new(), Role::Viewer), Err(Refusal::Unauthenticated(_))));
    }

    #[test]
    fn without_tokens_reads_are_open_and_changes_are_refused() {
        let tokens = Tokens::new(&ServeConfig::default());
        assert_eq!(tokens.authorize(&HeaderMap::new(), Role::Viewer).unwrap().name, "anonymous");
        let refusal = tokens.authorize(&headers("anything"), Role::Operator).unwrap_err();
        assert!(matches!(refusal, Refusal::Unauthenticated(m) if m.contains("serve.tokens")));
    }
}
