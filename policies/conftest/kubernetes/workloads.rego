# Rego v0 syntax (no `if`/`contains`): runAsNonRoot, resource limits, and
# LoadBalancer Services. Uses the helpers defined in images.rego.
package main

limit_resources := ["cpu", "memory"]

# METADATA
# title: Containers must not run as root
# description: Set securityContext.runAsNonRoot to true on the container or on the pod.
# custom:
#   severity: high
deny[msg] {
	c := containers[_]
	not runs_as_non_root(c)
	msg := sprintf("%s <%s>: container <%s> must set securityContext.runAsNonRoot to true", [input.kind, resource_name, c.name])
}

runs_as_non_root(c) {
	c.securityContext.runAsNonRoot == true
}

# The pod-level setting applies when the container does not override it.
runs_as_non_root(c) {
	not is_boolean(c.securityContext.runAsNonRoot)
	pod_spec.securityContext.runAsNonRoot == true
}

# METADATA
# title: Containers must declare CPU and memory limits
# custom:
#   severity: medium
violation[{"msg": msg, "details": {"container": c.name, "missing_limits": missing}}] {
	c := containers[_]
	missing := [r | r := limit_resources[_]; not c.resources.limits[r]]
	count(missing) > 0
	msg := sprintf("%s <%s>: container <%s> has no %s limit", [input.kind, resource_name, c.name, concat(" or ", missing)])
}

# METADATA
# title: LoadBalancer Services get an external address
# custom:
#   severity: low
warn[msg] {
	input.kind == "Service"
	input.spec.type == "LoadBalancer"
	msg := sprintf("Service <%s> is of type LoadBalancer and is reachable from outside the cluster; prefer an Ingress or an internal load balancer", [resource_name])
}
