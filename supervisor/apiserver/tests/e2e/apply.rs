//! Server-side apply and managedFields, with kube-rs (`Patch::Apply`) and with
//! `kubectl apply --server-side`: two managers, shared fields, conflicts, force, keyed
//! lists of built-in kinds and of CRD schemas, the status subresource.

use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Service};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use crate::support::{TestServer, eventually};

const WAIT: Duration = Duration::from_secs(20);

fn apply_as(manager: &str) -> PatchParams {
    PatchParams::apply(manager)
}

/// (manager, operation, subresource, fieldsV1) of each managedFields entry.
fn owners(object: &impl serde::Serialize) -> Vec<(String, String, String, Value)> {
    let value = serde_json::to_value(object).expect("serializable");
    value["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let text = |f: &str| e[f].as_str().unwrap_or("").to_owned();
            (text("manager"), text("operation"), text("subresource"), e["fieldsV1"].clone())
        })
        .collect()
}

fn api_status(error: kube::Error) -> Box<kube::core::Status> {
    match error {
        kube::Error::Api(status) => status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn kube_apply_from_two_managers_with_conflict_and_force() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let api: Api<ConfigMap> = Api::namespaced(server.client().await?, "default");
    let config = |data: Value| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "shared"}, "data": data});

    let a = api
        .patch("shared", &apply_as("plugin-a"), &Patch::Apply(config(json!({"a": "1", "both": "x"}))))
        .await?;
    assert_eq!(
        owners(&a),
        [("plugin-a".into(), "Apply".into(), String::new(), json!({"f:data": {"f:a": {}, "f:both": {}}}))]
    );
    // Same value for `both`: no conflict, the managers share it.
    let b = api
        .patch("shared", &apply_as("plugin-b"), &Patch::Apply(config(json!({"b": "2", "both": "x"}))))
        .await?;
    assert_eq!(b.data.as_ref().map(|d| d.len()), Some(3));
    assert_eq!(owners(&b)[1].3, json!({"f:data": {"f:b": {}, "f:both": {}}}));

    let refused = api
        .patch("shared", &apply_as("plugin-b"), &Patch::Apply(config(json!({"b": "2", "both": "y"}))))
        .await
        .unwrap_err();
    let status = api_status(refused);
    assert_eq!((status.code, status.reason.as_str()), (409, "Conflict"));
    assert_eq!(status.message, "Apply failed with 1 conflict: conflict with \"plugin-a\": .data.both");
    let cause = &status.details.expect("details").causes[0];
    assert_eq!((cause.reason.as_str(), cause.field.as_str()), ("FieldManagerConflict", ".data.both"));
    assert_eq!(api.get("shared").await?.data.unwrap()["both"], "x", "a refused apply writes nothing");

    let forced = api
        .patch("shared", &apply_as("plugin-b").force(), &Patch::Apply(config(json!({"b": "2", "both": "y"}))))
        .await?;
    assert_eq!(forced.data.as_ref().unwrap()["both"], "y");
    assert_eq!(owners(&forced)[0].3, json!({"f:data": {"f:a": {}}}), "plugin-a lost the field");

    // plugin-a stops declaring `a`: it goes; what plugin-b owns stays.
    let dropped = api.patch("shared", &apply_as("plugin-a"), &Patch::Apply(config(json!({})))).await?;
    let data = dropped.data.clone().unwrap();
    assert_eq!(data.keys().collect::<Vec<_>>(), ["b", "both"]);
    assert_eq!(owners(&dropped).iter().map(|o| o.0.as_str()).collect::<Vec<_>>(), ["plugin-b"]);

    // An ordinary patch is an Update by its field manager, which takes what it changed.
    let edited = api
        .patch(
            "shared",
            &PatchParams { field_manager: Some("editor".into()), ..PatchParams::default() },
            &Patch::Merge(json!({"data": {"both": "z"}})),
        )
        .await?;
    let owners = owners(&edited);
    assert_eq!(owners[0].3, json!({"f:data": {"f:b": {}}}));
    assert_eq!(
        owners[1],
        ("editor".into(), "Update".into(), String::new(), json!({"f:data": {"f:both": {}}}))
    );

    // Re-applying what is already there writes nothing.
    let before = api.get("shared").await?.metadata.resource_version;
    let again = api.patch("shared", &apply_as("plugin-b"), &Patch::Apply(config(json!({"b": "2"})))).await?;
    assert_eq!(again.metadata.resource_version, before);

    // An apply body in YAML, as curl users send it.
    let yaml =
        b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\ndata:\n  fromyaml: \"1\"\n".to_vec();
    let client = server.client().await?;
    let path = "/api/v1/namespaces/default/configmaps/shared?fieldManager=curl-user";
    let answer = crate::support::raw(&client, "PATCH", path, "application/apply-patch+yaml", yaml).await?;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["data"]["fromyaml"], "1");

    let missing_manager =
        api.patch("shared", &PatchParams::default(), &Patch::Apply(config(json!({})))).await.unwrap_err();
    assert_eq!(api_status(missing_manager).code, 422);
    Ok(())
}

