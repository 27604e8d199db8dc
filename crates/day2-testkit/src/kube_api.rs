//! A local HTTP server that speaks the Kubernetes API's wire format, for tests: no real API server can run on this
//! machine, so day2's Kubernetes client is tested against this one.
//!
//! What it serves is written from the public API reference (API Concepts: "Discovery", "Retrieving large results sets
//! in chunks"): legacy discovery (`/api`, `/api/v1`, `/apis`, `/apis/<group>/<version>`, each `APIVersions`,
//! `APIGroupList` or `APIResourceList`), and lists of every served resource, cluster-wide and per namespace, as
//! `<Kind>List` documents whose items carry no `apiVersion` or `kind` (as the API server sends them), paginated by
//! `limit` with an opaque `continue` token and `remainingItemCount`. Errors are `Status` documents. Every request's
//! path and query is recorded so tests can check how the client paged.
//!
//! Watches ("Efficient detection of changes"): a list with `watch=true` from a `resourceVersion` answers with a stream
//! of newline-delimited `WatchEvent`s (`{"type": "ADDED|MODIFIED|DELETED", "object": …}`), first the changes after that
//! version, then each change as [`KubeApi::apply`] or [`KubeApi::delete`] makes it, on a connection kept open. Every
//! change bumps the server's resource version, which lists report in their `metadata.resourceVersion`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Json, Response};
use futures::StreamExt;
use serde_json::{Value, json};

/// A kind the server serves: group, version, kind, plural resource name, and whether it is namespaced.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Served {
    /// API group, empty for the core group.
    pub group: String,
    /// Version within the group.
    pub version: String,
    /// Kind.
    pub kind: String,
    /// Plural resource name (the URL segment).
    pub plural: String,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// Verbs discovery advertises.
    pub verbs: Vec<&'static str>,
}

