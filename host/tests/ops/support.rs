//! Shared helpers: an API server in a temporary directory, polling with deadlines.

use wasmvisor_apiserver::{ApiServer, Config, Running};

pub(crate) struct TestServer {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) running: Running,
}

impl TestServer {
    pub(crate) async fn start() -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let running = ApiServer::start(
            Config::new(dir.path().join("apiserver")).listen("127.0.0.1:0".parse().unwrap()),
        )
        .await
        .unwrap();
        TestServer { dir, running }
    }

    pub(crate) async fn client(&self) -> kube::Client {
        let kubeconfig = kube::config::Kubeconfig::read_from(self.running.kubeconfig_path()).unwrap();
        let config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default())
                .await
                .unwrap();
        kube::Client::try_from(config).unwrap()
    }
}
