//! `day2 serve` end to end: the example fleet (declared sources and recorded live state) on a free loopback port, its
//! API and metrics read over HTTP, then a SIGTERM that must stop it cleanly; and a real Prometheus (Debian's package)
//! scraping it, skipped with a message where Prometheus is not installed unless DAY2_REQUIRE_PROMETHEUS is set (CI).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use serde_json::Value;

/// One HTTP/1.0 GET (so no server answers in chunks); returns the status code and the body.
fn get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    request(port, "GET", path, None)
}

/// One HTTP/1.0 request, with a bearer token when given.
fn request(port: u16, method: &str, path: &str, token: Option<&str>) -> std::io::Result<(u16, String)> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    write!(stream, "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n{auth}Content-Length: 0\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    Ok((status, body.to_owned()))
}

fn json(port: u16, path: &str) -> Value {
    let (status, body) = get(port, path).unwrap();
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// A child process (day2, Prometheus, Alertmanager), killed when the test ends however it ends.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    day2_testkit::free_port().unwrap()
}

/// `day2 serve` on the example fleet, ready (its first cycle recorded).
fn serve_example_fleet(dir: &std::path::Path) -> (Server, u16) {
    serve_config(dir, "examples/fleet/day2.yaml")
}

/// `day2 serve -c config`, ready (its first cycle recorded).
fn serve_config(dir: &std::path::Path, config: &str) -> (Server, u16) {
    serve_with_env(dir, config, &[])
}

/// `day2 serve -c config` with extra environment variables (secrets), ready.
fn serve_with_env(dir: &std::path::Path, config: &str, env: &[(&str, &str)]) -> (Server, u16) {
    serve_store(config, dir.join("day2.db").to_str().unwrap(), env)
}

/// `day2 serve -c config --store store` (a file or a URL), ready.
fn serve_store(config: &str, store: &str, env: &[(&str, &str)]) -> (Server, u16) {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let args = ["serve", "-c", config, "--listen", &listen, "--store", store, "--interval", "1h"];
    let mut command = common::command(&args);
    command.envs(env.iter().copied());
    let server = Server(command.spawn().unwrap());
    // Not ready until the first cycle (check, then drift against the recording) is in the store.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        match get(port, "/readyz") {
            Ok((200, _)) => return (server, port),
            Ok((503, _)) | Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(200)),
            other => panic!("not ready: {other:?}"),
        }
    }
}

#[test]
fn serves_findings_sources_and_metrics_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, port) = serve_example_fleet(dir.path());
    assert_eq!(get(port, "/healthz").unwrap().0, 200);

    let drift = json(port, "/api/v1/findings?domain=drift");
    let mut rules: Vec<(&str, &str)> = drift
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["rule_id"].as_str().unwrap(), f["resource"].as_str().unwrap()))
        .collect();
    rules.sort();
    assert_eq!(
        rules,
        [
            ("DRIFT-CHANGED", "k8s/shop-prod-eu/apps.Deployment/shop/cart"),
            ("DRIFT-CHANGED", "tf/edge/aws_security_group//aws_security_group.edge"),
            ("DRIFT-MISSING", "k8s/shop-prod-eu/apps.Deployment/shop/legacy-search"),
            ("DRIFT-UNMANAGED", "k8s/shop-prod-eu/ConfigMap/payments/feature-flags"),
            ("DRIFT-UNMANAGED", "k8s/shop-prod-eu/apps.Deployment/shop/debug-shell"),
        ],
        "the drift job's findings, as `day2 drift` reports them"
    );
    let critical = json(port, "/api/v1/findings?severity=critical");
    assert!(!critical.as_array().unwrap().is_empty());
    assert!(critical.as_array().unwrap().iter().all(|f| f["severity"] == "critical" && f["status"]["state"] == "open"));
    let suppressed = json(port, "/api/v1/findings?status=suppressed");
    assert!(suppressed.as_array().unwrap().iter().all(|f| f["status"]["state"] == "suppressed"));
    assert!(!suppressed.as_array().unwrap().is_empty(), "the example fleet suppresses node-exporter's findings");
    let (status, body) = get(port, "/api/v1/findings?domain=nope").unwrap();
    assert_eq!(status, 400);
    assert!(body.contains("unknown domain `nope`"), "{body}");

    let sources = json(port, "/api/v1/sources");
    let jobs: Vec<&str> = sources["jobs"].as_array().unwrap().iter().map(|j| j["job"].as_str().unwrap()).collect();
    assert_eq!(
        jobs,
        [
            "check",
            "collect:live:shop-prod-eu",
            "collect:manifests:examples/fleet/k8s/,examples/fleet/helm/",
            "collect:terraform:examples/fleet/terraform/core/terraform.tfstate",
            "collect:terraform:examples/fleet/terraform/edge/plan.json",
            "drift"
        ],
        "a job per source, and the analyses"
    );

    let live = sources["sources"].as_array().unwrap().iter().find(|s| s["name"] == "live:shop-prod-eu").unwrap();
    assert_eq!((live["complete"].as_bool(), live["resources"].as_u64()), (Some(true), Some(38)));

    let (status, metrics) = get(port, "/metrics").unwrap();
    assert_eq!(status, 200);
    let line = |prefix: &str| metrics.lines().find(|l| l.starts_with(prefix)).map(str::to_owned);
    let drift_high: f64 = line("day2_findings{domain=\"drift\",severity=\"high\"")
        .and_then(|l| l.rsplit(' ').next().and_then(|v| v.parse().ok()))
        .unwrap_or_else(|| panic!("{metrics}"));
    assert_eq!(drift_high, 1.0, "legacy-search is missing");
    assert!(line("day2_runs_total{job=\"check\",result=").is_some(), "{metrics}");
    let collected = "day2_source_complete{job=\"collect:live:shop-prod-eu\",source=\"live:shop-prod-eu\"} 1";
    assert!(line(collected).is_some(), "{metrics}");
    assert!(line("day2_runs_total{job=\"collect:live:shop-prod-eu\",result=\"ok\"}").is_some(), "{metrics}");
    // Every path the OpenAPI document lists is served (POSTs refuse: no tokens configured, the API is read-only).
    let openapi = json(port, "/api/v1/openapi.json");
    assert_eq!(openapi["openapi"], "3.1.0");
    let paths = openapi["paths"].as_object().unwrap();
    assert!(paths.len() >= 10);
    for (path, operations) in paths {
        // A path with a parameter is asked about a resource the store holds.
        let path = path.replace("{id}", "k8s/shop-prod-eu/apps.Deployment/shop/cart");
        for method in operations.as_object().unwrap().keys() {
            let (status, body) = request(port, &method.to_uppercase(), &path, None).unwrap();
            let expected: &[u16] = if method == "get" { &[200] } else { &[401] };
            assert!(expected.contains(&status), "{method} {path}: {status} {body}");
        }
    }
    let drift_view = json(port, "/api/v1/drift");
    let coverage = drift_view["coverage"].as_array().unwrap();
    assert!(coverage.iter().any(|c| c["scope"] == "k8s/shop-prod-eu" && c["live"].as_u64() > Some(0)), "{drift_view}");
    assert_eq!(drift_view["findings"].as_array().unwrap().len(), 5, "the five drift findings above");
    let deployments = json(port, "/api/v1/resources?kind=apps.Deployment&limit=3");
    assert_eq!(deployments.as_array().unwrap().len(), 3);
    assert!(deployments.as_array().unwrap().iter().all(|r| r["kind"] == "apps.Deployment"));
    // One resource, both sides: declared in Git, running in the (recorded) cluster, with its findings and relations.
    let cart = json(port, "/api/v1/resources/k8s/shop-prod-eu/apps.Deployment/shop/cart");
    assert_eq!(cart["resource"]["side"], "declared", "{cart}");
    assert_eq!(cart["resource"]["declared"]["metadata"]["name"], "cart", "{cart}");
    assert_eq!(cart["resource"]["live"]["metadata"]["name"], "cart", "the live copy: {cart}");
    assert!(cart["resource"]["live"]["status"].is_object(), "only the live copy has a status: {cart}");
    assert!(cart["findings"].as_array().unwrap().iter().any(|f| f["sides"] == serde_json::json!(["declared", "live"])));
    assert!(cart["incoming"].as_array().unwrap().iter().any(|r| r["kind"] == "selects"), "{cart}");
    assert_eq!(get(port, "/api/v1/resources/k8s/nope").unwrap().0, 404);
    let debug = json(port, "/api/v1/resources/k8s/shop-prod-eu/apps.Deployment/shop/debug-shell");
    assert_eq!((debug["resource"]["side"].as_str(), debug["resource"]["declared"].is_null()), (Some("live"), true));
    let graph = json(port, "/api/v1/graph?namespace=shop");
    let nodes = graph["nodes"].as_array().unwrap();
    assert!(nodes.iter().all(|n| n["namespace"] == "shop") && nodes.len() > 5, "{graph}");
    assert!(
        nodes.iter().any(|n| n["id"] == "k8s/shop-prod-eu/apps.Deployment/shop/debug-shell" && n["side"] == "live")
    );
    assert!(!graph["edges"].as_array().unwrap().is_empty(), "{graph}");
    let around = json(port, "/api/v1/graph?around=k8s/shop-prod-eu/Service/shop/storefront&depth=1");
    assert!(around["nodes"].as_array().unwrap().len() >= 2, "{around}");
    assert_eq!(get(port, "/api/v1/graph?depth=0").unwrap().0, 400);
    let outcomes = json(port, "/api/v1/outcomes?since=1d");
    assert!(outcomes["overall"]["detected"].as_u64().unwrap() > 0, "{outcomes}");
    assert!(outcomes["drift_hours_by_scope"].is_object());
    let page = get(port, "/api/v1/findings?limit=2&offset=1").unwrap();
    assert_eq!(serde_json::from_str::<Value>(&page.1).unwrap().as_array().unwrap().len(), 2);
    assert_eq!(get(port, "/api/v1/findings?limit=0").unwrap().0, 400);
    let (status, body) = request(port, "POST", "/api/v1/runs", Some("anything")).unwrap();
    assert_eq!(status, 401, "no tokens configured: the API is read-only");
    assert!(body.contains("serve.tokens"), "{body}");

    terminate(&mut server);
}

