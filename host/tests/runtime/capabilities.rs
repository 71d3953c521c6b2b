//! Every host call is checked at call time; a denial is `forbidden` for the
//! plugin, a counted metric, and the host keeps serving.

use serde_json::json;
use wasmvisor_host::Failure;
use wasmvisor_host::metrics::{CapabilityLabels, HostCallLabels};

use crate::eventually::eventually;
use crate::harness::{Host, failure};

/// Host calls of the chaos plugin to `capability` that ended in `outcome`.
fn calls(host: &Host, capability: &'static str, outcome: &'static str) -> u64 {
    let labels = HostCallLabels { plugin: "chaos".into(), capability, outcome };
    host.runtime.metrics().host_calls.get_or_create(&labels).get()
}

fn denied(host: &Host, capability: &'static str) -> u64 {
    let labels = CapabilityLabels { plugin: "chaos".into(), capability };
    host.runtime.metrics().denied.get_or_create(&labels).get()
}

async fn assert_forbidden(host: &Host, mode: &str, names: &str) {
    let err = failure(host.chaos(mode, json!({"mode": mode})).await);
    match &err.failure {
        Failure::Returned { kind: wasmvisor_host::ErrorKind::Forbidden, message } => {
            assert_eq!(message, names)
        }
        other => panic!("{mode}: expected forbidden, got {other:?}"),
    }
}

#[tokio::test]
async fn denied_calls_are_forbidden_and_counted() {
    let host = Host::new().with_chaos();
    assert_forbidden(
        &host,
        "denied-kube",
        r#"kube get v1/Secret "token" in cluster "default", namespace "chaos""#,
    )
    .await;
    assert_forbidden(
        &host,
        "denied-namespace",
        r#"kube get v1/ConfigMap "x" in cluster "default", namespace "kube-system""#,
    )
    .await;
    assert_eq!(denied(&host, "kube"), 2);

    assert_forbidden(&host, "denied-nsx", "nsx DELETE /policy/api/v1/infra/segments/s1").await;
    assert_forbidden(&host, "denied-path", "nsx GET /policy/api/v1/infra/tier-1s/t1").await;
    assert_eq!(denied(&host, "nsx"), 2);
    assert!(host.nsx.requests.lock().unwrap().is_empty(), "no denied call reached the endpoint");
    host.assert_still_serving().await;
}

#[tokio::test]
async fn granted_endpoint_call_goes_through() {
    let host = Host::new().with_chaos();
    host.chaos("seg", json!({"mode": "nsx"})).await.unwrap();
    assert_eq!(*host.nsx.requests.lock().unwrap(), vec!["GET /policy/api/v1/infra/segments/s1".to_string()]);
    let out = host.config_map("seg-nsx").unwrap();
    assert!(out["data"]["segment"].as_str().unwrap().contains("\"id\":\"s1\""));
    assert_eq!(denied(&host, "nsx"), 0);
}

#[tokio::test]
async fn each_host_call_is_counted_with_its_outcome_or_its_error_kind() {
    let host = std::sync::Arc::new(Host::new().with_chaos());
    assert_forbidden(
        &host,
        "denied-kube",
        r#"kube get v1/Secret "token" in cluster "default", namespace "chaos""#,
    )
    .await;
    assert_eq!(calls(&host, "kube", "denied"), 1);

    // The plugin reads ConfigMap `go` until it exists: not found, then found.
    let waiting = {
        let host = host.clone();
        tokio::spawn(async move { host.chaos("waits", json!({"mode": "wait-for", "release": "go"})).await })
    };
    eventually("a get that finds nothing", || async {
        (calls(&host, "kube", "not-found") > 0).then_some(())
    })
    .await;
    let go =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "go", "namespace": "chaos"}});
    host.kube.insert("default", go).unwrap();
    waiting.await.unwrap().unwrap();
    assert!(calls(&host, "kube", "ok") >= 1, "the get that found it is counted ok");

    host.chaos("seg", json!({"mode": "nsx"})).await.unwrap();
    assert_eq!(calls(&host, "nsx", "ok"), 1);
}
