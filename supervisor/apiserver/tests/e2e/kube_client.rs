//! kube-rs against the server: typed CRUD, errors, watcher, reflector, a Controller, events.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::ensure;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{CustomResource, CustomResourceExt, Resource, ResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::support::{TestServer, eventually};

const WAIT: Duration = Duration::from_secs(20);

fn api_error(error: kube::Error) -> Box<kube::core::Status> {
    match error {
        kube::Error::Api(status) => status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn config_map(name: &str, labels: &[(&str, &str)]) -> ConfigMap {
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some(name.to_owned());
    cm.metadata.labels = Some(labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect());
    cm.data = Some(BTreeMap::from([("k".to_owned(), "v".to_owned())]));
    cm
}

#[tokio::test]
async fn config_map_crud_with_conflicts_and_not_found() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let api: Api<ConfigMap> = Api::namespaced(server.client().await?, "default");

    let created = api.create(&PostParams::default(), &config_map("one", &[("app", "web")])).await?;
    assert!(created.metadata.uid.is_some());
    assert!(created.metadata.creation_timestamp.is_some());
    let rv1: u64 = created.resource_version().unwrap().parse()?;

    let again = api.create(&PostParams::default(), &config_map("one", &[])).await.unwrap_err();
    let status = api_error(again);
    assert_eq!((status.code, status.reason.as_str()), (409, "AlreadyExists"));

    api.create(&PostParams::default(), &config_map("two", &[("app", "db")])).await?;
    let listed = api.list(&ListParams::default().labels("app=web")).await?;
    assert_eq!(listed.items.iter().map(|c| c.name_any()).collect::<Vec<_>>(), ["one"]);
    let set_based = api.list(&ListParams::default().labels("app in (web,db)")).await?;
    assert_eq!(set_based.items.len(), 2);
    let by_field = api.list(&ListParams::default().fields("metadata.name=two")).await?;
    assert_eq!(by_field.items.len(), 1);

    let mut changed = created.clone();
    changed.data = Some(BTreeMap::from([("k".to_owned(), "changed".to_owned())]));
    let replaced = api.replace("one", &PostParams::default(), &changed).await?;
    let rv2: u64 = replaced.resource_version().unwrap().parse()?;
    assert!(rv2 > rv1);
    let stale = api.replace("one", &PostParams::default(), &changed).await.unwrap_err();
    let status = api_error(stale);
    assert_eq!((status.code, status.reason.as_str()), (409, "Conflict"));
    assert!(status.message.contains("the object has been modified"), "{}", status.message);

    let patched = api
        .patch(
            "one",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"patched": "yes"}}})),
        )
        .await?;
    assert_eq!(patched.labels().get("patched").map(String::as_str), Some("yes"));
    let json_patched = api
        .patch(
            "one",
            &PatchParams::default(),
            &Patch::<()>::Json(serde_json::from_value(json!([
                {"op": "replace", "path": "/data/k", "value": "from-json-patch"}
            ]))?),
        )
        .await?;
    assert_eq!(json_patched.data.unwrap()["k"], "from-json-patch");

    api.delete("one", &DeleteParams::default()).await?;
    let missing = api_error(api.get("one").await.unwrap_err());
    assert_eq!((missing.code, missing.reason.as_str()), (404, "NotFound"));
    assert_eq!(missing.message, "configmaps \"one\" not found");
    Ok(())
}