/// Stops a server with SIGTERM, as service managers do, and asserts it exits cleanly within 30 s.
fn terminate(server: &mut Server) {
    let pid = server.0.id().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = server.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "still running 30 s after SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{status:?}");
}

/// Tokens for every role, and the configuration granting them (all, or all but the viewer's).
fn tokens_config(dir: &std::path::Path, with_viewer: bool) -> std::path::PathBuf {
    let manifest = dir.join("app.yaml");
    std::fs::write(&manifest, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: shop\n")
        .unwrap();
    let mut text = "sources:\n  - manifests:\n      paths: [app.yaml]\nserve:\n  tokens:\n".to_owned();
    for role in ["viewer", "operator", "approver", "admin"].into_iter().filter(|r| with_viewer || *r != "viewer") {
        let hash = day2_server::auth::token_hash(&format!("{role}-token"));
        text.push_str(&format!("    - {{name: {role}-bot, role: {role}, sha256: {hash}}}\n"));
    }
    let path = dir.join("day2.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

fn started_at(port: u16) -> String {
    let (_, body) = request(port, "GET", "/api/v1/sources", Some("admin-token")).unwrap();
    let sources: Value = serde_json::from_str(&body).unwrap();
    sources["jobs"][0]["started_at"].as_str().unwrap().to_owned()
}

#[test]
fn every_endpoint_refuses_missing_invalid_and_lower_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let config = tokens_config(dir.path(), true);
    let (mut server, port) = serve_config(dir.path(), config.to_str().unwrap());
    let callers = [
        None,
        Some("not-a-token"),
        Some("viewer-token"),
        Some("operator-token"),
        Some("approver-token"),
        Some("admin-token"),
    ];
    // Least caller (index into `callers`) each endpoint admits; those before it are refused.
    let endpoints: [(&str, &str, usize, u16); 6] = [
        ("GET", "/api/v1/findings", 2, 200),
        ("GET", "/api/v1/sources", 2, 200),
        ("GET", "/api/v1/graph", 2, 200),
        ("GET", "/api/v1/resources/k8s/default/ConfigMap/shop/settings", 2, 200),
        ("POST", "/api/v1/runs", 3, 202),
        ("POST", "/api/v1/config/reload", 5, 200),
    ];
    for (method, path, least, ok) in endpoints {
        for (i, caller) in callers.iter().enumerate() {
            let (status, body) = request(port, method, path, *caller).unwrap();
            let expected = match i {
                _ if i >= least => ok,
                0 | 1 => 401,
                _ => 403,
            };
            assert_eq!(status, expected, "{method} {path} as {caller:?}: {body}");
        }
    }
    assert_eq!(get(port, "/healthz").unwrap().0, 200);
    assert_eq!(get(port, "/metrics").unwrap().0, 200, "Prometheus scrapes without a token by default");

    // A run asked for through the API starts now, not at the next interval (an hour away).
    let before = started_at(port);
    assert_eq!(request(port, "POST", "/api/v1/runs", Some("operator-token")).unwrap().0, 202);
    let deadline = Instant::now() + Duration::from_secs(60);
    while started_at(port) == before {
        assert!(Instant::now() < deadline, "no run within 60 s of asking");
        std::thread::sleep(Duration::from_millis(100));
    }

    // Revoking: the viewer's entry removed and the configuration reloaded, through the API, then by SIGHUP.
    tokens_config(dir.path(), false);
    assert_eq!(request(port, "POST", "/api/v1/config/reload", Some("admin-token")).unwrap().0, 200);
    assert_eq!(request(port, "GET", "/api/v1/findings", Some("viewer-token")).unwrap().0, 401);
    tokens_config(dir.path(), true);
    let pid = server.0.id().to_string();
    assert!(std::process::Command::new("kill").args(["-HUP", &pid]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while request(port, "GET", "/api/v1/findings", Some("viewer-token")).unwrap().0 != 200 {
        assert!(Instant::now() < deadline, "SIGHUP did not reload the configuration");
        std::thread::sleep(Duration::from_millis(100));
    }
    // A configuration that does not load is refused and the running one stays.
    std::fs::write(&config, "serve:\n  tokens:\n    - {name: x, role: root, sha256: 00}\n").unwrap();
    let (status, body) = request(port, "POST", "/api/v1/config/reload", Some("admin-token")).unwrap();
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("the running one is kept"), "{body}");
    assert_eq!(request(port, "GET", "/api/v1/findings", Some("viewer-token")).unwrap().0, 200);
    let _ = server.0.kill();
}

/// Polls the findings (`query`) until one names a resource ending in `suffix`; returns how long that took.
fn time_to_finding(port: u16, query: &str, suffix: &str) -> Duration {
    let start = Instant::now();
    loop {
        let findings = json(port, &format!("/api/v1/findings?{query}"));
        if findings.as_array().unwrap().iter().any(|f| f["resource"].as_str().unwrap().ends_with(suffix)) {
            return start.elapsed();
        }
        assert!(start.elapsed() < Duration::from_secs(30), "no finding on {suffix} after 30 s");
        std::thread::sleep(Duration::from_millis(25));
    }
}

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: registry.example.com/web:1.4.2
";

#[test]
fn a_changed_file_becomes_a_finding_within_two_seconds() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("k8s")).unwrap();
    std::fs::write(dir.path().join("k8s/web.yaml"), DEPLOYMENT).unwrap();
    let config = dir.path().join("day2.yaml");
    std::fs::write(&config, "sources:\n  - manifests:\n      paths: [k8s]\n      cluster: prod\n").unwrap();
    let (_server, port) = serve_config(dir.path(), config.to_str().unwrap());
    assert!(
        json(port, "/api/v1/findings")
            .as_array()
            .unwrap()
            .iter()
            .all(|f| !f["resource"].as_str().unwrap().ends_with("/Pod/shop/debug"))
    );

    // Someone commits a privileged debug Pod; the interval is an hour, so only the file watch can see it.
    let pod = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: debug\n  namespace: shop\nspec:\n  containers:\n    - name: shell\n      image: busybox:1.36\n      securityContext: {privileged: true}\n";
    std::fs::write(dir.path().join("k8s/debug.yaml"), pod).unwrap();
    let took = time_to_finding(port, "domain=security", "/Pod/shop/debug");
    eprintln!("a changed file became a finding in {took:?}");
    assert!(took < Duration::from_secs(2), "the change became a finding after {took:?}");
}

#[test]
fn a_cluster_change_becomes_a_drift_finding_within_two_seconds() {
    // The cluster is day2_testkit::kube_api, a local server speaking the Kubernetes API's wire format, watches
    // included (newline-delimited WatchEvents on a held connection): no real API server can run here.
    let dir = tempfile::tempdir().unwrap();
    let live: Value = serde_saphyr::from_str(DEPLOYMENT).unwrap();
    let api = day2_testkit::kube_api::KubeApi::start(vec![live.clone()]).unwrap();
    let kubeconfig = api.kubeconfig(dir.path(), "prod-admin").unwrap();
    std::fs::write(dir.path().join("web.yaml"), DEPLOYMENT).unwrap();
    let config = dir.path().join("day2.yaml");
    std::fs::write(
        &config,
        format!(
            "sources:\n  - manifests:\n      paths: [web.yaml]\n      cluster: prod\n  - kubernetes:\n      cluster: prod\n      kubeconfig: {}\n",
            kubeconfig.display()
        ),
    )
    .unwrap();
    let (_server, port) = serve_config(dir.path(), config.to_str().unwrap());
    assert_eq!(json(port, "/api/v1/findings?domain=drift"), Value::Array(Vec::new()), "declared as it runs");

    // Someone scales the Deployment by hand.
    let mut scaled = live;
    scaled["spec"]["replicas"] = 5.into();
    // Watches start from the version current when they open, so the change is made once Deployments are watched.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !api.requests().iter().any(|r| r.starts_with("/apis/apps/v1/deployments?") && r.contains("watch=true")) {
        assert!(Instant::now() < deadline, "Deployments are not watched: {:?}", api.requests());
        std::thread::sleep(Duration::from_millis(25));
    }
    api.apply(scaled);
    let took = time_to_finding(port, "domain=drift", "/apps.Deployment/shop/web");
    eprintln!("a cluster change became a drift finding in {took:?}");
    assert!(took < Duration::from_secs(2), "the change became a finding after {took:?}");
}

