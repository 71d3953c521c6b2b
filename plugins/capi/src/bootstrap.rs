//! The kubeadm bootstrap provider's part: a KubeadmConfig becomes the
//! bootstrap data Secret `<machine>` (type `cluster.x-k8s.io/secret`, key
//! `value`) holding the cloud-config the VM boots with: `kubeadm init` on
//! the first control-plane machine, `kubeadm join` on the others, both
//! against the cluster's control-plane endpoint.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::Serialize;
use wasmvisor_chain_api::capi::{ApiEndpoint, KubeadmConfig, KubeadmConfigStatus};
use wasmvisor_chain_api::{labels, status};
use wasmvisor_sdk::{Context, Error, ObjectMeta};

/// The Secret type Cluster API gives bootstrap data.
pub const SECRET_TYPE: &str = "cluster.x-k8s.io/secret";

/// A bootstrap data Secret.
#[derive(Debug, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Secret {
    api_version: String,
    kind: String,
    metadata: ObjectMeta,
    #[serde(rename = "type")]
    type_: String,
    data: BTreeMap<String, String>,
}

/// How a machine comes up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The first control-plane machine: `kubeadm init`.
    Init,
    /// Every other machine: `kubeadm join` (as a control plane or a worker).
    Join {
        /// Whether it joins the control plane.
        control_plane: bool,
    },
}

/// The cloud-config of `machine` in `cluster` at `endpoint`.
pub fn cloud_config(
    config: &KubeadmConfig,
    machine: &str,
    cluster: &str,
    endpoint: &ApiEndpoint,
    role: Role,
    version: &str,
) -> String {
    let mut text =
        format!("## template: jinja\n#cloud-config\nhostname: {machine}\nfqdn: {machine}\nwrite_files:\n");
    for file in &config.spec.files {
        text.push_str(&format!(
            "- path: {}\n  owner: {}\n  permissions: '{}'\n  content: |\n",
            file.path,
            file.owner.as_deref().unwrap_or("root:root"),
            file.permissions.as_deref().unwrap_or("0640")
        ));
        for line in file.content.as_deref().unwrap_or_default().lines() {
            text.push_str(&format!("    {line}\n"));
        }
    }
    let command = match role {
        Role::Init => "init",
        Role::Join { .. } => "join",
    };
    text.push_str(&format!(
        "- path: /run/kubeadm/kubeadm.yaml\n  owner: root:root\n  permissions: '0640'\n  content: |\n    # cluster {cluster}, Kubernetes {version}\n    controlPlaneEndpoint: {}:{}\n    nodeRegistration:\n      name: {machine}\n      kubeletExtraArgs:\n        cloud-provider: external\n",
        endpoint.host, endpoint.port
    ));
    if let Role::Join { control_plane: true } = role {
        text.push_str("    controlPlane: {}\n");
    }
    text.push_str("runcmd:\n");
    for command in &config.spec.pre_kubeadm_commands {
        text.push_str(&format!("- {command}\n"));
    }
    text.push_str(&format!("- kubeadm {command} --config /run/kubeadm/kubeadm.yaml\n"));
    text
}

/// Writes the bootstrap Secret for `config` (owned by it) and marks the
/// config ready; returns the Secret's name.
pub fn publish(
    ctx: &Context,
    config: &KubeadmConfig,
    cluster: &str,
    cloud_config: &str,
) -> Result<String, Error> {
    let namespace = config.metadata.namespace.clone().unwrap_or_default();
    let name = config.metadata.name.clone();
    let owner = config.owner_reference(true).ok_or_else(|| Error::Unavailable("no uid yet".into()))?;
    let secret = Secret {
        api_version: "v1".into(),
        kind: "Secret".into(),
        metadata: ObjectMeta {
            name: name.clone(),
            namespace: Some(namespace),
            labels: BTreeMap::from([(labels::CAPI_CLUSTER_NAME.to_owned(), cluster.to_owned())]),
            owner_references: vec![owner],
            ..ObjectMeta::default()
        },
        type_: SECRET_TYPE.into(),
        data: BTreeMap::from([
            ("value".to_owned(), base64::engine::general_purpose::STANDARD.encode(cloud_config)),
            ("format".to_owned(), base64::engine::general_purpose::STANDARD.encode("cloud-config")),
        ]),
    };
    ctx.kube().apply(ctx.cluster(), &secret)?;
    status::set(ctx, config, |s: &mut KubeadmConfigStatus| {
        s.ready = Some(true);
        s.data_secret_name = Some(name.clone());
    })?;
    Ok(name)
}
