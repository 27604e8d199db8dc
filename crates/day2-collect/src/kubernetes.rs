//! Live Kubernetes state, read from a cluster's API or from a recording of it.
//!
//! Against a cluster: the client is configured like kubectl (`kubeconfig` and `context`, else `$KUBECONFIG` or
//! `~/.kube/config`, else the in-cluster service account); API discovery finds every served kind that can be listed;
//! each kind is listed page by page (`limit` / `continue`), in all namespaces or in the configured ones. Secret values
//! are masked as the objects arrive, before anything else sees them. The snapshot says which kinds and namespaces were
//! listed ([`Examined::Listed`]), so drift reports a declared object missing only where it was looked for; a kind that
//! cannot be listed (forbidden, server error) makes the snapshot incomplete.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use chrono::Utc;
use day2_model::{Diagnostic, DiagnosticKind, Examined, Origin, Snapshot};
use futures::{StreamExt, TryStreamExt};
use kube::api::{Api, DynamicObject, ListParams, WatchEvent, WatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::GroupVersion;
use kube::discovery::{self, ApiCapabilities, ApiGroup, ApiResource, Scope, verbs};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::source::WatchError;
use crate::{manifests, recorded};

/// One live Kubernetes cluster (`- kubernetes: {…}` in `sources`): read from its API, or from a recording.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct KubernetesConfig {
    /// The cluster name: the scope of resource ids, equal to the declared sources' `cluster` so objects pair.
    /// Default `default`.
    pub cluster: String,
    /// Name of the source in reports and the store. Default `live:<cluster>`.
    pub source_name: Option<String>,
    /// Files or directories of recorded API objects (`kubectl get … -o yaml`). When given, the cluster is not
    /// contacted.
    pub recorded: Vec<PathBuf>,
    /// kubeconfig file. Default: `$KUBECONFIG`, then `~/.kube/config`, then the in-cluster service account.
    pub kubeconfig: Option<PathBuf>,
    /// kubeconfig context. Default: the current context.
    pub context: Option<String>,
    /// Kinds to list, by kind (`Deployment`), group and kind (`apps/Deployment`) or resource (`deployments`).
    /// Default: every kind the cluster serves that can be listed, but `exclude_kinds`.
    pub kinds: Vec<String>,
    /// Kinds never listed, named the same ways. Default: kinds that are records, not state (events, leases,
    /// endpoints kept by Services, metrics).
    pub exclude_kinds: Vec<String>,
    /// Namespaces to list namespaced kinds in. Default: all. Cluster-scoped kinds are listed whole either way.
    pub namespaces: Vec<String>,
    /// Objects per list request (`limit`). Default 500, as kubectl.
    pub page_size: u32,
    /// Seconds allowed for each API request. Default 30.
    pub timeout_seconds: u64,
}

/// Kinds that record what happened or are kept by the control plane for other objects, so are never declared.
const EXCLUDED_KINDS: &[&str] = &[
    "Event",
    "events.k8s.io/Event",
    "Endpoints",
    "discovery.k8s.io/EndpointSlice",
    "coordination.k8s.io/Lease",
    "ComponentStatus",
    "metrics.k8s.io/PodMetrics",
    "metrics.k8s.io/NodeMetrics",
];

impl Default for KubernetesConfig {
    fn default() -> Self {
        KubernetesConfig {
            cluster: "default".to_owned(),
            source_name: None,
            recorded: Vec::new(),
            kubeconfig: None,
            context: None,
            kinds: Vec::new(),
            exclude_kinds: EXCLUDED_KINDS.iter().map(|k| (*k).to_owned()).collect(),
            namespaces: Vec::new(),
            page_size: 500,
            timeout_seconds: 30,
        }
    }
}

impl KubernetesConfig {
    /// The source name in reports and the store.
    pub fn source(&self) -> String {
        self.source_name.clone().unwrap_or_else(|| format!("live:{}", self.cluster))
    }

    /// Where errors are reported: the kubeconfig context, or the cluster name.
    fn origin(&self) -> String {
        match &self.context {
            Some(context) => format!("kubernetes:{}@{context}", self.cluster),
            None => format!("kubernetes:{}", self.cluster),
        }
    }
}