#[test]
fn a_privileged_pod_made_in_the_cluster_is_a_live_posture_finding_and_a_notification_within_two_seconds() {
    // Nobody declared it: a Pod created by hand on the cluster (day2_testkit::kube_api, a local server speaking the
    // Kubernetes API's wire format, watches included). It is drift (unmanaged) and, what matters more, a privileged
    // container: the posture checks run on live state too.
    let sink = day2_testkit::http_sink::HttpSink::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let live: Value = serde_saphyr::from_str(DEPLOYMENT).unwrap();
    let api = day2_testkit::kube_api::KubeApi::start(vec![live]).unwrap();
    let kubeconfig = api.kubeconfig(dir.path(), "prod-admin").unwrap();
    std::fs::write(dir.path().join("web.yaml"), DEPLOYMENT).unwrap();
    let config = dir.path().join("day2.yaml");
    std::fs::write(
        &config,
        format!(
            "sources:\n  - manifests:\n      paths: [web.yaml]\n      cluster: prod\n  - kubernetes:\n      cluster: prod\n      kubeconfig: {}\nnotifications:\n  - name: hook\n    route: {{domains: [security], min_severity: high}}\n    webhook: {{url: '{}'}}\n",
            kubeconfig.display(),
            sink.url("/day2")
        ),
    )
    .unwrap();
    let (_server, port) = serve_config(dir.path(), config.to_str().unwrap());
    let debug = |f: &&Value| f["resource"].as_str().unwrap().ends_with("/Pod/shop/debug");
    assert!(!json(port, "/api/v1/findings").as_array().unwrap().iter().any(|f| debug(&f)));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !api.requests().iter().any(|r| r.starts_with("/api/v1/pods?") && r.contains("watch=true")) {
        assert!(Instant::now() < deadline, "Pods are not watched: {:?}", api.requests());
        std::thread::sleep(Duration::from_millis(25));
    }
    let mut pod: Value = serde_saphyr::from_str(PRIVILEGED_POD).unwrap();
    pod["metadata"]["uid"] = "9b1c6a2e-0000-4000-8000-000000000001".into();
    let start = Instant::now();
    api.apply(pod);
    let took = time_to_finding(port, "domain=security", "/Pod/shop/debug");
    wait_for(&sink, "opened", |r| r.iter().any(|r| about_debug_pod(r, "opened")));
    let notified = start.elapsed();
    eprintln!("a privileged Pod made in the cluster became a finding in {took:?} and a notification in {notified:?}");
    assert!(notified < Duration::from_secs(2), "the notification came after {notified:?}");
    let findings = json(port, "/api/v1/findings?domain=security");
    let privileged = findings
        .as_array()
        .unwrap()
        .iter()
        .filter(debug)
        .find(|f| f["rule_id"] == "K8S-POD-001")
        .unwrap_or_else(|| panic!("no K8S-POD-001 on the live Pod: {findings}"));
    assert_eq!(privileged["sides"], serde_json::json!(["live"]), "{privileged}");
    assert!(privileged.get("file").is_none(), "a live finding names no file: {privileged}");
}

