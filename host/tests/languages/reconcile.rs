//! Each language's example reconciles against the host's kube backend.

use std::time::Duration;

use serde_json::{Value, json};
use wasmvisor_host::{Export, Failure, Outcome};

use crate::guests;
use crate::harness::{Host, failure};

fn deployment(name: &str, annotations: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {
        "name": name, "namespace": "team-a",
        "labels": {"propagate.wasmvisor.dev/enabled": "true",
                   "team.wasmvisor.dev/owner": "payments", "team.wasmvisor.dev/cost-center": "cc-7",
                   "app": "web"},
        "annotations": annotations},
        "spec": {"replicas": 2}})
}

fn replica_set(name: &str, owner: &Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {
        "name": name, "namespace": "team-a", "labels": {"app": "web"},
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": owner["metadata"]["name"],
                             "uid": owner["metadata"]["uid"], "controller": true}]}})
}

#[tokio::test]
async fn python_plugin_copies_owner_labels_to_owned_objects() {
    let host = Host::new();
    host.install(&guests::python().bytes, "label-propagator.wasm");
    let web = host.kube.insert("default", deployment("web", json!({}))).unwrap();
    host.kube.insert("default", replica_set("web-1", &web)).unwrap();
    let stranger = json!({"metadata": {"name": "other", "uid": "not-web"}});
    host.kube.insert("default", replica_set("other-1", &stranger)).unwrap();

    let report = host.call("label-propagator", Export::Reconcile, web.clone()).await.unwrap();
    assert_eq!(report.outcome, Outcome::Done);
    assert_eq!(report.plugin, "label-propagator@0.1.0");
    assert_eq!(report.host_calls, 3, "list, apply, apply-status");

    let owned = host.get("apps/v1", "ReplicaSet", "team-a", "web-1").unwrap();
    assert_eq!(
        owned["metadata"]["labels"],
        json!({"app": "web", "team.wasmvisor.dev/owner": "payments", "team.wasmvisor.dev/cost-center": "cc-7"})
    );
    let other = host.get("apps/v1", "ReplicaSet", "team-a", "other-1").unwrap();
    assert_eq!(other["metadata"]["labels"], json!({"app": "web"}), "only owned objects are labelled");

    let stored = host.get("apps/v1", "Deployment", "team-a", "web").unwrap();
    let condition = &stored["status"]["conditions"][0];
    assert_eq!(condition["type"], "LabelsPropagated");
    assert_eq!(condition["status"], "True");
    assert_eq!(condition["reason"], "Propagated");
    assert_eq!(condition["message"], "2 label(s) on 1 object(s)");
    assert_eq!(condition["observedGeneration"], 1);
    let stamped = condition["lastTransitionTime"].as_str().unwrap();
    assert!(stamped.len() == 20 && stamped.ends_with('Z') && !stamped.starts_with("1970"), "{stamped}");

    // Level-based and idempotent: the same state needs no status write.
    let again = host.call("label-propagator", Export::Reconcile, stored).await.unwrap();
    assert_eq!(again.host_calls, 2, "list and apply; the condition did not change");
}

#[tokio::test]
async fn python_plugin_errors_come_back_typed() {
    let host = Host::new();
    host.install(&guests::python().bytes, "label-propagator.wasm");
    let bad = deployment("bad", json!({"propagate.wasmvisor.dev/kinds": "ReplicaSet"}));
    let err = failure(host.call("label-propagator", Export::Reconcile, bad).await);
    assert_eq!(
        err.failure,
        Failure::Returned {
            kind: wasmvisor_host::ErrorKind::Invalid,
            message: "propagate.wasmvisor.dev/kinds: 'ReplicaSet' is not apiVersion/Kind".into()
        }
    );
    assert_eq!(err.plugin, "label-propagator@0.1.0");
    // finalize is the SDK's default: nothing to clean up.
    let report = host.call("label-propagator", Export::Finalize, deployment("web", json!({}))).await.unwrap();
    assert_eq!((report.outcome, report.host_calls), (Outcome::Done, 0));
}

fn namespace(name: &str, annotations: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": name, "labels": {"trust.wasmvisor.dev/inject": "true"}, "annotations": annotations}})
}

#[tokio::test]
async fn js_plugin_keeps_a_config_map_in_every_labelled_namespace() {
    let host = Host::new();
    host.install(&guests::js().bytes, "trust-bundle.wasm");

    // No source yet: the plugin waits and looks again.
    let report = host.call("trust-bundle", Export::Reconcile, namespace("team-a", json!({}))).await.unwrap();
    assert_eq!(report.outcome, Outcome::RequeueAfter(Duration::from_secs(30)));

    let source = host
        .kube
        .insert(
            "default",
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "trust-bundle", "namespace": "wasmvisor-system"},
                   "data": {"ca.crt": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"}}),
        )
        .unwrap();
    for ns in ["team-a", "team-b"] {
        let report = host.call("trust-bundle", Export::Reconcile, namespace(ns, json!({}))).await.unwrap();
        assert_eq!(report.outcome, Outcome::Done);
        assert_eq!(report.plugin, "trust-bundle@0.1.0");
        assert_eq!(report.host_calls, 2, "get and apply (log lines are not host calls)");
        let copy = host.get("v1", "ConfigMap", ns, "trust-bundle").expect("the copy was applied");
        assert_eq!(copy["data"], source["data"]);
        assert_eq!(copy["metadata"]["ownerReferences"][0]["kind"], "Namespace");
        assert_eq!(copy["metadata"]["ownerReferences"][0]["name"], ns);
        assert_eq!(
            copy["metadata"]["annotations"]["trust.wasmvisor.dev/source-version"],
            source["metadata"]["resourceVersion"]
        );
    }

    let ns = host.kube.insert("default", namespace("team-a", json!({}))).unwrap();
    let report = host.call("trust-bundle", Export::Finalize, ns).await.unwrap();
    assert_eq!(report.outcome, Outcome::Done);
    assert!(host.get("v1", "ConfigMap", "team-a", "trust-bundle").is_none(), "finalize removed the copy");
    assert!(host.get("v1", "ConfigMap", "team-b", "trust-bundle").is_some());
}