/// A problem reading a cluster, named for the operator who has to fix it.
#[derive(Debug, thiserror::Error)]
enum ApiError {
    #[error("cannot load the kubeconfig: {0}")]
    Kubeconfig(#[from] kube::config::KubeconfigError),
    #[error("no cluster configuration (set `kubeconfig`, $KUBECONFIG, or run in a cluster): {0}")]
    Infer(#[from] kube::config::InferConfigError),
    #[error("cannot reach the API server: {0}")]
    Client(kube::Error),
    #[error("API discovery failed: {0}")]
    Discovery(kube::Error),
}

/// Reads the cluster: from its recording when one is configured, else from its API.
pub async fn collect(config: &KubernetesConfig) -> Snapshot {
    if !config.recorded.is_empty() {
        return recorded::collect(&config.cluster, &config.source(), &config.recorded);
    }
    let mut snapshot = Snapshot { source: config.source(), complete: true, ..Snapshot::default() };
    if let Err(e) = read_cluster(config, &mut snapshot).await {
        snapshot.complete = false;
        snapshot.diagnostics.push(Diagnostic::new(DiagnosticKind::Unreadable, config.origin(), None, e.to_string()));
    }
    snapshot
}

/// A client for `config`'s cluster. Watches hold a connection open for minutes, so theirs has no read timeout.
async fn client(config: &KubernetesConfig, for_watches: bool) -> Result<kube::Client, ApiError> {
    let options = KubeConfigOptions { context: config.context.clone(), ..KubeConfigOptions::default() };
    let mut client_config = match &config.kubeconfig {
        Some(path) => kube::Config::from_custom_kubeconfig(Kubeconfig::read_from(path)?, &options).await?,
        None if config.context.is_some() => kube::Config::from_kubeconfig(&options).await?,
        None => kube::Config::infer().await?,
    };
    let timeout = Some(Duration::from_secs(config.timeout_seconds.max(1)));
    client_config.connect_timeout = timeout;
    client_config.read_timeout = if for_watches { None } else { timeout };
    // Requests are retried by `with_retries`, a few times. The client's own policy retries a 503 fifteen times with
    // waits up to 1000 s, which turns one unavailable aggregated API into a collection that never ends.
    client_config.default_retry = false;
    kube::Client::try_from(client_config).map_err(ApiError::Client)
}

async fn read_cluster(config: &KubernetesConfig, snapshot: &mut Snapshot) -> Result<(), ApiError> {
    let client = client(config, false).await?;
    let served = discover(&client, config, snapshot).await?;
    for wanted in &config.kinds {
        if !served.iter().any(|(ar, _)| names(ar, wanted)) {
            snapshot.diagnostics.push(Diagnostic::new(
                DiagnosticKind::Config,
                config.origin(),
                None,
                format!("kinds: `{wanted}` is not served by the cluster (or cannot be listed), so it was not read"),
            ));
        }
    }
    let chosen = chosen(config, &served);
    // A few lists at a time, as kubectl does.
    let requests = requests(config, &chosen);
    let source = config.source();
    // The futures are made before they are streamed: a mapping closure inside the stream would make the whole
    // collection future too specific about lifetimes to be boxed as a `Source`'s.
    let lists: Vec<_> = requests
        .into_iter()
        .map(|(ar, ns)| {
            let client = client.clone();
            async move { (ar, ns, list_all(client, ar, ns, config.page_size).await) }
        })
        .collect();
    let results: Vec<_> = futures::stream::iter(lists).buffered(4).collect().await;
    let mut listed: BTreeSet<String> =
        chosen.iter().map(|(ar, _)| manifests::qualified_kind(&ar.api_version, &ar.kind)).collect();
    for (ar, namespace, result) in results {
        let objects = match result {
            Ok(objects) => objects,
            Err(e) => {
                snapshot.complete = false;
                listed.remove(&manifests::qualified_kind(&ar.api_version, &ar.kind));
                let place = namespace.map(|ns| format!(" in namespace {ns}")).unwrap_or_default();
                snapshot.diagnostics.push(Diagnostic::new(
                    DiagnosticKind::Unreadable,
                    config.origin(),
                    None,
                    format!("cannot list {}{place}: {}", ar.plural, describe(&e)),
                ));
                continue;
            }
        };
        let observed_at = Utc::now();
        // Namespaces are cluster-scoped, so listed whole; with a namespaces filter, only those in it are examined.
        let outside = |object: &Value| {
            ar.group.is_empty()
                && ar.kind == "Namespace"
                && !config.namespaces.is_empty()
                && !config
                    .namespaces
                    .iter()
                    .any(|ns| object.pointer("/metadata/name").and_then(Value::as_str) == Some(ns))
        };
        for object in objects.into_iter().filter(|o| !outside(o)) {
            let origin = Origin::Live { source: source.clone(), observed_at };
            match manifests::live_resource(object, &config.cluster, origin, &source) {
                Ok(r) => snapshot.resources.push(r),
                Err(message) => snapshot.diagnostics.push(Diagnostic::new(
                    DiagnosticKind::Schema,
                    config.origin(),
                    None,
                    format!("{}: {message}", ar.plural),
                )),
            }
        }
    }
    let namespaces = (!config.namespaces.is_empty()).then(|| config.namespaces.iter().cloned().collect());
    snapshot.examined = Examined::Listed { kinds: listed, namespaces };
    Ok(())
}

/// Calls `changed` whenever an object of the kinds [`collect`] reads is added, modified or deleted, until the future
/// is dropped. Each kind (per namespace, with a namespaces filter) is watched from its current resource version, so
/// what already exists is not reported; a watch that ends is resumed from the last version seen, and one whose
/// version expired (410 Gone) starts again from a fresh list. Errors are logged and retried with growing waits.
pub async fn watch(config: &KubernetesConfig, changed: impl Fn() + Sync) -> Result<(), WatchError> {
    let client = client(config, true).await?;
    let mut unused = Snapshot::default();
    let served = discover(&client, config, &mut unused).await?;
    let chosen = chosen(config, &served);
    let watches = requests(config, &chosen).into_iter().map(|(ar, ns)| watch_kind(&client, ar, ns, &changed));
    futures::future::join_all(watches).await;
    Ok(())
}

/// How long a watch may stay silent before it is presumed dead (the server ends each one after `WATCH_SECONDS`).
const WATCH_SECONDS: u32 = 290;
const SILENCE: Duration = Duration::from_secs(WATCH_SECONDS as u64 + 40);
const LIST_TIMEOUT: Duration = Duration::from_secs(30);

async fn watch_kind(client: &kube::Client, ar: &ApiResource, namespace: Option<&str>, changed: &(impl Fn() + Sync)) {
    let api: Api<DynamicObject> = match namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, ar),
        None => Api::all_with(client.clone(), ar),
    };
    let current = ListParams::default().limit(1);
    let mut version: Option<String> = None;
    let mut relisted = false;
    let mut pause = Duration::from_secs(1);
    let mut contents = Contents::default();
    loop {
        let from = match version.take() {
            Some(version) => version,
            None => match tokio::time::timeout(LIST_TIMEOUT, with_retries(|| api.list(&current))).await {
                Ok(Ok(list)) => {
                    // After the first list, what changed while the watch was down is unknown: look again.
                    if std::mem::replace(&mut relisted, true) {
                        changed();
                    }
                    list.metadata.resource_version.unwrap_or_default()
                }
                failed => {
                    let error = match failed {
                        Ok(Err(e)) => describe(&e),
                        _ => "no answer".to_owned(),
                    };
                    tracing::warn!(kind = %ar.plural, error, "Cannot start watching; retrying.");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(60));
                    continue;
                }
            },
        };
        let started = tokio::time::Instant::now();
        let stream = match api.watch(&WatchParams::default().timeout(WATCH_SECONDS), &from).await {
            Ok(stream) => stream,
            Err(e) => {
                tracing::warn!(kind = %ar.plural, error = %describe(&e), "Cannot watch; retrying.");
                version = Some(from);
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(60));
                continue;
            }
        };
        version = Some(from);
        let mut stream = std::pin::pin!(stream);
        // A half-open connection says nothing: a watch silent for longer than the server keeps it is dead.
        while let Ok(Some(event)) = tokio::time::timeout(SILENCE, stream.next()).await {
            match event {
                Ok(WatchEvent::Added(o)) | Ok(WatchEvent::Modified(o)) => {
                    version = o.metadata.resource_version.clone().or(version);
                    if contents.changed(&o) {
                        changed();
                    }
                }
                Ok(WatchEvent::Deleted(o)) => {
                    version = o.metadata.resource_version.clone().or(version);
                    if contents.forget(&o) {
                        changed();
                    }
                }
                Ok(WatchEvent::Bookmark(bookmark)) => version = Some(bookmark.metadata.resource_version),
                Ok(WatchEvent::Error(status)) => {
                    if status.code == 410 {
                        version = None;
                    }
                    break;
                }
                Err(e) => {
                    tracing::debug!(kind = %ar.plural, error = %describe(&e), "The watch ended; resuming.");
                    break;
                }
            }
        }
        // A watch that ends at once (refused, broken) is not reopened in a tight loop.
        if started.elapsed() < Duration::from_secs(1) {
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(60));
        } else {
            pause = Duration::from_secs(1);
        }
    }
}