const PRIVILEGED_POD: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: debug\n  namespace: shop\nspec:\n  containers:\n    - name: shell\n      image: busybox:1.36\n      securityContext: {privileged: true}\n";

/// Waits until `check` holds for what the sink received.
fn wait_for(
    sink: &day2_testkit::http_sink::HttpSink,
    what: &str,
    check: impl Fn(&[day2_testkit::http_sink::Received]) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check(&sink.received()) {
        assert!(Instant::now() < deadline, "{what}: not after 60 s; received {:?}", sink.received());
        std::thread::sleep(Duration::from_millis(25));
    }
}

fn about_debug_pod(r: &day2_testkit::http_sink::Received, transition: &str) -> bool {
    let body = r.json();
    body["transition"] == transition
        && body["finding"]["resource"].as_str().unwrap_or_default().ends_with("/Pod/shop/debug")
}

#[test]
fn findings_are_notified_signed_retried_and_kept_across_a_kill() {
    let sink = day2_testkit::http_sink::HttpSink::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("k8s")).unwrap();
    std::fs::write(dir.path().join("k8s/web.yaml"), DEPLOYMENT).unwrap();
    let config = dir.path().join("day2.yaml");
    std::fs::write(
        &config,
        format!(
            "sources:\n  - manifests:\n      paths: [k8s]\n      cluster: prod\nnotifications:\n  - name: hook\n    route: {{min_severity: high}}\n    webhook: {{url: '{}', secret_env: HOOK_SECRET}}\n",
            sink.url("/day2")
        ),
    )
    .unwrap();
    let env = [("HOOK_SECRET", "s3cret")];
    let (server, port) = serve_with_env(dir.path(), config.to_str().unwrap(), &env);
    assert_eq!(sink.received().len(), 0, "the Deployment has no high findings");

    // A committed privileged Pod: a finding, and the webhook told, within two seconds.
    let written = Instant::now();
    std::fs::write(dir.path().join("k8s/debug.yaml"), PRIVILEGED_POD).unwrap();
    wait_for(&sink, "opened", |r| r.iter().any(|r| about_debug_pod(r, "opened")));
    let opened = sink.received().into_iter().find(|r| about_debug_pod(r, "opened")).unwrap();
    let took = opened.at.duration_since(written);
    eprintln!("a changed file was notified in {took:?}");
    assert!(took < Duration::from_secs(2), "notified after {took:?}");
    assert_eq!(
        opened.header("x-day2-signature"),
        Some(format!("sha256={}", day2_server::notify::sign(b"s3cret", &opened.body)).as_str())
    );
    assert_eq!(opened.header("x-day2-event"), Some(opened.json()["event_id"].to_string().as_str()));
    let high_or_critical: usize = ["critical", "high"]
        .iter()
        .map(|s| json(port, &format!("/api/v1/findings?severity={s}")).as_array().unwrap().len())
        .sum();
    wait_for(&sink, "one event per high or critical finding", |r| r.len() == high_or_critical);

    // The receiver fails twice: the resolution arrives anyway, after the retries.
    sink.fail_next(2);
    std::fs::remove_file(dir.path().join("k8s/debug.yaml")).unwrap();
    wait_for(&sink, "resolved", |r| r.iter().any(|r| about_debug_pod(r, "resolved")));
    assert_eq!(sink.refused(), 2);

    // The receiver is down, the Pod comes back, and day2 is killed (-9) before it can deliver: after a restart on the
    // same store, the event is delivered.
    sink.fail_next(usize::MAX);
    std::fs::write(dir.path().join("k8s/debug.yaml"), PRIVILEGED_POD).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while sink.refused() < 3 {
        assert!(Instant::now() < deadline, "no delivery attempt for the reopened finding");
        std::thread::sleep(Duration::from_millis(25));
    }
    let pid = server.0.id().to_string();
    assert!(std::process::Command::new("kill").args(["-KILL", &pid]).status().unwrap().success());
    drop(server);
    sink.fail_next(0);
    let (_server, _port) = serve_with_env(dir.path(), config.to_str().unwrap(), &env);
    wait_for(&sink, "reopened after the restart", |r| r.iter().any(|r| about_debug_pod(r, "reopened")));
    let events: Vec<i64> = sink.received().iter().map(|r| r.json()["event_id"].as_i64().unwrap()).collect();
    let mut unique = events.clone();
    unique.dedup();
    assert_eq!(events, unique, "each event delivered once here, in order");
}

/// Alertmanager's active alerts about the debug Pod.
fn debug_pod_alerts(port: u16) -> Vec<Value> {
    let Ok((200, body)) = get(port, "/api/v2/alerts?active=true") else { return Vec::new() };
    let alerts: Vec<Value> = serde_json::from_str(&body).unwrap_or_default();
    alerts
        .into_iter()
        .filter(|a| a["labels"]["resource"].as_str().unwrap_or_default().ends_with("/Pod/shop/debug"))
        .collect()
}

