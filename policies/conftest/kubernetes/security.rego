# A non-default namespace: run with `--namespace kubernetes.security` (or all namespaces).
package kubernetes.security

import rego.v1

workload_kinds := {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}

pod_spec := input.spec if {
	input.kind == "Pod"
}

pod_spec := input.spec.template.spec if {
	input.kind in workload_kinds
}

pod_spec := input.spec.jobTemplate.spec.template.spec if {
	input.kind == "CronJob"
}

containers contains c if {
	some c in pod_spec.containers
}

containers contains c if {
	some c in pod_spec.initContainers
}

default name := "<unnamed>"

name := input.metadata.name

# METADATA
# title: Ingresses must terminate TLS
# custom:
#   severity: high
deny contains {"msg": msg, "details": {"hosts": hosts}} if {
	input.kind == "Ingress"
	count(object.get(input.spec, "tls", [])) == 0
	hosts := [rule.host | some rule in object.get(input.spec, "rules", []); rule.host]
	msg := sprintf("Ingress <%s> has no tls section; its hosts are served over plain HTTP", [name])
}

# METADATA
# title: Every Ingress host must be covered by a TLS entry
# custom:
#   severity: medium
deny contains {"msg": msg, "details": {"hosts": [host]}} if {
	input.kind == "Ingress"
	count(object.get(input.spec, "tls", [])) > 0
	some rule in input.spec.rules
	host := rule.host
	not tls_covers(host)
	msg := sprintf("Ingress <%s>: host <%s> is not listed in any tls entry", [name, host])
}

tls_covers(host) if {
	some entry in input.spec.tls
	host in entry.hosts
}

# METADATA
# title: Containers must not be privileged
# custom:
#   severity: critical
deny contains {"msg": msg, "details": {"container": c.name}} if {
	some c in containers
	c.securityContext.privileged == true
	msg := sprintf("%s <%s>: container <%s> runs privileged", [input.kind, name, c.name])
}

# METADATA
# title: hostNetwork exposes the node's network stack
# custom:
#   severity: medium
warn contains {"msg": msg, "details": {}} if {
	pod_spec.hostNetwork == true
	msg := sprintf("%s <%s> uses the host network", [input.kind, name])
}