impl Served {
    fn new(group: &str, version: &str, kind: &str, plural: &str, namespaced: bool) -> Self {
        let verbs = vec!["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];
        Served {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
            plural: plural.into(),
            namespaced,
            verbs,
        }
    }

    fn group_version(&self) -> String {
        if self.group.is_empty() { self.version.clone() } else { format!("{}/{}", self.group, self.version) }
    }
}

/// The built-in kinds of a Kubernetes 1.33 API server that day2 meets most (from the API reference), plus two that
/// cannot be listed, which discovery must skip.
fn builtin() -> Vec<Served> {
    let mut served = vec![
        Served::new("", "v1", "Namespace", "namespaces", false),
        Served::new("", "v1", "Node", "nodes", false),
        Served::new("", "v1", "PersistentVolume", "persistentvolumes", false),
        Served::new("", "v1", "ConfigMap", "configmaps", true),
        Served::new("", "v1", "Secret", "secrets", true),
        Served::new("", "v1", "Service", "services", true),
        Served::new("", "v1", "ServiceAccount", "serviceaccounts", true),
        Served::new("", "v1", "Pod", "pods", true),
        Served::new("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", true),
        Served::new("", "v1", "Endpoints", "endpoints", true),
        Served::new("", "v1", "Event", "events", true),
        Served::new("", "v1", "LimitRange", "limitranges", true),
        Served::new("", "v1", "ResourceQuota", "resourcequotas", true),
        Served::new("apps", "v1", "Deployment", "deployments", true),
        Served::new("apps", "v1", "ReplicaSet", "replicasets", true),
        Served::new("apps", "v1", "StatefulSet", "statefulsets", true),
        Served::new("apps", "v1", "DaemonSet", "daemonsets", true),
        Served::new("apps", "v1", "ControllerRevision", "controllerrevisions", true),
        Served::new("batch", "v1", "Job", "jobs", true),
        Served::new("batch", "v1", "CronJob", "cronjobs", true),
        Served::new("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", true),
        Served::new("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", true),
        Served::new("networking.k8s.io", "v1", "Ingress", "ingresses", true),
        Served::new("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", true),
        Served::new("networking.k8s.io", "v1", "IngressClass", "ingressclasses", false),
        Served::new("rbac.authorization.k8s.io", "v1", "Role", "roles", true),
        Served::new("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", true),
        Served::new("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", false),
        Served::new("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", false),
        Served::new("storage.k8s.io", "v1", "StorageClass", "storageclasses", false),
        Served::new("coordination.k8s.io", "v1", "Lease", "leases", true),
        Served::new("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", true),
        Served::new("events.k8s.io", "v1", "Event", "events", true),
    ];
    let mut binding = Served::new("", "v1", "Binding", "bindings", true);
    binding.verbs = vec!["create"];
    let mut review = Served::new("authentication.k8s.io", "v1", "TokenReview", "tokenreviews", false);
    review.verbs = vec!["create"];
    served.extend([binding, review]);
    served
}

/// One change to a served object, as watches report it.
#[derive(Debug, Clone)]
struct Change {
    version: u64,
    group_version: String,
    plural: String,
    namespace: Option<String>,
    event: &'static str,
    object: Value,
}

struct Cluster {
    served: Vec<Served>,
    /// Objects per (group/version, plural), in list order.
    objects: BTreeMap<(String, String), Vec<Value>>,
    /// The resource version of the latest change.
    version: u64,
    /// Every change so far, for watches that start from an older version.
    history: Vec<Change>,
    changes: tokio::sync::broadcast::Sender<Change>,
    forbidden: BTreeSet<String>,
    /// API groups whose discovery answers 503, as an aggregated API does when its backing service is down.
    unavailable: BTreeSet<String>,
    requests: Vec<String>,
    /// Added before every answer, as a distant or overloaded API server would.
    latency: std::time::Duration,
}

type Shared = Arc<Mutex<Cluster>>;

/// A running fake API server. Dropping it stops the server.
pub struct KubeApi {
    /// Where it listens (`http://{addr}`).
    pub addr: SocketAddr,
    cluster: Shared,
    _runtime: tokio::runtime::Runtime,
}

impl KubeApi {
    /// Serves `objects` (full API objects, with `apiVersion` and `kind`) next to the built-in kinds; a kind not
    /// built in is served too, namespaced when its objects are.
    pub fn start(objects: Vec<Value>) -> std::io::Result<KubeApi> {
        let mut cluster = Cluster {
            served: builtin(),
            objects: BTreeMap::new(),
            version: 4242,
            history: Vec::new(),
            changes: tokio::sync::broadcast::channel(1024).0,
            forbidden: BTreeSet::new(),
            unavailable: BTreeSet::new(),
            requests: Vec::new(),
            latency: std::time::Duration::ZERO,
        };
        for object in objects {
            let api_version = object["apiVersion"].as_str().unwrap_or_default().to_owned();
            let kind = object["kind"].as_str().unwrap_or_default().to_owned();
            let (group, version) = api_version.rsplit_once('/').unwrap_or(("", &api_version));
            let served = match cluster.served.iter().find(|s| s.group == group && s.kind == kind) {
                Some(s) => s.clone(),
                None => {
                    let namespaced = object.pointer("/metadata/namespace").is_some();
                    let s = Served::new(group, version, &kind, &format!("{}s", kind.to_lowercase()), namespaced);
                    cluster.served.push(s.clone());
                    s
                }
            };
            cluster.objects.entry((served.group_version(), served.plural.clone())).or_default().push(object);
        }
        let shared: Shared = Arc::new(Mutex::new(cluster));
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
        let addr = listener.local_addr()?;
        let app = Router::new().fallback(handle).with_state(shared.clone());
        runtime.spawn(async move { axum::serve(listener, app).await });
        Ok(KubeApi { addr, cluster: shared, _runtime: runtime })
    }

