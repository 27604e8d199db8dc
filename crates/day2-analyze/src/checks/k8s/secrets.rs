//! Secrets: credentials written in clear text into pod specs, command lines and ConfigMaps, Secrets exposed as
//! environment variables, Secret objects committed with their values, mis-typed TLS Secrets and legacy long-lived
//! ServiceAccount token Secrets. Values are never echoed: evidence shows `***`. The rules of what is a credential are
//! day2_model::redact's, which collectors apply first: these checks see its tokens where the values were, and a token
//! counts as a credential written in clear.

pub(crate) use day2_model::redact::secret_name;
use day2_model::redact::{credential_value, embedded_secret_assignment, is_literal};
use day2_model::{Attr, Origin};

use super::{escape, items, per_container, str_at};
use crate::checks::prelude::*;

/// Shown instead of a secret value.
const MASK: &str = "***";

const SECRET_CONTROLS: &[(day2_model::Framework, &str)] =
    &[(CisK8s, "5.4.1"), (Nsa, "secrets"), (Soc2, "CC6.1"), (Nis2, "21(2)(h)"), (Dora, "Art.9(4)(c)")];

pub(super) static CHECKS: &[Check] = &[
    Check {
        id: "K8S-SEC-001",
        title: "Credential written literally in an environment variable",
        domain: Domain::Security,
        severity: Severity::High,
        target: Target::Workloads,
        rationale: "A password or token in `env[].value` is stored in plain text in Git, in the Deployment object (readable by anyone who can get workloads) and in every ReplicaSet revision; rotating it means editing and redeploying manifests.",
        remediation: "Move the value into a Secret (or an external secret store) and reference it with `valueFrom.secretKeyRef`, preferably mounted as a file; then rotate the exposed credential.",
        controls: SECRET_CONTROLS,
        references: &[
            "https://kubernetes.io/docs/concepts/configuration/secret/#using-secrets-as-environment-variables",
        ],
        eval: |i| {
            per_container(i, |c, _| {
                let ptr = c.pointer();
                let found: Vec<(usize, &str)> = items(c.value.get("env"))
                    .enumerate()
                    .filter_map(|(n, e)| {
                        let name = e.get("name")?.as_str()?;
                        let value = e.get("value")?.as_str()?;
                        (is_literal(value) && (secret_name(name) || credential_value(value))).then_some((n, name))
                    })
                    .collect();
                if found.is_empty() {
                    return None;
                }
                let names: Vec<String> = found.iter().map(|(_, n)| format!("`{n}`")).collect();
                let mut hit =
                    Hit::new(format!("container `{}` sets {} to a literal credential", c.name(), names.join(", ")));
                for (n, _) in &found {
                    hit = hit.evidence(format!("{ptr}/env/{n}/value"), json!(MASK), None);
                }
                Some(hit)
            })
        },
    },
    Check {
        id: "K8S-SEC-002",
        title: "Secret exposed as environment variables",
        domain: Domain::Security,
        severity: Severity::Low,
        target: Target::Workloads,
        rationale: "Environment variables leak: they are inherited by child processes, printed by crash handlers and debug endpoints, visible in /proc and never refreshed when the Secret rotates. Mounted files avoid all of this.",
        remediation: "Mount the Secret as a volume (read-only) and read the credential from the file; drop the `envFrom.secretRef` / `valueFrom.secretKeyRef` entries.",
        controls: SECRET_CONTROLS,
        references: &["https://kubernetes.io/docs/concepts/security/secrets-good-practices/"],
        eval: |i| {
            per_container(i, |c, _| {
                let ptr = c.pointer();
                let mut hit = Hit::default();
                let mut names = Vec::new();
                for (n, e) in items(c.value.get("envFrom")).enumerate() {
                    if let Some(s) = str_at(e, "/secretRef/name") {
                        names.push(format!("all of Secret `{s}`"));
                        hit = hit.evidence(
                            format!("{ptr}/envFrom/{n}/secretRef"),
                            e.get("secretRef").cloned().unwrap_or_default(),
                            None,
                        );
                    }
                }
                for (n, e) in items(c.value.get("env")).enumerate() {
                    if let Some(s) = str_at(e, "/valueFrom/secretKeyRef/name") {
                        names.push(format!("`{}` from Secret `{s}`", str_at(e, "/name").unwrap_or("?")));
                        hit = hit.evidence(
                            format!("{ptr}/env/{n}/valueFrom/secretKeyRef"),
                            e.pointer("/valueFrom/secretKeyRef").cloned().unwrap_or_default(),
                            None,
                        );
                    }
                }
                if names.is_empty() {
                    return None;
                }
                hit.message = format!("container `{}` reads {} as environment variables", c.name(), names.join(", "));
                Some(hit)
            })
        },
    },
    Check {
        id: "K8S-SEC-003",
        title: "ConfigMap contains credentials",
        domain: Domain::Security,
        severity: Severity::Medium,
        target: Target::K8sKinds(&["ConfigMap"]),
        rationale: "ConfigMaps are not treated as sensitive: they are readable by broad roles (view), not encrypted at rest, printed by tooling and copied freely. Credentials stored in them leak with the configuration.",
        remediation: "Move the credential into a Secret (or an external secret store) and reference it from the application's configuration; then rotate it.",
        controls: SECRET_CONTROLS,
        references: &["https://kubernetes.io/docs/concepts/configuration/configmap/"],
        eval: |i| {
            let Some(data) = i.resource.attrs.get("data").and_then(Attr::as_object) else { return Vec::new() };
            data.iter()
                .filter_map(|(key, value)| {
                    let v = value.as_str()?;
                    let why = if secret_name(key) && is_literal(v) && !v.contains('\n') {
                        "looks like a credential"
                    } else if credential_value(v) {
                        "contains an embedded credential (private key, access key or URL with a password)"
                    } else if embedded_secret_assignment(v) {
                        "assigns a credential in its content"
                    } else {
                        return None;
                    };
                    Some(
                        Hit::new(format!("ConfigMap `{}` key `{key}` {why}", i.resource.name))
                            .subject(format!("key {key}"))
                            .evidence(format!("/data/{}", escape(key)), json!(MASK), None),
                    )
                })
                .collect()
        },
    },
    Check {
        id: "K8S-SEC-004",
        title: "TLS key stored in an Opaque Secret",
        domain: Domain::Security,
        severity: Severity::Low,
        target: Target::K8sKinds(&["Secret"]),
        rationale: "A Secret holding tls.crt/tls.key but typed Opaque is not validated as a key pair, is invisible to tools that look for kubernetes.io/tls Secrets (certificate expiry monitoring, cert-manager) and is easy to mis-mount.",
        remediation: "Recreate the Secret with `type: kubernetes.io/tls` (`kubectl create secret tls`); the type of an existing Secret cannot be changed in place.",
        controls: &[(Nsa, "secrets"), (Soc2, "CC6.7"), (Nis2, "21(2)(h)")],
        references: &["https://kubernetes.io/docs/concepts/configuration/secret/#tls-secrets"],
        eval: |i| {
            let attrs = &i.resource.attrs;
            let t = str_at(attrs, "/type").unwrap_or("Opaque");
            if t != "Opaque" {
                return Vec::new();
            }
            let keys: Vec<&str> = ["data", "stringData"]
                .iter()
                .filter_map(|f| attrs.get(*f).and_then(Attr::as_object))
                .flat_map(|m| m.keys())
                .filter(|k| *k == "tls.key" || *k == "tls.crt")
                .collect();
            if keys.is_empty() {
                return Vec::new();
            }
            vec![
                Hit::new(format!("Secret `{}` holds {} but has type {t}", i.resource.name, keys.join(" and ")))
                    .evidence(
                        "/type",
                        attrs.get("type").cloned().unwrap_or_default(),
                        Some(json!("kubernetes.io/tls")),
                    ),
            ]
        },
    },
    Check {
        id: "K8S-SEC-005",
        title: "Secret values committed in a manifest",
        domain: Domain::Security,
        severity: Severity::Medium,
        target: Target::K8sKinds(&["Secret"]),
        rationale: "A Secret manifest with `data` or `stringData` puts the values (base64 is not encryption) into the repository and its history, where everyone with read access, every clone and every CI log can see them, forever.",
        remediation: "Keep only encrypted or referenced secrets in Git (Sealed Secrets, SOPS, External Secrets Operator, CSI secret store) and rotate the values that were committed.",
        controls: &[(Nsa, "secrets"), (Soc2, "CC6.1"), (Nis2, "21(2)(h)"), (Dora, "Art.9(4)(c)")],
        references: &["https://kubernetes.io/docs/concepts/security/secrets-good-practices/"],
        eval: |i| {
            if !matches!(i.resource.origin, Origin::Declared { .. }) {
                return Vec::new();
            }
            let attrs = &i.resource.attrs;
            let keys: Vec<(String, String)> = ["data", "stringData"]
                .iter()
                .filter_map(|f| attrs.get(*f).and_then(Attr::as_object).map(|m| (f, m)))
                .flat_map(|(f, m)| m.keys().map(move |k| ((*f).to_owned(), k.to_owned())))
                .collect();
            let Some((field, first)) = keys.first() else { return Vec::new() };
            vec![
                Hit::new(format!(
                    "Secret `{}` is declared with {} value(s) in its manifest",
                    i.resource.name,
                    keys.len()
                ))
                .evidence(format!("/{field}/{}", escape(first)), json!(MASK), None),
            ]
        },
    },
    Check {
        id: "K8S-SEC-006",
        title: "Long-lived ServiceAccount token Secret",
        domain: Domain::Security,
        severity: Severity::Medium,
        target: Target::K8sKinds(&["Secret"]),
        rationale: "A Secret of type kubernetes.io/service-account-token holds a token that never expires and is not bound to a pod; once copied it keeps working until the Secret is deleted. Since 1.24 Kubernetes issues short-lived, bound tokens instead.",
        remediation: "Delete the Secret and obtain tokens through the TokenRequest API (projected volumes or `kubectl create token`) with a bounded lifetime.",
        controls: &[(Nsa, "authentication"), (Soc2, "CC6.1"), (Nis2, "21(2)(i)")],
        references: &["https://kubernetes.io/docs/concepts/security/service-accounts/#get-a-token"],
        eval: |i| {
            let attrs = &i.resource.attrs;
            if str_at(attrs, "/type") != Some("kubernetes.io/service-account-token") {
                return Vec::new();
            }
            let sa = i.resource.annotation("kubernetes.io/service-account.name").unwrap_or("?");
            vec![
                Hit::new(format!("Secret `{}` is a long-lived token for ServiceAccount `{sa}`", i.resource.name))
                    .evidence("/type", json!("kubernetes.io/service-account-token"), None),
            ]
        },
    },
    Check {
        id: "K8S-SEC-007",
        title: "Credential passed on the command line",
        domain: Domain::Security,
        severity: Severity::High,
        target: Target::Workloads,
        rationale: "Command-line arguments are visible to every process on the node through /proc and `ps`, appear in the pod spec and in monitoring, and are logged by many runtimes; a password or token there is effectively public.",
        remediation: "Pass the credential through a mounted Secret file (e.g. `--password-file=/run/secrets/db`) or an environment variable from a Secret, and rotate it.",
        controls: SECRET_CONTROLS,
        references: &["https://kubernetes.io/docs/concepts/security/secrets-good-practices/"],
        eval: |i| {
            per_container(i, |c, _| {
                let ptr = c.pointer();
                let mut found = Vec::new();
                for list in ["command", "args"] {
                    let args: Vec<&str> = items(c.value.get(list)).filter_map(Attr::as_str).collect();
                    for (n, arg) in args.iter().enumerate() {
                        let Some(flag) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else { continue };
                        let (name, value) = match flag.split_once('=') {
                            Some((k, v)) => (k, Some(v).filter(|v| !v.is_empty())),
                            None => (flag, args.get(n + 1).copied().filter(|v| !v.starts_with('-'))),
                        };
                        if secret_name(name) && value.is_some_and(is_literal) {
                            found.push((list, n, name));
                        }
                    }
                }
                if found.is_empty() {
                    return None;
                }
                let flags: Vec<String> = found.iter().map(|(_, _, f)| format!("`{f}`")).collect();
                let mut hit =
                    Hit::new(format!("container `{}` passes {} on its command line", c.name(), flags.join(", ")));
                for (list, n, _) in &found {
                    hit = hit.evidence(format!("{ptr}/{list}/{n}"), json!(MASK), None);
                }
                Some(hit)
            })
        },
    },
    Check {
        id: "K8S-SEC-008",
        title: "Credential read from a ConfigMap",
        domain: Domain::Security,
        severity: Severity::Medium,
        target: Target::Workloads,
        rationale: "An environment variable named like a password or token that comes from configMapKeyRef means the credential is stored in a ConfigMap, which is readable by broad roles and not protected like a Secret.",
        remediation: "Store the value in a Secret and switch the reference to `valueFrom.secretKeyRef` (or a mounted Secret file).",
        controls: SECRET_CONTROLS,
        references: &["https://kubernetes.io/docs/concepts/configuration/secret/"],
        eval: |i| {
            per_container(i, |c, _| {
                let ptr = c.pointer();
                let found: Vec<(usize, &str, &str)> = items(c.value.get("env"))
                    .enumerate()
                    .filter_map(|(n, e)| {
                        let name = e.get("name")?.as_str()?;
                        let cm = str_at(e, "/valueFrom/configMapKeyRef/name")?;
                        secret_name(name).then_some((n, name, cm))
                    })
                    .collect();
                if found.is_empty() {
                    return None;
                }
                let list: Vec<String> = found.iter().map(|(_, n, cm)| format!("`{n}` from ConfigMap `{cm}`")).collect();
                let mut hit = Hit::new(format!("container `{}` reads credential {}", c.name(), list.join(", ")));
                for (n, _, _) in &found {
                    hit = hit.evidence(
                        format!("{ptr}/env/{n}/valueFrom/configMapKeyRef"),
                        c.value.pointer(&format!("/env/{n}/valueFrom/configMapKeyRef")).cloned().unwrap_or_default(),
                        None,
                    );
                }
                Some(hit)
            })
        },
    },
];

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn secret_names_and_values() {
        for n in
            ["DB_PASSWORD", "stripe-api-key", "GITHUB_TOKEN", "client.secret", "ADMIN_PWD", "AWS_SECRET_ACCESS_KEY"]
        {
            assert!(secret_name(n), "{n}");
        }
        for n in ["PASSWORD_FILE", "TOKEN_TTL", "SECRET_NAME", "AWS_ACCESS_KEY_ID", "PWD", "LOG_LEVEL", "password-file"]
        {
            assert!(!secret_name(n), "{n}");
        }
        assert!(credential_value("-----BEGIN RSA PRIVATE KEY-----\nMIIE...\n-----END RSA PRIVATE KEY-----"));
        assert!(credential_value("AKIAIOSFODNN7EXAMPLE"));
        assert!(!credential_value("hello world"));
        assert!(credential_value("postgres://orders:Xk2p9q@db.internal:5432/orders"));
        assert!(!credential_value("postgres://orders@db.internal:5432/orders"));
        assert!(!secret_name("OIDC_TOKEN_ENDPOINT"));
        assert!(embedded_secret_assignment("db:\n  host: db\n  password: hunter2\n"));
        assert!(!embedded_secret_assignment("db:\n  password: ${DB_PASSWORD}\n"));
    }
}