#[tokio::test]
async fn service_ports_merge_by_port_and_protocol() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let api: Api<Service> = Api::namespaced(server.client().await?, "default");
    let service = |ports: Value| {
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": ports}})
    };
    api.patch("web", &apply_as("a"), &Patch::Apply(service(json!([{"name": "http", "port": 80}])))).await?;
    let both = api
        .patch("web", &apply_as("b"), &Patch::Apply(service(json!([{"name": "https", "port": 443}]))))
        .await?;
    let ports: Vec<i32> = both.spec.as_ref().unwrap().ports.iter().flatten().map(|p| p.port).collect();
    assert_eq!(ports, [80, 443]);
    let port_key = "k:{\"port\":443,\"protocol\":\"TCP\"}";
    let b_fields = &owners(&both)[1].3;
    assert_eq!(b_fields["f:spec"]["f:ports"][port_key], json!({".": {}, "f:name": {}, "f:port": {}}));

    // a drops its port: only port 80 goes.
    let fewer = api.patch("web", &apply_as("a"), &Patch::Apply(service(json!([])))).await?;
    let ports: Vec<i32> = fewer.spec.as_ref().unwrap().ports.iter().flatten().map(|p| p.port).collect();
    assert_eq!(ports, [443]);
    Ok(())
}

fn gizmo_crd() -> anyhow::Result<CustomResourceDefinition> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "gizmos.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "gizmos", "singular": "gizmo", "kind": "Gizmo"},
            "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {
                        "parts": {"type": "array", "x-kubernetes-list-type": "map",
                            "x-kubernetes-list-map-keys": ["name"],
                            "items": {"type": "object", "required": ["name"], "properties": {
                                "name": {"type": "string"}, "count": {"type": "integer"}}}},
                        "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
                        "plain": {"type": "array", "items": {"type": "string"}}}},
                    "status": {"type": "object", "properties": {
                        "conditions": {"type": "array", "x-kubernetes-list-type": "map",
                            "x-kubernetes-list-map-keys": ["type"],
                            "items": {"type": "object", "properties": {
                                "type": {"type": "string"}, "status": {"type": "string"}}}}}}}}}}]}
    }))?)
}

