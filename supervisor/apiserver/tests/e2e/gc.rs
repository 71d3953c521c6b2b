//! Garbage collection: ownerReference cascades under each propagation policy,
//! blockOwnerDeletion in the foreground, deletecollection, namespace termination; with
//! kube-rs and kubectl.

use std::time::Duration;

use anyhow::ensure;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, PropagationPolicy};
use kube::{Resource, ResourceExt};
use serde_json::json;

use crate::support::{TestServer, eventually};

const WAIT: Duration = Duration::from_secs(20);

/// Creates ConfigMap `name`, owned by `owner` (with blockOwnerDeletion) when given.
async fn config_map(
    api: &Api<ConfigMap>,
    name: &str,
    owner: Option<&ConfigMap>,
    finalizers: &[&str],
) -> anyhow::Result<ConfigMap> {
    let mut cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": name, "finalizers": finalizers,
        "labels": {"tree": name.split('-').next().unwrap_or(name)}}}))?;
    if let Some(owner) = owner {
        let mut reference = owner.controller_owner_ref(&()).expect("owner has a uid");
        reference.block_owner_deletion = Some(true);
        cm.metadata.owner_references = Some(vec![reference]);
    }
    Ok(api.create(&PostParams::default(), &cm).await?)
}

async fn gone(api: &Api<ConfigMap>, name: &str) -> anyhow::Result<()> {
    eventually(&format!("{name} to be gone"), WAIT, || async {
        let found = api.get_opt(name).await?;
        ensure!(found.is_none(), "still there: {:?}", found.map(|cm| cm.metadata));
        Ok(())
    })
    .await
}

#[tokio::test]
async fn three_level_cascades_leave_no_orphan_under_each_policy() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let api: Api<ConfigMap> = Api::namespaced(server.client().await?, "default");
    for (prefix, policy) in [
        ("bg", PropagationPolicy::Background),
        ("fg", PropagationPolicy::Foreground),
        ("or", PropagationPolicy::Orphan),
    ] {
        let owner = config_map(&api, &format!("{prefix}-owner"), None, &[]).await?;
        let child = config_map(&api, &format!("{prefix}-child"), Some(&owner), &[]).await?;
        let grandchild = config_map(&api, &format!("{prefix}-grandchild"), Some(&child), &[]).await?;
        let params = DeleteParams { propagation_policy: Some(policy.clone()), ..DeleteParams::default() };
        api.delete(&owner.name_any(), &params).await?;
        gone(&api, &owner.name_any()).await?;
        if policy == PropagationPolicy::Orphan {
            let child = api.get(&child.name_any()).await?;
            assert!(
                child.metadata.owner_references.is_none(),
                "{prefix}: the child no longer points at the owner"
            );
            let grandchild = api.get(&grandchild.name_any()).await?;
            assert_eq!(
                grandchild.owner_references()[0].uid,
                child.uid().unwrap(),
                "still owned by the child"
            );
        } else {
            gone(&api, &child.name_any()).await?;
            gone(&api, &grandchild.name_any()).await?;
        }
    }
    // No object refers to an owner that does not exist.
    let left = api.list(&ListParams::default()).await?.items;
    let uids: Vec<String> = left.iter().filter_map(|c| c.uid()).collect();
    for cm in &left {
        for reference in cm.owner_references() {
            assert!(uids.contains(&reference.uid), "{} has a dangling owner", cm.name_any());
        }
    }
    assert_eq!(left.iter().map(|c| c.name_any()).collect::<Vec<_>>(), ["or-child", "or-grandchild"]);
    Ok(())
}

#[tokio::test]
async fn block_owner_deletion_holds_a_foreground_owner_until_the_child_is_gone() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let api: Api<ConfigMap> = Api::namespaced(server.client().await?, "default");
    let owner = config_map(&api, "owner", None, &[]).await?;
    config_map(&api, "held", Some(&owner), &["example.com/hold"]).await?;
    api.delete("owner", &DeleteParams::foreground()).await?;

    // The child is being deleted but its finalizer holds it, so the owner waits.
    eventually("the child to be marked deleted", WAIT, || async {
        let held = api.get("held").await?;
        ensure!(held.metadata.deletion_timestamp.is_some(), "not marked: {:?}", held.metadata);
        Ok(())
    })
    .await?;
    let waiting = api.get("owner").await?;
    assert!(waiting.meta().deletion_timestamp.is_some());
    assert_eq!(waiting.finalizers(), ["foregroundDeletion"]);

    api.patch("held", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"finalizers": null}})))
        .await?;
    gone(&api, "held").await?;
    gone(&api, "owner").await?;
    Ok(())
}

