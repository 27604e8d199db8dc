//! Issue [N] 2: credentials never leave. A scratch fleet seeded with distinctive credential values — Secret data as a
//! map and as a list, stringData, env values, command-line flags, ConfigMap keys, annotations, the last-applied copy,
//! Terraform credential-named and sensitive attributes — goes through `day2 check` and `day2 drift` (with live values
//! changed) in every format, into a SQLite store, and out through `day2 findings` and `day2 query`: none of the
//! values (plain or base64) appears anywhere, and the changed secrets are still reported as drift.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use std::path::Path;

use common::{code, day2};

/// Every credential value planted in the fleet; each must never be printed or stored.
const SECRETS: &[&str] = &[
    "S3CRET-DATA-1",
    "S3CRET-STRING-2",
    "S3CRET-LIST-3",
    "S3CRET-ENV-4",
    "S3CRET-ARG-5",
    "S3CRET-ANN-6",
    "S3CRET-LA-7",
    "S3CRET-CM-8",
    "S3CRET-TF-9",
    "S3CRET-TFS-10",
    "S3CRET-LIVE-11",
    "S3CRET-LIVE-12",
];

/// `value` and its base64 form, as Secret `data` holds it.
fn forms(value: &str) -> [String; 2] {
    [value.to_owned(), b64(value)]
}

fn b64(value: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(value)
}

fn deployment(password: &str) -> String {
    let applied = r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"api","namespace":"shop"},"spec":{"template":{"spec":{"containers":[{"name":"api","env":[{"name":"DB_PASSWORD","value":"S3CRET-LA-7"}]}]}}}}"#;
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\n  namespace: shop\n  annotations:\n    db-url: postgres://app:S3CRET-ANN-6@db:5432/shop\n    kubectl.kubernetes.io/last-applied-configuration: '{applied}'\nspec:\n  replicas: 2\n  selector: {{matchLabels: {{app: api}}}}\n  template:\n    metadata: {{labels: {{app: api}}}}\n    spec:\n      containers:\n        - name: api\n          image: shop/api:1.0\n          args: [\"--api-token=S3CRET-ARG-5\"]\n          env:\n            - {{name: DB_PASSWORD, value: {password}}}\n"
    )
}

fn secret(password_b64: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: db, namespace: shop}}\ntype: Opaque\ndata:\n  password: {password_b64}\n"
    )
}

fn write_fleet(dir: &Path) {
    let declared = dir.join("declared");
    std::fs::create_dir_all(&declared).unwrap();
    std::fs::write(declared.join("deploy.yaml"), deployment("S3CRET-ENV-4")).unwrap();
    std::fs::write(declared.join("secret.yaml"), secret(&b64("S3CRET-DATA-1"))).unwrap();
    std::fs::write(
        declared.join("odd-secrets.yaml"),
        "apiVersion: v1\nkind: Secret\nmetadata: {name: odd, namespace: shop}\nstringData:\n  token: S3CRET-STRING-2\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: listed, namespace: shop}\ndata: [S3CRET-LIST-3]\n",
    )
    .unwrap();
    std::fs::write(
        declared.join("config.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app, namespace: shop}\ndata:\n  api_key: S3CRET-CM-8\n  mode: fast\n",
    )
    .unwrap();
    let state = serde_json::json!({
        "version": 4, "terraform_version": "1.9.0", "serial": 1, "lineage": "x", "outputs": {},
        "resources": [{
            "mode": "managed", "type": "aws_db_instance", "name": "shop", "provider": "provider[\"registry.terraform.io/hashicorp/aws\"]",
            "instances": [{
                "schema_version": 0,
                "attributes": {"id": "shop", "master_password": "S3CRET-TF-9", "secret_string": "S3CRET-TFS-10", "engine": "postgres"},
                "sensitive_attributes": [[{"type": "get_attr", "value": "secret_string"}]]
            }]
        }]
    });
    std::fs::write(declared.join("terraform.tfstate"), serde_json::to_string_pretty(&state).unwrap()).unwrap();
    // The live side: the same objects with both secrets changed behind Git's back.
    let live = dir.join("live");
    std::fs::create_dir_all(&live).unwrap();
    std::fs::write(live.join("deploy.yaml"), deployment("S3CRET-LIVE-12")).unwrap();
    std::fs::write(live.join("secret.yaml"), secret(&b64("S3CRET-LIVE-11"))).unwrap();
    // Declared with stringData, live as the base64 data the API server made of it: the same value, no drift.
    std::fs::write(
        live.join("odd.yaml"),
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: odd, namespace: shop}}\ndata:\n  token: {}\n",
            b64("S3CRET-STRING-2")
        ),
    )
    .unwrap();
    std::fs::write(
        live.join("config.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app, namespace: shop}\ndata:\n  api_key: S3CRET-CM-8\n  mode: fast\n",
    )
    .unwrap();
}