/// What the watched objects held, so updates that change only status or bookkeeping (a Pod's phase, a Node's
/// conditions, a resourceVersion) do not start a cycle: drift compares neither. Objects owned by another (Pods of a
/// ReplicaSet, ReplicaSets of a Deployment) are not declared, so their churn is not news either.
#[derive(Default)]
struct Contents {
    fingerprints: std::collections::HashMap<String, u64>,
}

impl Contents {
    /// Whether an added or modified object differs in what drift compares from what was seen of it last.
    fn changed(&mut self, object: &DynamicObject) -> bool {
        if object.metadata.owner_references.as_ref().is_some_and(|o| !o.is_empty()) {
            return false;
        }
        let Some(uid) = object.metadata.uid.clone() else { return true };
        let fingerprint = fingerprint(object);
        self.fingerprints.insert(uid, fingerprint) != Some(fingerprint)
    }

    /// Whether a deleted object was one whose changes matter.
    fn forget(&mut self, object: &DynamicObject) -> bool {
        if let Some(uid) = &object.metadata.uid {
            self.fingerprints.remove(uid);
        }
        object.metadata.owner_references.as_ref().is_none_or(Vec::is_empty)
    }
}

/// A hash of an object without its status and the metadata the server keeps.
fn fingerprint(object: &DynamicObject) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut value = serde_json::to_value(object).unwrap_or_default();
    if let Value::Object(map) = &mut value {
        map.remove("status");
        if let Some(Value::Object(metadata)) = map.get_mut("metadata") {
            for key in ["resourceVersion", "managedFields", "generation"] {
                metadata.remove(key);
            }
        }
    }
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    value.to_string().hash(&mut hasher);
    hasher.finish()
}

