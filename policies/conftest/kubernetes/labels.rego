# Rego v1 keywords without `import rego.v1` (OPA 1.0 style).
package main

label_kinds := {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod"}

required_labels := ["app.kubernetes.io/name"]

has_label(key) if {
	input.metadata.labels[key] != ""
}

# METADATA
# title: Workloads must carry the app.kubernetes.io/name label
# custom:
#   severity: medium
violation contains {"msg": msg, "details": {"missing_labels": missing}} if {
	input.kind in label_kinds
	missing := [key | some key in required_labels; not has_label(key)]
	count(missing) > 0
	msg := sprintf("%s <%s> is missing the label(s) %s", [input.kind, resource_name, concat(", ", missing)])
}
