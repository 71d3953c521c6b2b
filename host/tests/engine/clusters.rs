//! A plugin that watches a second cluster: the host reaches each configured
//! cluster with its own client, and a plugin's watches, writes, Events and
//! conditions stay in the cluster it names.

use kube::api::{Api, DynamicObject, PostParams};
use serde_json::json;
use wasmvisor_apiserver::{ApiServer, Config};
use wasmvisor_host::capability::grant::Grant;
use wasmvisor_host::cluster::{ClusterConfig, ClusterSource};
use wasmvisor_host::host::Host;
use wasmvisor_host::manifest::{Manifest, section};
use wasmvisor_plugins::testing::WIDGET;

use crate::support::{
    Env, at, client, create_widget, ensure_namespace, eventually, host_config, widget_resource,
};

/// The widget plugin renamed `name`, watching and writing in `cluster`.
fn widget_in(name: &str, cluster: &str) -> Vec<u8> {
    let text = section::extract(WIDGET.bytes).unwrap();
    let text = text
        .replace("name = \"widget\"", &format!("name = \"{name}\""))
        .replace("[[watches]]\n", &format!("[[watches]]\ncluster = \"{cluster}\"\n"))
        .replace("[[capabilities.kube]]\n", &format!("[[capabilities.kube]]\ncluster = \"{cluster}\"\n"));
    section::embed(WIDGET.bytes, &text).unwrap()
}

/// A second API server with the Widget CRD and an `apps` namespace.
async fn second_api_server(env: &Env) -> (wasmvisor_apiserver::Running, kube::Client) {
    let api = ApiServer::start(
        Config::new(env.dir().join("guest-apiserver")).listen("127.0.0.1:0".parse().unwrap()),
    )
    .await
    .unwrap();
    let guest = client(api.kubeconfig_path()).await;
    crate::support::install_widget_crd(&guest).await;
    ensure_namespace(&guest, "apps").await;
    (api, guest)
}

/// A host running `bytes` (granted its manifest) with cluster `extra` beside `default`.
async fn host_with(env: &Env, bytes: &[u8], extra: (&str, ClusterSource)) -> Host {
    let dir = env.dir().join("host");
    std::fs::create_dir_all(dir.join("plugins")).unwrap();
    std::fs::write(dir.join("plugins").join("plugin.wasm"), bytes).unwrap();
    let mut config = host_config(&dir, env.kubeconfig(), &[]);
    config.clusters.insert(extra.0.into(), ClusterConfig { source: extra.1 });
    let manifest = Manifest::from_component(bytes).unwrap();
    config.plugins.insert(manifest.name.clone(), Grant::declared(&manifest));
    Host::start(config).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_watching_a_second_cluster_reconciles_there_only() {
    let env = Env::start_api_only().await;
    let (guest_api, guest) = second_api_server(&env).await;
    let kubeconfig = guest_api.kubeconfig_path().to_owned();
    let source = ClusterSource::Kubeconfig { kubeconfig, context: None };
    let host = host_with(&env, &widget_in("guest-widget", "guest"), ("guest", source)).await;

    // A Widget in the guest cluster is reconciled there, finalizer included.
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_added_and_removed_through_a_kubeconfig_secret() {
    use k8s_openapi::ByteString;
    use k8s_openapi::api::core::v1::Secret;
    let env = Env::start_api_only().await;
    let (guest_api, guest) = second_api_server(&env).await;
    let source = ClusterSource::KubeconfigSecrets {
        cluster: "default".into(),
        label_selector: "cluster.x-k8s.io/cluster-name".into(),
        namespace: None,
        key: "value".into(),
        name_suffix: Some("-kubeconfig".into()),
    };
    let host = host_with(&env, &widget_in("fleet-widget", "guests"), ("guests", source)).await;
    assert!(host.clusters().members("guests").is_empty());

    // Cluster API publishes `<cluster>-kubeconfig`; the host follows it.
    ensure_namespace(&env.client, "tenants").await;
    let secrets: Api<Secret> = Api::namespaced(env.client.clone(), "tenants");
    let kubeconfig = std::fs::read(guest_api.kubeconfig_path()).unwrap();
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "tkc-a-kubeconfig", "labels": {"cluster.x-k8s.io/cluster-name": "tkc-a"}},
    }))
    .unwrap();
    // Cluster API labels a cluster's other Secrets alike (CA, bootstrap
    // data); only the one named `*-kubeconfig` is a cluster.
    let bootstrap = Secret {
        metadata: kube::api::ObjectMeta { name: Some("tkc-a-md-0-x7k2p".into()), ..secret.metadata.clone() },
        data: Some([("value".to_owned(), ByteString(b"#cloud-config".to_vec()))].into()),
        ..Secret::default()
    };
    secrets.create(&PostParams::default(), &bootstrap).await.unwrap();
    let secret = Secret { data: Some([("value".to_owned(), ByteString(kubeconfig))].into()), ..secret };
    secrets.create(&PostParams::default(), &secret).await.unwrap();
    let member = "guests/tenants/tkc-a-kubeconfig";
    eventually("the member cluster to be added", || async {
        host.clusters().members("guests").contains(&member.to_owned()).then_some(())
    })
    .await;
    assert_eq!(
        host.clusters().members("guests"),
        vec![member.to_owned()],
        "the bootstrap Secret is no cluster"
    );

    let guest_widgets: Api<DynamicObject> = Api::namespaced_with(guest.clone(), "apps", &widget_resource());
    let widget = |name: &str| -> DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": "test.wasmvisor.dev/v1", "kind": "Widget",
            "metadata": {"name": name, "namespace": "apps"}, "spec": {},
        }))
        .unwrap()
    };
    guest_widgets.create(&PostParams::default(), &widget("joined")).await.unwrap();
    eventually("the new member's widget to be reconciled", || {
        let guest_widgets = guest_widgets.clone();
        async move {
            guest_widgets.get("joined").await.ok().filter(|w| at(w, "/status/phase") == "Ready").map(drop)
        }
    })
    .await;

    // The Secret goes: so does the cluster, and its objects get no more work.
    secrets.delete("tkc-a-kubeconfig", &Default::default()).await.unwrap();
    eventually("the member cluster to be removed", || async {
        host.clusters().members("guests").is_empty().then_some(())
    })
    .await;
    // With the member gone nothing watches it any more; a second is far
    // longer than the reconcile above took, so a live watch would have acted.
    guest_widgets.create(&PostParams::default(), &widget("after")).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let after = guest_widgets.get("after").await.unwrap();
    assert!(
        at(&after, "/metadata/finalizers").is_null(),
        "a removed cluster's object was reconciled: {after:?}"
    );
    host.shutdown().await;
    guest_api.shutdown().await.unwrap();
}