#[tokio::test]
async fn crd_list_markers_and_status_apply() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = server.client().await?;
    Api::<CustomResourceDefinition>::all(client.clone())
        .create(&PostParams::default(), &gizmo_crd()?)
        .await?;
    let resource = ApiResource {
        group: "example.com".into(),
        version: "v1".into(),
        api_version: "example.com/v1".into(),
        kind: "Gizmo".into(),
        plural: "gizmos".into(),
    };
    let api: Api<DynamicObject> = Api::namespaced_with(client, "default", &resource);
    let gizmo = |spec: Value| json!({"apiVersion": "example.com/v1", "kind": "Gizmo", "metadata": {"name": "g"}, "spec": spec});
    eventually("the Gizmo kind to be served", WAIT, || async {
        api.list(&Default::default()).await?;
        Ok(())
    })
    .await?;

    api.patch(
        "g",
        &apply_as("a"),
        &Patch::Apply(gizmo(json!({"parts": [{"name": "p1", "count": 1}], "tags": ["t1"], "plain": ["x"]}))),
    )
    .await?;
    let merged = api
        .patch(
            "g",
            &apply_as("b"),
            &Patch::Apply(gizmo(json!({"parts": [{"name": "p2", "count": 2}], "tags": ["t2"]}))),
        )
        .await?;
    assert_eq!(merged.data["spec"]["parts"], json!([{"name": "p1", "count": 1}, {"name": "p2", "count": 2}]));
    assert_eq!(merged.data["spec"]["tags"], json!(["t1", "t2"]));
    // A list without a marker is atomic: another value is a conflict on the whole list.
    let error =
        api.patch("g", &apply_as("b"), &Patch::Apply(gizmo(json!({"plain": ["y"]})))).await.unwrap_err();
    let status = api_status(error);
    assert_eq!(status.message, "Apply failed with 1 conflict: conflict with \"a\": .spec.plain");
    let error = api
        .patch("g", &apply_as("b"), &Patch::Apply(gizmo(json!({"parts": [{"name": "p1", "count": 5}]}))))
        .await
        .unwrap_err();
    assert_eq!(
        api_status(error).message,
        "Apply failed with 1 conflict: conflict with \"a\": .spec.parts[name=\"p1\"].count"
    );

    // Apply on /status: its own managedFields entry, status fields only.
    let status_body = json!({"apiVersion": "example.com/v1", "kind": "Gizmo", "metadata": {"name": "g"},
        "spec": {"parts": []}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}});
    let with_status = api.patch_status("g", &apply_as("controller"), &Patch::Apply(status_body)).await?;
    assert_eq!(with_status.data["status"]["conditions"][0]["status"], "True");
    assert_eq!(with_status.data["spec"]["parts"].as_array().map(Vec::len), Some(2), "/status ignores spec");
    let entry = owners(&with_status).into_iter().find(|o| o.0 == "controller").expect("controller entry");
    assert_eq!(entry.2, "status");
    assert_eq!(
        entry.3,
        json!({"f:status": {"f:conditions": {"k:{\"type\":\"Ready\"}": {".": {}, "f:status": {}, "f:type": {}}}}})
    );
    // The main endpoint ignores status in an apply and owns none of it.
    let main = api
        .patch(
            "g",
            &apply_as("a"),
            &Patch::Apply(gizmo(json!({"parts": [{"name": "p1", "count": 1}]})).clone()),
        )
        .await?;
    assert_eq!(main.data["status"]["conditions"][0]["status"], "True");
    let a_entry = owners(&main).into_iter().find(|o| o.0 == "a").expect("a entry");
    assert!(a_entry.3.get("f:status").is_none());
    assert_eq!(main.data["spec"].get("plain"), None, "a dropped plain and nobody else held it");
    Ok(())
}

