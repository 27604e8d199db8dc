//! The one redaction rule set: what counts as a credential, and how it is replaced before anything reads it.
//!
//! Collectors call [`redact_kubernetes`] and [`redact_tree`] on every object as it is read, so no check, policy,
//! drift, report, store, API answer, notification or log ever holds a credential's value. A value is replaced by a
//! token, `day2:secret:` and 16 hex digits of an HMAC-SHA256 ([`Redactor::process`]) under the store's key when a
//! store is used (`--store`, `day2 serve`: [`Redactor::install`], so tokens stay the same across runs and replicas),
//! else under a random key of the process. Equal values give equal tokens, so drift still sees that a secret changed
//! (and says so without either value); a token reveals nothing to whoever lacks the key, which is kept in the store
//! and never queryable. Which values are credentials:
//! - every value of a Secret's `data` and `stringData`, whatever their shape (map, list, string);
//! - a value whose key, environment variable name or command-line flag looks like a credential ([`secret_name`]:
//!   `PASSWORD`, `api_key`, `--db-password`, not `passwordFile` or `secretName`) and is written out ([`is_literal`]);
//! - a value that is a credential whatever its name ([`credential_value`]: PEM private keys, URLs with a password,
//!   AWS access keys, GitHub, Slack and Stripe tokens), and configuration text that assigns one
//!   ([`embedded_secret_assignment`]);
//! - inside `kubectl.kubernetes.io/last-applied-configuration`, the copy of the object, by the same rules.
//!
//! The same predicates drive day2's secret checks (K8S-SEC-001/003/007), which see tokens where the values were and
//! report them as credentials written in clear.

use std::sync::OnceLock;

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

/// What every token starts with.
pub const TOKEN_PREFIX: &str = "day2:secret:";

/// The annotation `kubectl apply` writes: a copy of the whole object, Secret values included.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The key of this process's redactor.
static PROCESS: OnceLock<Redactor> = OnceLock::new();

/// Replaces credentials with keyed tokens.
#[derive(Clone)]
pub struct Redactor {
    key: [u8; 32],
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Redactor(key hidden)")
    }
}

impl Redactor {
    /// A redactor with `key`.
    pub fn new(key: [u8; 32]) -> Self {
        Redactor { key }
    }

    /// Makes `key` (the store's) the key of [`process`](Self::process), so tokens stay the same across runs and
    /// replicas. Only before the first credential is redacted: false when a key is already in use.
    pub fn install(key: [u8; 32]) -> bool {
        PROCESS.set(Redactor { key }).is_ok()
    }

    /// The redactor of this process: the store's key when one was [`install`](Self::install)ed, else a random key
    /// made on first use.
    pub fn process() -> &'static Redactor {
        PROCESS.get_or_init(|| {
            let mut key = [0_u8; 32];
            // Without randomness the key would be guessable; an all-zero key still hides values from a reader who
            // does not know it, so a failure here (no entropy source) is logged, not fatal.
            if let Err(e) = getrandom::fill(&mut key) {
                eprintln!("warning: no randomness for the redaction key ({e}); tokens use a fixed key");
            }
            Redactor { key }
        })
    }

    /// The token that stands for `value`.
    pub fn token(&self, value: &str) -> String {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.key) else { return TOKEN_PREFIX.to_owned() };
        mac.update(value.as_bytes());
        let digest = mac.finalize().into_bytes();
        format!("{TOKEN_PREFIX}{}", hex::encode(digest.get(..8).unwrap_or_default()))
    }

    /// Replaces a value (of any type) by its token; an already redacted value stays as it is.
    pub fn replace(&self, value: &mut Value) {
        let text = match &mut *value {
            Value::String(s) if is_token(s) => return,
            Value::String(s) => std::mem::take(s),
            Value::Null => return,
            other => other.to_string(),
        };
        *value = Value::String(self.token(&text));
    }
}

