//! `day2 serve`: the continuous loop (day2-server), stopped by SIGTERM or Ctrl-C.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use day2_server::{ServeOptions, TlsFiles, serve};

use crate::cli::{Global, ServeArgs};

pub fn run(global: &Global, args: ServeArgs) -> Result<ExitCode> {
    let config = match &global.config {
        Some(path) => path.clone(),
        None if std::path::Path::new("day2.yaml").exists() => "day2.yaml".into(),
        None => {
            bail!("day2 serve needs a configuration: give --config FILE or run it where day2.yaml is (`day2 init`)")
        }
    };
    if args.interval.is_zero() {
        bail!("--interval must be longer than zero");
    }
    let tls = match (args.tls_cert, args.tls_key) {
        (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
        _ => None,
    };
    let options = ServeOptions {
        config,
        listen: args.listen,
        store: args.store,
        interval: args.interval,
        tls,
        allow_anonymous_reads: args.allow_anonymous_reads,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    let served = runtime.block_on(serve(options, stop_signal()));
    // Running jobs have finished; a collection abandoned after its timeout may still hold a blocking thread (a hung
    // read cannot be cancelled), and the process does not wait for it.
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    served?;
    Ok(ExitCode::SUCCESS)
}

/// Ctrl-C, or SIGTERM (what service managers and Kubernetes send).
async fn stop_signal() {
    let interrupt = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
