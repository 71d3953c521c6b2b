//! A created object is reconciled; a change to an owned object re-queues
//! its owner.

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;
use wasmvisor_plugins::{NAMESPACE_CONFIG, testing::WIDGET};

use crate::support::{Env, at, create_widget, eventually};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_created_object_is_reconciled_with_the_plugins_finalizer() {
    let env = Env::start(&[WIDGET]).await;
    let created = create_widget(&env, "apps", "w1", json!({})).await;
    let widgets = env.widgets("apps");
    let reconciled = eventually("w1 to carry status.phase Ready", || {
        let widgets = widgets.clone();
        async move { widgets.get("w1").await.ok().filter(|w| at(w, "/status/phase") == "Ready") }
    })
    .await;
    assert_eq!(at(&reconciled, "/status/observedGeneration"), at(&created, "/metadata/generation"));
    assert_eq!(at(&reconciled, "/metadata/finalizers"), json!(["wasmvisor.dev/widget"]));
    // Counted once the call returns, which is just after its status write.
    eventually("the reconcile to be counted", || async {
        (env.reconciles("widget", "success") >= 1).then_some(())
    })
    .await;
    assert_eq!(env.reconciles("widget", "error") + env.reconciles("widget", "trap"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_to_an_owned_object_requeues_its_owner() {
    let env = Env::start(&[NAMESPACE_CONFIG]).await;
    let namespaces: Api<Namespace> = Api::all(env.client.clone());
    let ns = serde_json::from_value(json!({"metadata": {
        "name": "team-a",
        "labels": {"wasmvisor.dev/config": "enabled"},
        "annotations": {"config.wasmvisor.dev/region": "eu"},
    }}))
    .unwrap();
    namespaces.create(&PostParams::default(), &ns).await.unwrap();
    let config_maps: Api<ConfigMap> = Api::namespaced(env.client.clone(), "team-a");
    let wanted = std::collections::BTreeMap::from([("region".to_owned(), "eu".to_owned())]);
    let made =
        eventually("the plugin to write team-a's ConfigMap", || {
            let config_maps = config_maps.clone();
            let wanted = wanted.clone();
            async move {
                config_maps.get("wasmvisor-config").await.ok().filter(|c| c.data.as_ref() == Some(&wanted))
            }
        })
        .await;
    let owner = &made.metadata.owner_references.unwrap()[0];
    assert_eq!((owner.kind.as_str(), owner.controller), ("Namespace", Some(true)));
    let before = env.reconciles("namespace-config", "success");

    // Someone edits the owned ConfigMap: only its owner's reconcile puts it back.
    let edit = json!({"data": {"region": "us", "extra": "x"}});
    config_maps.patch("wasmvisor-config", &PatchParams::default(), &Patch::Merge(&edit)).await.unwrap();
    eventually("the owner's reconcile to restore the ConfigMap", || {
        let config_maps = config_maps.clone();
        async move {
            let cm = config_maps.get("wasmvisor-config").await.ok()?;
            (cm.data.as_ref().and_then(|d| d.get("region")) == Some(&"eu".to_owned())).then_some(())
        }
    })
    .await;
    // And a deleted one comes back the same way.
    config_maps.delete("wasmvisor-config", &DeleteParams::default()).await.unwrap();
    eventually("the owner's reconcile to recreate the ConfigMap", || {
        let config_maps = config_maps.clone();
        async move { config_maps.get_opt("wasmvisor-config").await.unwrap().map(drop) }
    })
    .await;
    assert!(env.reconciles("namespace-config", "success") > before);
}
