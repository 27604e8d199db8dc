//! The HTTP API. Health and readiness are open; the rest needs the role named (see `auth`):
//! - `GET /healthz`: the process answers;
//! - `GET /readyz`: 200 once every job had its first turn (ran here, or is another replica's), else 503;
//! - `GET /api/v1/findings?domain=&severity=&team=&status=open|suppressed|resolved|all&limit=&offset=` (viewer):
//!   stored findings, most severe first, filtered and paged by the store (1,000 a page unless `limit` says, at most
//!   10,000; a full page carries `x-next-offset`); an unknown filter value is a 400 that names the accepted ones;
//! - `GET /api/v1/sources` (viewer): the last run of each job this replica ran and the last collection of each source
//!   it read (the store's `collections` table has every replica's);
//! - `GET /api/v1/resources?provider=&kind=&namespace=&team=&limit=&offset=` (viewer): stored resources by id, paged
//!   like findings (raw objects are left out);
//! - `GET /api/v1/resources/{id}` (viewer): one resource (the id as it is, slashes included) with its declared and
//!   live objects, its findings in every state, and its relations both ways; 404 when the store does not know it;
//! - `GET /api/v1/graph?scope=&namespace=&owner=&kind=&around=&depth=&max_nodes=` (viewer): the topology, nodes
//!   coloured by their worst open finding (as `day2 graph -o json`);
//! - `GET /api/v1/drift` (viewer): IaC coverage per live scope (latest drift run) and the open drift findings;
//! - `GET /api/v1/outcomes?since=30d` (viewer): time to detect, time to repair, drift-hours and open-finding age,
//!   overall, by team and by scope (as `day2 outcomes -o json`);
//! - `GET /api/v1/leases` (viewer): this replica's name and which replica runs which job;
//! - `POST /api/v1/runs` (operator): run every job now rather than at its next start (each replica its own); 202;
//! - `POST /api/v1/config/reload` (admin): read day2.yaml again, as SIGHUP does; 400 with the problem when it does
//!   not load, and the running configuration stays;
//! - `GET /api/v1/openapi.json`: the OpenAPI 3.1 document of all of this (see `openapi`);
//! - `GET /metrics`: Prometheus exposition (viewer when `serve.metrics_need_token`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::{Query, State as Shared};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use day2_engine::config::Role;
use day2_model::{Domain, Severity};
use day2_store::{FindingQuery, ResourceQuery, StoredState};
use serde_json::json;

use crate::State;

pub(crate) fn router(state: Arc<State>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/api/v1/findings", get(findings))
        .route("/api/v1/sources", get(sources))
        .route("/api/v1/resources", get(resources))
        .route("/api/v1/resources/{*id}", get(resource))
        .route("/api/v1/graph", get(graph))
        .route("/api/v1/drift", get(drift))
        .route("/api/v1/outcomes", get(outcomes))
        .route("/api/v1/leases", get(leases))
        .route("/api/v1/runs", post(start_run))
        .route("/api/v1/config/reload", post(reload))
        .route("/metrics", get(metrics))
        .route("/api/v1/openapi.json", get(|| async { Json(crate::openapi::document()) }))
        .with_state(state)
}

async fn ready(Shared(state): Shared<Arc<State>>) -> Response {
    if state.ready.load(Ordering::Acquire) {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "the first run has not been recorded yet\n").into_response()
    }
}

fn bad_request(message: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"error": message}))).into_response()
}

/// Answers with the refusal when the caller lacks `least`.
macro_rules! authorize {
    ($state:expr, $headers:expr, $least:expr) => {
        match $state.loaded().tokens.authorize(&$headers, $least) {
            Ok(caller) => caller,
            Err(refusal) => return refusal.into_response(),
        }
    };
}

/// Findings per page unless `limit` says otherwise, and the most one page holds.
const DEFAULT_PAGE: u32 = 1_000;
const MAX_PAGE: u32 = 10_000;

async fn findings(
    Shared(state): Shared<Arc<State>>,
    headers: HeaderMap,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    authorize!(state, headers, Role::Viewer);
    let stored = match finding_query(&query) {
        Ok(stored) => stored,
        Err(message) => return bad_request(message),
    };
    match state.store.findings(&stored).await {
        Ok(listed) => paged(listed, stored.limit.unwrap_or(DEFAULT_PAGE), stored.offset),
        Err(e) => server_error(&e),
    }
}

/// The store query a findings request asks for; an unknown parameter or value is an error naming the accepted ones.
fn finding_query(query: &BTreeMap<String, String>) -> Result<FindingQuery, String> {
    only(query, &["domain", "severity", "team", "status", "limit", "offset"])?;
    let states = match query.get("status").map_or("open", String::as_str) {
        "open" => vec![StoredState::Open],
        "suppressed" => vec![StoredState::Suppressed],
        "resolved" => vec![StoredState::Resolved],
        "all" => vec![StoredState::Open, StoredState::Suppressed, StoredState::Resolved],
        other => return Err(format!("status: `{other}` is not one of open, suppressed, resolved, all")),
    };
    let (limit, offset) = page(query)?;
    Ok(FindingQuery {
        states,
        domain: query.get("domain").map(|d| d.parse::<Domain>().map_err(|e| format!("domain: {e}"))).transpose()?,
        severity: query
            .get("severity")
            .map(|s| s.parse::<Severity>().map_err(|e| format!("severity: {e}")))
            .transpose()?,
        team: query.get("team").cloned(),
        resource: None,
        limit: Some(limit),
        offset,
    })
}

