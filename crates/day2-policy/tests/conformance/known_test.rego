package conformance_test

import rego.v1

test_yaml if yaml.unmarshal("a: 1") == {"a": 1}
test_http_absent if not http.send({"method": "get", "url": "http://127.0.0.1:1"})
test_units if units.parse_bytes("1Gi") == 1073741824
test_regex if regex.match("^a", "abc")
test_sprintf_int if sprintf("%v", [1]) == "1"
test_object_keys if object.keys({"a": 1}) == {"a"}
test_strings_any_prefix if strings.any_prefix_match("abc", ["a"])
test_time if time.parse_rfc3339_ns("2024-01-01T00:00:00Z") > 0
test_json_match_schema if json.match_schema({}, {"type": "object"})[0]
test_crypto if crypto.sha256("a") == "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"
test_graph if graph.reachable({"a": ["b"], "b": []}, ["a"]) == {"a", "b"}
test_rego_metadata if rego.metadata.rule() == {}
