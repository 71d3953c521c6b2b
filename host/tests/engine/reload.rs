//! Hot reload under the engine: a new version of a plugin takes over its
//! objects without any change to them; a removed plugin's objects get no
//! more work.

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams};
use serde_json::json;
use wasmvisor_host::manifest::section;
use wasmvisor_plugins::testing::WIDGET;

use crate::support::{Env, at, create_widget, eventually};

async fn trace_count(env: &Env) -> usize {
    let config_maps: Api<ConfigMap> = Api::namespaced(env.client.clone(), "apps");
    let params = ListParams::default().labels("test.wasmvisor.dev/widget=w");
    config_maps.list(&params).await.unwrap().items.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_version_reconciles_every_object_again() {
    let env = Env::start(&[WIDGET]).await;
    create_widget(&env, "apps", "w", json!({"trace": true})).await;
    let widgets = env.widgets("apps");
    eventually("the first version to reconcile", || {
        let widgets = widgets.clone();
        async move { widgets.get("w").await.ok().filter(|w| at(w, "/status/phase") == "Ready").map(drop) }
    })
    .await;
    let settled = eventually("the traces to settle", || {
        let env = &env;
        async move {
            let first = trace_count(env).await;
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            (trace_count(env).await == first).then_some(first)
        }
    })
    .await;

    let text = section::extract(WIDGET.bytes).unwrap().replace("version = \"1.0.0\"", "version = \"1.0.1\"");
    let upgraded = section::embed(WIDGET.bytes, &text).unwrap();
    let dir = env.dir().join("plugins");
    std::fs::write(dir.join(".widget.wasm.tmp"), upgraded).unwrap();
    std::fs::rename(dir.join(".widget.wasm.tmp"), dir.join(WIDGET.file)).unwrap();
    eventually("1.0.1 to be loaded", || async {
        env.host().runtime().plugins().iter().any(|p| p.version == "1.0.1").then_some(())
    })
    .await;
    eventually("1.0.1 to reconcile the unchanged widget", || {
        let env = &env;
        async move { (trace_count(env).await > settled).then_some(()) }
    })
    .await;
}
