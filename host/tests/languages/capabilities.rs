//! The same grant model for every language: a manifest over its grant is
//! not loaded, and a call beyond the grant is `forbidden` for the plugin.

use serde_json::json;
use wasmvisor_host::metrics::CapabilityLabels;
use wasmvisor_host::{Export, Failure, Grants};

use crate::guests;
use crate::harness::{Host, failure};

fn denied(host: &Host, plugin: &str) -> u64 {
    let labels = CapabilityLabels { plugin: plugin.into(), capability: "kube" };
    host.runtime.metrics().denied.get_or_create(&labels).get()
}

#[tokio::test]
async fn python_call_beyond_its_grant_is_forbidden() {
    let host = Host::new();
    host.install(&guests::python().bytes, "label-propagator.wasm");
    let deployment = host
        .kube
        .insert(
            "default",
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {
                "name": "web", "namespace": "team-a",
                "labels": {"team.wasmvisor.dev/owner": "payments"},
                "annotations": {"propagate.wasmvisor.dev/kinds": "apps/v1/ReplicaSet,v1/Pod"}}}),
        )
        .unwrap();
    let err = failure(host.call("label-propagator", Export::Reconcile, deployment).await);
    let expected = r#"kube list v1/Pod in cluster "default", namespace "team-a""#;
    assert_eq!(
        err.failure,
        Failure::Returned { kind: wasmvisor_host::ErrorKind::Forbidden, message: expected.into() }
    );
    assert!(!err.failure.is_retryable());
    assert_eq!(denied(&host, "label-propagator"), 1);

    // The plugin caught the typed error, recorded it, and re-raised it.
    let stored = host.get("apps/v1", "Deployment", "team-a", "web").unwrap();
    let condition = &stored["status"]["conditions"][0];
    assert_eq!(
        (condition["status"].as_str(), condition["reason"].as_str()),
        (Some("False"), Some("Forbidden"))
    );
    assert_eq!(condition["message"], format!("forbidden: {expected}"));
}

#[tokio::test]
async fn js_call_beyond_its_grant_is_forbidden() {
    let host = Host::new();
    host.install(&guests::js().bytes, "trust-bundle.wasm");
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a",
        "annotations": {"trust.wasmvisor.dev/source-namespace": "kube-system"}}});
    let err = failure(host.call("trust-bundle", Export::Reconcile, ns).await);
    assert_eq!(
        err.failure,
        Failure::Returned {
            kind: wasmvisor_host::ErrorKind::Forbidden,
            message: r#"kube get v1/ConfigMap "trust-bundle" in cluster "default", namespace "kube-system""#
                .into()
        }
    );
    assert_eq!(denied(&host, "trust-bundle"), 1);
    assert!(host.get("v1", "ConfigMap", "team-a", "trust-bundle").is_none(), "nothing was applied");
}

#[tokio::test]
async fn a_manifest_over_its_grant_is_not_loaded_whatever_the_language() {
    let host = Host::new();
    // Grant each plugin less than it asks for.
    host.runtime.set_grants(
        Grants::parse(
            r#"
[[plugins.label-propagator.capabilities.kube]]
api-version = "apps/v1"
kind = "ReplicaSet"
verbs = ["list"]

[[plugins.trust-bundle.capabilities.kube]]
api-version = "v1"
kind = "ConfigMap"
verbs = ["get", "apply", "delete"]
namespaces = ["wasmvisor-system"]
"#,
        )
        .unwrap(),
    );
    for (guest, missing) in [
        (guests::python(), "missing capability: kube apply apps/v1/ReplicaSet"),
        (guests::js(), "missing capability: kube apply v1/ConfigMap"),
    ] {
        let err = host.runtime.load(&guest.bytes).expect_err("over its grant").to_string();
        assert!(err.contains("asks for more than its grant") && err.contains(missing), "{err}");
    }
}