    /// Serves the objects of a recording (`kubectl get -o yaml` output: a `List` or single objects).
    pub fn start_from_yaml(path: &Path) -> std::io::Result<KubeApi> {
        let text = std::fs::read_to_string(path)?;
        let docs: Vec<Value> = serde_saphyr::from_multiple(&text)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
        let objects = docs
            .into_iter()
            .flat_map(|d| match d.get("items") {
                Some(Value::Array(items)) => items.clone(),
                _ => vec![d],
            })
            .collect();
        Self::start(objects)
    }

    /// Creates or replaces an object (matched by kind, namespace and name), as `kubectl apply` would, and tells the
    /// watches of its kind. Its kind must be served already.
    pub fn apply(&self, mut object: Value) {
        let mut cluster = self.lock();
        let Some((served, namespace, name)) = cluster.locate(&object) else { return };
        cluster.version += 1;
        object["metadata"]["resourceVersion"] = json!(cluster.version.to_string());
        let list = cluster.objects.entry((served.group_version(), served.plural.clone())).or_default();
        let event = match list.iter_mut().find(|o| same_object(o, namespace.as_deref(), &name)) {
            Some(existing) => {
                *existing = object.clone();
                "MODIFIED"
            }
            None => {
                list.push(object.clone());
                "ADDED"
            }
        };
        cluster.publish(&served, namespace, event, object);
    }

    /// Deletes an object (given by its `apiVersion`, `kind` and metadata) and tells the watches of its kind.
    pub fn delete(&self, object: &Value) {
        let mut cluster = self.lock();
        let Some((served, namespace, name)) = cluster.locate(object) else { return };
        let list = cluster.objects.entry((served.group_version(), served.plural.clone())).or_default();
        let Some(position) = list.iter().position(|o| same_object(o, namespace.as_deref(), &name)) else { return };
        let mut removed = list.remove(position);
        cluster.version += 1;
        removed["metadata"]["resourceVersion"] = json!(cluster.version.to_string());
        cluster.publish(&served, namespace, "DELETED", removed);
    }

    /// Answers lists of this resource (plural name) with 403 Forbidden, as RBAC would.
    pub fn forbid(&self, plural: &str) {
        self.lock().forbidden.insert(plural.to_owned());
    }

    /// Answers discovery of an API group (`metrics.k8s.io`) with 503 Service Unavailable, as the API server does for
    /// an aggregated API whose backing service is down.
    pub fn make_group_unavailable(&self, group: &str) {
        self.lock().unavailable.insert(group.to_owned());
    }

    /// Delays every answer from now on by `latency`, so that a collection takes long enough to be interrupted.
    pub fn set_latency(&self, latency: std::time::Duration) {
        self.lock().latency = latency;
    }

    /// Every request so far, as `path?query`.
    pub fn requests(&self) -> Vec<String> {
        self.lock().requests.clone()
    }