/// The served kinds `config` reads: those it names, else all but the excluded ones.
fn chosen<'s>(
    config: &KubernetesConfig,
    served: &'s [(ApiResource, ApiCapabilities)],
) -> Vec<&'s (ApiResource, ApiCapabilities)> {
    served
        .iter()
        .filter(|(ar, _)| match config.kinds.is_empty() {
            // A kind asked for by name is read even when excluded by default.
            false => config.kinds.iter().any(|k| names(ar, k)),
            true => !config.exclude_kinds.iter().any(|k| names(ar, k)),
        })
        .collect()
}

/// One request per kind, and per namespace for namespaced kinds when namespaces are configured.
fn requests<'s>(
    config: &'s KubernetesConfig,
    chosen: &[&'s (ApiResource, ApiCapabilities)],
) -> Vec<(&'s ApiResource, Option<&'s str>)> {
    let mut requests = Vec::new();
    for (ar, caps) in chosen {
        if caps.scope == Scope::Namespaced && !config.namespaces.is_empty() {
            requests.extend(config.namespaces.iter().map(|ns| (ar, Some(ns.as_str()))));
        } else {
            requests.push((ar, None));
        }
    }
    requests
}

/// Every listable kind the cluster serves, at each group's preferred version. A group whose discovery fails (an
/// aggregated API such as metrics.k8s.io whose backing service is down answers 503) is a collection error that leaves
/// the snapshot incomplete; the other groups are still read, as kubectl does.
async fn discover(
    client: &kube::Client,
    config: &KubernetesConfig,
    snapshot: &mut Snapshot,
) -> Result<Vec<(ApiResource, ApiCapabilities)>, ApiError> {
    let groups = with_retries(|| client.list_api_groups()).await.map_err(ApiError::Discovery)?;
    let mut versions = vec![GroupVersion::gv(ApiGroup::CORE_GROUP, "v1")];
    for group in &groups.groups {
        match group.preferred_version.as_ref().or(group.versions.first()) {
            Some(preferred) => versions.extend(preferred.group_version.parse::<GroupVersion>().ok()),
            None => continue,
        }
    }
    let found: Vec<_> = futures::stream::iter(versions.into_iter().map(|gv| async move {
        let group = with_retries(|| discovery::pinned_group(client, &gv)).await;
        (gv, group)
    }))
    .buffered(4)
    .collect()
    .await;
    let mut served = Vec::new();
    for (gv, group) in found {
        match group {
            Ok(group) => served.extend(
                group.recommended_resources().into_iter().filter(|(_, caps)| caps.supports_operation(verbs::LIST)),
            ),
            Err(e) => {
                snapshot.complete = false;
                snapshot.diagnostics.push(Diagnostic::new(
                    DiagnosticKind::Unreadable,
                    config.origin(),
                    None,
                    format!("cannot discover the kinds of {}: {}; they were not read", gv.api_version(), describe(&e)),
                ));
            }
        }
    }
    Ok(served)
}