#[test]
fn a_real_alertmanager_receives_and_resolves_day2_alerts() {
    let binary = std::path::Path::new("/usr/bin/prometheus-alertmanager");
    if !binary.is_file() {
        assert!(std::env::var_os("DAY2_REQUIRE_ALERTMANAGER").is_none(), "Alertmanager is required but not installed");
        eprintln!("skipped: Alertmanager is not installed (apt-get install prometheus-alertmanager)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let am_config = dir.path().join("alertmanager.yml");
    std::fs::write(&am_config, "route:\n  receiver: nobody\nreceivers:\n  - name: nobody\n").unwrap();
    let am_port = free_port();
    let _alertmanager = Server(
        std::process::Command::new(binary)
            .arg(format!("--config.file={}", am_config.display()))
            .arg(format!("--storage.path={}", dir.path().join("am").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{am_port}"))
            .arg("--cluster.listen-address=")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while get(am_port, "/-/ready").map(|(s, _)| s).unwrap_or(0) != 200 {
        assert!(Instant::now() < deadline, "Alertmanager not ready after 60 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::fs::create_dir(dir.path().join("k8s")).unwrap();
    std::fs::write(dir.path().join("k8s/debug.yaml"), PRIVILEGED_POD).unwrap();
    let config = dir.path().join("day2.yaml");
    std::fs::write(
        &config,
        format!("sources:\n  - manifests:\n      paths: [k8s]\n      cluster: prod\nnotifications:\n  - name: am\n    route: {{min_severity: high}}\n    alertmanager: {{url: 'http://127.0.0.1:{am_port}'}}\n"),
    )
    .unwrap();
    let (_server, _port) = serve_config(dir.path(), config.to_str().unwrap());

    // Through Alertmanager's own API: day2's alert, with its labels.
    let deadline = Instant::now() + Duration::from_secs(30);
    let alerts = loop {
        let alerts = debug_pod_alerts(am_port);
        if !alerts.is_empty() {
            break alerts;
        }
        assert!(Instant::now() < deadline, "no day2 alert in Alertmanager after 30 s");
        std::thread::sleep(Duration::from_millis(100));
    };
    let alert = &alerts[0];
    assert_eq!(alert["status"]["state"], "active", "{alert}");
    assert!(alert["labels"]["alertname"].as_str().unwrap().starts_with("K8S-"), "{alert}");
    assert!(["high", "critical"].contains(&alert["labels"]["severity"].as_str().unwrap()), "{alert}");
    assert!(!alert["annotations"]["description"].as_str().unwrap().is_empty());

    // The Pod removed: the finding resolves, and Alertmanager ends the alert.
    std::fs::remove_file(dir.path().join("k8s/debug.yaml")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !debug_pod_alerts(am_port).is_empty() {
        assert!(Instant::now() < deadline, "the alert is still active 30 s after the finding resolved");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_real_prometheus_scrapes_day2() {
    let binary = std::path::Path::new("/usr/bin/prometheus");
    if !binary.is_file() {
        assert!(std::env::var_os("DAY2_REQUIRE_PROMETHEUS").is_none(), "Prometheus is required but not installed");
        eprintln!("skipped: Prometheus is not installed (apt-get install prometheus)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_server, day2_port) = serve_example_fleet(dir.path());
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!("global: {{scrape_interval: 1s}}\nscrape_configs:\n  - job_name: day2\n    static_configs: [{{targets: ['127.0.0.1:{day2_port}']}}]\n"),
    )
    .unwrap();
    let port = free_port();
    let _prometheus = Server(
        std::process::Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("tsdb").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Through Prometheus' query API: the scraped series, with its labels, once a scrape has happened.
    let deadline = Instant::now() + Duration::from_secs(90);
    let sample = loop {
        let answer = get(port, "/api/v1/query?query=day2_findings").ok().filter(|(status, _)| *status == 200);
        let series: Vec<Value> = answer
            .and_then(|(_, body)| serde_json::from_str::<Value>(&body).ok())
            .and_then(|v| v["data"]["result"].as_array().cloned())
            .unwrap_or_default();
        if let Some(s) = series.iter().find(|s| s["metric"]["domain"] == "drift" && s["metric"]["severity"] == "high") {
            break s.clone();
        }
        assert!(Instant::now() < deadline, "no day2_findings series in Prometheus after 90 s: {series:?}");
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(sample["metric"]["job"], "day2");
    assert_eq!(sample["value"][1], "1", "one missing object: {sample}");
}

/// Which replica holds each lease, as a replica's API reports it.
fn lease_holders(port: u16) -> std::collections::BTreeMap<String, String> {
    let leases = json(port, "/api/v1/leases");
    leases["leases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["name"].as_str().unwrap().to_owned(), l["holder"].as_str().unwrap().to_owned()))
        .collect()
}

/// One number from the store, through `day2 query`.
fn count(store: &str, sql: &str) -> i64 {
    let out = common::day2(&["query", "--store", store, "-o", "json", sql]);
    assert_eq!(common::code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    common::json_of(&out)[0]["n"].as_i64().unwrap()
}

/// The job leases of a replica's lease table (`replica:` leases say who is alive), by holder.
fn jobs_by_holder(port: u16) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut by_holder: std::collections::BTreeMap<String, Vec<String>> = std::collections::BTreeMap::new();
    for (lease, holder) in lease_holders(port) {
        if !lease.starts_with("replica:") {
            by_holder.entry(holder).or_default().push(lease);
        }
    }
    by_holder
}

/// Two replicas on one PostgreSQL store (a scratch database on the machine's server, 127.0.0.1:5432), with a
/// manifests folder, a cluster (a local Kubernetes wire-format server) and a notifier: the second to start takes
/// its share of the jobs from the first; a change is collected, analyzed and told once, whichever replica holds
/// which job; the first is killed (-9) and the other takes every job within one lease period, losing nothing
/// recorded before the kill; then the killed one comes back and takes its share again.
#[test]
fn two_replicas_share_the_work_and_a_killed_one_hands_over_within_a_lease() {
    let Some(db) = day2_testkit::postgres::ScratchDatabase::create().unwrap() else { return };
    let sink = day2_testkit::http_sink::HttpSink::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let live: Value = serde_saphyr::from_str(DEPLOYMENT).unwrap();
    let api = day2_testkit::kube_api::KubeApi::start(vec![live]).unwrap();
    let kubeconfig = api.kubeconfig(dir.path(), "prod-admin").unwrap();
    std::fs::create_dir(dir.path().join("k8s")).unwrap();
    std::fs::write(dir.path().join("k8s/web.yaml"), DEPLOYMENT).unwrap();
    let config = dir.path().join("day2.yaml");
    std::fs::write(
        &config,
        format!(
            "sources:\n  - manifests:\n      paths: [k8s]\n      cluster: prod\n  - kubernetes:\n      cluster: prod\n      kubeconfig: {}\nnotifications:\n  - name: hook\n    route: {{min_severity: high}}\n    webhook: {{url: '{}'}}\nserve:\n  lease_seconds: 2\n",
            kubeconfig.display(),
            sink.url("/day2")
        ),
    )
    .unwrap();
    let (config, store) = (config.to_str().unwrap(), db.url.as_str());
    let lease = Duration::from_secs(2);
    let manifests = format!("job:collect:manifests:{}", dir.path().join("k8s").display());
    let every_job = ["job:check", "job:collect:live:prod", &manifests, "job:drift", "notify"];

    let (a, a_port) = serve_store(config, store, &[]);
    let a_name = json(a_port, "/api/v1/leases")["replica"].as_str().unwrap().to_owned();
    let held = jobs_by_holder(a_port);
    assert_eq!(held.keys().collect::<Vec<_>>(), [&a_name], "alone, the first replica runs every job");
    assert_eq!(held[&a_name], every_job);
    let (_b, b_port) = serve_store(config, store, &[]);
    let b_name = json(b_port, "/api/v1/leases")["replica"].as_str().unwrap().to_owned();
    assert_ne!(a_name, b_name);
    // The first gives up what is over its share (3 of 5), the second takes it.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let held = jobs_by_holder(b_port);
        let mut all: Vec<&String> = held.values().flatten().collect();
        all.sort();
        if held.len() == 2 && held.values().all(|jobs| jobs.len() <= 3) && all == every_job {
            break;
        }
        assert!(Instant::now() < deadline, "the jobs were not divided: {held:?}");
        std::thread::sleep(Duration::from_millis(50));
    }

    // Each replica reports the jobs it runs, not those it gave up.
    for (port, name) in [(a_port, &a_name), (b_port, &b_name)] {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let held = jobs_by_holder(port).remove(name).unwrap_or_default();
            let reported: Vec<String> = json(port, "/api/v1/sources")["jobs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|j| format!("job:{}", j["job"].as_str().unwrap()))
                .collect();
            if reported.iter().all(|job| held.contains(job)) {
                break;
            }
            assert!(Instant::now() < deadline, "{name} reports {reported:?} but holds {held:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    // A change: collected by one replica, analyzed by whichever holds the check, told once by the notify holder.
    std::fs::write(dir.path().join("k8s/debug.yaml"), PRIVILEGED_POD).unwrap();
    wait_for(&sink, "opened", |r| r.iter().any(|r| about_debug_pod(r, "opened")));
    std::thread::sleep(Duration::from_secs(1));
    let delivered: Vec<i64> = sink.received().iter().map(|r| r.json()["event_id"].as_i64().unwrap()).collect();
    let mut once = delivered.clone();
    once.sort_unstable();
    once.dedup();
    assert_eq!(delivered.len(), once.len(), "each event told once, by one replica: {delivered:?}");

    // The first replica is killed; the second takes every job within one lease period.
    let pid = a.0.id().to_string();
    assert!(std::process::Command::new("kill").args(["-KILL", &pid]).status().unwrap().success());
    let killed = Instant::now();
    drop(a);
    while jobs_by_holder(b_port).get(&b_name).map(Vec::len) != Some(every_job.len()) {
        assert!(killed.elapsed() < Duration::from_secs(30), "no hand-over: {:?}", jobs_by_holder(b_port));
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = killed.elapsed();
    // Nothing changed since the kill: what the store holds now is what the killed replica left.
    let runs_at_kill = count(store, "SELECT count(*) AS n FROM runs");
    let events_at_kill = count(store, "SELECT count(*) AS n FROM finding_events");
    let findings_at_kill = count(store, "SELECT count(*) AS n FROM findings");
    eprintln!("the killed replica's jobs moved in {took:?} (lease {lease:?})");
    assert!(took < lease, "handed over after {took:?}");

    // The Pod is deleted: the new holder of every job collects, analyzes and tells the resolution.
    std::fs::remove_file(dir.path().join("k8s/debug.yaml")).unwrap();
    wait_for(&sink, "resolved", |r| r.iter().any(|r| about_debug_pod(r, "resolved")));
    let runs = count(store, "SELECT count(*) AS n FROM runs");
    assert!(runs > runs_at_kill, "{runs} runs, {runs_at_kill} at the kill: {}", json(b_port, "/api/v1/sources"));
    assert!(count(store, "SELECT count(*) AS n FROM finding_events") > events_at_kill);
    assert_eq!(count(store, "SELECT count(*) AS n FROM findings"), findings_at_kill, "no finding lost");
    let missing_pod = "SELECT count(*) AS n FROM finding_list WHERE rule_id = 'DRIFT-MISSING' AND state = 'resolved'";
    let deadline = Instant::now() + Duration::from_secs(30);
    while count(store, missing_pod) != 1 {
        assert!(Instant::now() < deadline, "the drift job did not resolve the Pod, no longer declared, as missing");
        std::thread::sleep(Duration::from_millis(50));
    }

    // The killed replica restarts on the same store and takes its share back.
    let (_a, a_port) = serve_store(config, store, &[]);
    let a_name = json(a_port, "/api/v1/leases")["replica"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    while jobs_by_holder(a_port).get(&a_name).is_none_or(Vec::is_empty) {
        assert!(Instant::now() < deadline, "the restarted replica took no job: {:?}", jobs_by_holder(a_port));
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until `replicas` replicas hold all `jobs` job leases between them, none more than its fair share
/// ⌈jobs/replicas⌉, as a replica's lease table says; returns who holds what.
fn divided(port: u16, jobs: usize, replicas: usize) -> std::collections::BTreeMap<String, Vec<String>> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let held = jobs_by_holder(port);
        let total: usize = held.values().map(Vec::len).sum();
        let fair = jobs.div_ceil(replicas);
        if held.len() == replicas && total == jobs && held.values().all(|j| j.len() <= fair) {
            return held;
        }
        assert!(Instant::now() < deadline, "not divided among {replicas}: {held:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One collection, as the store logged it.
#[derive(Debug)]
struct Collection {
    source: String,
    holder: String,
    started_at: chrono::DateTime<chrono::Utc>,
    finished_at: chrono::DateTime<chrono::Utc>,
}

fn collections(store: &str) -> Vec<Collection> {
    let sql = "SELECT source, holder, started_at, finished_at FROM collections ORDER BY source, started_at";
    let out = common::day2(&["query", "--store", store, "-o", "json", "--limit", "100000", sql]);
    assert_eq!(common::code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let time = |v: &Value| v.as_str().unwrap().parse::<chrono::DateTime<chrono::Utc>>().unwrap();
    common::json_of(&out)
        .as_array()
        .unwrap()
        .iter()
        .map(|row| Collection {
            source: row["source"].as_str().unwrap().to_owned(),
            holder: row["holder"].as_str().unwrap().to_owned(),
            started_at: time(&row["started_at"]),
            finished_at: time(&row["finished_at"]),
        })
        .collect()
}

/// Three replicas on one PostgreSQL store with 30 sources — 25 manifests folders and 5 clusters behind a slow
/// Kubernetes wire-format server (a local one: no real API server runs here), so a collection takes a while —
/// divide the 32 jobs (the collections, check and drift): each holds at most its fair share ⌈32/3⌉ (well inside the
/// 1.5× asked for), and each source is collected by exactly one replica at a time (the store's collection log: no
/// two collections of one source overlap). A change to every folder is collected by whichever replica holds it. One
/// replica is killed (-9): every source it collected is collected again by another within one lease period, and the
/// two left hold their fair shares.
#[test]
fn three_replicas_divide_thirty_sources_and_a_killed_ones_are_collected_again_within_a_lease() {
    let Some(db) = day2_testkit::postgres::ScratchDatabase::create().unwrap() else { return };
    let dir = tempfile::tempdir().unwrap();
    let live: Value = serde_saphyr::from_str(DEPLOYMENT).unwrap();
    let api = day2_testkit::kube_api::KubeApi::start(vec![live]).unwrap();
    api.set_latency(Duration::from_millis(20));
    let kubeconfig = api.kubeconfig(dir.path(), "admin").unwrap();
    let mut text = "sources:\n".to_owned();
    for i in 0..25 {
        std::fs::create_dir(dir.path().join(format!("s{i}"))).unwrap();
        let deployment = DEPLOYMENT.replace("name: web", &format!("name: web-{i}"));
        std::fs::write(dir.path().join(format!("s{i}/app.yaml")), deployment).unwrap();
        text.push_str(&format!("  - manifests: {{paths: [s{i}], cluster: c{i}}}\n"));
    }
    for i in 0..5 {
        text.push_str(&format!("  - kubernetes: {{cluster: k{i}, kubeconfig: {}}}\n", kubeconfig.display()));
    }
    // A 4 s lease: a dead replica's grants lapse within 2 s and are taken within 1 s more, which leaves a second of
    // the lease on a loaded machine.
    text.push_str("serve:\n  lease_seconds: 4\n");
    let config = dir.path().join("day2.yaml");
    std::fs::write(&config, text).unwrap();
    let (config, store) = (config.to_str().unwrap(), db.url.as_str());
    let (lease, jobs) = (Duration::from_secs(4), 32usize);

    let started = Instant::now();
    let mut replicas: Vec<(Server, u16)> = (0..3).map(|_| serve_store(config, store, &[])).collect();
    let port = replicas[0].1;
    let held = divided(port, jobs, 3);
    let shares: Vec<usize> = held.values().map(Vec::len).collect();
    eprintln!("three replicas divided {jobs} jobs as {shares:?} within {:?} of the first start", started.elapsed());

    // Work for everyone: every folder changes, and each is collected again by the replica holding it.
    let changed_at = chrono::Utc::now();
    for i in 0..25 {
        let path = dir.path().join(format!("s{i}/app.yaml"));
        let changed = std::fs::read_to_string(&path).unwrap().replace("replicas: 2", "replicas: 3");
        std::fs::write(path, changed).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let log = collections(store);
        let again: std::collections::BTreeSet<&str> =
            log.iter().filter(|c| c.started_at > changed_at).map(|c| c.source.as_str()).collect();
        if again.iter().filter(|s| s.starts_with("manifests:")).count() == 25 {
            break;
        }
        assert!(Instant::now() < deadline, "changed folders not collected again: {again:?}");
        std::thread::sleep(Duration::from_millis(100));
    }

    // The replica with the most collections is killed.
    let names: Vec<String> = replicas
        .iter()
        .map(|(_, port)| json(*port, "/api/v1/leases")["replica"].as_str().unwrap().to_owned())
        .collect();
    let held = jobs_by_holder(port);
    let victim = (0..3).max_by_key(|i| held.get(&names[*i]).map_or(0, Vec::len)).unwrap();
    let orphaned: Vec<String> =
        held[&names[victim]].iter().filter_map(|l| l.strip_prefix("job:collect:").map(str::to_owned)).collect();
    assert!(!orphaned.is_empty());
    let (server, _) = replicas.remove(victim);
    assert!(std::process::Command::new("kill").args(["-KILL", &server.0.id().to_string()]).status().unwrap().success());
    let killed_at = chrono::Utc::now();
    let killed = Instant::now();
    drop(server);
    let port = replicas[0].1;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let log = collections(store);
        let again = |source: &String| {
            log.iter().any(|c| &c.source == source && c.holder != names[victim] && c.started_at > killed_at)
        };
        if orphaned.iter().all(again) {
            break;
        }
        assert!(Instant::now() < deadline, "the killed replica's sources were not collected again");
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = collections(store);
    let latest = orphaned
        .iter()
        .filter_map(|source| {
            log.iter().filter(|c| &c.source == source && c.started_at > killed_at).map(|c| c.started_at).min()
        })
        .max()
        .unwrap();
    let took = (latest - killed_at).to_std().unwrap();
    eprintln!(
        "the killed replica's {} sources were all collected again within {took:?} of the kill (lease {lease:?}; seen by the test after {:?})",
        orphaned.len(),
        killed.elapsed()
    );
    assert!(took < lease, "collected again after {took:?}");
    let held = divided(port, jobs, 2);
    eprintln!("two replicas hold {:?}", held.values().map(Vec::len).collect::<Vec<_>>());

    // Exactly one replica at a time: no two collections of a source overlap, over the whole test.
    let log = collections(store);
    let slowest = log.iter().map(|c| c.finished_at - c.started_at).max().unwrap();
    eprintln!("{} collections, the slowest {} ms", log.len(), slowest.num_milliseconds());
    assert!(log.len() >= 60, "every source collected at least twice: {} collections", log.len());
    for pair in log.windows(2) {
        if pair[0].source == pair[1].source {
            assert!(pair[1].started_at >= pair[0].finished_at, "two collections of one source overlap: {pair:?}");
        }
    }
    let by: std::collections::BTreeSet<&str> = log.iter().map(|c| c.holder.as_str()).collect();
    assert_eq!(by.len(), 3, "every replica collected: {by:?}");
}

/// A self-signed certificate for 127.0.0.1, written as PEM files named after `name`.
fn certificate(dir: &std::path::Path, name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    let (cert, key) = (dir.join(format!("{name}.crt")), dir.join(format!("{name}.key")));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    (cert, key)
}

/// `curl --cacert ca https://127.0.0.1:port/path`: the body, or None when the TLS handshake or request fails.
fn https_get(port: u16, path: &str, ca: &std::path::Path) -> Option<String> {
    let output = std::process::Command::new("curl")
        .args(["-sS", "--fail", "--max-time", "10", "--cacert"])
        .arg(ca)
        .arg(format!("https://127.0.0.1:{port}{path}"))
        .output()
        .unwrap();
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// A collection that hangs — every answer of a cluster's API (the local wire-format server: no real API server runs
/// here) delayed by 3 s, against a timeout of 1 s — is abandoned and reported as its job's error; once the API answers
/// again, the source is collected again and the error clears. A server whose read hangs (30 s a request) is ready
/// all the same and stops without waiting for it.
#[test]
fn a_hung_collection_is_abandoned_reported_and_read_again_when_the_source_answers() {
    let dir = tempfile::tempdir().unwrap();
    let live: Value = serde_saphyr::from_str(DEPLOYMENT).unwrap();
    let api = day2_testkit::kube_api::KubeApi::start(vec![live]).unwrap();
    api.set_latency(Duration::from_secs(3));
    let kubeconfig = api.kubeconfig(dir.path(), "admin").unwrap();
    let config = dir.path().join("day2.yaml");
    let text = format!(
        "sources:\n  - kubernetes: {{cluster: k, kubeconfig: {}}}\nserve:\n  lease_seconds: 4\n  collection_timeout_seconds: 1\n",
        kubeconfig.display()
    );
    std::fs::write(&config, text).unwrap();
    let config = config.to_str().unwrap();
    let until = |port: u16, what: &str, holds: &dyn Fn(&Value) -> bool| {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let sources = json(port, "/api/v1/sources");
            let job = sources["jobs"].as_array().unwrap().iter().find(|j| j["job"] == "collect:live:k").cloned();
            if job.as_ref().is_some_and(holds) {
                return job.unwrap();
            }
            assert!(Instant::now() < deadline, "{what}: not after 60 s; the job: {job:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let timed_out = |job: &Value| {
        job["error"].as_str().is_some_and(|e| e.contains("longer than 1 s (serve.collection_timeout_seconds)"))
    };

    let (mut server, port) = serve_config(dir.path(), config);
    until(port, "the hung collection reported", &timed_out);
    // Retried while the abandoned read still runs: not started a second time beside it, and said so.
    until(port, "the retry that waits for the abandoned read", &|job| {
        job["error"].as_str().is_some_and(|e| e.contains("is still running; not started again"))
    });
    api.set_latency(Duration::ZERO);
    let read = until(port, "the source read again", &|job| job.get("error").is_none() && job["resources"] != 0);
    assert_eq!(read["resources"], 1, "{read}");
    terminate(&mut server);

    api.set_latency(Duration::from_secs(30));
    let (mut server, port) = serve_config(dir.path(), config);
    until(port, "a hang from the start reported", &timed_out);
    let asked = Instant::now();
    terminate(&mut server);
    assert!(asked.elapsed() < Duration::from_secs(15), "stopping waited {:?} for the hung read", asked.elapsed());
}

/// HTTPS with a certificate that is renewed in place: the API answers over TLS only, a SIGHUP serves the new
/// certificate without a restart, and a key that does not match stops the start naming the files. The client is curl.
#[test]
fn serves_https_and_reloads_a_renewed_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path(), "first");
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let store = dir.path().join("day2.db");
    let serve = |cert: &std::path::Path, key: &std::path::Path| {
        common::command(&["serve", "-c", "examples/fleet/day2.yaml", "--listen", &listen, "--interval", "1h"])
            .args(["--store".as_ref(), store.as_os_str(), "--tls-cert".as_ref(), cert.as_os_str()])
            .args(["--tls-key".as_ref(), key.as_os_str()])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let server = Server(serve(&cert, &key));
    let deadline = Instant::now() + Duration::from_secs(120);
    while https_get(port, "/readyz", &cert).is_none() {
        assert!(Instant::now() < deadline, "not ready over HTTPS");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(https_get(port, "/healthz", &cert).as_deref(), Some("ok\n"));
    assert!(https_get(port, "/api/v1/findings?severity=critical", &cert).unwrap().starts_with('['));
    assert_ne!(get(port, "/healthz").map(|(status, _)| status).unwrap_or(0), 200, "plain HTTP is not served");

    // The certificate is renewed in place (new key too) and the process told with SIGHUP.
    let (renewed, renewed_key) = certificate(dir.path(), "second");
    std::fs::copy(&renewed, &cert).unwrap();
    std::fs::copy(&renewed_key, &key).unwrap();
    let pid = server.0.id().to_string();
    assert!(std::process::Command::new("kill").args(["-HUP", &pid]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(30);
    while https_get(port, "/healthz", &renewed).is_none() {
        assert!(Instant::now() < deadline, "the renewed certificate is not served");
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(server);

    // A key that is not the certificate's: no start, and the message names both files.
    let (_, other_key) = certificate(dir.path(), "other");
    let output = serve(&renewed, &other_key).wait_with_output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("second.crt") && stderr.contains("other.key"), "{stderr}");
}

/// Issue [N] 3: an address other hosts can reach is refused without tokens, before anything is opened.
#[test]
fn refuses_an_open_address_without_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("day2.db");
    let listen = format!("0.0.0.0:{}", free_port());
    let out = common::day2(&[
        "serve",
        "-c",
        "examples/fleet/day2.yaml",
        "--listen",
        &listen,
        "--store",
        store.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(common::code(&out), 2, "{stderr}");
    assert!(stderr.contains(&format!("refusing to serve {listen} without API tokens")), "{stderr}");
    assert!(stderr.contains("--allow-anonymous-reads"), "{stderr}");
    assert!(!store.exists(), "the store was opened before the refusal");
}

/// One request with the given `Host` header; the status code.
fn status_for_host(port: u16, host: &str) -> u16 {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(stream, "GET /api/v1/findings HTTP/1.0\r\nHost: {host}\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// Seconds until the server closes a connection that `feed` keeps writing to (or not), at most `limit`.
fn seconds_until_closed(port: u16, limit: Duration, feed: impl Fn(&mut std::net::TcpStream, u32)) -> f64 {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    let started = Instant::now();
    let mut tick = 0;
    let mut buffer = [0_u8; 4096];
    while started.elapsed() < limit {
        feed(&mut stream, tick);
        tick += 1;
        match stream.read(&mut buffer) {
            Ok(0) => return started.elapsed().as_secs_f64(),
            // A response (a 408, or the answer to a whole request): keep reading until the close.
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return started.elapsed().as_secs_f64(),
        }
    }
    f64::INFINITY
}

/// Issue [N] 3: a token-less server answers only its own names (no DNS rebinding), and neither a client that
/// trickles its headers nor an idle keep-alive connection holds a connection open past the header timeout (10 s).
#[test]
fn a_token_less_server_checks_the_host_and_cuts_slow_and_idle_clients() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, port) = serve_example_fleet(dir.path());
    assert_eq!(status_for_host(port, "evil.example"), 421, "a rebound name");
    assert_eq!(status_for_host(port, "localhost:1234"), 200);
    assert_eq!(status_for_host(port, &format!("127.0.0.1:{port}")), 200);

    let limit = Duration::from_secs(40);
    let slow = std::thread::spawn(move || {
        seconds_until_closed(port, limit, |stream, tick| {
            let line = if tick == 0 {
                "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n".to_owned()
            } else {
                format!("X-{tick}: a\r\n")
            };
            let _ = stream.write_all(line.as_bytes());
        })
    });
    let idle = std::thread::spawn(move || {
        seconds_until_closed(port, limit, |stream, tick| {
            if tick == 0 {
                let _ = stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
            }
        })
    });
    let (slow, idle) = (slow.join().unwrap(), idle.join().unwrap());
    assert!((9.0..25.0).contains(&slow), "a slow-header client was cut off after {slow} s");
    assert!((9.0..25.0).contains(&idle), "an idle keep-alive connection was closed after {idle} s");
}
