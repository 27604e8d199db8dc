//! Well-known Kubernetes fields with the wrong JSON type (`replicas: three`, `privileged: "yes"`): the API server
//! rejects such an object, but a YAML reader accepts it and a check reading `privileged == true` would pass it
//! silently. Each one found is a diagnostic naming the field; the object is still read and checked for the rest.
//!
//! The table covers the fields day2's checks decide on (security context, host namespaces, replicas, ports); their
//! types are those of the Kubernetes API reference (k8s-openapi's `PodSpec`, `SecurityContext`, `DeploymentSpec`).

use serde_json::Value;

/// A JSON type a field must have.
#[derive(Clone, Copy)]
enum Type {
    Boolean,
    Integer,
    String,
}

impl Type {
    fn name(self) -> &'static str {
        match self {
            Type::Boolean => "a boolean (true or false)",
            Type::Integer => "an integer",
            Type::String => "a string",
        }
    }

    fn holds(self, value: &Value) -> bool {
        match self {
            Type::Boolean => value.is_boolean(),
            Type::Integer => value.is_i64() || value.is_u64(),
            Type::String => value.is_string(),
        }
    }
}

/// Fields of a pod spec.
const POD_SPEC: &[(&str, Type)] = &[
    ("hostNetwork", Type::Boolean),
    ("hostPID", Type::Boolean),
    ("hostIPC", Type::Boolean),
    ("shareProcessNamespace", Type::Boolean),
    ("automountServiceAccountToken", Type::Boolean),
    ("terminationGracePeriodSeconds", Type::Integer),
    ("securityContext/runAsNonRoot", Type::Boolean),
    ("securityContext/runAsUser", Type::Integer),
    ("securityContext/runAsGroup", Type::Integer),
    ("securityContext/fsGroup", Type::Integer),
];

/// Fields of each container.
const CONTAINER: &[(&str, Type)] = &[
    ("name", Type::String),
    ("image", Type::String),
    ("securityContext/privileged", Type::Boolean),
    ("securityContext/allowPrivilegeEscalation", Type::Boolean),
    ("securityContext/readOnlyRootFilesystem", Type::Boolean),
    ("securityContext/runAsNonRoot", Type::Boolean),
    ("securityContext/runAsUser", Type::Integer),
    ("securityContext/runAsGroup", Type::Integer),
];

/// Kinds whose `spec.replicas` is an integer.
const SCALED: &[&str] = &["Deployment", "StatefulSet", "ReplicaSet", "ReplicationController"];

/// One message per well-known field of `object` (of `kind`) whose value has the wrong type.
pub fn wrong_types(kind: &str, object: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let base = kind.rsplit('.').next().unwrap_or(kind);
    if SCALED.contains(&base) {
        check(object, String::new, "spec/replicas", Type::Integer, &mut problems);
    }
    let Some(spec_pointer) = day2_model::k8s::pod_spec_pointer(kind) else { return problems };
    let Some(spec) = object.pointer(spec_pointer) else { return problems };
    for (field, want) in POD_SPEC {
        check(spec, || spec_pointer.to_owned(), field, *want, &mut problems);
    }
    for list in ["containers", "initContainers", "ephemeralContainers"] {
        let Some(containers) = spec.get(list).and_then(Value::as_array) else { continue };
        for (i, container) in containers.iter().enumerate() {
            let at = || format!("{spec_pointer}/{list}/{i}");
            for (field, want) in CONTAINER {
                check(container, at, field, *want, &mut problems);
            }
            for (j, port) in container.get("ports").and_then(Value::as_array).into_iter().flatten().enumerate() {
                check(port, || format!("{}/ports/{j}", at()), "containerPort", Type::Integer, &mut problems);
            }
        }
    }
    problems
}

/// Checks `field` (a `/`-separated path of keys) under `base`. Every object of a run goes through here, so where
/// `base` sits in the object (`base_pointer`) is spelled out only for a message.
fn check(base: &Value, base_pointer: impl FnOnce() -> String, field: &str, want: Type, problems: &mut Vec<String>) {
    let Some(value) = field.split('/').try_fold(base, |v, key| v.get(key)) else { return };
    if value.is_null() || want.holds(value) {
        return;
    }
    let pointer = format!("{}/{field}", base_pointer());
    let found = match value {
        Value::String(s) => format!("the string \"{}\"", s.chars().take(40).collect::<String>()),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::Array(_) => "a list".to_owned(),
        Value::Object(_) => "a mapping".to_owned(),
        Value::Null => "null".to_owned(),
    };
    problems.push(format!(
        "`{}` must be {}, not {found}: the API server rejects it (the rest of the object is still checked)",
        dotted(&pointer),
        want.name()
    ));
}

/// `/spec/template/spec/containers/0/securityContext/privileged` → `spec.template.spec.containers[0].securityContext.privileged`.
fn dotted(pointer: &str) -> String {
    let mut out = String::new();
    for segment in pointer.split('/').skip(1) {
        if segment.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{segment}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(segment);
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn wrong_types_are_named_and_right_ones_pass() {
        let deployment = json!({"spec": {"replicas": "three", "template": {"spec": {
            "hostNetwork": "yes",
            "containers": [{"name": "a", "image": "nginx:1.27", "securityContext": {"privileged": "yes", "runAsUser": 1000},
                            "ports": [{"containerPort": "80"}]}]
        }}}});
        let problems = wrong_types("apps.Deployment", &deployment);
        assert_eq!(problems.len(), 4, "{problems:#?}");
        assert!(problems[0].starts_with("`spec.replicas` must be an integer, not the string \"three\""));
        assert!(
            problems
                .iter()
                .any(|p| p
                    .starts_with("`spec.template.spec.containers[0].securityContext.privileged` must be a boolean"))
        );
        assert!(problems.iter().any(|p| p.contains("containerPort` must be an integer, not the string \"80\"")));
        let good = json!({"spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "a", "securityContext": {"privileged": false}}]}}}});
        assert!(wrong_types("apps.Deployment", &good).is_empty());
        assert!(wrong_types("ConfigMap", &json!({"data": {"replicas": "x"}})).is_empty());
    }
}