fn server_error(e: &dyn std::fmt::Display) -> Response {
    (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"error": e.to_string()}))).into_response()
}

/// An error naming the accepted parameters when the query has another.
fn only(query: &BTreeMap<String, String>, accepted: &[&str]) -> Result<(), String> {
    match query.keys().find(|k| !accepted.contains(&k.as_str())) {
        Some(key) => Err(format!("unknown parameter `{key}` (accepted: {})", accepted.join(", "))),
        None => Ok(()),
    }
}

/// `limit` (1 to 10,000, default 1,000) and `offset` of a paged listing.
fn page(query: &BTreeMap<String, String>) -> Result<(u32, u32), String> {
    let number = |key: &str| -> Result<Option<u32>, String> {
        query.get(key).map(|v| v.parse::<u32>().map_err(|_| format!("{key}: `{v}` is not a whole number"))).transpose()
    };
    let limit = number("limit")?.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(format!("limit: {limit} is not between 1 and {MAX_PAGE}"));
    }
    Ok((limit, number("offset")?.unwrap_or(0)))
}

/// Answers one page as JSON, with `x-next-offset` when the page is full (there may be more).
fn paged<T: serde::Serialize>(items: Vec<T>, limit: u32, offset: u32) -> Response {
    let next = (items.len() == limit as usize).then(|| (offset as usize + items.len()).to_string());
    let mut response = Json(items).into_response();
    if let Some(next) = next.and_then(|n| header::HeaderValue::from_str(&n).ok()) {
        response.headers_mut().insert("x-next-offset", next);
    }
    response
}

async fn resources(
    Shared(state): Shared<Arc<State>>,
    headers: HeaderMap,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    authorize!(state, headers, Role::Viewer);
    if let Err(message) = only(&query, &["provider", "kind", "namespace", "team", "limit", "offset"]) {
        return bad_request(message);
    }
    let (limit, offset) = match page(&query) {
        Ok(page) => page,
        Err(message) => return bad_request(message),
    };
    let stored = ResourceQuery {
        provider: query.get("provider").cloned(),
        kind: query.get("kind").cloned(),
        namespace: query.get("namespace").cloned(),
        team: query.get("team").cloned(),
        limit: Some(limit),
        offset,
    };
    match state.store.resources(&stored).await {
        Ok(listed) => paged(listed, limit, offset),
        Err(e) => server_error(&e),
    }
}

/// One resource: its declared and live objects, its findings (every state) and its relations both ways.
async fn resource(
    Shared(state): Shared<Arc<State>>,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    authorize!(state, headers, Role::Viewer);
    let detail = match state.store.resource(&id).await {
        Ok(Some(detail)) => detail,
        Ok(None) => {
            return (StatusCode::NOT_FOUND, Json(json!({"error": format!("no resource `{id}`")}))).into_response();
        }
        Err(e) => return server_error(&e),
    };
    let findings = FindingQuery { resource: Some(id.clone()), limit: Some(MAX_PAGE), ..FindingQuery::all() };
    match (state.store.findings(&findings).await, state.store.relations(Some(&id)).await) {
        (Ok(findings), Ok(relations)) => {
            let (outgoing, incoming): (Vec<_>, Vec<_>) = relations.into_iter().partition(|r| r.from.as_str() == id);
            Json(json!({"resource": detail, "findings": findings, "outgoing": outgoing, "incoming": incoming}))
                .into_response()
        }
        (Err(e), _) | (_, Err(e)) => server_error(&e),
    }
}

/// The topology, or the part of it a filter asks for.
async fn graph(
    Shared(state): Shared<Arc<State>>,
    headers: HeaderMap,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    authorize!(state, headers, Role::Viewer);
    if let Err(message) = only(&query, &["scope", "namespace", "owner", "kind", "around", "depth", "max_nodes"]) {
        return bad_request(message);
    }
    let number = |key: &str, default: usize, most: usize| match query.get(key) {
        None => Ok(default),
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=most).contains(n))
            .ok_or_else(|| format!("{key}: expected a number from 1 to {most}, not `{text}`")),
    };
    let (depth, max_nodes) = match (number("depth", 2, 10), number("max_nodes", 2_000, 20_000)) {
        (Ok(depth), Ok(max_nodes)) => (depth, max_nodes),
        (Err(message), _) | (_, Err(message)) => return bad_request(message),
    };
    let filter = day2_model::GraphFilter {
        scope: query.get("scope").cloned(),
        namespace: query.get("namespace").cloned(),
        owner: query.get("owner").cloned(),
        kind: query.get("kind").cloned(),
        around: query.get("around").map(day2_model::ResourceId::from_raw),
        depth,
        max_nodes,
    };
    let listed = state.store.resources(&ResourceQuery::default()).await;
    let relations = state.store.relations(None).await;
    let open = state.store.findings(&FindingQuery::default()).await;
    match (listed, relations, open) {
        (Ok(listed), Ok(relations), Ok(open)) => {
            let resources: Vec<day2_model::Resource> = listed.into_iter().filter_map(as_resource).collect();
            Json(day2_model::Graph::build(&resources, &relations, &open, &filter)).into_response()
        }
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => server_error(&e),
    }
}

