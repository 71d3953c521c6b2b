//! The host's finalizer: `finalize` runs once deletion starts, and the
//! object goes only after it succeeded.

use kube::api::DeleteParams;
use serde_json::json;
use wasmvisor_plugins::testing::WIDGET;

use crate::support::{Env, at, create_widget, eventually, patch_spec};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletion_waits_for_a_successful_finalize() {
    use k8s_openapi::api::core::v1::ConfigMap;
    let env = Env::start(&[WIDGET]).await;
    create_widget(&env, "apps", "held", json!({"finalizeMode": "fail"})).await;
    let widgets = env.widgets("apps");
    eventually("the finalizer to be added", || {
        let widgets = widgets.clone();
        async move {
            widgets
                .get("held")
                .await
                .ok()
                .filter(|w| at(w, "/metadata/finalizers") == json!(["wasmvisor.dev/widget"]))
        }
    })
    .await;
    widgets.delete("held", &DeleteParams::default()).await.unwrap();

    // finalize fails: the object stays, marked for deletion, with the failure on it.
    let stuck = eventually("the finalize failure condition", || {
        let widgets = widgets.clone();
        async move {
            let w = widgets.get("held").await.ok()?;
            let failed =
                at(&w, "/status/conditions").as_array()?.iter().any(|c| c["reason"] == "Unavailable");
            failed.then_some(w)
        }
    })
    .await;
    assert!(!at(&stuck, "/metadata/deletionTimestamp").is_null());

    // finalize succeeds: its effect is there and the object is gone.
    patch_spec(&env, "apps", "held", json!({"finalizeMode": "ok"})).await;
    eventually("the object to go once finalize succeeded", || {
        let widgets = widgets.clone();
        async move { widgets.get_opt("held").await.unwrap().is_none().then_some(()) }
    })
    .await;
    let config_maps: kube::Api<ConfigMap> = kube::Api::namespaced(env.client.clone(), "apps");
    let finalized = config_maps.get("held-finalized").await.unwrap();
    assert_eq!(finalized.data.unwrap()["finalized"], "true");
}
