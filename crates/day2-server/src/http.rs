//! The HTTP listener of `day2 serve`, with the limits a server facing a network needs: a cap on open connections,
//! a time limit on the TLS handshake and on reading request headers (which also closes idle keep-alive connections:
//! hyper starts that timer whenever it waits for a request), a time limit on each request and on each connection. Plain HTTP/1.1 or
//! HTTPS (rustls), with graceful shutdown: on stop, no new connection is accepted and open ones get
//! [`Limits::drain`] to finish.
//!
//! Also here: the `Host` check of a token-less server ([`HostCheck`]), which stops DNS-rebinding reads from a
//! browser.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Time and connection limits of the listener.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Connections served at once; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// Time to complete a TLS handshake.
    pub handshake: Duration,
    /// Time to send a request's headers, and the longest a keep-alive connection may sit idle.
    pub header_read: Duration,
    /// Time to answer one request.
    pub request: Duration,
    /// Time one connection may stay open, however busy: a client that never reads its responses must not hold a
    /// slot for ever (the other timeouts stop only reading).
    pub connection: Duration,
    /// Time open connections get to finish on shutdown.
    pub drain: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 512,
            handshake: Duration::from_secs(10),
            header_read: Duration::from_secs(10),
            request: Duration::from_secs(60),
            connection: Duration::from_secs(600),
            drain: Duration::from_secs(10),
        }
    }
}

/// Serves `app` on `listener` until `shutdown` completes; with `tls`, over HTTPS.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<axum_server::tls_rustls::RustlsConfig>,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let app = app.layer(axum::middleware::from_fn_with_state(limits.request, time_limit));
    let graceful = GracefulShutdown::new();
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was accepted: wait a little, go on.
                    tracing::warn!(error = %e, "Cannot accept a connection.");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = TowerToHyperService::new(app.clone());
        let watcher = graceful.watcher();
        let tls = tls.as_ref().map(|config| tokio_rustls::TlsAcceptor::from(http1_only(&config.get_inner())));
        tokio::spawn(async move {
            let _permit = permit;
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new()).header_read_timeout(limits.header_read);
            let served = match tls {
                None => {
                    let connection = watcher.watch(http.serve_connection(TokioIo::new(stream), service));
                    tokio::time::timeout(limits.connection, connection).await
                }
                Some(acceptor) => match tokio::time::timeout(limits.handshake, acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => {
                        let connection = watcher.watch(http.serve_connection(TokioIo::new(stream), service));
                        tokio::time::timeout(limits.connection, connection).await
                    }
                    Ok(Err(e)) => return tracing::debug!(%peer, error = %e, "TLS handshake failed."),
                    Err(_) => return tracing::debug!(%peer, "TLS handshake timed out."),
                },
            };
            match served {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "Connection ended with an error."),
                Err(_) => tracing::debug!(%peer, "Connection closed: open longer than its limit."),
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.drain, graceful.shutdown()).await.is_err() {
        tracing::warn!(seconds = limits.drain.as_secs(), "Connections still open after the drain time were closed.");
    }
}

/// The certificate in force, offering only HTTP/1.1 in ALPN: the listener speaks no HTTP/2.
fn http1_only(config: &rustls::ServerConfig) -> Arc<rustls::ServerConfig> {
    let mut config = config.clone();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// Answers 503 when a request takes longer than its limit.
async fn time_limit(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            (StatusCode::SERVICE_UNAVAILABLE, format!("the request took longer than {limit:?}\n")).into_response()
        }
    }
}

/// Which `Host` names a token-less server answers: IP literals (a DNS-rebinding attack always arrives under the
/// attacker's own name), `localhost`, and the names in `serve.hosts`. The port is not what the attack changes, so
/// it is not compared.
#[derive(Debug, Clone)]
pub(crate) struct HostCheck<'a> {
    names: &'a [String],
}

impl<'a> HostCheck<'a> {
    pub(crate) fn new(names: &'a [String]) -> Self {
        HostCheck { names }
    }

    /// Whether a request with this `Host` header is answered.
    pub(crate) fn allows(&self, host: &str) -> bool {
        let name = host_name(host);
        name.eq_ignore_ascii_case("localhost")
            || name.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().is_ok()
            || self.names.iter().any(|n| n.eq_ignore_ascii_case(name))
    }
}

/// The name of `name:port`, `[v6]:port` or `name`.
fn host_name(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_once(']').map_or("", |(ip, _)| ip);
    }
    host.rsplit_once(':').map_or(host, |(name, _)| name)
}

/// On a server without tokens, refuses (421) requests whose `Host` it does not answer for.
pub(crate) async fn check_host(State(state): State<Arc<crate::State>>, request: Request, next: Next) -> Response {
    let loaded = state.loaded();
    let host = request.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default().to_owned();
    if !loaded.config.serve.tokens.is_empty() || HostCheck::new(&loaded.config.serve.hosts).allows(&host) {
        next.run(request).await
    } else {
        (
            StatusCode::MISDIRECTED_REQUEST,
            format!(
                "this server does not answer for Host `{host}`: without API tokens it answers only IP addresses, \
                 localhost and the names in serve.hosts\n"
            ),
        )
            .into_response()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn hosts_a_token_less_server_answers() {
        let names = ["Day2.internal".to_owned()];
        let check = HostCheck::new(&names);
        for host in ["127.0.0.1:8080", "127.0.0.1", "LOCALHOST:8080", "[::1]:8080", "day2.internal", "10.0.0.7:80"] {
            assert!(check.allows(host), "{host}");
        }
        for host in ["evil.example:8080", "", "127.0.0.1.evil.example:8080", "[::1", "localhost.evil.example"] {
            assert!(!check.allows(host), "{host}");
        }
    }
}
