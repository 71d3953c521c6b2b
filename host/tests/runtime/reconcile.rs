//! A component built from plugins/ loads and reconciles objects.

use serde_json::json;
use wasmvisor_host::{Export, ObjectRef, Outcome, Request};
use wasmvisor_plugins::NAMESPACE_CONFIG;

use crate::harness::Host;

#[tokio::test]
async fn example_plugin_reconciles_and_finalizes() {
    let host = Host::new();
    let plugin = host.runtime.load(NAMESPACE_CONFIG.bytes).unwrap();
    assert_eq!(plugin.manifest.id(), "namespace-config@0.1.0");
    host.runtime.install(plugin, NAMESPACE_CONFIG.file).unwrap();

    let namespace = host
        .kube
        .insert(
            "default",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {
                "name": "team-a",
                "labels": {"wasmvisor.dev/config": "enabled"},
                "annotations": {"config.wasmvisor.dev/region": "eu-west", "unrelated": "x"}}}),
        )
        .unwrap();
    let request =
        Request { target: ObjectRef::of("default", &namespace).unwrap(), object: namespace.to_string() };
    let report = host.runtime.call("namespace-config", Export::Reconcile, &request).await.unwrap();
    assert_eq!(report.outcome, Outcome::Done);
    assert_eq!(report.host_calls, 1);

    let cm_ref = ObjectRef {
        cluster: "default".into(),
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
        namespace: Some("team-a".into()),
        name: "wasmvisor-config".into(),
    };
    let cm = host.kube.object(&cm_ref).expect("the plugin applied its ConfigMap");
    assert_eq!(cm["data"], json!({"region": "eu-west"}));
    assert_eq!(cm["metadata"]["ownerReferences"][0]["uid"], namespace["metadata"]["uid"]);

    host.runtime.call("namespace-config", Export::Finalize, &request).await.unwrap();
    assert!(host.kube.object(&cm_ref).is_none(), "finalize deleted the ConfigMap");
}

#[tokio::test]
async fn requeue_after_and_returned_errors_come_back_typed() {
    let host = Host::new().with_chaos();
    let report = host.chaos("later", json!({"mode": "requeue", "ms": "1500"})).await.unwrap();
    assert_eq!(report.outcome, Outcome::RequeueAfter(std::time::Duration::from_millis(1500)));

    let failed = crate::harness::failure(host.chaos("broken", json!({"mode": "error"})).await);
    assert_eq!(
        failed.failure,
        wasmvisor_host::Failure::Returned {
            kind: wasmvisor_host::ErrorKind::Unavailable,
            message: "chaos asked to fail".into()
        }
    );
    assert!(failed.failure.is_retryable());
    assert_eq!(failed.plugin, "chaos@1.0.0");
    assert_eq!(failed.object, "default/v1/ConfigMap/chaos/broken");
    host.assert_still_serving().await;
}