    /// Writes a kubeconfig whose context `context` points at this server, and returns its path.
    pub fn kubeconfig(&self, dir: &Path, context: &str) -> std::io::Result<PathBuf> {
        let path = dir.join("kubeconfig");
        let text = format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: {context}\nclusters:\n- name: fake\n  cluster:\n    server: http://{}\ncontexts:\n- name: {context}\n  context:\n    cluster: fake\n    user: tester\nusers:\n- name: tester\n  user:\n    token: test-token\n",
            self.addr
        );
        std::fs::write(&path, text)?;
        Ok(path)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cluster> {
        self.cluster.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Cluster {
    /// The served kind of an object, its namespace and name.
    fn locate(&self, object: &Value) -> Option<(Served, Option<String>, String)> {
        let api_version = object["apiVersion"].as_str()?;
        let kind = object["kind"].as_str()?;
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let served = self.served.iter().find(|s| s.group == group && s.version == version && s.kind == kind)?;
        let namespace = object.pointer("/metadata/namespace").and_then(Value::as_str).map(str::to_owned);
        let name = object.pointer("/metadata/name").and_then(Value::as_str)?.to_owned();
        Some((served.clone(), namespace, name))
    }

    fn publish(&mut self, served: &Served, namespace: Option<String>, event: &'static str, object: Value) {
        let change = Change {
            version: self.version,
            group_version: served.group_version(),
            plural: served.plural.clone(),
            namespace,
            event,
            object,
        };
        self.history.push(change.clone());
        // No watch open is not an error.
        let _ = self.changes.send(change);
    }
}

fn same_object(object: &Value, namespace: Option<&str>, name: &str) -> bool {
    object.pointer("/metadata/namespace").and_then(Value::as_str) == namespace
        && object.pointer("/metadata/name").and_then(Value::as_str) == Some(name)
}

/// The changes to one resource (in one namespace, or all) after `from`, then each new one, as a stream of
/// newline-delimited `WatchEvent`s that stays open.
fn watch(cluster: &Cluster, group_version: String, plural: String, namespace: Option<String>, from: u64) -> Response {
    let wanted = move |c: &Change| {
        c.group_version == group_version
            && c.plural == plural
            && namespace.as_ref().is_none_or(|ns| c.namespace.as_ref() == Some(ns))
    };
    let past: Vec<Change> = cluster.history.iter().filter(|c| c.version > from && wanted(c)).cloned().collect();
    let receiver = cluster.changes.subscribe();
    let next = live_changes(receiver, wanted);
    let events = futures::stream::iter(past).chain(next).map(|c| {
        let line = json!({"type": c.event, "object": c.object}).to_string() + "\n";
        Ok::<_, std::convert::Infallible>(line)
    });
    (StatusCode::OK, [(axum::http::header::CONTENT_TYPE, "application/json")], Body::from_stream(events))
        .into_response()
}

/// The changes `wanted` picks from `receiver`, as they come.
fn live_changes(
    receiver: tokio::sync::broadcast::Receiver<Change>,
    wanted: impl Fn(&Change) -> bool + Send + 'static,
) -> impl futures::Stream<Item = Change> + Send {
    futures::stream::unfold((receiver, wanted), |(mut receiver, wanted)| async move {
        loop {
            match receiver.recv().await {
                Ok(change) if wanted(&change) => return Some((change, (receiver, wanted))),
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
}

async fn handle(State(cluster): State<Shared>, uri: Uri, Query(query): Query<BTreeMap<String, String>>) -> Response {
    let latency = cluster.lock().unwrap_or_else(std::sync::PoisonError::into_inner).latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let mut cluster = cluster.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    cluster.requests.push(uri.path_and_query().map(ToString::to_string).unwrap_or_default());
    let segments: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
    match segments.as_slice() {
        ["api"] => Json(json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}]})).into_response(),
        ["apis"] => Json(group_list(&cluster.served)).into_response(),
        ["api", version] => resource_list(&cluster.served, "", version),
        ["apis", group, _] if cluster.unavailable.contains(*group) => status(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "the server is currently unable to handle the request",
        ),
        ["apis", group, version] => resource_list(&cluster.served, group, version),
        ["api", version, rest @ ..] => list(&cluster, "", version, rest, &query),
        ["apis", group, version, rest @ ..] => list(&cluster, group, version, rest, &query),
        _ => status(StatusCode::NOT_FOUND, "NotFound", "the server could not find the requested resource"),
    }
}

fn group_list(served: &[Served]) -> Value {
    let mut groups: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for s in served.iter().filter(|s| !s.group.is_empty()) {
        groups.entry(&s.group).or_default().insert(&s.version);
    }
    let groups: Vec<Value> = groups
        .into_iter()
        .map(|(name, versions)| {
            let versions: Vec<Value> =
                versions.iter().map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v})).collect();
            let preferred = versions.first().cloned().unwrap_or(Value::Null);
            json!({"name": name, "versions": versions, "preferredVersion": preferred})
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

fn resource_list(served: &[Served], group: &str, version: &str) -> Response {
    let mut resources: Vec<Value> = Vec::new();
    for s in served.iter().filter(|s| s.group == group && s.version == version) {
        resources.push(json!({
            "name": s.plural, "singularName": s.kind.to_lowercase(), "namespaced": s.namespaced,
            "kind": s.kind, "verbs": s.verbs,
        }));
        // Subresources are advertised as `<plural>/<sub>`; a client must not list them as kinds.
        if s.verbs.contains(&"list") {
            resources.push(json!({
                "name": format!("{}/status", s.plural), "singularName": "", "namespaced": s.namespaced,
                "kind": s.kind, "verbs": ["get", "patch", "update"],
            }));
        }
    }
    if resources.is_empty() {
        return status(StatusCode::NOT_FOUND, "NotFound", "the server could not find the requested resource");
    }
    let group_version = if group.is_empty() { version.to_owned() } else { format!("{group}/{version}") };
    Json(json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}))
        .into_response()
}

fn list(cluster: &Cluster, group: &str, version: &str, rest: &[&str], query: &BTreeMap<String, String>) -> Response {
    let (namespace, plural) = match rest {
        [plural] => (None, *plural),
        ["namespaces", ns, plural] => (Some(*ns), *plural),
        _ => return status(StatusCode::NOT_FOUND, "NotFound", "the server could not find the requested resource"),
    };
    let Some(served) = cluster.served.iter().find(|s| s.group == group && s.version == version && s.plural == plural)
    else {
        return status(StatusCode::NOT_FOUND, "NotFound", "the server could not find the requested resource");
    };
    if !served.verbs.contains(&"list") {
        return status(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", "the server does not allow this method");
    }
    if query.get("watch").is_some_and(|w| w == "true" || w == "1") {
        let from = query.get("resourceVersion").and_then(|v| v.parse().ok()).unwrap_or(cluster.version);
        let namespace = namespace.map(str::to_owned);
        return watch(cluster, served.group_version(), served.plural.clone(), namespace, from);
    }
    if cluster.forbidden.contains(plural) {
        let scope = namespace.map(|ns| format!(" in the namespace \"{ns}\"")).unwrap_or(" at the cluster scope".into());
        let message = format!(
            "{plural} is forbidden: User \"system:serviceaccount:day2:reader\" cannot list resource \"{plural}\" in API group \"{group}\"{scope}"
        );
        return status(StatusCode::FORBIDDEN, "Forbidden", &message);
    }
    let all: Vec<&Value> = cluster
        .objects
        .get(&(served.group_version(), plural.to_owned()))
        .map(|objects| {
            objects
                .iter()
                .filter(|o| {
                    namespace.is_none_or(|ns| o.pointer("/metadata/namespace").and_then(Value::as_str) == Some(ns))
                })
                .collect()
        })
        .unwrap_or_default();
    let offset: usize = match query.get("continue") {
        Some(token) => match token.strip_prefix("day2-fake-").and_then(|o| o.parse().ok()) {
            Some(offset) => offset,
            None => return status(StatusCode::BAD_REQUEST, "BadRequest", "continue key is not valid"),
        },
        None => 0,
    };
    let limit: usize = query.get("limit").and_then(|l| l.parse().ok()).filter(|l| *l > 0).unwrap_or(usize::MAX);
    let end = offset.saturating_add(limit).min(all.len());
    let items: Vec<Value> = all
        .get(offset..end)
        .unwrap_or_default()
        .iter()
        .map(|o| {
            let mut item = (*o).clone();
            if let Value::Object(map) = &mut item {
                map.remove("apiVersion");
                map.remove("kind");
            }
            item
        })
        .collect();
    let mut metadata = json!({"resourceVersion": cluster.version.to_string()});
    if end < all.len() {
        metadata["continue"] = json!(format!("day2-fake-{end}"));
        metadata["remainingItemCount"] = json!(all.len() - end);
    }
    Json(json!({
        "kind": format!("{}List", served.kind), "apiVersion": served.group_version(), "metadata": metadata, "items": items,
    }))
    .into_response()
}

fn status(code: StatusCode, reason: &str, message: &str) -> Response {
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code.as_u16(),
    });
    (code, Json(body)).into_response()
}
