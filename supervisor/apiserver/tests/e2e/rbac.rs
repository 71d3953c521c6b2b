//! RBAC: ServiceAccount tokens (TokenRequest and token Secrets), Roles and bindings
//! deciding every request, 403 Status naming user, verb and resource, and
//! `kubectl auth can-i` / `kubectl create token` agreeing with it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::ensure;
use base64::Engine;
use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, Role, RoleBinding};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::json;

use crate::support::{TestServer, client_from, eventually};

const WAIT: Duration = Duration::from_secs(20);

/// Two namespaces with a ConfigMap each, and ServiceAccount `reader` in team-a bound to a
/// Role that may get and list ConfigMaps in team-a only.
async fn setup(admin: &kube::Client) -> anyhow::Result<()> {
    for ns in ["team-a", "team-b"] {
        let namespace: Namespace = serde_json::from_value(json!({"metadata": {"name": ns}}))?;
        Api::<Namespace>::all(admin.clone()).create(&PostParams::default(), &namespace).await?;
        let cm: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": "settings"}, "data": {"ns": ns}}))?;
        Api::<ConfigMap>::namespaced(admin.clone(), ns).create(&PostParams::default(), &cm).await?;
    }
    let pp = PostParams::default();
    let sa: ServiceAccount = serde_json::from_value(json!({"metadata": {"name": "reader"}}))?;
    Api::<ServiceAccount>::namespaced(admin.clone(), "team-a").create(&pp, &sa).await?;
    let role: Role = serde_json::from_value(json!({"metadata": {"name": "cm-reader"},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]}))?;
    Api::<Role>::namespaced(admin.clone(), "team-a").create(&pp, &role).await?;
    let binding: RoleBinding = serde_json::from_value(json!({"metadata": {"name": "reader-reads"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "cm-reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "reader"}]}))?;
    Api::<RoleBinding>::namespaced(admin.clone(), "team-a").create(&pp, &binding).await?;
    Ok(())
}

/// A copy of the admin kubeconfig whose token is `token`.
fn kubeconfig_with_token(server: &TestServer, token: &str, file: &str) -> anyhow::Result<PathBuf> {
    let text = std::fs::read_to_string(server.kubeconfig())?.replace(server.running.token(), token);
    let path = server.dir.path().join(file);
    std::fs::write(&path, text)?;
    Ok(path)
}

async fn request_token(admin: &kube::Client) -> anyhow::Result<String> {
    let accounts = Api::<ServiceAccount>::namespaced(admin.clone(), "team-a");
    let request: TokenRequest = serde_json::from_value(json!({"spec": {"expirationSeconds": 3600}}))?;
    let answer = accounts.create_token_request("reader", &PostParams::default(), &request).await?;
    Ok(answer.status.map(|s| s.token).unwrap_or_default())
}

fn forbidden(error: kube::Error) -> String {
    match error {
        kube::Error::Api(status) if status.code == 403 && status.reason == "Forbidden" => status.message,
        other => panic!("expected 403 Forbidden, got {other:?}"),
    }
}

#[tokio::test]
async fn a_service_account_reads_where_its_role_allows_and_nowhere_else() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let admin = server.client().await?;
    setup(&admin).await?;
    let token = request_token(&admin).await?;
    let reader = client_from(&kubeconfig_with_token(&server, &token, "reader.kubeconfig")?).await?;

    let own = Api::<ConfigMap>::namespaced(reader.clone(), "team-a");
    assert_eq!(own.get("settings").await?.data.unwrap()["ns"], "team-a");
    assert_eq!(own.list(&ListParams::default()).await?.items.len(), 1);

    let other = Api::<ConfigMap>::namespaced(reader.clone(), "team-b");
    assert_eq!(
        forbidden(other.list(&ListParams::default()).await.unwrap_err()),
        "configmaps is forbidden: User \"system:serviceaccount:team-a:reader\" cannot list resource \"configmaps\" in API group \"\" in the namespace \"team-b\""
    );
    assert_eq!(
        forbidden(other.get("settings").await.unwrap_err()),
        "configmaps \"settings\" is forbidden: User \"system:serviceaccount:team-a:reader\" cannot get resource \"configmaps\" in API group \"\" in the namespace \"team-b\""
    );
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "new"}}))?;
    let refused = own.create(&PostParams::default(), &cm).await.unwrap_err();
    assert!(forbidden(refused).contains("cannot create resource \"configmaps\""));
    let secrets = Api::<Secret>::namespaced(reader.clone(), "team-a");
    assert!(forbidden(secrets.list(&ListParams::default()).await.unwrap_err()).contains("\"secrets\""));
    let all = Api::<ConfigMap>::all(reader.clone());
    assert!(forbidden(all.list(&ListParams::default()).await.unwrap_err()).ends_with("at the cluster scope"));

    // Bound to the bootstrap cluster-admin ClusterRole, it may do anything.
    let crb: ClusterRoleBinding = serde_json::from_value(json!({"metadata": {"name": "reader-admin"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": "team-a"}]}))?;
    Api::<ClusterRoleBinding>::all(admin.clone()).create(&PostParams::default(), &crb).await?;
    assert_eq!(other.get("settings").await?.data.unwrap()["ns"], "team-b");
    Api::<ClusterRoleBinding>::all(admin.clone()).delete("reader-admin", &DeleteParams::default()).await?;
    assert!(forbidden(other.get("settings").await.unwrap_err()).contains("cannot get"));

    // The token dies with its ServiceAccount.
    Api::<ServiceAccount>::namespaced(admin.clone(), "team-a")
        .delete("reader", &DeleteParams::default())
        .await?;
    match own.get("settings").await.unwrap_err() {
        kube::Error::Api(status) => assert_eq!(status.code, 401),
        other => panic!("expected 401, got {other:?}"),
    }
    Ok(())
}

#[tokio::test]
async fn token_secrets_are_filled_and_revoked_with_the_secret() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let admin = server.client().await?;
    setup(&admin).await?;
    let secrets = Api::<Secret>::namespaced(admin.clone(), "team-a");
    let secret: Secret = serde_json::from_value(json!({"metadata": {"name": "reader-token",
        "annotations": {"kubernetes.io/service-account.name": "reader"}},
        "type": "kubernetes.io/service-account-token"}))?;
    secrets.create(&PostParams::default(), &secret).await?;
    let data: BTreeMap<String, k8s_openapi::ByteString> =
        eventually("the token controller to fill the Secret", WAIT, || async {
            let data = secrets.get("reader-token").await?.data.unwrap_or_default();
            ensure!(data.contains_key("token"), "data keys: {:?}", data.keys().collect::<Vec<_>>());
            Ok(data)
        })
        .await?;
    assert_eq!(String::from_utf8(data["namespace"].0.clone())?, "team-a");
    assert!(String::from_utf8(data["ca.crt"].0.clone())?.contains("BEGIN CERTIFICATE"));
    let token = String::from_utf8(data["token"].0.clone())?;
    let reader = client_from(&kubeconfig_with_token(&server, &token, "secret.kubeconfig")?).await?;
    let own = Api::<ConfigMap>::namespaced(reader, "team-a");
    assert_eq!(own.list(&ListParams::default()).await?.items.len(), 1);

    secrets.delete("reader-token", &DeleteParams::default()).await?;
    match own.list(&ListParams::default()).await.unwrap_err() {
        kube::Error::Api(status) => assert_eq!(status.code, 401),
        other => panic!("expected 401, got {other:?}"),
    }
    Ok(())
}

fn kubectl_as(server: &TestServer, kubeconfig: &Path) -> crate::support::Kubectl {
    crate::support::Kubectl::new(kubeconfig, server.dir.path())
}

#[tokio::test]
async fn kubectl_create_token_and_auth_can_i_agree_with_rbac() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    setup(&server.client().await?).await?;
    let k = server.kubectl();
    let token = k.run(&["create", "token", "reader", "-n", "team-a", "--duration=1h"]).await?.ok()?;
    let token = token.trim();
    assert_eq!(token.split('.').count(), 3, "a JWT: {token}");
    let payload =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token.split('.').nth(1).unwrap())?;
    let claims: serde_json::Value = serde_json::from_slice(&payload)?;
    assert_eq!(claims["sub"], "system:serviceaccount:team-a:reader");

    let reader = kubectl_as(&server, &kubeconfig_with_token(&server, token, "kubectl-reader.kubeconfig")?);
    let yes = reader.run(&["auth", "can-i", "list", "configmaps", "-n", "team-a"]).await?;
    assert_eq!((yes.success, yes.stdout.trim()), (true, "yes"), "{yes:?}");
    let no = reader.run(&["auth", "can-i", "list", "configmaps", "-n", "team-b"]).await?;
    assert_eq!((no.success, no.stdout.trim()), (false, "no"), "{no:?}");
    let no_delete = reader.run(&["auth", "can-i", "delete", "configmaps", "-n", "team-a"]).await?;
    assert_eq!(no_delete.stdout.trim(), "no");
    let listed = reader.run(&["auth", "can-i", "--list", "-n", "team-a"]).await?.ok()?;
    let configmaps = listed.lines().find(|l| l.starts_with("configmaps ")).unwrap_or_default();
    assert_eq!(
        configmaps.split_whitespace().collect::<Vec<_>>(),
        ["configmaps", "[]", "[]", "[get", "list]"],
        "{listed}"
    );
    let admin_can = k.run(&["auth", "can-i", "delete", "namespaces"]).await?;
    assert_eq!(admin_can.stdout.trim(), "yes");

    // kubectl's typed create commands (protobuf bodies) for the RBAC kinds.
    k.run(&["create", "serviceaccount", "writer", "-n", "team-b"]).await?.ok()?;
    k.run(&["create", "role", "cm-writer", "-n", "team-b", "--verb=create,get", "--resource=configmaps"])
        .await?
        .ok()?;
    k.run(&[
        "create",
        "rolebinding",
        "writer-writes",
        "-n",
        "team-b",
        "--role=cm-writer",
        "--serviceaccount=team-b:writer",
    ])
    .await?
    .ok()?;
    let writer_token = k.run(&["create", "token", "writer", "-n", "team-b"]).await?.ok()?;
    let writer =
        kubectl_as(&server, &kubeconfig_with_token(&server, writer_token.trim(), "writer.kubeconfig")?);
    let can = writer.run(&["auth", "can-i", "create", "configmaps", "-n", "team-b"]).await?;
    assert_eq!(can.stdout.trim(), "yes", "{can:?}");
    writer.run(&["create", "configmap", "made", "-n", "team-b", "--from-literal=a=b"]).await?.ok()?;
    let cannot = writer.run(&["create", "configmap", "made", "-n", "team-a", "--from-literal=a=b"]).await?;
    assert!(cannot.stderr.contains("cannot create resource \"configmaps\""), "{cannot:?}");

    let listed = reader.run(&["get", "configmaps", "-n", "team-a", "-o", "name"]).await?.ok()?;
    assert_eq!(listed.trim(), "configmap/settings");
    let refused = reader.run(&["get", "configmaps", "-n", "team-b"]).await?;
    assert!(!refused.success);
    assert!(
        refused.stderr.contains(
            "configmaps is forbidden: User \"system:serviceaccount:team-a:reader\" cannot list resource \"configmaps\" in API group \"\" in the namespace \"team-b\""
        ),
        "{}",
        refused.stderr
    );
    Ok(())
}

