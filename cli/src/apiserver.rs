//! `wasmvisor apiserver --data-dir DIR --listen ADDR`: the embedded
//! Kubernetes-compatible API server alone, until Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use wasmvisor_apiserver::{ApiServer, Config};

/// Arguments of `apiserver`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Where objects, the CA, the admin token and `kubeconfig` live.
    #[arg(long, env = "WASMVISOR_APISERVER_DATA_DIR", default_value_os_t = Config::default_data_dir())]
    data_dir: PathBuf,
    /// Address to serve HTTPS on (loopback by default).
    #[arg(long, env = "WASMVISOR_APISERVER_LISTEN", default_value = "127.0.0.1:6443")]
    listen: SocketAddr,
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let running = ApiServer::start(Config::new(&args.data_dir).listen(args.listen))
            .await
            .with_context(|| format!("starting the API server in {}", args.data_dir.display()))?;
        println!("API server listening on https://{}", running.addr());
        println!("kubeconfig: {}", running.kubeconfig_path().display());
        println!("try: kubectl --kubeconfig {} get namespaces", running.kubeconfig_path().display());
        tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
        running.shutdown().await.context("stopping the API server")?;
        Ok(())
    })
}
