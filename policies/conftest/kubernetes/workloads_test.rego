package main

# Rego v0 tests (no `if`).

pod_with(container, pod_security) = pod {
	pod := {
		"apiVersion": "v1",
		"kind": "Pod",
		"metadata": {"name": "api", "labels": {"app.kubernetes.io/name": "api"}},
		"spec": {"securityContext": pod_security, "containers": [container]},
	}
}

test_root_container_denied {
	pod := pod_with({"name": "api", "image": "registry.example.com/shop/api:1.0.0", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}, {})
	denies := deny with input as pod
	denies["Pod <api>: container <api> must set securityContext.runAsNonRoot to true"]
	count(denies) == 1
}

test_pod_level_run_as_non_root_allowed {
	pod := pod_with({"name": "api", "image": "registry.example.com/shop/api:1.0.0", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}, {"runAsNonRoot": true})
	count(deny) == 0 with input as pod
}

test_container_override_wins_over_pod {
	pod := pod_with({"name": "api", "image": "registry.example.com/shop/api:1.0.0", "securityContext": {"runAsNonRoot": false}, "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}, {"runAsNonRoot": true})
	denies := deny with input as pod
	msg := denies[_]
	contains(msg, "runAsNonRoot")
}

test_missing_limits_violation {
	pod := pod_with({"name": "api", "image": "registry.example.com/shop/api:1.0.0", "resources": {"limits": {"cpu": "1"}}}, {"runAsNonRoot": true})
	violations := violation with input as pod
	count(violations) == 1
	v := violations[_]
	v.msg == "Pod <api>: container <api> has no memory limit"
	v.details == {"container": "api", "missing_limits": ["memory"]}
}

test_no_resources_reports_both_limits {
	pod := pod_with({"name": "api", "image": "registry.example.com/shop/api:1.0.0"}, {"runAsNonRoot": true})
	violations := violation with input as pod
	v := violations[_]
	v.details.missing_limits == ["cpu", "memory"]
}

test_loadbalancer_warns {
	svc := {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "shop-public"}, "spec": {"type": "LoadBalancer"}}
	warnings := warn with input as svc
	count(warnings) == 1
	msg := warnings[_]
	startswith(msg, "Service <shop-public> is of type LoadBalancer")
}

test_clusterip_does_not_warn {
	svc := {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "shop"}, "spec": {"type": "ClusterIP"}}
	count(warn) == 0 with input as svc
	count(deny) == 0 with input as svc
	count(violation) == 0 with input as svc
}
