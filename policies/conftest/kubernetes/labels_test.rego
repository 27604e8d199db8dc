package main

# Rego v1 keywords without `import rego.v1`.

labelled(labels) := {
	"apiVersion": "apps/v1",
	"kind": "StatefulSet",
	"metadata": {"name": "orders-db", "labels": labels},
	"spec": {"template": {"spec": {"containers": []}}},
}

test_missing_name_label if {
	inp := labelled({"owner": "team-payments"})
	violations := violation with input as inp
	violations == {{
		"msg": "StatefulSet <orders-db> is missing the label(s) app.kubernetes.io/name",
		"details": {"missing_labels": ["app.kubernetes.io/name"]},
	}}
}

test_empty_name_label_counts_as_missing if {
	inp := labelled({"app.kubernetes.io/name": ""})
	violations := violation with input as inp
	count(violations) == 1
}

test_name_label_present if {
	inp := labelled({"app.kubernetes.io/name": "orders-db"})
	count(violation) == 0 with input as inp
}

test_configmap_needs_no_label if {
	count(violation) == 0 with input as {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}}
}