#[tokio::test]
async fn generate_name_dry_run_paging_and_missing_namespace() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = server.client().await?;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let mut cm = config_map("", &[]);
    cm.metadata.name = None;
    cm.metadata.generate_name = Some("gen-".into());
    let generated = api.create(&PostParams::default(), &cm).await?;
    assert!(generated.name_any().starts_with("gen-") && generated.name_any().len() == 9);

    let dry =
        api.create(&PostParams { dry_run: true, ..Default::default() }, &config_map("dry", &[])).await?;
    assert_eq!(dry.name_any(), "dry");
    assert!(api_error(api.get("dry").await.unwrap_err()).code == 404);

    for i in 0..7 {
        api.create(&PostParams::default(), &config_map(&format!("page-{i}"), &[])).await?;
    }
    let mut names = Vec::new();
    let mut params = ListParams::default().limit(3);
    let mut versions = Vec::new();
    loop {
        let page = api.list(&params).await?;
        names.extend(page.items.iter().map(|c| c.name_any()));
        versions.push(page.metadata.resource_version.clone());
        if versions.len() == 1 {
            // Written after the first page: later pages still show the first page's list.
            api.create(&PostParams::default(), &config_map("page-2a", &[])).await?;
            api.delete("page-5", &Default::default()).await?;
        }
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => break,
        }
    }
    let paged: Vec<&String> = names.iter().filter(|n| n.starts_with("page-")).collect();
    assert_eq!(paged, ["page-0", "page-1", "page-2", "page-3", "page-4", "page-5", "page-6"]);
    assert!(versions.iter().all(|v| *v == versions[0]), "pages at one resourceVersion: {versions:?}");

    let nowhere: Api<ConfigMap> = Api::namespaced(client, "no-such-namespace");
    let status = api_error(nowhere.create(&PostParams::default(), &config_map("x", &[])).await.unwrap_err());
    assert_eq!((status.code, status.message.as_str()), (404, "namespaces \"no-such-namespace\" not found"));
    Ok(())
}

#[tokio::test]
async fn service_validation_names_fields_and_status_is_separate() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let api: Api<Service> = Api::namespaced(server.client().await?, "default");
    let bad: Service = serde_json::from_value(json!({"metadata": {"name": "web"},
        "spec": {"ports": [{"port": 70000}], "type": "Nope"}}))?;
    let status = api_error(api.create(&PostParams::default(), &bad).await.unwrap_err());
    assert_eq!((status.code, status.reason.as_str()), (422, "Invalid"));
    let fields: Vec<String> = status.details.unwrap().causes.into_iter().map(|c| c.field).collect();
    // targetPort defaults to port, so it is out of range too, as on a real server.
    assert_eq!(fields, ["spec.type", "spec.ports[0].port", "spec.ports[0].targetPort"]);

    let good: Service = serde_json::from_value(json!({"metadata": {"name": "web"},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80, "name": "http"}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}}}))?;
    let created = api.create(&PostParams::default(), &good).await?;
    let spec = created.spec.clone().unwrap();
    let ip = spec.cluster_ip.clone().unwrap();
    assert!(ip.starts_with("10.96."), "{ip}");
    let port = spec.ports.unwrap()[0].clone();
    assert_eq!(port.protocol.as_deref(), Some("TCP"));
    let node_port = port.node_port.expect("a LoadBalancer port gets a nodePort");
    assert!((30000..=32767).contains(&node_port));
    // A second LoadBalancer gets its own address and node port; a taken nodePort is refused.
    let mut other = good.clone();
    other.metadata.name = Some("api".into());
    let other = api.create(&PostParams::default(), &other).await?.spec.unwrap();
    assert_ne!(other.cluster_ip.unwrap(), ip);
    assert_ne!(other.ports.unwrap()[0].node_port, Some(node_port));
    let clash: Service = serde_json::from_value(json!({"metadata": {"name": "clash"},
        "spec": {"type": "NodePort", "ports": [{"port": 81, "nodePort": node_port}]}}))?;
    let status = api_error(api.create(&PostParams::default(), &clash).await.unwrap_err());
    assert_eq!((status.code, status.message.contains("provided port is already allocated")), (422, true));
    // Status in a create is ignored; /status sets it.
    assert!(
        created
            .status
            .as_ref()
            .and_then(|s| s.load_balancer.as_ref())
            .and_then(|l| l.ingress.as_ref())
            .is_none()
    );
    let with_status = api
        .patch_status(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.9"}]}}})),
        )
        .await?;
    let ingress = with_status.status.unwrap().load_balancer.unwrap().ingress.unwrap();
    assert_eq!(ingress[0].ip.as_deref(), Some("10.0.0.9"));
    // The main endpoint ignores status changes.
    let ignored = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"loadBalancer": {"ingress": [{"ip": "6.6.6.6"}]}}})),
        )
        .await?;
    assert_eq!(
        ignored.status.unwrap().load_balancer.unwrap().ingress.unwrap()[0].ip.as_deref(),
        Some("10.0.0.9")
    );
    Ok(())
}

