//! The host under the ServiceAccount `wasmvisor rbac` generates for its
//! plugins' grants: reconcile, finalizer, failure condition, Event and
//! finalize all work without a single 403, leader election included.

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;
use wasmvisor_host::host::Host;
use wasmvisor_host::manifest::Manifest;
use wasmvisor_host::rbac::{RbacOptions, generate};
use wasmvisor_plugins::testing::WIDGET;

use crate::support::{Env, at, create_widget, ensure_namespace, eventually, host_config};

const NAMESPACE: &str = "wasmvisor-system";

/// Applies the generated RBAC, less the rules for resource `without` if
/// given, and returns a kubeconfig holding a token of its ServiceAccount.
async fn service_account_kubeconfig(
    env: &Env,
    config: &wasmvisor_host::config::HostConfig,
    without: Option<&str>,
) -> std::path::PathBuf {
    let manifest = Manifest::from_component(WIDGET.bytes).unwrap();
    let options = RbacOptions {
        namespace: NAMESPACE.into(),
        leader_election: Some("wasmvisor".into()),
        ..RbacOptions::default()
    };
    let mut rbac = generate(&config.grants(), &[manifest], &options);
    if let (Some(resource), Some((role, _))) = (without, &mut rbac.cluster_role) {
        let rules = role.rules.get_or_insert_default();
        let before = rules.len();
        rules.retain(|r| r.resources.as_deref() != Some(&[resource.to_owned()][..]));
        assert_eq!(rules.len(), before - 1, "the generated ClusterRole has one rule for {resource}");
    }
    let post = PostParams::default();
    let accounts: Api<ServiceAccount> = Api::namespaced(env.client.clone(), NAMESPACE);
    accounts.create(&post, &rbac.service_account).await.unwrap();
    if let Some((role, binding)) = &rbac.cluster_role {
        Api::<ClusterRole>::all(env.client.clone()).create(&post, role).await.unwrap();
        Api::<ClusterRoleBinding>::all(env.client.clone()).create(&post, binding).await.unwrap();
    }
    for (role, binding) in &rbac.roles {
        let namespace = role.metadata.namespace.as_deref().unwrap();
        Api::<Role>::namespaced(env.client.clone(), namespace).create(&post, role).await.unwrap();
        Api::<RoleBinding>::namespaced(env.client.clone(), namespace).create(&post, binding).await.unwrap();
    }
    let request = TokenRequest {
        spec: TokenRequestSpec { audiences: vec![], ..TokenRequestSpec::default() },
        ..TokenRequest::default()
    };
    let token = accounts.create_token_request("wasmvisor", &post, &request).await.unwrap();
    let token = token.status.unwrap().token;

    let mut kubeconfig: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(env.kubeconfig()).unwrap()).unwrap();
    kubeconfig["users"][0]["user"] = serde_yaml::to_value(json!({"token": token})).unwrap();
    let path = env.dir().join("sa-kubeconfig");
    std::fs::write(&path, serde_yaml::to_string(&kubeconfig).unwrap()).unwrap();
    path
}