/// Fails naming the output when any planted value, plain or base64, is in `text`.
fn assert_clean(what: &str, text: &str) {
    for secret in SECRETS {
        for form in forms(secret) {
            assert!(!text.contains(&form), "{what} shows `{form}`:\n{text}");
        }
    }
}

fn output_text(out: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[test]
fn no_credential_reaches_any_output_or_the_store() {
    let dir = tempfile::tempdir().unwrap();
    write_fleet(dir.path());
    let declared = dir.path().join("declared");
    let declared = declared.to_str().unwrap();
    let live = dir.path().join("live");
    let live = live.to_str().unwrap();
    let store = dir.path().join("day2.db");
    let store = store.to_str().unwrap();

    for format in ["table", "json", "yaml", "sarif", "junit", "markdown"] {
        let out = day2(&["check", declared, "-o", format, "--store", store, "-vv"]);
        assert!(code(&out) <= 1, "check -o {format}: {}", output_text(&out));
        assert_clean(&format!("check -o {format}"), &output_text(&out));
        let out =
            day2(&["drift", declared, "--live", live, "--cluster", "default", "-o", format, "--store", store, "-vv"]);
        assert!(code(&out) <= 1, "drift -o {format}: {}", output_text(&out));
        assert_clean(&format!("drift -o {format}"), &output_text(&out));
    }

    // The checks still see the credentials written in clear (as tokens).
    let report = common::json_of(&day2(&["check", declared, "-o", "json"]));
    let rules: Vec<&str> =
        report["findings"].as_array().unwrap().iter().map(|f| f["rule_id"].as_str().unwrap()).collect();
    for rule in ["K8S-SEC-001", "K8S-SEC-003", "K8S-SEC-007"] {
        assert!(rules.contains(&rule), "{rule} not reported: {rules:?}");
    }

    // Drift still sees that both secrets changed, without either value.
    let drift = common::json_of(&day2(&["drift", declared, "--live", live, "--cluster", "default", "-o", "json"]));
    let changed: Vec<String> = drift["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule_id"] == "DRIFT-CHANGED")
        .map(|f| format!("{} {}", f["resource"].as_str().unwrap(), f["message"].as_str().unwrap()))
        .collect();
    assert!(
        changed
            .iter()
            .any(|m| m.contains("Secret/shop/db") && m.contains("/data/password value changed; both sides are secret")),
        "{changed:#?}"
    );
    assert!(
        changed
            .iter()
            .any(|m| m.contains("Deployment/shop/api") && m.contains("/value value changed; both sides are secret")),
        "{changed:#?}"
    );
    assert!(!changed.iter().any(|m| m.contains("ConfigMap/shop/app")), "an unchanged secret is no drift: {changed:#?}");
    assert!(!changed.iter().any(|m| m.contains("Secret/shop/odd")), "stringData equals the live data: {changed:#?}");

    // The store, its listings and its query surface.
    for args in [
        vec!["findings", "--store", store, "-o", "json", "--all"],
        vec!["query", "SELECT id, attrs FROM resource_list", "--store", store, "-o", "json"],
        vec!["query", "SELECT data FROM findings", "--store", store, "-o", "json"],
    ] {
        let out = day2(&args);
        assert_eq!(code(&out), 0, "{args:?}: {}", output_text(&out));
        assert_clean(&format!("{args:?}"), &output_text(&out));
    }
    // With a store, tokens come from the store's key: the same value gives the same token run after run.
    let token_sql =
        "SELECT json_extract(attrs, '$.data.password') AS token FROM resource_list WHERE id LIKE '%Secret/shop/db'";
    let token = || String::from_utf8(day2(&["query", token_sql, "--store", store, "-o", "json"]).stdout).unwrap();
    let before = token();
    assert!(before.contains("day2:secret:"), "{before}");
    assert_eq!(code(&day2(&["check", declared, "--store", store])), 1);
    assert_eq!(token(), before, "the token changed between runs on one store");
    let bytes = std::fs::read(dir.path().join("day2.db")).unwrap();
    let wal = std::fs::read(dir.path().join("day2.db-wal")).unwrap_or_default();
    assert_clean("the SQLite store", &String::from_utf8_lossy(&[bytes, wal].concat()));
}

