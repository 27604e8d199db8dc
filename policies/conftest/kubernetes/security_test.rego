package kubernetes.security

import rego.v1

ingress(spec) := {
	"apiVersion": "networking.k8s.io/v1",
	"kind": "Ingress",
	"metadata": {"name": "shop", "namespace": "shop"},
	"spec": spec,
}

test_ingress_without_tls_denied if {
	inp := ingress({"rules": [{"host": "shop.example.com"}]})
	denies := deny with input as inp
	count(denies) == 1
	some d in denies
	d.details.hosts == ["shop.example.com"]
	contains(d.msg, "has no tls section")
}

test_ingress_with_tls_allowed if {
	spec := {
		"tls": [{"hosts": ["shop.example.com"], "secretName": "shop-tls"}],
		"rules": [{"host": "shop.example.com"}],
	}
	inp := ingress(spec)
	count(deny) == 0 with input as inp
}

test_host_without_tls_entry_denied if {
	spec := {
		"tls": [{"hosts": ["shop.example.com"], "secretName": "shop-tls"}],
		"rules": [{"host": "shop.example.com"}, {"host": "admin.shop.example.com"}],
	}
	inp := ingress(spec)
	denies := deny with input as inp
	denies == {{
		"msg": "Ingress <shop>: host <admin.shop.example.com> is not listed in any tls entry",
		"details": {"hosts": ["admin.shop.example.com"]},
	}}
}

test_privileged_container_denied if {
	pod := {
		"kind": "Pod",
		"metadata": {"name": "node-debugger"},
		"spec": {"hostNetwork": true, "containers": [{"name": "shell", "image": "registry.example.com/tools/debug:1.0.0", "securityContext": {"privileged": true}}]},
	}
	denies := deny with input as pod
	some d in denies
	d.details.container == "shell"
	warnings := warn with input as pod
	count(warnings) == 1
}