/// An API server with the host's and the apps' namespaces, and the admin
/// config of a host in its directory (returned) running the widget plugin.
async fn widget_host() -> (Env, std::path::PathBuf, wasmvisor_host::config::HostConfig) {
    let env = Env::start_api_only().await;
    ensure_namespace(&env.client, NAMESPACE).await;
    ensure_namespace(&env.client, "apps").await;
    let dir = env.dir().join("host");
    std::fs::create_dir_all(dir.join("plugins")).unwrap();
    std::fs::write(dir.join("plugins").join(WIDGET.file), WIDGET.bytes).unwrap();
    let admin_config = host_config(&dir, env.kubeconfig(), &[WIDGET]);
    (env, dir, admin_config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_generated_service_account_is_enough_for_every_engine_path() {
    let (env, dir, admin_config) = widget_host().await;
    let kubeconfig = service_account_kubeconfig(&env, &admin_config, None).await;
    // With leader election too: the Lease is part of what the RBAC grants.
    let mut config = host_config(&dir, &kubeconfig, &[WIDGET]);
    config.leader_election = Some(wasmvisor_host::config::LeaderElection {
        cluster: "default".into(),
        namespace: NAMESPACE.into(),
        lease: "wasmvisor".into(),
        identity: Some("only".into()),
        lease_duration: std::time::Duration::from_secs(2),
        renew_deadline: std::time::Duration::from_millis(1500),
        retry_period: std::time::Duration::from_millis(100),
    });
    let host = Host::start(config).await.unwrap();
    let widgets = env.widgets("apps");

    create_widget(&env, "apps", "ok", json!({"trace": true})).await;
    let reconciled = eventually("the widget to be reconciled under the ServiceAccount", || {
        let widgets = widgets.clone();
        async move { widgets.get("ok").await.ok().filter(|w| at(w, "/status/phase") == "Ready") }
    })
    .await;
    assert_eq!(at(&reconciled, "/metadata/finalizers"), json!(["wasmvisor.dev/widget"]));

    create_widget(&env, "apps", "bad", json!({"mode": "fail"})).await;
    eventually("the failure condition written under the ServiceAccount", || {
        let widgets = widgets.clone();
        async move {
            let w = widgets.get("bad").await.ok()?;
            at(&w, "/status/conditions")
                .as_array()?
                .iter()
                .any(|c| c["reason"] == "Unavailable")
                .then_some(())
        }
    })
    .await;
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(env.client.clone(), "apps");
    eventually("the Event recorded under the ServiceAccount", || {
        let events = events.clone();
        async move {
            let list = events.list(&Default::default()).await.ok()?;
            list.items.iter().any(|e| e.reason.as_deref() == Some("Unavailable")).then_some(())
        }
    })
    .await;

    widgets.delete("ok", &DeleteParams::default()).await.unwrap();
    eventually("finalize to run and the widget to go", || {
        let widgets = widgets.clone();
        async move { widgets.get_opt("ok").await.unwrap().is_none().then_some(()) }
    })
    .await;
    let config_maps: Api<ConfigMap> = Api::namespaced(env.client.clone(), "apps");
    config_maps.get("ok-finalized").await.unwrap();
    host.shutdown().await;
}

/// One rule less than generated, and the plugin's write that needed it
/// fails with Kubernetes' 403 naming the resource and the verb, on the
/// object's Event: the generated RBAC is the least that works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_removed_from_the_generated_role_fails_naming_it() {
    let (env, dir, admin_config) = widget_host().await;
    let kubeconfig = service_account_kubeconfig(&env, &admin_config, Some("configmaps")).await;
    let host = Host::start(host_config(&dir, &kubeconfig, &[WIDGET])).await.unwrap();
    let widgets = env.widgets("apps");

    create_widget(&env, "apps", "ok", json!({})).await;
    eventually("the widget to be reconciled", || {
        let widgets = widgets.clone();
        async move { widgets.get("ok").await.ok().filter(|w| at(w, "/status/phase") == "Ready") }
    })
    .await;
    // Its finalize writes a ConfigMap: the one thing the removed rule allowed.
    widgets.delete("ok", &DeleteParams::default()).await.unwrap();
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(env.client.clone(), "apps");
    let note = eventually("an Event naming the missing rule", || {
        let events = events.clone();
        async move {
            let list = events.list(&Default::default()).await.ok()?;
            list.items.into_iter().filter_map(|e| e.note).find(|n| n.contains("configmaps"))
        }
    })
    .await;
    assert!(note.contains("forbidden") && note.contains("resource \"configmaps\""), "{note}");
    assert!(widgets.get_opt("ok").await.unwrap().is_some(), "the finalizer holds the widget");
    host.shutdown().await;
}
