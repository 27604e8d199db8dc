# Rego v0 that OPA accepts and regorus 0.14 parses differently; day2 rewrites it first (src/rego_syntax.rs). Each test
# passes only with OPA's reading.
package conformance_opa_syntax

# Two bodies: one rule per body (OPA), not an `else`.
deny[msg] {
	input.a
	msg := "a"
} {
	input.b
	msg := "b"
}

test_each_body_is_a_rule {
	deny == {"a", "b"} with input as {"a": true, "b": true}
}

test_the_second_body_alone {
	deny == {"b"} with input as {"b": true}
}

# A newline ends the expression: `(x + 1) > 2` is the next one, not a call of `input.parameters.x`.
over_limit {
	x := input.parameters.x
	(x + 1) > 2
}

test_newline_ends_an_expression {
	over_limit with input as {"parameters": {"x": 5}}
}

test_newline_ends_an_expression_false {
	not over_limit with input as {"parameters": {"x": 0}}
}
