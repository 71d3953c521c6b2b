//! What `wasmvisor up` installs into its API server at every start: the
//! chain's CustomResourceDefinitions (`crds/`), then the Supervisor's
//! defaults (VM classes, images, releases; `crds/defaults/supervisor.yaml`)
//! and its network settings (the ConfigMap the ncp plugin reads).
//!
//! Everything goes in by server-side apply under the field manager
//! `wasmvisor-up`, forced, so a later start upgrades what an earlier one
//! installed and leaves objects a user added alone. It goes through the
//! same HTTPS client as any other tool would.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::Scope;
use kube::{Client, Discovery};
use serde::Deserialize as _;
use serde_json::Value;
use wasmvisor_chain_api::supervisor::{NAMESPACE, NetworkSettings};

/// The field manager of everything `up` installs.
const MANAGER: &str = "wasmvisor-up";

/// How long the API server may take to serve a newly installed kind.
const ESTABLISH_TIMEOUT: Duration = Duration::from_secs(30);

/// Installs the CRDs, then the defaults and `network`.
pub(crate) async fn install(client: &Client, network: &NetworkSettings) -> anyhow::Result<()> {
    let crds: Vec<Value> = wasmvisor_crds::CRDS
        .iter()
        .map(|(file, text)| serde_yaml::from_str(text).with_context(|| format!("parsing crds/{file}")))
        .collect::<anyhow::Result<_>>()?;
    let discovery = Discovery::new(client.clone()).run().await.context("discovering the API server")?;
    for crd in &crds {
        apply(client, &discovery, crd).await?;
    }
    let discovery = established(client, &crds).await?;
    let mut defaults = vec![serde_json::json!({
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}
    })];
    for document in serde_yaml::Deserializer::from_str(wasmvisor_crds::SUPERVISOR_DEFAULTS) {
        let value = Value::deserialize(document).context("parsing crds/defaults/supervisor.yaml")?;
        if !value.is_null() {
            defaults.push(value);
        }
    }
    defaults.push(serde_json::to_value(network.to_config_map()).context("encoding the network settings")?);
    for object in &defaults {
        apply(client, &discovery, object).await?;
    }
    Ok(())
}

/// Waits until every CRD's kind is served; returns the discovery that shows them.
async fn established(client: &Client, crds: &[Value]) -> anyhow::Result<Discovery> {
    let start = Instant::now();
    loop {
        let discovery = Discovery::new(client.clone()).run().await.context("discovering the API server")?;
        let missing: Vec<String> = crds
            .iter()
            .filter_map(|crd| {
                let group = crd.pointer("/spec/group")?.as_str()?;
                let kind = crd.pointer("/spec/names/kind")?.as_str()?;
                let version = crd.pointer("/spec/versions/0/name")?.as_str()?;
                let gvk = GroupVersionKind::gvk(group, version, kind);
                discovery.resolve_gvk(&gvk).is_none().then(|| format!("{group}/{version} {kind}"))
            })
            .collect();
        if missing.is_empty() {
            return Ok(discovery);
        }
        if start.elapsed() > ESTABLISH_TIMEOUT {
            anyhow::bail!("the API server does not serve {} after {ESTABLISH_TIMEOUT:?}", missing.join(", "));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Server-side applies one object, addressed through discovery.
pub(crate) async fn apply(client: &Client, discovery: &Discovery, object: &Value) -> anyhow::Result<()> {
    let text = |pointer: &str| object.pointer(pointer).and_then(Value::as_str).unwrap_or_default();
    let (api_version, kind, name) = (text("/apiVersion"), text("/kind"), text("/metadata/name"));
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let (resource, capabilities) = discovery
        .resolve_gvk(&gvk)
        .with_context(|| format!("the API server does not serve {api_version} {kind} (for {name})"))?;
    let api: Api<DynamicObject> = match capabilities.scope {
        Scope::Cluster => Api::all_with(client.clone(), &resource),
        Scope::Namespaced => Api::namespaced_with(client.clone(), namespace(object), &resource),
    };
    api.patch(name, &PatchParams::apply(MANAGER).force(), &Patch::Apply(object))
        .await
        .with_context(|| format!("applying {kind} {name}"))?;
    Ok(())
}

fn namespace(object: &Value) -> &str {
    object.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("default")
}
