//! The kube-rs backend against the embedded API server over HTTPS: the same
//! path the host takes to a real cluster.

use std::sync::Arc;

use serde_json::json;
use wasmvisor_apiserver::{ApiServer, Config};
use wasmvisor_host::capability::kube::{KubeBackend, KubeError, ReadSource};
use wasmvisor_host::cluster::{ClusterConfig, ClusterSource, Clusters};
use wasmvisor_host::object::{KindScope, ObjectRef};
use wasmvisor_selector::LabelSelector;

async fn start() -> (tempfile::TempDir, wasmvisor_apiserver::Running, Arc<Clusters>) {
    let dir = tempfile::tempdir().unwrap();
    let running =
        ApiServer::start(Config::new(dir.path().join("apiserver")).listen("127.0.0.1:0".parse().unwrap()))
            .await
            .unwrap();
    let config = ClusterConfig {
        source: ClusterSource::Kubeconfig { kubeconfig: running.kubeconfig_path().to_owned(), context: None },
    };
    let clusters = Clusters::connect(&[("default".to_owned(), config)]).await.unwrap();
    (dir, running, Arc::new(clusters))
}

fn config_map(name: &str) -> ObjectRef {
    ObjectRef {
        cluster: "default".into(),
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
        namespace: Some("default".into()),
        name: name.into(),
    }
}

#[tokio::test]
async fn get_list_and_delete_through_kube_rs() {
    let (_dir, running, clusters) = start().await;
    let client = clusters.client("default").unwrap().clone();
    let api: kube::Api<k8s_openapi::api::core::v1::ConfigMap> = kube::Api::namespaced(client, "default");
    for (name, app) in [("a", "web"), ("b", "db")] {
        let cm = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"app": app}}, "data": {"k": name}
        }))
        .unwrap();
        api.create(&Default::default(), &cm).await.unwrap();
    }

    let got = clusters.get(&config_map("a"), ReadSource::Server).await.unwrap();
    assert_eq!(got["data"]["k"], "a");
    assert_eq!(got["kind"], "ConfigMap");

    let kinds = KindScope {
        cluster: "default".into(),
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
        namespace: Some("default".into()),
    };
    let web = LabelSelector::parse("app=web").unwrap();
    let listed = clusters.list(&kinds, Some(&web), ReadSource::Server).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["metadata"]["name"], "a");

    clusters.delete(&config_map("a")).await.unwrap();
    assert!(matches!(clusters.get(&config_map("a"), ReadSource::Server).await, Err(KubeError::NotFound(_))));
    clusters.delete(&config_map("a")).await.expect("deleting what is gone succeeds");
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn unknown_kinds_and_clusters_are_typed_errors() {
    let (_dir, running, clusters) = start().await;
    let missing_kind =
        ObjectRef { kind: "Gizmo".into(), api_version: "example.com/v1".into(), ..config_map("x") };
    match clusters.get(&missing_kind, ReadSource::Server).await {
        Err(KubeError::NotFound(message)) => assert!(message.contains("example.com/v1/Gizmo"), "{message}"),
        other => panic!("expected not-found, got {other:?}"),
    }
    let other_cluster = ObjectRef { cluster: "guest-1".into(), ..config_map("x") };
    match clusters.get(&other_cluster, ReadSource::Server).await {
        Err(KubeError::Unavailable(message)) => assert!(message.contains("\"guest-1\""), "{message}"),
        other => panic!("expected unavailable, got {other:?}"),
    }
    running.shutdown().await.unwrap();
}

/// The example plugin, loaded by the runtime, reconciling a Namespace of the
/// embedded API server through the kube-rs backend: server-side apply with
/// the plugin as field manager, then finalize deleting what it made.
#[tokio::test]
async fn a_plugin_reconciles_against_the_api_server_with_server_side_apply() {
    use wasmvisor_host::runtime::engine::EngineSettings;
    use wasmvisor_host::runtime::scope::OutputLimits;
    use wasmvisor_host::{Backends, Export, Grants, Request, Runtime, RuntimeConfig};
    use wasmvisor_plugins::NAMESPACE_CONFIG;

    let (dir, running, clusters) = start().await;
    let client = clusters.client("default").unwrap().clone();
    let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(client.clone());
    let ns = serde_json::from_value(json!({"metadata": {
        "name": "team-a",
        "labels": {"wasmvisor.dev/config": "enabled"},
        "annotations": {"config.wasmvisor.dev/region": "eu-west"}}}))
    .unwrap();
    let ns = namespaces.create(&Default::default(), &ns).await.unwrap();

    std::fs::create_dir_all(dir.path().join("cache")).unwrap();
    let cache_dir =
        cap_std::fs::Dir::open_ambient_dir(dir.path().join("cache"), cap_std::ambient_authority()).unwrap();
    let grants = Grants::parse(
        "[[plugins.namespace-config.capabilities.kube]]\napi-version = \"v1\"\nkind = \"ConfigMap\"\nverbs = [\"get\", \"apply\", \"delete\"]\n",
    )
    .unwrap();
    let config = RuntimeConfig {
        engine: EngineSettings::default(),
        output: OutputLimits::default(),
        cache_dir,
        grants,
    };
    let runtime =
        Runtime::new(config, Backends { kube: clusters.clone(), nsx: None, vcenter: None }).unwrap();
    runtime.install(runtime.load(NAMESPACE_CONFIG.bytes).unwrap(), NAMESPACE_CONFIG.file).unwrap();

    let object = serde_json::to_value(&ns).unwrap();
    let object = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": object["metadata"]});
    let request = Request { target: ObjectRef::of("default", &object).unwrap(), object: object.to_string() };
    runtime.call("namespace-config", Export::Reconcile, &request).await.unwrap();

    let config_maps: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(client, "team-a");
    let cm = config_maps.get("wasmvisor-config").await.unwrap();
    assert_eq!(cm.data.unwrap()["region"], "eu-west");
    let owner = &cm.metadata.owner_references.unwrap()[0];
    assert_eq!((owner.kind.as_str(), owner.uid.as_str()), ("Namespace", ns.metadata.uid.as_deref().unwrap()));
    let managers: Vec<_> =
        cm.metadata.managed_fields.unwrap().into_iter().map(|m| m.manager.unwrap()).collect();
    assert_eq!(managers, vec!["namespace-config".to_string()], "the plugin is the field manager");

    // A second reconcile is idempotent.
    runtime.call("namespace-config", Export::Reconcile, &request).await.unwrap();
    runtime.call("namespace-config", Export::Finalize, &request).await.unwrap();
    assert!(
        config_maps.get_opt("wasmvisor-config").await.unwrap().is_none(),
        "finalize deleted the ConfigMap"
    );
    running.shutdown().await.unwrap();
}