#[tokio::test]
async fn watcher_and_reflector_follow_changes() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = server.client().await?;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    api.create(&PostParams::default(), &config_map("before", &[])).await?;

    let (reader, writer) = reflector::store::<ConfigMap>();
    let stream =
        reflector::reflector(writer, watcher(api.clone(), watcher::Config::default())).applied_objects();
    let reflector_task = tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while stream.try_next().await.is_ok_and(|o| o.is_some()) {}
    });
    reader.wait_until_ready().await?;
    assert_eq!(reader.state().len(), 1);

    api.create(&PostParams::default(), &config_map("after", &[])).await?;
    api.patch("before", &PatchParams::default(), &Patch::Merge(json!({"data": {"k": "2"}}))).await?;
    eventually("the reflector to see both objects", WAIT, || async {
        let names: Vec<String> = reader.state().iter().map(|c| c.name_any()).collect();
        let updated = reader.state().iter().any(|c| c.data.as_ref().is_some_and(|d| d["k"] == "2"));
        ensure!(names.len() == 2 && updated, "cached {names:?}, updated: {updated}");
        Ok(())
    })
    .await?;
    api.delete("after", &DeleteParams::default()).await?;
    eventually("the reflector to drop the deleted object", WAIT, || async {
        let names: Vec<String> = reader.state().iter().map(|c| c.name_any()).collect();
        ensure!(names.len() == 1, "cached {names:?}");
        Ok(())
    })
    .await?;
    reflector_task.abort();

    // A streaming-list watcher (sendInitialEvents) gets the state, then follows changes.
    let streaming = watcher(api.clone(), watcher::Config::default().streaming_lists()).applied_objects();
    let mut streaming = std::pin::pin!(streaming);
    let first = tokio::time::timeout(WAIT, streaming.try_next()).await??.expect("an object");
    assert_eq!(first.name_any(), "before");
    api.create(&PostParams::default(), &config_map("streamed", &[])).await?;
    let next = tokio::time::timeout(WAIT, streaming.try_next()).await??.expect("an object");
    assert_eq!(next.name_any(), "streamed");

    // A raw watch from a resourceVersion resumes exactly after it.
    let list = api.list(&ListParams::default()).await?;
    let rv = list.metadata.resource_version.unwrap();
    api.create(&PostParams::default(), &config_map("resumed", &[])).await?;
    // All-namespaces list sees objects in every namespace.
    let everywhere: Api<ConfigMap> = Api::all(api.clone().into_client());
    assert!(everywhere.list(&ListParams::default()).await?.items.len() >= 3);
    let mut events = api.watch(&WatchParams::default().timeout(10), &rv).await?.boxed();
    match tokio::time::timeout(WAIT, events.try_next()).await?? {
        Some(WatchEvent::Added(cm)) => assert_eq!(cm.name_any(), "resumed"),
        other => panic!("expected ADDED resumed, got {other:?}"),
    }
    Ok(())
}

#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, JsonSchema)]
#[kube(group = "example.com", version = "v1", kind = "Gadget", namespaced, status = "GadgetStatus")]
#[kube(printcolumn = r#"{"name":"Size","type":"integer","jsonPath":".spec.size"}"#)]
pub(crate) struct GadgetSpec {
    size: i64,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, JsonSchema)]
pub(crate) struct GadgetStatus {
    observed_size: Option<i64>,
}

async fn install_gadget_crd(client: &kube::Client) -> anyhow::Result<()> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &Gadget::crd()).await?;
    eventually("the Gadget CRD to be established", WAIT, || async {
        let crd = crds.get("gadgets.example.com").await?;
        let conditions = crd.status.and_then(|s| s.conditions).unwrap_or_default();
        let established = conditions.iter().any(|c| c.type_ == "Established" && c.status == "True");
        ensure!(established, "conditions: {conditions:?}");
        Ok(())
    })
    .await
}

struct Ctx {
    client: kube::Client,
}