/// What a wasmvisor plugin does through the host: a Controller under a least-privilege
/// ServiceAccount that writes with server-side apply, its plugin name as field manager.
#[tokio::test]
async fn a_controller_runs_under_a_least_privilege_service_account() -> anyhow::Result<()> {
    use futures::StreamExt;
    use kube::runtime::controller::{Action, Controller};
    use kube::runtime::watcher;
    use kube::{ResourceExt, api::Patch, api::PatchParams};
    use std::sync::Arc;

    let server = TestServer::start().await?;
    let admin = server.client().await?;
    setup(&admin).await?;
    // The role the host would derive from the plugin's capabilities: watch and patch ConfigMaps.
    let roles = Api::<Role>::namespaced(admin.clone(), "team-a");
    roles
        .patch(
            "cm-reader",
            // The Role was created by an Update; taking its rules over needs force, as on a real server.
            &PatchParams::apply("test-admin").force(),
            &Patch::Apply(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                "metadata": {"name": "cm-reader"},
                "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch", "patch"]}]})),
        )
        .await?;
    let token = request_token(&admin).await?;
    let plugin = client_from(&kubeconfig_with_token(&server, &token, "plugin.kubeconfig")?).await?;
    let config_maps = Api::<ConfigMap>::namespaced(plugin, "team-a");

    let reconcile = |cm: Arc<ConfigMap>, api: Arc<Api<ConfigMap>>| async move {
        let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": cm.name_any(),
            "annotations": {"example.com/seen": "yes"}}});
        api.patch(&cm.name_any(), &PatchParams::apply("plugin-annotator"), &Patch::Apply(body)).await?;
        Ok::<_, kube::Error>(Action::await_change())
    };
    let controller = Controller::new(config_maps.clone(), watcher::Config::default())
        .run(reconcile, |_, _, _| Action::requeue(Duration::from_millis(200)), Arc::new(config_maps.clone()))
        .for_each(|_| async {});
    let controller = tokio::spawn(controller);

    let admin_cms = Api::<ConfigMap>::namespaced(admin.clone(), "team-a");
    let seen = eventually("the plugin to annotate the ConfigMap", WAIT, || async {
        let cm = admin_cms.get("settings").await?;
        ensure!(cm.annotations().contains_key("example.com/seen"), "annotations: {:?}", cm.annotations());
        Ok(cm)
    })
    .await?;
    let managers: Vec<String> =
        seen.metadata.managed_fields.iter().flatten().filter_map(|e| e.manager.clone()).collect();
    assert!(managers.contains(&"plugin-annotator".to_owned()), "{managers:?}");
    controller.abort();
    // The same identity may not touch another namespace.
    let elsewhere = config_maps.clone();
    let other = Api::<ConfigMap>::namespaced(elsewhere.into_client(), "team-b");
    assert!(forbidden(other.get("settings").await.unwrap_err()).contains("cannot get resource"));
    Ok(())
}

