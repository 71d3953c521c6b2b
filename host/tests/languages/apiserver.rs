//! The Python and JavaScript examples against the embedded API server,
//! through the kube-rs backend over HTTPS: the path the host takes to a real
//! cluster (server-side apply with the plugin as field manager, the status
//! subresource, owner references, a delete the server carries out).
//!
//! The embedded API server serves the core kinds and CRDs but not apps/v1,
//! so the Python example's Deployments and ReplicaSets are stood in for by
//! two CRDs of group `apps.wasmvisor.dev`, and its embedded manifest and
//! grant are renamed to match; its code is the same component.

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::Api;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use serde_json::{Value, json};
use wasmvisor_host::manifest::section;
use wasmvisor_host::{Export, ObjectRef, Outcome, Request};

use crate::harness::{GRANTS, install, runtime};
use crate::{embedded, guests};

async fn create<K>(api: &Api<K>, value: Value) -> K
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    api.create(&Default::default(), &serde_json::from_value(value).unwrap()).await.unwrap()
}

fn request(object: &Value) -> Request {
    Request { target: ObjectRef::of("default", object).unwrap(), object: object.to_string() }
}

#[tokio::test]
async fn js_plugin_reconciles_against_the_embedded_api_server() {
    let dir = tempfile::tempdir().unwrap();
    let (server, clusters, client) = embedded::start(dir.path()).await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    create(&namespaces, json!({"metadata": {"name": "wasmvisor-system"}})).await;
    let team = create(
        &namespaces,
        json!({"metadata": {"name": "team-a", "labels": {"trust.wasmvisor.dev/inject": "true"}}}),
    )
    .await;
    let source = create(
        &Api::<ConfigMap>::namespaced(client.clone(), "wasmvisor-system"),
        json!({"metadata": {"name": "trust-bundle"},
               "data": {"ca.crt": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"}}),
    )
    .await;

    let runtime = runtime(clusters.clone(), GRANTS);
    install(&runtime, &guests::js().bytes, "trust-bundle.wasm");
    let mut object = serde_json::to_value(&team).unwrap();
    object["apiVersion"] = json!("v1");
    object["kind"] = json!("Namespace");
    let request = request(&object);
    let report = runtime.call("trust-bundle", Export::Reconcile, &request).await.unwrap();
    assert_eq!((report.outcome, report.host_calls), (Outcome::Done, 2), "get and apply");

    let copies: Api<ConfigMap> = Api::namespaced(client, "team-a");
    let copy = copies.get("trust-bundle").await.expect("the copy is on the server");
    assert_eq!(copy.data, source.data);
    let owner = &copy.metadata.owner_references.clone().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str()),
        ("Namespace", team.metadata.uid.as_deref().unwrap())
    );
    let managers: Vec<_> =
        copy.metadata.managed_fields.clone().unwrap().into_iter().filter_map(|m| m.manager).collect();
    assert_eq!(managers, ["trust-bundle"], "the plugin is the field manager");
    assert_eq!(
        copy.metadata.annotations.clone().unwrap()["trust.wasmvisor.dev/source-version"],
        source.metadata.resource_version.clone().unwrap()
    );

    // Level-based: the same state applies the same copy, which changes nothing.
    runtime.call("trust-bundle", Export::Reconcile, &request).await.unwrap();
    let unchanged = copies.get("trust-bundle").await.unwrap();
    assert_eq!(unchanged.metadata.resource_version, copy.metadata.resource_version);

    runtime.call("trust-bundle", Export::Finalize, &request).await.unwrap();
    assert!(copies.get_opt("trust-bundle").await.unwrap().is_none(), "finalize deleted the copy");
    server.shutdown().await.unwrap();
}

/// A namespaced CRD `plural.apps.wasmvisor.dev`, any fields, with a status subresource.
fn crd(plural: &str, kind: &str) -> Value {
    json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.apps.wasmvisor.dev")},
        "spec": {"group": "apps.wasmvisor.dev", "scope": "Namespaced", "names": {"plural": plural, "kind": kind},
            "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}})
}

#[tokio::test]
async fn python_plugin_reconciles_against_the_embedded_api_server() {
    let dir = tempfile::tempdir().unwrap();
    let (server, clusters, client) = embedded::start(dir.path()).await;
    let crds: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource::from_gvk(&GroupVersionKind::gvk(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
        )),
    );
    for (plural, kind) in [("deployments", "Deployment"), ("replicasets", "ReplicaSet")] {
        create(&crds, crd(plural, kind)).await;
    }
    create(&Api::<Namespace>::all(client.clone()), json!({"metadata": {"name": "team-a"}})).await;
    let api = |kind: &str| {
        let gvk = GroupVersionKind::gvk("apps.wasmvisor.dev", "v1", kind);
        Api::<DynamicObject>::namespaced_with(client.clone(), "team-a", &ApiResource::from_gvk(&gvk))
    };
    let (deployments, replica_sets) = (api("Deployment"), api("ReplicaSet"));
    let web = create(
        &deployments,
        json!({"apiVersion": "apps.wasmvisor.dev/v1", "kind": "Deployment", "metadata": {
            "name": "web", "namespace": "team-a",
            "labels": {"propagate.wasmvisor.dev/enabled": "true", "team.wasmvisor.dev/owner": "payments"},
            "annotations": {"propagate.wasmvisor.dev/kinds": "apps.wasmvisor.dev/v1/ReplicaSet"}}}),
    )
    .await;
    let owner = json!([{"apiVersion": "apps.wasmvisor.dev/v1", "kind": "Deployment", "name": "web",
                        "uid": web.metadata.uid, "controller": true}]);
    create(
        &replica_sets,
        json!({"apiVersion": "apps.wasmvisor.dev/v1", "kind": "ReplicaSet", "metadata": {
            "name": "web-1", "namespace": "team-a", "labels": {"app": "web"}, "ownerReferences": owner}}),
    )
    .await;

    // The same Python component, its manifest and grant moved to the CRDs' group.
    let python = guests::python();
    let manifest =
        section::extract(&python.bytes).unwrap().replace("\"apps/v1\"", "\"apps.wasmvisor.dev/v1\"");
    let bytes = section::embed(&python.bytes, &manifest).unwrap();
    let runtime = runtime(clusters.clone(), &GRANTS.replace("\"apps/v1\"", "\"apps.wasmvisor.dev/v1\""));
    install(&runtime, &bytes, "label-propagator.wasm");

    let object = serde_json::to_value(&web).unwrap();
    let report = runtime.call("label-propagator", Export::Reconcile, &request(&object)).await.unwrap();
    assert_eq!((report.outcome, report.host_calls), (Outcome::Done, 3), "list, apply, apply-status");

    let owned = replica_sets.get("web-1").await.unwrap();
    assert_eq!(
        serde_json::to_value(&owned.metadata.labels).unwrap(),
        json!({"app": "web", "team.wasmvisor.dev/owner": "payments"})
    );
    let stored = deployments.get("web").await.unwrap();
    let condition = &stored.data["status"]["conditions"][0];
    assert_eq!(
        (condition["type"].as_str(), condition["status"].as_str(), condition["message"].as_str()),
        (Some("LabelsPropagated"), Some("True"), Some("1 label(s) on 1 object(s)"))
    );
    let managers = |object: &DynamicObject| -> Vec<String> {
        object.metadata.managed_fields.clone().unwrap().into_iter().filter_map(|m| m.manager).collect()
    };
    assert!(managers(&owned).contains(&"label-propagator".to_owned()), "{:?}", managers(&owned));
    assert!(managers(&stored).contains(&"label-propagator".to_owned()), "{:?}", managers(&stored));
    server.shutdown().await.unwrap();
}