#[derive(Debug, thiserror::Error)]
#[error(transparent)]
struct ReconcileError(#[from] kube::Error);

async fn reconcile(gadget: Arc<Gadget>, ctx: Arc<Ctx>) -> Result<Action, ReconcileError> {
    let ns = gadget.namespace().unwrap_or_default();
    let gadgets: Api<Gadget> = Api::namespaced(ctx.client.clone(), &ns);
    let config_maps: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ns);
    let owner = gadget.controller_owner_ref(&()).into_iter().collect();
    let mut child = config_map(&format!("{}-child", gadget.name_any()), &[]);
    child.metadata.owner_references = Some(owner);
    child.data = Some(BTreeMap::from([("size".to_owned(), gadget.spec.size.to_string())]));
    match config_maps.create(&PostParams::default(), &child).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 409 => {
            config_maps
                .replace(&child.name_any(), &PostParams::default(), &{
                    let mut current = config_maps.get(&child.name_any()).await?;
                    current.data = child.data.clone();
                    current
                })
                .await?;
        }
        Err(other) => return Err(other.into()),
    }
    gadgets
        .patch_status(
            &gadget.name_any(),
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"observed_size": gadget.spec.size}})),
        )
        .await?;
    Ok(Action::await_change())
}

fn error_policy(_: Arc<Gadget>, _: &ReconcileError, _: Arc<Ctx>) -> Action {
    Action::requeue(Duration::from_millis(200))
}

#[tokio::test]
async fn a_controller_reconciles_custom_resources_and_owned_objects() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = server.client().await?;
    install_gadget_crd(&client).await?;
    let gadgets: Api<Gadget> = Api::namespaced(client.clone(), "default");
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), "default");

    let controller = Controller::new(gadgets.clone(), watcher::Config::default())
        .owns(config_maps.clone(), watcher::Config::default())
        .run(reconcile, error_policy, Arc::new(Ctx { client: client.clone() }))
        .for_each(|_| async {});
    let controller = tokio::spawn(controller);

    for (name, size) in [("g1", 1), ("g2", 2)] {
        gadgets.create(&PostParams::default(), &Gadget::new(name, GadgetSpec { size })).await?;
    }
    for (name, size) in [("g1", 1), ("g2", 2)] {
        eventually("status.observed_size to follow spec.size", WAIT, || async {
            let status = gadgets.get(name).await?.status;
            ensure!(status.as_ref().and_then(|s| s.observed_size) == Some(size), "status: {status:?}");
            Ok(())
        })
        .await?;
        let child = config_maps.get(&format!("{name}-child")).await?;
        assert_eq!(child.owner_references()[0].name, name);
    }
    // A spec change bumps generation and is reconciled again.
    let patched =
        gadgets.patch("g1", &PatchParams::default(), &Patch::Merge(json!({"spec": {"size": 10}}))).await?;
    assert_eq!(patched.metadata.generation, Some(2));
    eventually("the child to follow the new size", WAIT, || async {
        let data = config_maps.get("g1-child").await?.data.unwrap_or_default();
        ensure!(data.get("size").map(String::as_str) == Some("10"), "child data: {data:?}");
        Ok(())
    })
    .await?;
    controller.abort();
    Ok(())
}

#[tokio::test]
async fn finalizers_hold_an_object_until_released() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let api: Api<ConfigMap> = Api::namespaced(server.client().await?, "default");
    let mut cm = config_map("held", &[]);
    cm.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    api.create(&PostParams::default(), &cm).await?;
    let deleted = api.delete("held", &DeleteParams::default()).await?;
    let marked = deleted.left().expect("the object comes back while finalizers hold it");
    assert!(marked.metadata.deletion_timestamp.is_some());
    assert!(api.get("held").await?.metadata.deletion_timestamp.is_some());
    let status = api_error(
        api.patch(
            "held",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": ["example.com/hold", "more"]}})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(status.code, 422);
    api.patch("held", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"finalizers": null}})))
        .await?;
    assert_eq!(api_error(api.get("held").await.unwrap_err()).code, 404);
    Ok(())
}

