//! The Prometheus source against a real Prometheus (Debian's package): a rules file with alerting and recording
//! rules (two alerts of one name, as warning and critical), and Prometheus scraping itself and a port nobody listens
//! on, so one target is up and one is down. Skips locally when Prometheus is not installed; fails under CI.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::time::{Duration, Instant};

use day2_collect::Source;
use day2_collect::prometheus::PrometheusConfig;
use day2_model::{Provider, Snapshot};

struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

const RULES: &str = r#"groups:
  - name: api
    interval: 1s
    rules:
      - record: job:http_requests:rate5m
        expr: sum by (job) (rate(prometheus_http_requests_total[5m]))
      - alert: HighErrorRate
        expr: vector(1) > 2
        for: 5m
        labels: {severity: warning}
        annotations: {summary: "errors above 2%"}
      - alert: HighErrorRate
        expr: vector(1) > 5
        labels: {severity: critical}
"#;

fn collect(config: &PrometheusConfig) -> Snapshot {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(config.collect())
}

#[test]
fn rules_and_targets_of_a_real_prometheus() {
    let binary = std::path::Path::new("/usr/bin/prometheus");
    if !binary.is_file() {
        assert!(std::env::var_os("DAY2_REQUIRE_PROMETHEUS").is_none(), "Prometheus is required but not installed");
        eprintln!("skipped: Prometheus is not installed (apt-get install prometheus)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yml"), RULES).unwrap();
    let (port, dead) = (free_port(), free_port());
    std::fs::write(
        dir.path().join("prometheus.yml"),
        format!(
            "global: {{scrape_interval: 1s}}\nrule_files: [rules.yml]\nscrape_configs:\n  - job_name: self\n    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n  - job_name: gone\n    static_configs: [{{targets: ['127.0.0.1:{dead}']}}]\n"
        ),
    )
    .unwrap();
    let _prometheus = Killed(
        std::process::Command::new(binary)
            .current_dir(dir.path())
            .arg("--config.file=prometheus.yml")
            .arg(format!("--storage.tsdb.path={}", dir.path().join("tsdb").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let config =
        PrometheusConfig { url: format!("http://127.0.0.1:{port}/"), name: "main".into(), ..Default::default() };
    assert!(config.validate().is_empty());
    // Until both targets have been scraped once (health known) and the rules evaluated.
    let deadline = Instant::now() + Duration::from_secs(60);
    let snapshot = loop {
        let snapshot = collect(&config);
        let healths: Vec<&str> = snapshot
            .resources
            .iter()
            .filter(|r| r.kind == "Target")
            .filter_map(|r| r.attrs.get("health").and_then(|h| h.as_str()))
            .collect();
        if snapshot.complete && healths.len() == 2 && !healths.contains(&"unknown") {
            break snapshot;
        }
        assert!(Instant::now() < deadline, "Prometheus did not scrape both targets in 60 s: {snapshot:?}");
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(snapshot.source, "live:prometheus:main");
    let ids: Vec<&str> = snapshot.resources.iter().map(|r| r.id.as_str()).collect();
    assert!(ids.contains(&"prometheus/main/RecordingRule/api/job:http_requests:rate5m"), "{ids:?}");
    assert!(ids.contains(&"prometheus/main/AlertingRule/api/HighErrorRate"), "{ids:?}");
    assert!(ids.contains(&"prometheus/main/AlertingRule/api/HighErrorRate#2"), "{ids:?}");
    let warning = snapshot.resources.iter().find(|r| r.name == "HighErrorRate").unwrap();
    assert_eq!(warning.provider, Provider::Prometheus);
    assert_eq!(warning.labels["severity"], "warning");
    assert_eq!(warning.attrs.get("duration").and_then(|d| d.as_f64()), Some(300.0), "`for: 5m`");
    assert_eq!(
        warning.attrs.pointer("/group/file").and_then(|f| f.as_str()).map(|f| f.ends_with("rules.yml")),
        Some(true)
    );
    let target = |pool: &str| snapshot.resources.iter().find(|r| r.kind == "Target" && r.namespace == pool).unwrap();
    assert_eq!(target("self").attrs.get("health").and_then(|h| h.as_str()), Some("up"));
    let gone = target("gone");
    assert_eq!(gone.attrs.get("health").and_then(|h| h.as_str()), Some("down"));
    assert!(gone.attrs.get("lastError").and_then(|e| e.as_str()).is_some_and(|e| !e.is_empty()), "{gone:?}");
}

#[test]
fn an_unreachable_server_is_an_incomplete_snapshot_with_a_reason() {
    let config =
        PrometheusConfig { url: format!("http://127.0.0.1:{}", free_port()), timeout_seconds: 2, ..Default::default() };
    let snapshot = collect(&config);
    assert!(!snapshot.complete);
    assert_eq!(snapshot.diagnostics.len(), 2, "{:?}", snapshot.diagnostics);
    assert!(
        snapshot.diagnostics[0].message.starts_with("cannot read the rules: /api/v1/rules:"),
        "{:?}",
        snapshot.diagnostics
    );
}

#[test]
fn a_token_comes_from_the_environment_and_a_missing_one_is_named() {
    let config = PrometheusConfig {
        url: "http://127.0.0.1:9".into(),
        bearer_token_env: Some("DAY2_TEST_PROMETHEUS_TOKEN_UNSET".into()),
        ..Default::default()
    };
    let snapshot = collect(&config);
    assert!(!snapshot.complete);
    assert!(
        snapshot.diagnostics[0].message.contains("`DAY2_TEST_PROMETHEUS_TOKEN_UNSET` is not set"),
        "{:?}",
        snapshot.diagnostics
    );
}
