//! `up --least-privilege`: the host runs under the ServiceAccount that
//! `wasmvisor rbac` generates for the plugins `up` placed, instead of as the
//! API server's administrator, so a plugin (or the host) that needs more
//! than its manifest says meets a 403 here first, not in a real Supervisor.
//!
//! In: the administrator's client and kubeconfig, the host config and the
//! plugin directory. Out: `DIR/host-kubeconfig`, the administrator's
//! kubeconfig with its user replaced by a token of the ServiceAccount
//! `wasmvisor-system/wasmvisor`, whose roles are applied here at every start
//! (so they follow the plugins placed).

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{Api, PostParams};
use kube::{Client, Discovery};
use serde::Deserialize as _;
use serde_json::{Value, json};
use wasmvisor_host::config::HostConfig;
use wasmvisor_host::manifest::{DEFAULT_CLUSTER, Manifest};
use wasmvisor_host::rbac::{RbacOptions, generate};

/// A token lives this long (a year): `up` holds it for as long as it runs.
const TOKEN_SECONDS: i64 = 365 * 24 * 3600;

/// The manifests of the components in `plugin_dir`.
fn manifests(plugin_dir: &Path) -> anyhow::Result<Vec<Manifest>> {
    let mut manifests = Vec::new();
    for entry in std::fs::read_dir(plugin_dir).with_context(|| format!("reading {}", plugin_dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "wasm") {
            let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            manifests.push(Manifest::from_component(&bytes).with_context(|| format!("{}", path.display()))?);
        }
    }
    Ok(manifests)
}

/// Applies the generated RBAC and writes `out`, a kubeconfig with a token of
/// its ServiceAccount; returns `out`.
pub(crate) async fn service_account_kubeconfig(
    client: &Client,
    admin_kubeconfig: &Path,
    config: &HostConfig,
    plugin_dir: &Path,
    out: &Path,
) -> anyhow::Result<PathBuf> {
    let options = RbacOptions {
        kubeconfig_secrets: config.kubeconfig_secret_namespaces(DEFAULT_CLUSTER),
        ..RbacOptions::default()
    };
    let rbac = generate(&config.grants(), &manifests(plugin_dir)?, &options);
    let mut objects =
        vec![json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": options.namespace}})];
    let yaml = rbac.to_yaml().context("writing the generated RBAC")?;
    for document in serde_yaml::Deserializer::from_str(&yaml) {
        let value = Value::deserialize(document).context("reading the generated RBAC")?;
        if !value.is_null() {
            objects.push(value);
        }
    }
    let discovery = Discovery::new(client.clone()).run().await.context("discovering the API server")?;
    for object in &objects {
        crate::install::apply(client, &discovery, object).await?;
    }

    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), &options.namespace);
    let request: TokenRequest =
        serde_json::from_value(json!({"spec": {"audiences": [], "expirationSeconds": TOKEN_SECONDS}}))
            .context("a TokenRequest")?;
    let token = accounts
        .create_token_request(&options.service_account, &PostParams::default(), &request)
        .await
        .context("requesting a token for the host's ServiceAccount")?
        .status
        .context("the TokenRequest came back without a token")?
        .token;

    let text = std::fs::read_to_string(admin_kubeconfig)
        .with_context(|| format!("reading {}", admin_kubeconfig.display()))?;
    let mut kubeconfig: serde_yaml::Value = serde_yaml::from_str(&text).context("parsing the kubeconfig")?;
    kubeconfig["users"][0]["user"] =
        serde_yaml::to_value(json!({"token": token})).context("the host's kubeconfig user")?;
    let text = serde_yaml::to_string(&kubeconfig).context("writing the host's kubeconfig")?;
    crate::up::write_private(out, &text)?;
    Ok(out.to_owned())
}