#[tokio::test]
async fn delete_preconditions_leases_and_events() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = server.client().await?;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let created = api.create(&PostParams::default(), &config_map("pre", &[])).await?;
    let wrong = DeleteParams {
        preconditions: Some(kube::api::Preconditions { uid: Some("nope".into()), resource_version: None }),
        ..Default::default()
    };
    assert_eq!(api_error(api.delete("pre", &wrong).await.unwrap_err()).code, 409);
    let right = DeleteParams {
        preconditions: Some(kube::api::Preconditions {
            uid: created.metadata.uid.clone(),
            resource_version: None,
        }),
        ..Default::default()
    };
    api.delete("pre", &right).await?;

    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-system");
    let lease: Lease = serde_json::from_value(
        json!({"metadata": {"name": "leader"}, "spec": {"holderIdentity": "me", "leaseDurationSeconds": 15}}),
    )?;
    leases.create(&PostParams::default(), &lease).await?;
    let taken = leases
        .patch("leader", &PatchParams::default(), &Patch::Merge(json!({"spec": {"holderIdentity": "you"}})))
        .await?;
    assert_eq!(taken.spec.unwrap().holder_identity.as_deref(), Some("you"));

    let recorder = kube::runtime::events::Recorder::new(client.clone(), "wasmvisor-test".into());
    let reference = created.object_ref(&());
    let event = kube::runtime::events::Event {
        type_: kube::runtime::events::EventType::Normal,
        reason: "Tested".into(),
        note: Some("hello".into()),
        action: "Test".into(),
        secondary: None,
    };
    recorder.publish(&event, &reference).await?;
    recorder.publish(&event, &reference).await?;
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client.clone(), "default");
    let listed = events.list(&ListParams::default()).await?;
    assert_eq!(listed.items.len(), 1);
    assert_eq!(listed.items[0].series.as_ref().map(|s| s.count), Some(2));
    // The same event through the core API, in its shape.
    let core: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(client.clone(), "default");
    let core_events = core.list(&ListParams::default()).await?;
    assert_eq!(core_events.items.len(), 1);
    assert_eq!(core_events.items[0].message.as_deref(), Some("hello"));
    assert_eq!(core_events.items[0].involved_object.name.as_deref(), Some("pre"));
    let selected = core.list(&ListParams::default().fields("involvedObject.name=pre,type=Normal")).await?;
    assert_eq!(selected.items.len(), 1);
    let none = events.list(&ListParams::default().fields("regarding.name=other")).await?;
    assert!(none.items.is_empty());
    Ok(())
}

#[tokio::test]
async fn two_servers_run_side_by_side() -> anyhow::Result<()> {
    let a = TestServer::start().await?;
    let b = TestServer::start().await?;
    let api_a: Api<ConfigMap> = Api::namespaced(a.client().await?, "default");
    let api_b: Api<ConfigMap> = Api::namespaced(b.client().await?, "default");
    api_a.create(&PostParams::default(), &config_map("only-in-a", &[])).await?;
    assert_eq!(api_error(api_b.get("only-in-a").await.unwrap_err()).code, 404);
    // A second server on the same data directory is refused.
    let same = wasmvisor_apiserver::ApiServer::start(
        wasmvisor_apiserver::Config::new(a.dir.path().join("data")).listen("127.0.0.1:0".parse()?),
    )
    .await;
    assert!(same.is_err());
    Ok(())
}