#[tokio::test]
async fn delete_collection_deletes_what_the_selector_matches() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let api: Api<ConfigMap> = Api::namespaced(server.client().await?, "default");
    for name in ["web-1", "web-2", "db-1"] {
        config_map(&api, name, None, &[]).await?;
    }
    let deleted =
        api.delete_collection(&DeleteParams::default(), &ListParams::default().labels("tree=web")).await?;
    let names: Vec<String> = deleted.left().expect("a list").items.iter().map(|c| c.name_any()).collect();
    assert_eq!(names, ["web-1", "web-2"]);
    let left: Vec<String> =
        api.list(&ListParams::default()).await?.items.iter().map(|c| c.name_any()).collect();
    assert_eq!(left, ["db-1"]);
    Ok(())
}

#[tokio::test]
async fn a_namespace_terminates_after_its_contents() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = server.client().await?;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "doomed"}}))?;
    namespaces.create(&PostParams::default(), &ns).await?;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "doomed");
    config_map(&api, "plain", None, &[]).await?;
    config_map(&api, "held", None, &["example.com/hold"]).await?;

    namespaces.delete("doomed", &DeleteParams::default()).await?;
    gone(&api, "plain").await?;
    let terminating = namespaces.get("doomed").await?;
    assert_eq!(terminating.status.and_then(|s| s.phase).as_deref(), Some("Terminating"));
    let refused = config_map(&api, "late", None, &[]).await.unwrap_err();
    assert!(refused.to_string().contains("because it is being terminated"), "{refused}");

    api.patch("held", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"finalizers": null}})))
        .await?;
    eventually("the namespace to be gone", WAIT, || async {
        let found = namespaces.get_opt("doomed").await?;
        ensure!(found.is_none(), "still there: {:?}", found.map(|ns| (ns.metadata, ns.status)));
        Ok(())
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn kubectl_deletes_three_levels_under_each_cascade_and_namespaces_with_contents() -> anyhow::Result<()>
{
    let server = TestServer::start().await?;
    let k = server.kubectl();
    let api: Api<ConfigMap> = Api::namespaced(server.client().await?, "default");
    for cascade in ["background", "foreground", "orphan"] {
        let name = |level: &str| format!("k{cascade}-{level}");
        let owner = config_map(&api, &name("owner"), None, &[]).await?;
        let child = config_map(&api, &name("child"), Some(&owner), &[]).await?;
        config_map(&api, &name("grandchild"), Some(&child), &[]).await?;
        let flag = format!("--cascade={cascade}");
        let out = k.run(&["delete", "configmap", &name("owner"), &flag]).await?.ok()?;
        assert_eq!(out.trim(), format!("configmap \"{}\" deleted", name("owner")));
        // kubectl waits until the owner is gone.
        assert!(api.get_opt(&name("owner")).await?.is_none(), "{cascade}: owner still there");
        match cascade {
            // The owner goes last: by the time kubectl returns, both levels below are gone.
            "foreground" => {
                assert!(api.get_opt(&name("child")).await?.is_none(), "foreground: child left");
                assert!(api.get_opt(&name("grandchild")).await?.is_none(), "foreground: grandchild left");
            }
            "background" => {
                gone(&api, &name("child")).await?;
                gone(&api, &name("grandchild")).await?;
            }
            _ => {
                let child = api.get(&name("child")).await?;
                assert!(child.metadata.owner_references.is_none(), "orphan: child still points at the owner");
                let grandchild = api.get(&name("grandchild")).await?;
                assert_eq!(grandchild.owner_references()[0].uid, child.uid().unwrap());
            }
        }
    }
    let left = k.run(&["get", "configmaps", "-o", "name"]).await?.ok()?;
    assert_eq!(
        left.lines().filter(|l| l.starts_with("configmap/k")).collect::<Vec<_>>(),
        ["configmap/korphan-child", "configmap/korphan-grandchild"]
    );

    k.run(&["create", "namespace", "scratch"]).await?.ok()?;
    k.run(&["create", "configmap", "one", "-n", "scratch", "--from-literal=a=b"]).await?.ok()?;
    k.run(&["create", "secret", "generic", "two", "-n", "scratch", "--from-literal=a=b"]).await?.ok()?;
    let out = k.run(&["delete", "namespace", "scratch"]).await?.ok()?;
    assert_eq!(out.trim(), "namespace \"scratch\" deleted");
    let after = k.run(&["get", "namespace", "scratch"]).await?;
    assert!(after.stderr.contains("namespaces \"scratch\" not found"), "{after:?}");
    let contents = k.run(&["get", "configmaps,secrets", "-n", "scratch", "-o", "name"]).await?.ok()?;
    assert!(contents.trim().is_empty(), "left in the deleted namespace: {contents}");
    Ok(())
}
