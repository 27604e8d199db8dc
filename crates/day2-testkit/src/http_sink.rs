//! A local HTTP server that records every request it receives, for testing what day2 sends (webhooks, Slack,
//! PagerDuty): method, path, headers and body, with the time each arrived. It answers 202, or 500 to the next
//! requests after [`HttpSink::fail_next`], so tests can check that delivery is retried.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    /// `POST`, …
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Headers, names lowercase.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// When it arrived.
    pub at: Instant,
}

impl Received {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The body as JSON (null when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_default()
    }
}

#[derive(Default)]
struct Inner {
    received: Vec<Received>,
    failures_left: usize,
    refused: usize,
}

/// A running sink. Dropping it stops the server.
pub struct HttpSink {
    /// Where it listens (`http://{addr}`).
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    _runtime: tokio::runtime::Runtime,
}

impl HttpSink {
    /// Starts a sink on a free loopback port.
    pub fn start() -> std::io::Result<HttpSink> {
        let inner: Arc<Mutex<Inner>> = Arc::default();
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
        let addr = listener.local_addr()?;
        let app = Router::new().fallback(record).with_state(inner.clone());
        runtime.spawn(async move { axum::serve(listener, app).await });
        Ok(HttpSink { addr, inner, _runtime: runtime })
    }

    /// The URL of a path on this sink.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Answers the next `n` requests with 500 (they are not recorded as received).
    pub fn fail_next(&self, n: usize) {
        self.lock().failures_left = n;
    }

    /// Requests answered 500 so far.
    pub fn refused(&self) -> usize {
        self.lock().refused
    }

    /// Every request accepted so far.
    pub fn received(&self) -> Vec<Received> {
        self.lock().received.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

async fn record(
    State(inner): State<Arc<Mutex<Inner>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let mut inner = inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if inner.failures_left > 0 {
        inner.failures_left -= 1;
        inner.refused += 1;
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    inner.received.push(Received {
        method: method.to_string(),
        path: uri.path_and_query().map(ToString::to_string).unwrap_or_default(),
        headers: headers
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or_default().to_owned()))
            .collect(),
        body: body.to_vec(),
        at: Instant::now(),
    });
    StatusCode::ACCEPTED
}
