//! The OpenAPI 3.1 document of the HTTP API, served at `/api/v1/openapi.json`. Paths are written here next to the
//! router's; the bodies' schemas are generated from the Rust types the handlers serialise (schemars), so they cannot
//! drift from what is sent. The serve tests request every documented path.

use day2_model::{Domain, Finding, Severity};
use day2_store::outcomes::Outcomes;
use day2_store::{Lease, StoredCoverage, StoredResource};
use schemars::generate::SchemaSettings;
use serde_json::{Value, json};

use crate::{JobHealth, SourceHealth};

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn ok(description: &str, schema: Value) -> Value {
    json!({"200": {"description": description, "content": {"application/json": {"schema": schema}}}})
}

fn query_parameter(name: &str, description: &str, schema: Value) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": description, "schema": schema})
}

/// Responses every `/api` endpoint may give besides its own.
fn refusals(mut responses: Value, least: &str) -> Value {
    if let Some(map) = responses.as_object_mut() {
        map.insert("401".into(), json!({"description": "No token, or not a valid one (when tokens are configured)."}));
        map.insert("403".into(), json!({"description": format!("The token's role is below {least}.")}));
    }
    responses
}

/// The whole document.
pub(crate) fn document() -> Value {
    let mut generator = SchemaSettings::draft2020_12()
        .with(|s| {
            s.definitions_path = "/components/schemas".into();
            s.meta_schema = None;
        })
        .into_generator();
    // Asking for a type's schema puts it, and every type it refers to, among the components.
    for schema in [
        generator.subschema_for::<Finding>(),
        generator.subschema_for::<Domain>(),
        generator.subschema_for::<Severity>(),
        generator.subschema_for::<Outcomes>(),
        generator.subschema_for::<Lease>(),
        generator.subschema_for::<StoredResource>(),
        generator.subschema_for::<day2_store::ResourceDetail>(),
        generator.subschema_for::<day2_model::Relation>(),
        generator.subschema_for::<day2_model::Graph>(),
        generator.subschema_for::<StoredCoverage>(),
        generator.subschema_for::<JobHealth>(),
        generator.subschema_for::<SourceHealth>(),
    ] {
        drop(schema);
    }
    let schemas = generator.take_definitions(true);
    let error = json!({"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]});
    let text = json!({"200": {"description": "OK", "content": {"text/plain": {"schema": {"type": "string"}}}}});
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "day2 serve",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The continuous Day-2 loop: findings, sources, outcomes and leases of the store; runs and reloads on demand. With `serve.tokens` configured, every /api request needs `Authorization: Bearer <token>` of the role named on the operation.",
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": {
            "/healthz": {"get": {"summary": "The process answers.", "security": [], "responses": text}},
            "/readyz": {"get": {
                "summary": "Ready once every job had its first turn (ran here, or is another replica's).",
                "security": [],
                "responses": {"200": {"description": "Ready."}, "503": {"description": "A job has not had its first turn yet."}},
            }},
            "/metrics": {"get": {
                "summary": "Prometheus exposition (OpenMetrics text). Needs a viewer token when serve.metrics_need_token is set.",
                "responses": text,
            }},
            "/api/v1/openapi.json": {"get": {"summary": "This document.", "security": [], "responses": ok("OpenAPI 3.1", json!({"type": "object"}))}},
            "/api/v1/findings": {"get": {
                "summary": "Stored findings, most severe first, filtered and paged by the store. Role: viewer.",
                "parameters": [
                    query_parameter("domain", "Only this domain.", reference("Domain")),
                    query_parameter("severity", "Only this severity.", reference("Severity")),
                    query_parameter("team", "Only findings of resources this team owns.", json!({"type": "string"})),
                    query_parameter("status", "Which states (default open).", json!({"enum": ["open", "suppressed", "resolved", "all"]})),
                    query_parameter("limit", "Page size (default 1000).", json!({"type": "integer", "minimum": 1, "maximum": 10000})),
                    query_parameter("offset", "Findings to skip.", json!({"type": "integer", "minimum": 0})),
                ],
                "responses": refusals(json!({
                    "200": {
                        "description": "One page. A full page carries `x-next-offset`, the offset of the next one.",
                        "headers": {"x-next-offset": {"schema": {"type": "integer"}}},
                        "content": {"application/json": {"schema": {"type": "array", "items": reference("Finding")}}},
                    },
                    "400": {"description": "An unknown parameter or value; the message names the accepted ones.", "content": {"application/json": {"schema": error}}},
                }), "viewer"),
            }},
            "/api/v1/resources": {"get": {
                "summary": "Stored resources by id, paged (raw objects left out). Role: viewer.",
                "parameters": [
                    query_parameter("provider", "Only this provider: k8s, tf, aws, postgres.", json!({"type": "string"})),
                    query_parameter("kind", "Only this kind (apps.Deployment, aws_s3_bucket, …).", json!({"type": "string"})),
                    query_parameter("namespace", "Only this namespace.", json!({"type": "string"})),
                    query_parameter("team", "Only resources this team owns.", json!({"type": "string"})),
                    query_parameter("limit", "Page size (default 1000).", json!({"type": "integer", "minimum": 1, "maximum": 10000})),
                    query_parameter("offset", "Resources to skip.", json!({"type": "integer", "minimum": 0})),
                ],
                "responses": refusals(json!({
                    "200": {
                        "description": "One page. A full page carries `x-next-offset`.",
                        "headers": {"x-next-offset": {"schema": {"type": "integer"}}},
                        "content": {"application/json": {"schema": {"type": "array", "items": reference("StoredResource")}}},
                    },
                    "400": {"description": "An unknown parameter or value.", "content": {"application/json": {"schema": error}}},
                }), "viewer"),
            }},
            "/api/v1/resources/{id}": {"get": {
                "summary": "One resource: its declared and live objects, its findings in every state, its relations both ways. Role: viewer.",
                "parameters": [{
                    "name": "id", "in": "path", "required": true,
                    "description": "The resource id as it is, slashes included (k8s/prod/apps.Deployment/shop/cart).",
                    "schema": {"type": "string"},
                }],
                "responses": refusals(json!({
                    "200": {"description": "The resource.", "content": {"application/json": {"schema": {
                        "type": "object",
                        "properties": {
                            "resource": reference("ResourceDetail"),
                            "findings": {"type": "array", "items": reference("Finding")},
                            "outgoing": {"type": "array", "items": reference("Relation")},
                            "incoming": {"type": "array", "items": reference("Relation")},
                        },
                    }}}},
                    "404": {"description": "The store does not know this id.", "content": {"application/json": {"schema": error}}},
                }), "viewer"),
            }},
            "/api/v1/graph": {"get": {
                "summary": "The topology: resources and their relations across Kubernetes, Terraform and the cloud, coloured by their worst open finding. Role: viewer.",
                "parameters": [
                    query_parameter("scope", "Only this cluster, account or state.", json!({"type": "string"})),
                    query_parameter("namespace", "Only this namespace.", json!({"type": "string"})),
                    query_parameter("owner", "Only resources this team owns.", json!({"type": "string"})),
                    query_parameter("kind", "Only this kind (Deployment, apps.Deployment, aws_iam_role).", json!({"type": "string"})),
                    query_parameter("around", "Only what is within `depth` relations of this resource id.", json!({"type": "string"})),
                    query_parameter("depth", "How far from `around` (default 2).", json!({"type": "integer", "minimum": 1, "maximum": 10})),
                    query_parameter("max_nodes", "At most this many nodes (default 2000); `truncated` says when more matched.", json!({"type": "integer", "minimum": 1, "maximum": 20000})),
                ],
                "responses": refusals(json!({
                    "200": {"description": "The graph.", "content": {"application/json": {"schema": reference("Graph")}}},
                    "400": {"description": "An unknown parameter or value.", "content": {"application/json": {"schema": error}}},
                }), "viewer"),
            }},
            "/api/v1/drift": {"get": {
                "summary": "IaC coverage per live scope (latest drift run that read it) and the open drift findings. Role: viewer.",
                "responses": refusals(ok("Coverage and drift", json!({
                    "type": "object",
                    "properties": {
                        "coverage": {"type": "array", "items": reference("StoredCoverage")},
                        "findings": {"type": "array", "items": reference("Finding")},
                    },
                })), "viewer"),
            }},
            "/api/v1/sources": {"get": {
                "summary": "The last run of each job this replica ran and the last collection of each source it read. Role: viewer.",
                "responses": refusals(ok("Jobs and sources", json!({
                    "type": "object",
                    "properties": {
                        "jobs": {"type": "array", "items": reference("JobHealth")},
                        "sources": {"type": "array", "items": reference("SourceHealth")},
                    },
                })), "viewer"),
            }},
            "/api/v1/outcomes": {"get": {
                "summary": "Time to detect, time to repair, drift-hours and open-finding age, overall, by team and by scope. Role: viewer.",
                "parameters": [query_parameter("since", "The window back from now (default 30d): 7d, 12h, …", json!({"type": "string"}))],
                "responses": refusals(ok("Outcomes", reference("Outcomes")), "viewer"),
            }},
            "/api/v1/leases": {"get": {
                "summary": "This replica's name and which replica runs which job. Role: viewer.",
                "responses": refusals(ok("Leases", json!({
                    "type": "object",
                    "properties": {"replica": {"type": "string"}, "leases": {"type": "array", "items": reference("Lease")}},
                })), "viewer"),
            }},
            "/api/v1/runs": {"post": {
                "summary": "Run every job now rather than at its next start (each replica the jobs it holds). Role: operator.",
                "responses": refusals(json!({"202": {"description": "Accepted: the jobs wake."}}), "operator"),
            }},
            "/api/v1/config/reload": {"post": {
                "summary": "Read day2.yaml again, as SIGHUP does. Role: admin.",
                "responses": refusals(json!({
                    "200": {"description": "Reloaded."},
                    "400": {"description": "It does not load; the running configuration stays.", "content": {"application/json": {"schema": error}}},
                }), "admin"),
            }},
        },
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    #[test]
    fn every_reference_resolves_to_a_component() {
        let document = super::document();
        let text = document.to_string();
        let schemas = document["components"]["schemas"].as_object().unwrap();
        for name in ["Finding", "Outcomes", "Lease", "JobHealth", "SourceHealth", "FindingStatus"] {
            assert!(schemas.contains_key(name), "{name} missing");
        }
        for (at, _) in text.match_indices("#/components/schemas/") {
            let name: String = text[at + 21..].chars().take_while(|c| *c != '"').collect();
            assert!(schemas.contains_key(&name), "dangling reference to {name}");
        }
        assert!(!text.contains("#/$defs/"), "a reference into a schema's own definitions survived");
    }
}