/// Whether `name` names this kind: `Deployment`, `apps/Deployment`, `apps.Deployment` (as day2 writes kinds) or
/// `deployments`.
fn names(ar: &ApiResource, name: &str) -> bool {
    let qualified = name.split_once('/').or_else(|| name.rsplit_once('.').filter(|(group, _)| !group.is_empty()));
    match qualified {
        Some((group, kind)) => group == ar.group && (kind == ar.kind || kind == ar.plural),
        None => name == ar.kind || name == ar.plural,
    }
}

/// Every object of one kind (in one namespace, or all), page by page. List items come without `apiVersion` and
/// `kind`, which are set from discovery so each object reads like its manifest.
async fn list_all(
    client: kube::Client,
    ar: &ApiResource,
    namespace: Option<&str>,
    page_size: u32,
) -> Result<Vec<Value>, kube::Error> {
    let api: Api<DynamicObject> = match namespace {
        Some(ns) => Api::namespaced_with(client, ns, ar),
        None => Api::all_with(client, ar),
    };
    let pages = futures::stream::try_unfold(Some(String::new()), |token| {
        let api = &api;
        async move {
            let Some(token) = token else { return Ok(None) };
            let mut params = ListParams::default().limit(page_size.max(1));
            if !token.is_empty() {
                params = params.continue_token(&token);
            }
            let page = with_retries(|| api.list(&params)).await?;
            let next = page.metadata.continue_.filter(|t| !t.is_empty());
            Ok::<_, kube::Error>(Some((page.items, next)))
        }
    });
    let items: Vec<Vec<DynamicObject>> = pages.try_collect().await?;
    items
        .into_iter()
        .flatten()
        .map(|object| {
            let mut value = serde_json::to_value(object).map_err(kube::Error::SerdeError)?;
            if let Value::Object(map) = &mut value {
                map.insert("apiVersion".to_owned(), Value::String(ar.api_version.clone()));
                map.insert("kind".to_owned(), Value::String(ar.kind.clone()));
            }
            Ok(value)
        })
        .collect()
}

/// Retries a request that failed for a reason that passes (throttling, server overload, a dropped connection),
/// three times with doubling waits.
async fn with_retries<T, F, Fut>(mut request: F) -> Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    let mut wait = Duration::from_millis(200);
    for _ in 0..3 {
        match request().await {
            Err(e) if is_transient(&e) => {
                tracing::debug!(error = %e, "Retrying a Kubernetes API request.");
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
            other => return other,
        }
    }
    request().await
}

fn is_transient(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(status) => matches!(status.code, 429 | 500 | 502 | 503 | 504),
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

/// The API's own message and code, rather than the client's debug form.
fn describe(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(status) if status.code == 403 => {
            format!("forbidden ({}); grant list on it, or leave it out with `kinds` / `exclude_kinds`", status.message)
        }
        kube::Error::Api(status) => format!("{} (HTTP {})", status.message, status.code),
        other => other.to_string(),
    }
}

impl crate::source::Source for KubernetesConfig {
    fn name(&self) -> String {
        self.source()
    }

    fn side(&self) -> day2_model::Side {
        day2_model::Side::Live
    }

    fn scope(&self) -> Option<(day2_model::Provider, String)> {
        Some((day2_model::Provider::K8s, self.cluster.clone()))
    }

    fn resolve_paths(&mut self, base: &std::path::Path) {
        crate::source::resolve_all(base, &mut self.recorded);
        self.kubeconfig = self.kubeconfig.as_deref().map(|p| crate::source::resolve(base, p));
    }

    fn watched_paths(&self) -> Vec<PathBuf> {
        crate::source::files_to_watch(&self.recorded)
    }

    fn collect(&self) -> crate::source::Collecting<'_, Snapshot> {
        Box::pin(collect(self))
    }

    /// A cluster read from its API is watched through it; a recording is watched as files.
    fn watch<'a>(
        &'a self,
        changed: &'a (dyn Fn() + Sync),
    ) -> Option<crate::source::Collecting<'a, Result<(), WatchError>>> {
        self.recorded
            .is_empty()
            .then(|| -> crate::source::Collecting<'a, Result<(), WatchError>> { Box::pin(watch(self, changed)) })
    }
}
