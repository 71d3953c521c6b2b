//! Cached reads: a kind the engine watches is read from its shared cache
//! (`ReadSource::Cache`), `ReadSource::Server` and unwatched kinds read
//! through to the API server.

use std::sync::Arc;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use wasmvisor_host::capability::kube::cache::CachedKube;
use wasmvisor_host::capability::kube::{KubeBackend, KubeError, ReadSource};
use wasmvisor_host::cluster::{ClusterConfig, ClusterSource, Clusters};
use wasmvisor_host::controller::metrics::{CacheLabels, ControllerMetrics};
use wasmvisor_host::controller::watch::Informers;
use wasmvisor_host::manifest::KindRef;
use wasmvisor_host::object::{KindScope, ObjectRef};
use wasmvisor_selector::LabelSelector;

use crate::support::{Env, ensure_namespace, eventually};

fn config_map(name: &str) -> ObjectRef {
    ObjectRef {
        cluster: "default".into(),
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
        namespace: Some("apps".into()),
        name: name.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watched_kinds_are_read_from_the_cache_and_the_rest_reads_through() {
    let env = Env::start_api_only().await;
    ensure_namespace(&env.client, "apps").await;
    let source = ClusterSource::Kubeconfig { kubeconfig: env.kubeconfig().to_owned(), context: None };
    let clusters =
        Arc::new(Clusters::connect(&[("default".into(), ClusterConfig { source })]).await.unwrap());
    let informers = Arc::new(Informers::new(clusters.clone(), ControllerMetrics::default()));
    let kube = CachedKube::new(clusters.clone(), informers.clone());
    let config_maps: Api<ConfigMap> = Api::namespaced(env.client.clone(), "apps");
    for (name, tier) in [("a", "web"), ("b", "db")] {
        let cm = serde_json::from_value(
            json!({"metadata": {"name": name, "labels": {"tier": tier}}, "data": {"v": "1"}}),
        )
        .unwrap();
        config_maps.create(&PostParams::default(), &cm).await.unwrap();
    }

    // No informer yet: a cached read goes to the server.
    assert_eq!(kube.get(&config_map("a"), ReadSource::Cache).await.unwrap()["data"]["v"], "1");

    let kind = KindRef { cluster: "default".into(), api_version: "v1".into(), kind: "ConfigMap".into() };
    let informer = informers.informer(&kind).await.unwrap();
    informer.synced().await;
    let scope = KindScope {
        cluster: "default".into(),
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
        namespace: Some("apps".into()),
    };
    let web = LabelSelector::parse("tier=web").unwrap();
    let listed = kube.list(&scope, Some(&web), ReadSource::Cache).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["metadata"]["name"], "a");
    let missing = kube.get(&config_map("nope"), ReadSource::Cache).await.unwrap_err();
    assert!(matches!(missing, KubeError::NotFound(ref m) if m.contains("(cache)")), "{missing:?}");

    // A write shows on the server at once and in the cache once the watch delivers it.
    let patch = json!({"data": {"v": "2"}});
    config_maps.patch("a", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    assert_eq!(kube.get(&config_map("a"), ReadSource::Server).await.unwrap()["data"]["v"], "2");
    eventually("the cache to see the write", || {
        let kube = &kube;
        async move {
            let cached = kube.get(&config_map("a"), ReadSource::Cache).await.ok()?;
            (cached["data"]["v"] == "2").then_some(())
        }
    })
    .await;
    drop(informer);
}

/// The names a list returns, sorted.
async fn names(
    kube: &CachedKube,
    scope: &KindScope,
    selector: &LabelSelector,
    from: ReadSource,
) -> Vec<String> {
    let listed = kube.list(scope, Some(selector), from).await.unwrap();
    let mut names: Vec<String> =
        listed.iter().map(|o| o["metadata"]["name"].as_str().unwrap().to_owned()).collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_selector_selects_the_same_objects_from_the_cache_as_from_the_server() {
    // One implementation (`wasmvisor-selector`) parses and matches for both
    // the host's cache and the embedded API server; this holds them to it.
    let env = Env::start_api_only().await;
    ensure_namespace(&env.client, "sel").await;
    let source = ClusterSource::Kubeconfig { kubeconfig: env.kubeconfig().to_owned(), context: None };
    let clusters =
        Arc::new(Clusters::connect(&[("default".into(), ClusterConfig { source })]).await.unwrap());
    let metrics = ControllerMetrics::default();
    let informers = Arc::new(Informers::new(clusters.clone(), metrics.clone()));
    let kube = CachedKube::new(clusters.clone(), informers.clone());
    let config_maps: Api<ConfigMap> = Api::namespaced(env.client.clone(), "sel");
    let labelled = [
        ("plain", json!({})),
        ("web-prod", json!({"app": "web", "env": "prod"})),
        ("web-dev", json!({"app": "web", "env": "dev", "legacy": ""})),
        ("db-prod", json!({"app": "db", "env": "prod", "example.com/team": "a"})),
    ];
    for (name, labels) in &labelled {
        let cm = serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}})).unwrap();
        config_maps.create(&PostParams::default(), &cm).await.unwrap();
    }
    let kind = KindRef { cluster: "default".into(), api_version: "v1".into(), kind: "ConfigMap".into() };
    let informer = informers.informer(&kind).await.unwrap();
    informer.synced().await;
    // A second user of the kind (another plugin watching or owning it) gets
    // the same watch and cache, counted once.
    let second = informers.informer(&kind).await.unwrap();
    assert!(Arc::ptr_eq(&informer, &second), "one watch per kind, however many plugins");
    let labels =
        CacheLabels { cluster: "default".into(), api_version: "v1".into(), kind: "ConfigMap".into() };
    assert_eq!(metrics.cache_objects.get_or_create(&labels).get(), informer.list().len() as i64);
    let scope = KindScope {
        cluster: "default".into(),
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
        namespace: Some("sel".into()),
    };
    for text in [
        "",
        "app=web",
        "app==web,env!=dev",
        "env in (prod, staging)",
        "env notin (prod)",
        "legacy",
        "!legacy",
        "app,!example.com/team",
        "example.com/team=a",
        "tier!=db",
    ] {
        let selector = LabelSelector::parse(text).unwrap();
        let cached = names(&kube, &scope, &selector, ReadSource::Cache).await;
        let served = names(&kube, &scope, &selector, ReadSource::Server).await;
        assert_eq!(cached, served, "selector {text:?}");
    }
    drop(informer);
}
