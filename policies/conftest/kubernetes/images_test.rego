package main

import rego.v1

# A Deployment that passes every check in package main, with the given image.
deployment(image) := {
	"apiVersion": "apps/v1",
	"kind": "Deployment",
	"metadata": {"name": "checkout", "labels": {"app.kubernetes.io/name": "checkout"}},
	"spec": {"template": {"spec": {
		"securityContext": {"runAsNonRoot": true},
		"containers": [{
			"name": "checkout",
			"image": image,
			"resources": {"limits": {"cpu": "500m", "memory": "256Mi"}},
		}],
	}}},
}

test_pinned_deployment_is_clean if {
	inp := deployment("registry.example.com/shop/checkout:1.4.2")
	count(deny) == 0 with input as inp
	count(violation) == 0 with input as inp
	count(warn) == 0 with input as inp
}

test_latest_tag_denied if {
	inp := deployment("registry.example.com/shop/checkout:latest")
	denies := deny with input as inp
	denies == {"Deployment <checkout>: container <checkout> uses the latest tag (registry.example.com/shop/checkout:latest)"}
}

test_missing_tag_denied if {
	inp := deployment("nginx")
	denies := deny with input as inp
	count(denies) == 1
	some msg in denies
	contains(msg, "has no tag")
}

test_registry_port_is_not_a_tag if {
	inp := deployment("registry.example.com:5000/shop/checkout")
	denies := deny with input as inp
	some msg in denies
	contains(msg, "has no tag")
}

test_digest_is_pinned if {
	inp := deployment("registry.example.com/shop/checkout@sha256:0f3c9b2e8a7d6c5b4a39281706f5e4d3c2b1a0f9e8d7c6b5a49382716f5e4d3c")
	count(deny) == 0 with input as inp
}

test_exempt_image_skips_tag_checks if {
	inp := deployment("registry.example.com/pause:latest")
	count(deny) == 0 with input as inp with data.exempt_images as ["registry.example.com/pause"]
}

test_cronjob_containers_are_checked if {
	inp := {
		"kind": "CronJob",
		"metadata": {"name": "nightly-report", "labels": {"app.kubernetes.io/name": "reports"}},
		"spec": {"jobTemplate": {"spec": {"template": {"spec": {
			"securityContext": {"runAsNonRoot": true},
			"containers": [{
				"name": "report",
				"image": "registry.example.com/shop/report:latest",
				"resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
			}],
		}}}}},
	}
	denies := deny with input as inp
	count(denies) == 1
	some msg in denies
	startswith(msg, "CronJob <nightly-report>: container <report> uses the latest tag")
}