/// What `whoami` (a SelfSubjectReview) says about the caller: user name and groups.
async fn whoami(k: &crate::support::Kubectl, extra: &[&str]) -> anyhow::Result<(String, Vec<String>)> {
    let mut args = vec!["auth", "whoami", "-o", "json"];
    args.extend_from_slice(extra);
    let review: serde_json::Value = serde_json::from_str(&k.run(&args).await?.ok()?)?;
    assert_eq!(review["kind"], "SelfSubjectReview", "{review}");
    let info = &review["status"]["userInfo"];
    let groups = info["groups"].as_array().into_iter().flatten();
    Ok((
        info["username"].as_str().unwrap_or("").to_owned(),
        groups.filter_map(|g| g.as_str().map(str::to_owned)).collect(),
    ))
}

#[tokio::test]
async fn kubectl_as_impersonates_only_when_rbac_allows_it() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let admin = server.client().await?;
    setup(&admin).await?;
    let k = server.kubectl();
    let reader_user = "--as=system:serviceaccount:team-a:reader";

    // The admin may impersonate anyone; the request is then decided for the impersonated user.
    let yes = k.run(&["auth", "can-i", "list", "configmaps", "-n", "team-a", reader_user]).await?;
    assert_eq!((yes.success, yes.stdout.trim()), (true, "yes"), "{yes:?}");
    let no = k.run(&["auth", "can-i", "list", "configmaps", "-n", "team-b", reader_user]).await?;
    assert_eq!((no.success, no.stdout.trim()), (false, "no"), "{no:?}");
    let listed = k.run(&["get", "configmaps", "-n", "team-a", "-o", "name", reader_user]).await?.ok()?;
    assert_eq!(listed.trim(), "configmap/settings");
    let refused = k.run(&["get", "configmaps", "-n", "team-b", reader_user]).await?;
    assert!(
        refused.stderr.contains(
            "configmaps is forbidden: User \"system:serviceaccount:team-a:reader\" cannot list resource \"configmaps\" in API group \"\" in the namespace \"team-b\""
        ),
        "{refused:?}"
    );
    assert_eq!(
        whoami(&k, &[reader_user]).await?,
        (
            "system:serviceaccount:team-a:reader".to_owned(),
            vec![
                "system:serviceaccounts".to_owned(),
                "system:serviceaccounts:team-a".to_owned(),
                "system:authenticated".to_owned()
            ]
        )
    );
    assert_eq!(
        whoami(&k, &["--as=alice", "--as-group=devs"]).await?,
        ("alice".to_owned(), vec!["devs".to_owned(), "system:authenticated".to_owned()])
    );
    let (admin_name, admin_groups) = whoami(&k, &[]).await?;
    assert_eq!(admin_name, wasmvisor_apiserver::auth::ADMIN_USER);
    assert!(admin_groups.contains(&"system:masters".to_owned()), "{admin_groups:?}");

    // A ServiceAccount may not impersonate without an `impersonate` grant.
    let token = request_token(&admin).await?;
    let reader = kubectl_as(&server, &kubeconfig_with_token(&server, &token, "as.kubeconfig")?);
    assert_eq!(whoami(&reader, &[]).await?.0, "system:serviceaccount:team-a:reader");
    let escalate = reader.run(&["get", "configmaps", "-n", "team-b", "--as=alice"]).await?;
    assert!(
        escalate.stderr.contains(
            "users \"alice\" is forbidden: User \"system:serviceaccount:team-a:reader\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope"
        ),
        "{escalate:?}"
    );
    // Granted impersonation of user alice (and of nobody else), it acts as alice.
    k.run(&[
        "create",
        "clusterrole",
        "as-alice",
        "--verb=impersonate",
        "--resource=users",
        "--resource-name=alice",
    ])
    .await?
    .ok()?;
    k.run(&[
        "create",
        "clusterrolebinding",
        "reader-as-alice",
        "--clusterrole=as-alice",
        "--serviceaccount=team-a:reader",
    ])
    .await?
    .ok()?;
    assert_eq!(
        whoami(&reader, &["--as=alice"]).await?,
        ("alice".to_owned(), vec!["system:authenticated".to_owned()])
    );
    let as_alice = reader.run(&["get", "configmaps", "-n", "team-a", "--as=alice"]).await?;
    assert!(as_alice.stderr.contains("User \"alice\" cannot list resource \"configmaps\""), "{as_alice:?}");
    // (kubectl words a refused whoami as "not enabled or no permission", so `get` shows the Status.)
    let as_bob = reader.run(&["get", "configmaps", "-n", "team-a", "--as=bob"]).await?;
    assert!(as_bob.stderr.contains("users \"bob\" is forbidden"), "{as_bob:?}");
    let with_group =
        reader.run(&["get", "configmaps", "-n", "team-a", "--as=alice", "--as-group=system:masters"]).await?;
    assert!(
        with_group.stderr.contains("groups \"system:masters\" is forbidden: User \"system:serviceaccount:team-a:reader\" cannot impersonate resource \"groups\""),
        "{with_group:?}"
    );
    Ok(())
}
