//! A plugin that watches a second cluster: the host reaches each configured
//! cluster with its own client, and a plugin's watches, writes, Events and
//! conditions stay in the cluster it names.

use kube::api::{Api, DynamicObject, PostParams};
use serde_json::json;
use wasmvisor_apiserver::{ApiServer, Config};
use wasmvisor_host::cluster::{ClusterConfig, ClusterSource};
use wasmvisor_host::grant::Grant;
use wasmvisor_host::host::Host;
use wasmvisor_host::manifest::{Manifest, section};
use wasmvisor_plugins::testing::WIDGET;

use crate::support::{
    Env, at, client, create_widget, ensure_namespace, eventually, host_config, widget_resource,
};

/// The widget plugin renamed `guest-widget`, watching and writing in cluster `guest`.
fn guest_widget() -> Vec<u8> {
    let text = section::extract(WIDGET.bytes).unwrap();
    let text = text
        .replace("name = \"widget\"", "name = \"guest-widget\"")
        .replace("[[watches]]\n", "[[watches]]\ncluster = \"guest\"\n")
        .replace("[[capabilities.kube]]\n", "[[capabilities.kube]]\ncluster = \"guest\"\n");
    section::embed(WIDGET.bytes, &text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_watching_a_second_cluster_reconciles_there_only() {
    let env = Env::start_api_only().await;
    let guest_api = ApiServer::start(
        Config::new(env.dir().join("guest-apiserver")).listen("127.0.0.1:0".parse().unwrap()),
    )
    .await
    .unwrap();
    let guest = client(guest_api.kubeconfig_path()).await;
    crate::support::install_widget_crd(&guest).await;

    let dir = env.dir().join("host");
    std::fs::create_dir_all(dir.join("plugins")).unwrap();
    let bytes = guest_widget();
    std::fs::write(dir.join("plugins").join("guest-widget.wasm"), &bytes).unwrap();
    let mut config = host_config(&dir, env.kubeconfig(), &[]);
    config.clusters.insert(
        "guest".into(),
        ClusterConfig {
            source: ClusterSource::Kubeconfig {
                kubeconfig: guest_api.kubeconfig_path().to_owned(),
                context: None,
            },
        },
    );
    let manifest = Manifest::from_component(&bytes).unwrap();
    config.plugins.insert(
        manifest.name.clone(),
        Grant { capabilities: manifest.capabilities.clone(), limits: manifest.limits },
    );
    let host = Host::start(config).await.unwrap();

    // A Widget in the guest cluster is reconciled there, finalizer included.
    ensure_namespace(&guest, "apps").await;
    let guest_widgets: Api<DynamicObject> = Api::namespaced_with(guest.clone(), "apps", &widget_resource());
    let widget: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "test.wasmvisor.dev/v1", "kind": "Widget",
        "metadata": {"name": "remote", "namespace": "apps"}, "spec": {},
    }))
    .unwrap();
    guest_widgets.create(&PostParams::default(), &widget).await.unwrap();
    let reconciled = eventually("the guest cluster's widget to be reconciled", || {
        let guest_widgets = guest_widgets.clone();
        async move { guest_widgets.get("remote").await.ok().filter(|w| at(w, "/status/phase") == "Ready") }
    })
    .await;
    assert_eq!(at(&reconciled, "/metadata/finalizers"), json!(["wasmvisor.dev/guest-widget"]));

    // A Widget in the default cluster is not this plugin's business.
    create_widget(&env, "apps", "local", json!({})).await;
    create_widget(&env, "apps", "marker", json!({})).await;
    let guest_marker: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "test.wasmvisor.dev/v1", "kind": "Widget",
        "metadata": {"name": "marker", "namespace": "apps"}, "spec": {},
    }))
    .unwrap();
    guest_widgets.create(&PostParams::default(), &guest_marker).await.unwrap();
    // Once a later guest object is reconciled, the earlier local one would
    // have been too if the plugin watched the default cluster.
    eventually("the guest marker to be reconciled", || {
        let guest_widgets = guest_widgets.clone();
        async move {
            guest_widgets.get("marker").await.ok().filter(|w| at(w, "/status/phase") == "Ready").map(drop)
        }
    })
    .await;
    let local = env.widgets("apps").get("local").await.unwrap();
    assert!(at(&local, "/status").is_null(), "the default cluster's widget was reconciled: {local:?}");
    assert!(at(&local, "/metadata/finalizers").is_null());
    host.shutdown().await;
    guest_api.shutdown().await.unwrap();
}
