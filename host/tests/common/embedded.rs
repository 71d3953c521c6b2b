//! The embedded API server on loopback, and the host's connection to it as
//! cluster `default` (for test binaries that need the real server).

use std::path::Path;
use std::sync::Arc;

use wasmvisor_apiserver::{ApiServer, Config, Running};
use wasmvisor_host::cluster::{ClusterConfig, ClusterSource, Clusters};

/// A server with its data under `dir/apiserver`, the host's clusters with
/// it as `default`, and that cluster's client.
pub(crate) async fn start(dir: &Path) -> (Running, Arc<Clusters>, kube::Client) {
    let server = ApiServer::start(Config::new(dir.join("apiserver")).listen("127.0.0.1:0".parse().unwrap()))
        .await
        .unwrap();
    let config = ClusterConfig {
        source: ClusterSource::Kubeconfig { kubeconfig: server.kubeconfig_path().to_owned(), context: None },
    };
    let clusters = Arc::new(Clusters::connect(&[("default".to_owned(), config)]).await.unwrap());
    let client = clusters.client("default").unwrap().clone();
    (server, clusters, client)
}