#[tokio::test]
async fn kubectl_server_side_apply_with_two_managers() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let k = server.kubectl();
    let manifest = |value: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: demo\n  namespace: default\ndata:\n  key: {value}\n"
        )
    };
    let first = k
        .run_with_input(&["apply", "--server-side", "--field-manager=alice", "-f", "-"], &manifest("one"))
        .await?
        .ok()?;
    assert_eq!(first.trim(), "configmap/demo serverside-applied");
    let again = k
        .run_with_input(&["apply", "--server-side", "--field-manager=alice", "-f", "-"], &manifest("two"))
        .await?
        .ok()?;
    assert_eq!(again.trim(), "configmap/demo serverside-applied");

    let conflict = k
        .run_with_input(&["apply", "--server-side", "--field-manager=bob", "-f", "-"], &manifest("three"))
        .await?;
    assert!(!conflict.success, "{conflict:?}");
    assert!(
        conflict.stderr.contains("Apply failed with 1 conflict: conflict with \"alice\": .data.key"),
        "{}",
        conflict.stderr
    );
    let value = k.run(&["get", "configmap", "demo", "-o", "jsonpath={.data.key}"]).await?.ok()?;
    assert_eq!(value, "two");

    let forced = k
        .run_with_input(
            &["apply", "--server-side", "--field-manager=bob", "--force-conflicts", "-f", "-"],
            &manifest("three"),
        )
        .await?
        .ok()?;
    assert_eq!(forced.trim(), "configmap/demo serverside-applied");
    let shown = k.run(&["get", "configmap", "demo", "-o", "json", "--show-managed-fields"]).await?.ok()?;
    let object: Value = serde_json::from_str(&shown)?;
    assert_eq!(object["data"]["key"], "three");
    let managers: Vec<(&str, &str)> = object["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| (e["manager"].as_str().unwrap_or(""), e["operation"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(managers, [("bob", "Apply")], "alice owned only data.key and lost it");

    // kubectl label is an Update by kubectl-label.
    k.run(&["label", "configmap", "demo", "tier=web"]).await?.ok()?;
    let shown = k.run(&["get", "configmap", "demo", "-o", "json", "--show-managed-fields"]).await?.ok()?;
    let object: Value = serde_json::from_str(&shown)?;
    let label_entry = object["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["manager"] == "kubectl-label")
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(label_entry["operation"], "Update");
    assert_eq!(label_entry["fieldsV1"], json!({"f:metadata": {"f:labels": {"f:tier": {}}}}));
    Ok(())
}

#[tokio::test]
async fn kubectl_client_side_apply_of_a_service_changes_its_port_by_strategic_merge() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let k = server.kubectl();
    let manifest = |port: u16| {
        format!(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: default\nspec:\n  selector:\n    app: web\n  ports:\n  - name: http\n    port: {port}\n  - name: admin\n    port: 9000\n"
        )
    };
    let created = k.run_with_input(&["apply", "-f", "-"], &manifest(80)).await?.ok()?;
    assert_eq!(created.trim(), "service/web created");
    let changed = k.run_with_input(&["apply", "-f", "-"], &manifest(8080)).await?.ok()?;
    assert_eq!(changed.trim(), "service/web configured");
    let shown = k.run(&["get", "service", "web", "-o", "json", "--show-managed-fields"]).await?.ok()?;
    let service: Value = serde_json::from_str(&shown)?;
    let ports: Vec<(&str, i64, i64)> = service["spec"]["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            (
                p["name"].as_str().unwrap_or(""),
                p["port"].as_i64().unwrap_or(0),
                p["targetPort"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(ports, [("http", 8080, 8080), ("admin", 9000, 9000)], "port 80 replaced, not added");
    let managers: Vec<(&str, &str)> = service["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| (e["manager"].as_str().unwrap_or(""), e["operation"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(managers, [("kubectl-client-side-apply", "Update")]);
    let unchanged = k.run_with_input(&["apply", "-f", "-"], &manifest(8080)).await?.ok()?;
    assert_eq!(unchanged.trim(), "service/web unchanged");
    Ok(())
}

#[tokio::test]
async fn kubectl_server_side_apply_takes_over_from_client_side_apply() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let k = server.kubectl();
    let manifest = |value: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: moved\n  namespace: default\ndata:\n  key: {value}\n"
        )
    };
    let created = k.run_with_input(&["apply", "-f", "-"], &manifest("one")).await?.ok()?;
    assert_eq!(created.trim(), "configmap/moved created");
    // The documented move to server-side apply needs no --force-conflicts, as on a real server.
    let moved = k.run_with_input(&["apply", "--server-side", "-f", "-"], &manifest("two")).await?.ok()?;
    assert_eq!(moved.trim(), "configmap/moved serverside-applied");
    let shown = k.run(&["get", "configmap", "moved", "-o", "json", "--show-managed-fields"]).await?.ok()?;
    let object: Value = serde_json::from_str(&shown)?;
    assert_eq!(object["data"]["key"], "two");
    let kubectl = object["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["manager"] == "kubectl")
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(kubectl["operation"], "Apply", "{shown}");
    assert_eq!(kubectl["fieldsV1"]["f:data"], json!({"f:key": {}}), "{shown}");
    // The last-applied annotation followed, so client-side apply diffs against "two".
    let annotation = object["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
        .as_str()
        .unwrap_or("");
    let last: Value = serde_json::from_str(annotation)?;
    assert_eq!(last["data"]["key"], "two");
    // Another field manager still conflicts with what kubectl now owns.
    let other = k
        .run_with_input(&["apply", "--server-side", "--field-manager=someone", "-f", "-"], &manifest("three"))
        .await?;
    assert!(other.stderr.contains("conflict with \"kubectl\": .data.key"), "{other:?}");
    Ok(())
}
