# Rego v1 (with `import rego.v1`): image tag checks, and the helpers that the
# other package-main files share (pod_spec, containers, resource_name).
package main

import rego.v1

workload_kinds := {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}

# The pod spec of a Pod, of a workload's pod template, or of a CronJob's job template.
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

default resource_name := "<unnamed>"

resource_name := input.metadata.name

# Images listed (as prefixes) in data.exempt_images are not checked.
exempt(image) if {
	some prefix in data.exempt_images
	startswith(image, prefix)
}

# A digest pins the image.
pinned(image) if {
	contains(image, "@")
}

# A tag is a ":" in the last path segment (a registry port is not a tag).
pinned(image) if {
	parts := split(image, "/")
	contains(parts[count(parts) - 1], ":")
}

# METADATA
# title: Images must not use the latest tag
# description: The latest tag moves; pin a version or a digest so rollouts are reproducible.
# custom:
#   severity: high
deny contains msg if {
	some c in containers
	not exempt(c.image)
	endswith(c.image, ":latest")
	msg := sprintf("%s <%s>: container <%s> uses the latest tag (%s)", [input.kind, resource_name, c.name, c.image])
}

# METADATA
# title: Images must have an explicit tag or digest
# description: An image without a tag resolves to latest.
# custom:
#   severity: medium
deny contains msg if {
	some c in containers
	not exempt(c.image)
	not pinned(c.image)
	msg := sprintf("%s <%s>: container <%s> image <%s> has no tag and resolves to latest", [input.kind, resource_name, c.name, c.image])
}