/// Whether `value` is a redaction token: the prefix and exactly 16 hex digits (a value that merely starts like one
/// is still redacted).
pub fn is_token(value: &str) -> bool {
    value
        .strip_prefix(TOKEN_PREFIX)
        .is_some_and(|digest| digest.len() == 16 && digest.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Redacts a Kubernetes object: Secret data in every shape, then the rules every object gets ([`redact_tree`]),
/// then the copy of the object in the last-applied annotation.
pub fn redact_kubernetes(redactor: &Redactor, object: &mut Value) {
    if object.get("kind").and_then(Value::as_str) == Some("Secret") {
        merge_string_data(object);
        for field in ["data", "stringData"] {
            match object.get_mut(field) {
                Some(Value::Object(map)) => map.values_mut().for_each(|v| redactor.replace(v)),
                Some(Value::Array(items)) => items.iter_mut().for_each(|v| redactor.replace(v)),
                Some(v @ Value::String(_)) => redactor.replace(v),
                _ => {}
            }
        }
    }
    redact_tree(redactor, object);
    if let Some(copy) = object.pointer_mut("/metadata/annotations").and_then(|a| a.get_mut(LAST_APPLIED)) {
        match copy.as_str().map(serde_json::from_str::<Value>) {
            Some(Ok(mut parsed)) => {
                redact_kubernetes(redactor, &mut parsed);
                *copy = Value::String(parsed.to_string());
            }
            _ => redactor.replace(copy),
        }
    }
}

/// Moves a Secret's `stringData` map into `data`, base64-encoded, as the API server does on write: a declared
/// `stringData` value and the live `data` value it became then give the same token, and a change shows as drift.
fn merge_string_data(secret: &mut Value) {
    use base64::Engine;
    let Some(Value::Object(plain)) = secret.get("stringData") else { return };
    if !plain.values().all(Value::is_string) {
        return;
    }
    let encoded: Vec<(String, Value)> = plain
        .iter()
        .map(|(k, v)| {
            (k.clone(), Value::String(base64::engine::general_purpose::STANDARD.encode(v.as_str().unwrap_or_default())))
        })
        .collect();
    let Some(object) = secret.as_object_mut() else { return };
    object.remove("stringData");
    if let Value::Object(data) = object.entry("data").or_insert_with(|| Value::Object(serde_json::Map::new())) {
        data.extend(encoded);
    }
}

/// Redacts credentials anywhere in `value`: named ones (keys, `env` entries, command-line flags) and those that are
/// credentials whatever their name, and strings that hold JSON. Used for Terraform, PostgreSQL and every Kubernetes
/// object.
pub fn redact_tree(redactor: &Redactor, value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if key == LAST_APPLIED {
                    continue;
                }
                match v {
                    Value::String(s) if secret_value(key, s) => redactor.replace(v),
                    // `password: 12345678` is a credential too.
                    Value::Number(_) if secret_name(key) => redactor.replace(v),
                    Value::Array(items) if key == "command" || key == "args" => redact_flags(redactor, items),
                    // `env`, ECS `environment`, Helm `set`, Argo CD `parameters`: lists of {name, value}.
                    Value::Array(items)
                        if items.iter().any(|i| i.get("name").is_some() && i.get("value").is_some()) =>
                    {
                        redact_env(redactor, items);
                        items.iter_mut().for_each(|item| redact_tree(redactor, item));
                    }
                    _ => redact_tree(redactor, v),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| redact_tree(redactor, item)),
        Value::String(s) => {
            if let Some(json) = redacted_json(redactor, s) {
                *s = json;
            } else if credential_value(s) {
                redactor.replace(value);
            }
        }
        _ => {}
    }
}

/// A string holding a JSON object or list (an IAM policy, ECS container definitions) is redacted as the JSON it is,
/// not as lines of text (`"secretsmanager:GetSecretValue"` is an action, not an assignment): the redacted JSON when
/// anything in it changed, `None` otherwise or when it is not JSON.
fn redacted_json(redactor: &Redactor, text: &str) -> Option<String> {
    let trimmed = text.trim_start();
    if !trimmed.starts_with('{') && !trimmed.starts_with('[') {
        return None;
    }
    let mut parsed: Value = serde_json::from_str(text).ok()?;
    let before = parsed.clone();
    redact_tree(redactor, &mut parsed);
    (parsed != before).then(|| parsed.to_string())
}

/// A string under `key` that must be redacted.
fn secret_value(key: &str, value: &str) -> bool {
    // JSON text is walked as JSON by `redact_tree`, not read as lines of assignments; asked last, as it parses.
    let json = || {
        matches!(value.trim_start().as_bytes().first(), Some(b'{' | b'['))
            && serde_json::from_str::<serde::de::IgnoredAny>(value).is_ok()
    };
    (secret_name(key) && is_literal(value)) || credential_value(value) || (embedded_secret_assignment(value) && !json())
}

/// `env: [{name: DB_PASSWORD, value: …}]`: the value of a credential-named variable, and credentials written
/// inside other values (`JAVA_OPTS: -Dspring.datasource.password=…`).
fn redact_env(redactor: &Redactor, items: &mut [Value]) {
    for item in items {
        let named = item.get("name").and_then(Value::as_str).is_some_and(secret_name);
        if let Some(v) = item.get_mut("value")
            && let Some(text) = v.as_str()
        {
            if (named && is_literal(text)) || credential_value(text) {
                redactor.replace(v);
            } else if let Some(words) = redacted_words(redactor, text) {
                *v = Value::String(words);
            }
        }
    }
}

/// A command line or option string with `NAME=value` or `--flag=value` words whose name looks like a credential
/// (`sh -c "PGPASSWORD=x psql"`, `export DB_PASSWORD=x`, `-Dpassword=x`): the string with those values as tokens,
/// or `None` when there are none.
fn redacted_words(redactor: &Redactor, text: &str) -> Option<String> {
    let mut changed = false;
    let words: Vec<String> = text
        .split(' ')
        .map(|word| {
            let Some((name, value)) = word.split_once('=') else { return word.to_owned() };
            // `-Dspring.datasource.password=…` (a Java system property), `--db-password=…`, `PGPASSWORD=…`.
            let bare = name.strip_prefix("-D").unwrap_or(name.trim_start_matches('-'));
            let value_core = value.trim_matches(['"', '\'', ';']);
            if secret_name(bare) && is_literal(value_core) && !is_token(value_core) {
                changed = true;
                format!("{name}={}", redactor.token(value_core))
            } else {
                word.to_owned()
            }
        })
        .collect();
    changed.then(|| words.join(" "))
}

/// `--db-password=x` and `--db-password x` in a command line.
fn redact_flags(redactor: &Redactor, items: &mut [Value]) {
    let mut value_follows = false;
    for item in items.iter_mut() {
        let Some(text) = item.as_str().map(str::to_owned) else {
            value_follows = false;
            continue;
        };
        if value_follows && !text.starts_with('-') && is_literal(&text) {
            redactor.replace(item);
            value_follows = false;
            continue;
        }
        value_follows = false;
        let Some(flag) = text.strip_prefix('-') else {
            if credential_value(&text) {
                redactor.replace(item);
            } else if let Some(words) = redacted_words(redactor, &text) {
                *item = Value::String(words);
            }
            continue;
        };
        match flag.split_once('=') {
            Some((name, value))
                if secret_name(name.trim_start_matches('-')) && is_literal(value) && !is_token(value) =>
            {
                *item = Value::String(format!("-{name}={}", redactor.token(value)));
            }
            Some((_, value)) if is_token(value) => {}
            Some(_) if credential_value(&text) => redactor.replace(item),
            Some(_) => {}
            None => value_follows = secret_name(flag.trim_start_matches('-')),
        }
    }
}

/// Fragments of variable and key names that hold credentials (compared upper-case, with `-` and `.` read as `_`).
const SECRET_WORDS: &[&str] = &[
    "PASSWORD",
    "PASSWD",
    "PASSPHRASE",
    "SECRET",
    "TOKEN",
    "APIKEY",
    "API_KEY",
    "ACCESS_KEY",
    "PRIVATE_KEY",
    "CREDENTIAL",
    "AUTH_KEY",
    "_PWD",
    "CLIENT_KEY",
    "SIGNING_KEY",
    "ENCRYPTION_KEY",
];

/// Name suffixes that say the value is not the credential itself but a reference, a path or a setting about it.
const NOT_SECRET_SUFFIXES: &[&str] = &[
    "_FILE",
    "_PATH",
    "_DIR",
    "_NAME",
    "_REF",
    "_KEY_ID",
    "_ID",
    "_TTL",
    "_EXPIRY",
    "_EXPIRES",
    "_TIMEOUT",
    "_LENGTH",
    "_HEADER",
    "_ENABLED",
    "_VERSION",
    "_TYPE",
    "_MOUNT",
    "_ENDPOINT",
    "_URL",
    "_URI",
    "_HOST",
    "_PORT",
    "_ISSUER",
    "_AUDIENCE",
    "_SCOPE",
    "_SCOPES",
    "_ALGORITHM",
    "_POLICY",
    "_SIZE",
    "_COUNT",
    "_MAX",
    "_MIN",
    "_PREFIX",
    "_ARN",
    "_REGION",
    "_INTERVAL",
    "_DAYS",
    "_ROLE",
    // Settings about tokens and passwords (`http_tokens = "required"`, `password_reuse_prevention`).
    "_TOKENS",
    "_REQUIRED",
    "_PREVENTION",
    "_UNITS",
    "_VALIDITY",
    "_EXPIRATION",
];

/// Does a variable, key or flag name look like it holds a credential?
pub fn secret_name(name: &str) -> bool {
    // Condition keys, annotation and label keys, URLs (`token.actions.githubusercontent.com:aud`,
    // `vault.hashicorp.com/agent-inject-secret-db`): names of settings, not variables holding a credential.
    if name.contains([':', '/']) || !may_hold_a_secret_word(name) {
        return false;
    }
    // camelCase words are split too (`secretName` → `SECRET_NAME`) so that suffixes such as `_NAME` are seen.
    let mut n = String::with_capacity(name.len() + 4);
    let mut previous_lower = false;
    for c in name.chars() {
        if c.is_ascii_uppercase() && previous_lower {
            n.push('_');
        }
        previous_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        n.push(if c == '-' || c == '.' { '_' } else { c.to_ascii_uppercase() });
    }
    let n = format!("_{n}");
    n != "_PWD" && has_secret_word(&n) && !NOT_SECRET_SUFFIXES.iter().any(|s| n.ends_with(s))
}

/// Letters that every one of [`SECRET_WORDS`] contains one of, as a run without `_`.
const SECRET_WORD_CORES: &[&[u8]] = &[b"PASS", b"SECRET", b"TOKEN", b"KEY", b"CREDENTIAL", b"PWD"];

/// A quick test, without allocating, that rules out most names (`image`, `containerPort`) before the full one: the
/// full test reads the name upper-cased with `_` added between words, which keeps each run of letters.
fn may_hold_a_secret_word(name: &str) -> bool {
    let bytes = name.as_bytes();
    SECRET_WORD_CORES.iter().any(|core| bytes.windows(core.len()).any(|w| w.eq_ignore_ascii_case(core)))
}

/// Does `name` (upper case, `_`-separated, with a leading `_`) hold one of [`SECRET_WORDS`] as a whole word, or at
/// the end of a word (`DBPASSWORD`, `GITHUBTOKEN`)? A word that only starts with one is another word
/// (`TOKENREF_STRICT_MODE`, `SECRETARY`).
fn has_secret_word(name: &str) -> bool {
    SECRET_WORDS.iter().any(|w| {
        let w = w.trim_start_matches('_');
        name.match_indices(w).any(|(at, _)| {
            // What may follow the word within its word: a plural, `KEY` (`SECRETKEY`), a number (`PASSWORD2`).
            let after = name.get(at + w.len()..).unwrap_or_default();
            let after = after.strip_prefix("KEY").unwrap_or(after);
            let after = after.strip_prefix('S').unwrap_or(after);
            let after = after.trim_start_matches(|c: char| c.is_ascii_digit());
            after.is_empty() || after.starts_with('_')
        })
    })
}

/// Switch values such as `ALLOW_EMPTY_PASSWORD=no`: settings about a credential, not credentials.
const FLAG_WORDS: &[&str] =
    &["true", "false", "yes", "no", "on", "off", "enabled", "disabled", "none", "null", "0", "1"];

/// A value that is written out (not empty, not a flag, not an env/template reference, not a file path, not a
/// placeholder for the real value).
pub fn is_literal(value: &str) -> bool {
    let v = value.trim();
    !v.is_empty()
        && !FLAG_WORDS.iter().any(|w| v.eq_ignore_ascii_case(w))
        && !v.starts_with('$')
        && !v.starts_with("arn:")
        && !v.starts_with("{{")
        && !v.starts_with('/')
        && !is_placeholder(v)
}

/// `<your-api-key>`, `YOUR_TOKEN_HERE`, `xxxxxxxx`, `REPLACE_ME`, `%API_KEY%`: text that stands where a credential
/// goes, in examples and templates.
fn is_placeholder(v: &str) -> bool {
    let lower = v.to_ascii_lowercase();
    (v.starts_with('<') && v.ends_with('>'))
        || (v.starts_with('%') && v.ends_with('%') && v.len() > 2)
        || (v.len() >= 3 && v.chars().all(|c| matches!(c, 'x' | 'X' | '*' | '.' | '-' | '_')))
        || lower.starts_with("your_")
        || lower.starts_with("your-")
        || ["replace_me", "replace-me", "replaceme", "placeholder", "todo", "tbd", "<redacted>"]
            .contains(&lower.as_str())
}

/// A URL with a password in its user info (`postgres://app:s3cret@db:5432/orders`).
fn url_with_password(v: &str) -> bool {
    v.split_whitespace().any(|word| {
        let Some((_, rest)) = word.split_once("://") else { return false };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let Some((userinfo, _)) = authority.rsplit_once('@') else { return false };
        userinfo.split_once(':').is_some_and(|(_, password)| is_literal(password) && !password.starts_with('$'))
    })
}

/// Values that are credentials whatever their name: PEM private keys, well-known token formats, and tokens that
/// stand for a value already redacted.
pub fn credential_value(v: &str) -> bool {
    let prefixed = |p: &str, len: usize| v.find(p).is_some_and(|at| v.get(at..).is_some_and(|rest| rest.len() >= len));
    is_token(v)
        || (v.contains("-----BEGIN") && v.contains("PRIVATE KEY-----"))
        || url_with_password(v)
        || v.split(|c: char| !c.is_ascii_alphanumeric()).any(|w| {
            w.len() == 20
                && (w.starts_with("AKIA") || w.starts_with("ASIA"))
                && w.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        })
        || prefixed("ghp_", 36)
        || prefixed("github_pat_", 40)
        || prefixed("xoxb-", 20)
        || prefixed("xoxp-", 20)
        || prefixed("sk_live_", 20)
        || v.split_whitespace().any(|w| {
            // libpq and JDBC connection strings: `host=db password=…`, `jdbc:…;password=…`, `?password=…`.
            w.split(['?', '&', ';']).any(|kv| {
                kv.split_once('=').is_some_and(|(k, val)| k.eq_ignore_ascii_case("password") && is_literal(val))
            })
        })
}

/// Configuration text (properties, YAML, .env) that assigns a literal value to a credential-looking key.
pub fn embedded_secret_assignment(content: &str) -> bool {
    content.contains('\n')
        && content.lines().any(|line| {
            let line = line.trim();
            if line.starts_with('#') || line.starts_with("//") {
                return false;
            }
            let Some((key, value)) = line.split_once([':', '=']) else { return false };
            let key = key.trim().trim_matches(['"', '\'']);
            let value = value.trim().trim_matches(['"', '\'', ',']);
            !key.contains(' ')
                && secret_name(key)
                && is_literal(value)
                && value != "null"
                && value != "~"
                && !value.starts_with("%(")
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_secret_word_passes_the_quick_test() {
        for word in SECRET_WORDS {
            let letters = word.trim_start_matches('_');
            assert!(may_hold_a_secret_word(letters), "{word}: add its letters to SECRET_WORD_CORES");
            assert!(may_hold_a_secret_word(&letters.to_ascii_lowercase()), "{word}");
        }
    }

    #[test]
    fn secret_words_are_whole_words_and_placeholders_are_not_credentials() {
        for name in ["FOO_TOKENREF_STRICT_MODE", "SECRETARY", "tokenizer"] {
            assert!(!secret_name(name), "{name}");
        }
        for name in [
            "DBPASSWORD",
            "GITHUB_TOKEN",
            "githubToken",
            "STRIPE_API_KEY",
            "X_API_KEY_VAL",
            "apiKey",
            "credentials",
            "DOCKER_CREDENTIALS",
            "SECRETS",
            "PASSWORDS",
            "API_KEYS",
            "PASSWORD1",
            "user2Password2",
            "secretkey",
        ] {
            assert!(secret_name(name), "{name}");
        }
        for value in ["<your-api-key>", "YOUR_API_KEY_HERE", "xxxxxxxx", "********", "REPLACE_ME", "%API_KEY%"] {
            assert!(!is_literal(value), "{value}");
        }
        for value in ["hunter2-hunter2", "s3cr3t", "changeme"] {
            assert!(is_literal(value), "{value}");
        }
    }

    #[test]
    fn credentials_in_every_shape_become_tokens() {
        let redactor = Redactor::new([7; 32]);
        let applied = json!({"kind": "Secret", "data": {"p": "c2VjcmV0"}}).to_string();
        let mut secret = json!({
            "kind": "Secret",
            "metadata": {"name": "s", "annotations": {LAST_APPLIED: applied, "note": "postgres://u:hunter2@db/x"}},
            "data": {"password": "aHVudGVyMg=="},
            "stringData": ["hunter2-list"],
        });
        redact_kubernetes(&redactor, &mut secret);
        let text = secret.to_string();
        for value in ["aHVudGVyMg==", "hunter2", "c2VjcmV0"] {
            assert!(!text.contains(value), "{value} in {text}");
        }
        assert_eq!(secret["data"]["password"], redactor.token("aHVudGVyMg=="));
        assert!(is_token(secret["stringData"][0].as_str().unwrap()));
        let mut pod = json!({"kind": "Pod", "spec": {"containers": [{
            "env": [{"name": "DB_PASSWORD", "value": "pw-1"}, {"name": "LOG_LEVEL", "value": "debug"},
                    {"name": "X", "value": "AKIAABCDEFGHIJKLMNOP"}],
            "args": ["--db-password=pw-2", "--api-token", "pw-3", "--verbose", "--name", "cart"],
        }]}});
        redact_kubernetes(&redactor, &mut pod);
        let container = &pod["spec"]["containers"][0];
        assert_eq!(container["env"][0]["value"], redactor.token("pw-1"));
        assert_eq!(container["env"][1]["value"], "debug");
        assert!(is_token(container["env"][2]["value"].as_str().unwrap()));
        assert_eq!(container["args"][0], format!("--db-password={}", redactor.token("pw-2")));
        assert_eq!(container["args"][2], redactor.token("pw-3"));
        assert_eq!((&container["args"][4], &container["args"][5]), (&json!("--name"), &json!("cart")));
        let mut config = json!({"kind": "ConfigMap", "data": {"api_key": "k-1", "app.properties": "a=1\npassword=p-4\n", "mode": "fast"}});
        redact_kubernetes(&redactor, &mut config);
        assert!(is_token(config["data"]["api_key"].as_str().unwrap()));
        assert!(is_token(config["data"]["app.properties"].as_str().unwrap()));
        assert_eq!(config["data"]["mode"], "fast");
        let mut tf = json!({"master_password": "p-5", "password_policy": "strict", "secret_name": "db"});
        redact_tree(&redactor, &mut tf);
        assert!(is_token(tf["master_password"].as_str().unwrap()));
        assert_eq!((tf["password_policy"].as_str(), tf["secret_name"].as_str()), (Some("strict"), Some("db")));
        // Equal values, equal tokens; another key, other tokens; redacting twice changes nothing.
        assert_eq!(redactor.token("x"), redactor.token("x"));
        assert_ne!(redactor.token("x"), Redactor::new([8; 32]).token("x"));
        let once = pod.clone();
        redact_kubernetes(&redactor, &mut pod);
        assert_eq!(pod, once);
        // Credentials inside command strings and option values.
        let mut inline = json!({"kind": "Pod", "spec": {"containers": [{
            "command": ["sh", "-c", "export DB_PASSWORD=p-6 && PGPASSWORD=p-7 psql"],
            "env": [{"name": "JAVA_OPTS", "value": "-Xmx1g -Dspring.datasource.password=p-8"}],
        }]}});
        redact_kubernetes(&redactor, &mut inline);
        let text = inline.to_string();
        assert!(!text.contains("p-6") && !text.contains("p-7") && !text.contains("p-8"), "{text}");
        assert!(text.contains("psql") && text.contains("-Xmx1g"), "{text}");
        // A policy document is JSON, not lines of assignments: nothing in it is a credential, so it stays as written.
        let policy = "{\n  \"Statement\": [{\"Action\": [\n    \"secretsmanager:GetSecretValue\"\n  ], \"Condition\": {\"StringEquals\": {\n    \"token.actions.githubusercontent.com:aud\": \"sts.amazonaws.com\"}}}]\n}";
        let mut role = json!({"assume_role_policy": policy, "policy": policy});
        redact_tree(&redactor, &mut role);
        assert_eq!((role["assume_role_policy"].as_str(), role["policy"].as_str()), (Some(policy), Some(policy)));
        // JSON holding a credential is redacted as JSON; connection strings are credentials.
        let mut ecs = json!({"container_definitions": "[{\"name\": \"app\", \"environment\": [{\"name\": \"DB_PASSWORD\", \"value\": \"p-9\"}]}]",
                             "conninfo": "host=db port=5432 password=p-10"});
        redact_tree(&redactor, &mut ecs);
        assert!(!ecs.to_string().contains("p-9") && !ecs.to_string().contains("p-10"), "{ecs}");
        assert!(!is_token("day2:secret:not-a-digest"));
        // stringData becomes data, as the API server writes it: the same value, the same token as the live side.
        let mut declared = json!({"kind": "Secret", "stringData": {"password": "hunter2"}});
        redact_kubernetes(&redactor, &mut declared);
        let mut live = json!({"kind": "Secret", "data": {"password": "aHVudGVyMg=="}});
        redact_kubernetes(&redactor, &mut live);
        assert_eq!(declared, live);
        let mut numeric = json!({"db_password": 12345678, "port": 5432});
        redact_tree(&redactor, &mut numeric);
        assert!(is_token(numeric["db_password"].as_str().unwrap()) && numeric["port"] == 5432);
    }
}