#[tokio::test]
async fn shutdown_ends_watches_and_a_restart_keeps_data_ca_and_token() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let config = wasmvisor_apiserver::Config::new(dir.path().join("data")).listen("127.0.0.1:0".parse()?);
    let first = wasmvisor_apiserver::ApiServer::start(config.clone()).await?;
    let (ca, token) = (first.ca_pem().to_owned(), first.token().to_owned());
    let api: Api<ConfigMap> =
        Api::namespaced(crate::support::client_from(first.kubeconfig_path()).await?, "default");
    api.create(&PostParams::default(), &config_map("kept", &[])).await?;
    let mut events = api.watch(&WatchParams::default(), "0").await?.boxed();
    assert!(matches!(tokio::time::timeout(WAIT, events.try_next()).await??, Some(WatchEvent::Added(_))));
    // Shutdown ends the open watch instead of waiting for it (a hanging watch would keep
    // `shutdown` from returning and the test would time out).
    tokio::time::timeout(WAIT, first.shutdown()).await??;
    let ended =
        tokio::time::timeout(WAIT, async { while let Ok(Some(_)) = events.try_next().await {} }).await;
    assert!(ended.is_ok(), "the watch stream did not end");

    let second = wasmvisor_apiserver::ApiServer::start(config).await?;
    assert_eq!((second.ca_pem(), second.token()), (ca.as_str(), token.as_str()));
    let api: Api<ConfigMap> =
        Api::namespaced(crate::support::client_from(second.kubeconfig_path()).await?, "default");
    assert_eq!(api.get("kept").await?.name_any(), "kept");
    second.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn kube_runtime_finalizer_cleans_up_before_deletion() -> anyhow::Result<()> {
    use kube::runtime::finalizer::{Event as Finalizer, finalizer};
    const FINALIZER: &str = "example.com/cleanup";
    let server = TestServer::start().await?;
    let client = server.client().await?;
    install_gadget_crd(&client).await?;
    let gadgets: Api<Gadget> = Api::namespaced(client.clone(), "default");
    let cleaned: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();

    let reconcile = {
        let (gadgets, cleaned) = (gadgets.clone(), cleaned.clone());
        move |gadget: Arc<Gadget>, _: Arc<()>| {
            let (gadgets, cleaned) = (gadgets.clone(), cleaned.clone());
            async move {
                finalizer(&gadgets, FINALIZER, gadget, |event| async move {
                    match event {
                        Finalizer::Apply(_) => Ok::<_, ReconcileError>(Action::await_change()),
                        Finalizer::Cleanup(g) => {
                            cleaned.lock().expect("lock").push(g.name_any());
                            Ok(Action::await_change())
                        }
                    }
                })
                .await
            }
        }
    };
    let controller = Controller::new(gadgets.clone(), watcher::Config::default())
        .run(reconcile, |_, _, _| Action::requeue(Duration::from_millis(200)), Arc::new(()))
        .for_each(|_| async {});
    let controller = tokio::spawn(controller);

    gadgets.create(&PostParams::default(), &Gadget::new("fin", GadgetSpec { size: 1 })).await?;
    eventually("the finalizer to be added", WAIT, || async {
        let finalizers = gadgets.get("fin").await?.finalizers().to_vec();
        ensure!(finalizers.contains(&FINALIZER.to_owned()), "finalizers: {finalizers:?}");
        Ok(())
    })
    .await?;
    gadgets.delete("fin", &DeleteParams::default()).await?;
    eventually("cleanup to run and the object to go", WAIT, || async {
        let found = gadgets.get_opt("fin").await?;
        ensure!(found.is_none(), "still there: {:?}", found.map(|g| g.metadata));
        Ok(())
    })
    .await?;
    assert_eq!(*cleaned.lock().expect("lock"), ["fin"]);
    controller.abort();
    Ok(())
}

#[tokio::test]
async fn kube_discovery_and_dynamic_objects() -> anyhow::Result<()> {
    use kube::api::{DynamicObject, GroupVersionKind};
    use kube::discovery::{self, Discovery, Scope};
    let server = TestServer::start().await?;
    let client = server.client().await?;
    install_gadget_crd(&client).await?;

    let discovery = Discovery::new(client.clone()).run().await?;
    let group = discovery.get("example.com").expect("the CRD's group is discovered");
    let (resource, caps) = group.recommended_kind("Gadget").expect("Gadget is served");
    assert_eq!((resource.plural.as_str(), caps.scope.clone()), ("gadgets", Scope::Namespaced));
    assert!(
        caps.subresources.iter().any(|(r, _)| r.plural == "gadgets/status" || r.plural == "status"),
        "{caps:?}"
    );
    assert!(discovery.get("coordination.k8s.io").is_some());

    let gvk = GroupVersionKind::gvk("example.com", "v1", "Gadget");
    let (resource, _) = discovery::pinned_kind(&client, &gvk).await?;
    let api: Api<DynamicObject> = Api::namespaced_with(client, "default", &resource);
    let object: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "dyn"}, "spec": {"size": 3}}))?;
    api.create(&PostParams::default(), &object).await?;
    let fetched = api.get("dyn").await?;
    assert_eq!(fetched.data["spec"]["size"], 3);
    assert_eq!(fetched.types.map(|t| t.kind), Some("Gadget".to_owned()));
    Ok(())
}