/// One HTTP/1.0 GET on loopback: the whole response.
fn try_get(port: u16, path: &str) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(30)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}

fn get(port: u16, path: &str) -> String {
    try_get(port, path).unwrap()
}

/// `day2 serve` on the fleet (declared, recorded live, a webhook told of every finding), then its API, its metrics,
/// the webhook bodies and its log; and the same runs into a PostgreSQL store, read back whole.
#[test]
fn no_credential_reaches_serve_its_webhook_its_log_or_a_postgres_store() {
    let dir = tempfile::tempdir().unwrap();
    write_fleet(dir.path());
    let sink = day2_testkit::http_sink::HttpSink::start().unwrap();
    let config = dir.path().join("day2.yaml");
    std::fs::write(
        &config,
        format!(
            "sources:\n  - manifests:\n      paths: [declared]\n      cluster: default\n  - terraform:\n      paths: [declared/terraform.tfstate]\n  - kubernetes:\n      cluster: default\n      recorded: [live]\nnotifications:\n  - name: hook\n    route: {{min_severity: info}}\n    webhook: {{url: '{}'}}\n",
            sink.url("/day2")
        ),
    )
    .unwrap();
    let port = day2_testkit::free_port().unwrap();
    let log = std::fs::File::create(dir.path().join("serve.log")).unwrap();
    let listen = format!("127.0.0.1:{port}");
    let store = dir.path().join("serve.db");
    let mut server = common::command(&[
        "serve",
        "-c",
        config.to_str().unwrap(),
        "--listen",
        &listen,
        "--store",
        store.to_str().unwrap(),
        "-vv",
    ])
    .stderr(log)
    .spawn()
    .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !get_ok(port, "/readyz") {
        assert!(std::time::Instant::now() < deadline, "serve did not get ready");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // Every finding is told; wait until the webhook has them all.
    let findings = get(port, "/api/v1/findings?status=all&limit=1000");
    let told = findings.matches("\"rule_id\"").count();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while sink.received().len() < told {
        assert!(std::time::Instant::now() < deadline, "{} of {told} findings told", sink.received().len());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let mut seen = String::new();
    for path in [
        "/api/v1/findings?status=all&limit=1000",
        "/api/v1/drift",
        "/api/v1/resources?limit=1000",
        "/api/v1/sources",
        "/metrics",
    ] {
        seen.push_str(&get(port, path));
    }
    assert!(seen.contains("both sides are secret"), "the drift job saw the changed secrets: {seen}");
    for received in sink.received() {
        seen.push_str(&String::from_utf8_lossy(&received.body));
    }
    let _ = server.kill();
    let _ = server.wait();
    seen.push_str(&std::fs::read_to_string(dir.path().join("serve.log")).unwrap());
    let stored =
        [std::fs::read(&store).unwrap(), std::fs::read(dir.path().join("serve.db-wal")).unwrap_or_default()].concat();
    seen.push_str(&String::from_utf8_lossy(&stored));
    assert_clean("serve (API, metrics, webhook bodies, log, store)", &seen);

    // The PostgreSQL store, with the same check and drift runs recorded, read back table by table.
    let Some(db) = day2_testkit::postgres::ScratchDatabase::create().unwrap() else { return };
    let declared = dir.path().join("declared");
    let live = dir.path().join("live");
    for args in [
        vec!["check", declared.to_str().unwrap(), "--store", db.url.as_str()],
        vec![
            "drift",
            declared.to_str().unwrap(),
            "--live",
            live.to_str().unwrap(),
            "--cluster",
            "default",
            "--store",
            db.url.as_str(),
        ],
    ] {
        let out = day2(&args);
        assert!(code(&out) <= 1, "{args:?}: {}", output_text(&out));
    }
    let dump = std::process::Command::new("psql")
        .args(["-X", "-qAt", db.url.as_str(), "-c", "SELECT attrs::text FROM resources UNION ALL SELECT data::text FROM findings UNION ALL SELECT data::text FROM finding_events"])
        .output()
        .unwrap();
    assert!(dump.status.success(), "{}", String::from_utf8_lossy(&dump.stderr));
    let dump = String::from_utf8_lossy(&dump.stdout);
    assert!(dump.contains("day2:secret:"), "the store holds tokens: {dump}");
    assert_clean("the PostgreSQL store", &dump);
}

fn get_ok(port: u16, path: &str) -> bool {
    try_get(port, path).is_ok_and(|r| r.starts_with("HTTP/1.1 200") || r.starts_with("HTTP/1.0 200"))
}
