//! A change to a related object (declared with `[[related]]`, not an owner
//! reference) re-queues the objects it names, as controller-runtime's
//! `Watches` with a map function does; an unrelated change does not.

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;
use wasmvisor_host::manifest::section;
use wasmvisor_plugins::Bundled;
use wasmvisor_plugins::testing::WIDGET;

use crate::support::{Env, RELATED_SECRETS, create_widget, eventually};

/// The widget plugin, re-queued by Secrets whose label names a Widget. Its
/// own status and finalizer writes do not re-queue it (only a new
/// generation does), so every call after the first is the related one.
fn widget_with_related_secrets() -> Bundled {
    let manifest = section::extract(WIDGET.bytes).unwrap().replacen(
        "kind = \"Widget\"\n",
        "kind = \"Widget\"\ngeneration-changed-only = true\n",
        1,
    );
    let bytes = section::embed(WIDGET.bytes, &format!("{manifest}{RELATED_SECRETS}")).unwrap();
    Bundled { file: "widget.wasm", bytes: Box::leak(bytes.into_boxed_slice()) }
}

async fn calls(config_maps: &Api<ConfigMap>, widget: &str) -> usize {
    let traces = ListParams::default().labels(&format!("test.wasmvisor.dev/widget={widget}"));
    config_maps.list(&traces).await.map(|l| l.items.len()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_related_objects_change_requeues_the_object_it_names() {
    let env = Env::start(&[widget_with_related_secrets()]).await;
    create_widget(&env, "apps", "w1", json!({"trace": true})).await;
    create_widget(&env, "apps", "w2", json!({"trace": true})).await;
    let config_maps: Api<ConfigMap> = Api::namespaced(env.client.clone(), "apps");
    eventually("one call for each widget", || async {
        (calls(&config_maps, "w1").await == 1 && calls(&config_maps, "w2").await == 1).then_some(())
    })
    .await;

    let secrets: Api<Secret> = Api::namespaced(env.client.clone(), "apps");
    let secret = |name: &str, widget: &str| -> Secret {
        serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"test.wasmvisor.dev/for": widget}},
            "stringData": {"k": "v"},
        }))
        .unwrap()
    };
    secrets.create(&PostParams::default(), &secret("for-w1", "w1")).await.unwrap();
    eventually("the Secret naming w1 to re-queue w1", || async {
        (calls(&config_maps, "w1").await == 2).then_some(())
    })
    .await;
    // A Secret naming w2 re-queues w2; by then w1 has seen no further call.
    secrets.create(&PostParams::default(), &secret("for-w2", "w2")).await.unwrap();
    eventually("the Secret naming w2 to re-queue w2", || async {
        (calls(&config_maps, "w2").await == 2).then_some(())
    })
    .await;
    assert_eq!(calls(&config_maps, "w1").await, 2, "w1 is not related to the second Secret");
}