/// A stored resource as the graph needs it (no object: the graph shows names, kinds, owners and sides).
fn as_resource(stored: day2_store::StoredResource) -> Option<day2_model::Resource> {
    let provider = serde_json::from_value(serde_json::Value::String(stored.provider.clone())).ok()?;
    let origin = match stored.side {
        Some(day2_model::Side::Live) => {
            day2_model::Origin::Live { source: stored.source.clone(), observed_at: stored.last_seen }
        }
        _ => day2_model::Origin::Declared {
            file: String::new(),
            line: 0,
            template: None,
            module: None,
            attributes: Default::default(),
        },
    };
    let id = day2_model::ResourceId::from_raw(stored.id);
    let scope = id.as_str().split('/').nth(1).unwrap_or_default().to_owned();
    Some(day2_model::Resource {
        id,
        provider,
        scope,
        kind: stored.kind,
        api_version: String::new(),
        namespace: stored.namespace,
        name: stored.name,
        labels: Default::default(),
        owner: stored.owner,
        attrs: day2_model::Attr::from(serde_json::Value::Null),
        origin,
        source: stored.source,
    })
}

async fn drift(Shared(state): Shared<Arc<State>>, headers: HeaderMap) -> Response {
    authorize!(state, headers, Role::Viewer);
    let open = FindingQuery { domain: Some(Domain::Drift), limit: Some(MAX_PAGE), ..FindingQuery::default() };
    match (state.store.coverage().await, state.store.findings(&open).await) {
        (Ok(coverage), Ok(findings)) => Json(json!({"coverage": coverage, "findings": findings})).into_response(),
        (Err(e), _) | (_, Err(e)) => server_error(&e),
    }
}

async fn sources(Shared(state): Shared<Arc<State>>, headers: HeaderMap) -> Response {
    authorize!(state, headers, Role::Viewer);
    let jobs: Vec<_> = state.jobs.read().await.values().cloned().collect();
    let sources: Vec<_> = state.sources.read().await.values().cloned().collect();
    Json(json!({"jobs": jobs, "sources": sources})).into_response()
}

async fn outcomes(
    Shared(state): Shared<Arc<State>>,
    headers: HeaderMap,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    authorize!(state, headers, Role::Viewer);
    if let Err(message) = only(&query, &["since"]) {
        return bad_request(message);
    }
    let window = match query.get("since").map_or(Ok(std::time::Duration::from_secs(30 * 86_400)), |s| {
        humantime::parse_duration(s).map_err(|e| format!("since: `{s}`: {e} (examples: 7d, 12h)"))
    }) {
        Ok(window) => window,
        Err(e) => return bad_request(e),
    };
    let since = chrono::Duration::from_std(window).ok().and_then(|w| chrono::Utc::now().checked_sub_signed(w));
    let Some(since) = since else { return bad_request("since: the window is too long".to_owned()) };
    match day2_store::outcomes::of_store(state.store.as_ref(), since).await {
        Ok(outcomes) => Json(outcomes).into_response(),
        Err(e) => server_error(&e),
    }
}

async fn leases(Shared(state): Shared<Arc<State>>, headers: HeaderMap) -> Response {
    authorize!(state, headers, Role::Viewer);
    match state.store.leases().await {
        Ok(leases) => Json(json!({"replica": state.leases.holder(), "leases": leases})).into_response(),
        Err(e) => server_error(&e),
    }
}

async fn start_run(Shared(state): Shared<Arc<State>>, headers: HeaderMap) -> Response {
    let caller = authorize!(state, headers, Role::Operator);
    tracing::info!(caller = %caller.name, "A run was asked for.");
    state.wake_all();
    (StatusCode::ACCEPTED, Json(json!({"accepted": true}))).into_response()
}

async fn reload(Shared(state): Shared<Arc<State>>, headers: HeaderMap) -> Response {
    let caller = authorize!(state, headers, Role::Admin);
    tracing::info!(caller = %caller.name, "A configuration reload was asked for.");
    match state.reload() {
        Ok(()) => match state.reload_tls().await {
            Ok(()) => Json(json!({"reloaded": true})).into_response(),
            Err(e) => bad_request(format!("the TLS certificate does not load, the one in force stays: {e}")),
        },
        Err(e) => bad_request(format!("the configuration does not load, the running one is kept: {e}")),
    }
}

async fn metrics(Shared(state): Shared<Arc<State>>, headers: HeaderMap) -> Response {
    if state.loaded().tokens.metrics_need_token() {
        authorize!(state, headers, Role::Viewer);
    }
    match state.metrics.encode() {
        Ok(text) => ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text)
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}
