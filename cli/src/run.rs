//! `wasmvisor run --config FILE`: the host against the clusters and
//! endpoints a host config names (in a real Supervisor), until SIGINT or
//! SIGTERM, then a graceful shutdown.

use std::path::PathBuf;

use anyhow::Context as _;
use wasmvisor_host::config::HostConfig;
use wasmvisor_host::host::Host;

/// Arguments of `run`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The host config (clusters, endpoints, grants, engine settings).
    #[arg(long, env = "WASMVISOR_CONFIG", value_name = "FILE")]
    config: PathBuf,
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let config = HostConfig::load(&args.config)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let host = Host::start(config).await.context("starting the host")?;
        eprintln!("wasmvisor host running; admin endpoint {}", host.admin().url);
        for plugin in host.runtime().plugins() {
            eprintln!("  plugin {}@{} ({})", plugin.name, plugin.version, plugin.source);
        }
        shutdown_signal().await?;
        eprintln!("stopping: finishing reconciles in flight");
        host.shutdown().await;
        Ok(())
    })
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM (what kubelet sends a pod).
pub(crate) async fn shutdown_signal() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("listening for SIGTERM")?;
    tokio::select! {
        interrupted = tokio::signal::ctrl_c() => interrupted.context("listening for Ctrl-C")?,
        _ = term.recv() => {}
    }
    Ok(())
}
