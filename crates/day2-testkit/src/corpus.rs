//! Corpus generator for benchmarks and load tests. Output is deterministic for a given size.

use std::io::Write;
use std::path::Path;

use serde_json::json;

/// One Deployment manifest (about 1.5 KiB) for index `i`; every third has problems (no limits, `latest`, privileged).
pub fn deployment(i: usize) -> String {
    let ns = ["shop", "payments", "search", "platform"][i % 4];
    let flawed = i.is_multiple_of(3);
    let image = if flawed {
        format!("registry.example.com/svc-{i}:latest")
    } else {
        format!("registry.example.com/svc-{i}:1.{}.{}", i % 17, i % 5)
    };
    let resources = if flawed {
        String::new()
    } else {
        "          resources:\n            requests: {cpu: 100m, memory: 128Mi}\n            limits: {cpu: 500m, memory: 256Mi}\n".to_owned()
    };
    let security = if flawed {
        "          securityContext:\n            privileged: true\n".to_owned()
    } else {
        "          securityContext:\n            runAsNonRoot: true\n            allowPrivilegeEscalation: false\n            readOnlyRootFilesystem: true\n            capabilities: {drop: [ALL]}\n".to_owned()
    };
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: svc-{i}
  namespace: {ns}
  labels:
    app.kubernetes.io/name: svc-{i}
    app.kubernetes.io/version: \"1.{v}.0\"
    team: team-{t}
spec:
  replicas: {replicas}
  selector:
    matchLabels:
      app.kubernetes.io/name: svc-{i}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: svc-{i}
    spec:
      serviceAccountName: svc-{i}
      containers:
        - name: app
          image: {image}
          ports:
            - containerPort: 8080
          env:
            - name: LOG_LEVEL
              value: info
            - name: DATABASE_HOST
              value: db-{ns}.internal
{resources}{security}          readinessProbe:
            httpGet: {{path: /ready, port: 8080}}
          livenessProbe:
            httpGet: {{path: /healthz, port: 8080}}
",
        v = i % 17,
        t = i % 9,
        replicas = 1 + i % 3,
    )
}

fn service_and_config(i: usize) -> String {
    let ns = ["shop", "payments", "search", "platform"][i % 4];
    format!(
        "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: svc-{i}\n  namespace: {ns}\nspec:\n  selector:\n    app.kubernetes.io/name: svc-{i}\n  ports:\n    - port: 80\n      targetPort: 8080\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: svc-{i}\n  namespace: {ns}\ndata:\n  settings.yaml: |\n    feature_x: true\n    pool_size: {}\n",
        4 + i % 8
    )
}

/// Writes `n` manifest files into `dir` (created if missing), spread over 50 sub-directories. Returns bytes written.
pub fn write_manifests(dir: &Path, n: usize) -> std::io::Result<u64> {
    let mut total = 0u64;
    for i in 0..n {
        let sub = dir.join(format!("team-{:02}", i % 50));
        std::fs::create_dir_all(&sub)?;
        let mut text = deployment(i);
        if i % 5 == 0 {
            text.push_str(&service_and_config(i));
        }
        total += text.len() as u64;
        std::fs::write(sub.join(format!("svc-{i}.yaml")), text)?;
    }
    Ok(total)
}

/// A `terraform show -json` plan with `n` resources (buckets, instances, security groups in turn).
pub fn plan(n: usize) -> serde_json::Value {
    let mut planned = Vec::with_capacity(n);
    let mut changes = Vec::with_capacity(n);
    for i in 0..n {
        let (kind, name, values) = match i % 3 {
            0 => (
                "aws_s3_bucket",
                format!("b{i}"),
                json!({"bucket": format!("corp-bucket-{i}"), "tags": {"owner": "team", "environment": "prod"}}),
            ),
            1 => (
                "aws_instance",
                format!("i{i}"),
                json!({"ami": "ami-0123", "instance_type": "t3.micro", "metadata_options": [{"http_tokens": if i % 2 == 0 { "required" } else { "optional" }}], "root_block_device": [{"encrypted": i % 4 != 1}], "tags": {"owner": "team"}}),
            ),
            _ => (
                "aws_security_group",
                format!("sg{i}"),
                json!({"name": format!("sg-{i}"), "ingress": [{"from_port": 22, "to_port": 22, "protocol": "tcp", "cidr_blocks": [if i % 10 == 2 { "0.0.0.0/0" } else { "10.0.0.0/8" }]}], "tags": {"environment": "dev"}}),
            ),
        };
        let address = format!("{kind}.{name}");
        planned.push(json!({"address": address, "mode": "managed", "type": kind, "name": name, "provider_name": "registry.terraform.io/hashicorp/aws", "schema_version": 0, "values": values, "sensitive_values": {}}));
        changes.push(json!({"address": address, "mode": "managed", "type": kind, "name": name, "provider_name": "registry.terraform.io/hashicorp/aws", "change": {"actions": ["create"], "before": null, "after": values, "after_unknown": {"id": true}}}));
    }
    json!({"format_version": "1.2", "terraform_version": "1.11.4", "planned_values": {"root_module": {"resources": planned}}, "resource_changes": changes})
}

/// Writes [`plan`] pretty-printed to `path`.
pub fn write_plan(path: &Path, n: usize) -> std::io::Result<()> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    serde_json::to_writer_pretty(&mut f, &plan(n)).map_err(std::io::Error::other)?;
    f.flush()
}
