//! Queue semantics seen from outside: rapid updates coalesce and never
//! overlap for one key; requeue-after is honoured.

use serde_json::json;
use wasmvisor_plugins::testing::WIDGET;

use crate::support::{Env, at, create_widget, eventually, patch_spec};

/// (start, end) of each reconcile the widget traced, in ns, sorted.
async fn traces(env: &Env, namespace: &str, widget: &str) -> Vec<(u128, u128)> {
    use k8s_openapi::api::core::v1::ConfigMap;
    let config_maps: kube::Api<ConfigMap> = kube::Api::namespaced(env.client.clone(), namespace);
    let params = kube::api::ListParams::default().labels(&format!("test.wasmvisor.dev/widget={widget}"));
    let mut spans: Vec<(u128, u128)> = config_maps
        .list(&params)
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|cm| {
            let data = cm.data?;
            Some((data.get("start")?.parse().ok()?, data.get("end")?.parse().ok()?))
        })
        .collect();
    spans.sort();
    spans
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_rapid_updates_coalesce_and_never_run_twice_at_once() {
    let env = Env::start(&[WIDGET]).await;
    create_widget(&env, "apps", "busy", json!({"trace": true, "spinMs": 20})).await;
    let mut last = None;
    for revision in 1..=100 {
        last = Some(patch_spec(&env, "apps", "busy", json!({"revision": revision})).await);
    }
    let generation = at(&last.unwrap(), "/metadata/generation");
    let widgets = env.widgets("apps");
    eventually("the last update to be reconciled", || {
        let widgets = widgets.clone();
        let generation = generation.clone();
        async move { widgets.get("busy").await.ok().filter(|w| at(w, "/status/observedGeneration") == generation) }
    })
    .await;
    let spans = traces(&env, "apps", "busy").await;
    let reconciles = env.reconciles("widget", "success");
    assert!(!spans.is_empty());
    assert!(reconciles < 60, "101 versions should coalesce into far fewer reconciles, got {reconciles}");
    for pair in spans.windows(2) {
        assert!(
            pair[0].1 <= pair[1].0,
            "two reconciles of one key overlapped: {:?} and {:?}",
            pair[0],
            pair[1]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requeue_after_calls_again_without_any_change() {
    let env = Env::start(&[WIDGET]).await;
    create_widget(&env, "apps", "again", json!({"mode": "requeue", "requeueMs": 300, "trace": true})).await;
    let spans = eventually("three reconciles with no change in between", || {
        let env = &env;
        async move {
            let spans = traces(env, "apps", "again").await;
            (spans.len() >= 4).then_some(spans)
        }
    })
    .await;
    // The first reconcile writes the status, a real change that queues the
    // widget at once; from then on nothing changes and only requeue-after
    // brings it back.
    let gaps: Vec<u128> = spans.windows(2).map(|p| (p[1].0 - p[0].1) / 1_000_000).collect();
    assert!(gaps[1..].iter().all(|g| *g >= 300), "requeued after {gaps:?} ms, asked for 300 ms");
    assert!(env.reconciles("widget", "requeue") >= 3);
}
