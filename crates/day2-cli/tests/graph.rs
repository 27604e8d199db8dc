//! `day2 graph`: the example fleet's topology renders with Graphviz's `dot` (Debian package `graphviz`; skipped
//! locally when absent, required under CI), relations cross from Kubernetes to Terraform/AWS where the data names
//! them, and `--live` adds what only runs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use common::{code, day2, json_of};
use serde_json::Value;

fn edges_of(graph: &Value) -> Vec<(String, String, String)> {
    graph["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap().to_owned();
            (s("from"), s("kind"), s("to"))
        })
        .collect()
}

#[test]
fn the_example_fleet_renders_with_graphviz() {
    let out = day2(&["graph", "examples/fleet", "-o", "dot"]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let dot = String::from_utf8(out.stdout).unwrap();
    assert!(dot.starts_with("digraph day2 {"), "{dot}");
    if std::process::Command::new("dot").arg("-V").output().is_err() {
        assert!(std::env::var_os("CI").is_none(), "Graphviz is required under CI (apt-get install graphviz)");
        eprintln!("skipped rendering: Graphviz is not installed (apt-get install graphviz)");
        return;
    }
    let mut render = std::process::Command::new("dot")
        .arg("-Tsvg")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut render.stdin.take().unwrap(), dot.as_bytes()).unwrap();
    let svg = render.wait_with_output().unwrap();
    assert!(svg.status.success(), "dot rejected the graph: {}", String::from_utf8_lossy(&svg.stderr));
    let svg = String::from_utf8(svg.stdout).unwrap();
    assert!(svg.contains("<svg") && svg.contains("shop/storefront") && svg.contains(">selects<"), "{svg}");
}

#[test]
fn relations_cross_providers_and_live_adds_what_only_runs() {
    let graph = json_of(&day2(&["graph", "-c", "examples/fleet/day2.yaml", "--live", "-o", "json"]));
    let nodes = graph["nodes"].as_array().unwrap();
    let node = |id: &str| nodes.iter().find(|n| n["id"] == id).unwrap_or_else(|| panic!("no node {id}"));
    let debug = node("k8s/shop-prod-eu/apps.Deployment/shop/debug-shell");
    assert_eq!(debug["side"], "live", "{debug}");
    assert!(debug["findings"].as_u64().unwrap() > 0, "its posture findings colour it: {debug}");
    assert_eq!(node("k8s/shop-prod-eu/apps.Deployment/shop/cart")["side"], "declared", "one node for both sides");
    let edges = edges_of(&graph);
    assert!(
        edges.contains(&(
            "k8s/shop-prod-eu/Service/shop/storefront".into(),
            "selects".into(),
            "k8s/shop-prod-eu/apps.Deployment/shop/storefront".into()
        )),
        "{edges:?}"
    );

    // Kubernetes → Terraform where the objects name each other: IRSA, an EBS-backed volume, a load balancer.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("k8s.yaml"),
        r#"apiVersion: v1
kind: ServiceAccount
metadata:
  name: app
  namespace: shop
  annotations: {eks.amazonaws.com/role-arn: "arn:aws:iam::123456789012:role/shop-app"}
---
apiVersion: v1
kind: PersistentVolume
metadata: {name: data}
spec:
  capacity: {storage: 10Gi}
  accessModes: [ReadWriteOnce]
  csi: {driver: ebs.csi.aws.com, volumeHandle: vol-0abc}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  type: LoadBalancer
  ports: [{port: 443}]
status:
  loadBalancer:
    ingress: [{hostname: web-123.eu-west-1.elb.amazonaws.com}]
"#,
    )
    .unwrap();
    let resource = |kind: &str, name: &str, attributes: Value| {
        serde_json::json!({"mode": "managed", "type": kind, "name": name,
            "provider": "provider[\"registry.terraform.io/hashicorp/aws\"]", "instances": [{"attributes": attributes}]})
    };
    let state = serde_json::json!({"version": 4, "terraform_version": "1.9.0", "serial": 1, "lineage": "x", "outputs": {},
    "resources": [
        resource("aws_iam_role", "app", serde_json::json!({"arn": "arn:aws:iam::123456789012:role/shop-app", "name": "shop-app"})),
        resource("aws_ebs_volume", "data", serde_json::json!({"id": "vol-0abc", "size": 10})),
        resource("aws_lb", "web", serde_json::json!({"dns_name": "web-123.eu-west-1.elb.amazonaws.com", "name": "web"})),
    ]});
    std::fs::write(dir.path().join("core.tfstate"), state.to_string()).unwrap();
    let graph = json_of(&day2(&["graph", dir.path().to_str().unwrap(), "-o", "json"]));
    let edges = edges_of(&graph);
    let kinds: Vec<(&str, &str)> = edges
        .iter()
        .map(|(from, kind, to)| (kind.as_str(), if to.starts_with("tf/") { from.as_str() } else { "" }))
        .filter(|(_, from)| !from.is_empty())
        .collect();
    assert!(kinds.contains(&("assumes-role", "k8s/default/ServiceAccount/shop/app")), "{edges:?}");
    assert!(kinds.contains(&("backed-by", "k8s/default/PersistentVolume//data")), "{edges:?}");
    assert!(kinds.contains(&("exposed-through", "k8s/default/Service/shop/web")), "{edges:?}");

    // The neighbourhood of one resource, and an id that names nothing.
    let around = json_of(&day2(&[
        "graph",
        dir.path().to_str().unwrap(),
        "-o",
        "json",
        "--around",
        "k8s/default/ServiceAccount/shop/app",
        "--depth",
        "1",
    ]));
    assert_eq!(around["nodes"].as_array().unwrap().len(), 2, "{around}");
    let out = day2(&["graph", dir.path().to_str().unwrap(), "--around", "k8s/nope"]);
    assert_eq!(code(&out), 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no resource has that id"));
}
