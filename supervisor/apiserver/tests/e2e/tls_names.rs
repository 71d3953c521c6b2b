//! The serving certificate's names: the listen address (loopback ones other than
//! 127.0.0.1 too) and the extra names of `Config::subject_alt_names`, and no others.

use wasmvisor_apiserver::{ApiServer, Config};

use crate::support::client_from;

/// Lists namespaces through a client that checks the certificate against `server_name`.
async fn list_as(kubeconfig: &std::path::Path, server_name: Option<&str>) -> anyhow::Result<()> {
    let kubeconfig = kube::config::Kubeconfig::read_from(kubeconfig)?;
    let mut config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default()).await?;
    config.tls_server_name = server_name.map(str::to_owned);
    let client = kube::Client::try_from(config)?;
    let api: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(client);
    api.list(&Default::default()).await?;
    Ok(())
}

#[tokio::test]
async fn the_certificate_names_the_listen_address_and_the_extra_names() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    // A loopback address other than 127.0.0.1, as a guest cluster's VM IP is.
    let config = Config::new(dir.path())
        .listen("127.0.0.23:0".parse()?)
        .subject_alt_names(["vip.example", "127.170.0.9"]);
    let running = ApiServer::start(config).await?;
    assert_eq!(running.addr().ip().to_string(), "127.0.0.23");

    client_from(running.kubeconfig_path()).await?.apiserver_version().await?;
    list_as(running.kubeconfig_path(), Some("vip.example")).await?;
    let refused = list_as(running.kubeconfig_path(), Some("other.example")).await;
    assert!(refused.is_err(), "a name the certificate lacks is refused");
    running.shutdown().await?;
    Ok(())
}
