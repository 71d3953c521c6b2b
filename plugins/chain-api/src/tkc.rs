//! `run.tanzu.vmware.com`: TanzuKubernetesCluster (the user's request for a cluster, read by
//! the tkc plugin) and TanzuKubernetesRelease (the Kubernetes versions on offer).
//!
//! Shape: v1alpha2 (vSphere 7.0U3, the storage version); v1alpha3 (vSphere 8) is served
//! with the same schema, see [`API_VERSION_V1ALPHA3`]. crds.md §1.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use wasmvisor_sdk::Object;

use crate::conditions::Condition;
use crate::core::{ObjectReference, ResourceList, Taint};
use crate::resource;

/// The API group.
pub const GROUP: &str = "run.tanzu.vmware.com";
/// The storage version, `run.tanzu.vmware.com/v1alpha2`.
pub const API_VERSION: &str = "run.tanzu.vmware.com/v1alpha2";
/// The vSphere 8 version, served with the same schema as v1alpha2.
pub const API_VERSION_V1ALPHA3: &str = "run.tanzu.vmware.com/v1alpha3";

/// A TanzuKubernetesCluster: a workload cluster as the user asks for it.
pub type TanzuKubernetesCluster = Object<TanzuKubernetesClusterSpec, TanzuKubernetesClusterStatus>;
resource!(
    TanzuKubernetesCluster,
    API_VERSION,
    "TanzuKubernetesCluster",
    "tanzukubernetesclusters",
    namespaced = true
);

/// A TanzuKubernetesRelease: one Kubernetes release nodes can run (cluster-scoped).
pub type TanzuKubernetesRelease = Object<TanzuKubernetesReleaseSpec, TanzuKubernetesReleaseStatus>;
resource!(
    TanzuKubernetesRelease,
    API_VERSION,
    "TanzuKubernetesRelease",
    "tanzukubernetesreleases",
    namespaced = false
);

/// `TanzuKubernetesCluster.spec`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct TanzuKubernetesClusterSpec {
    /// Control plane and worker node pools.
    pub topology: Topology,
    /// Kubernetes distribution (deprecated in v1alpha2: use `topology.*.tkr`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distribution: Option<Distribution>,
    /// Network and storage settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<Settings>,
}

/// The nodes of a cluster.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Topology {
    /// The control plane pool.
    pub control_plane: TopologySettings,
    /// Worker pools, one MachineDeployment each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub node_pools: Vec<NodePool>,
}

/// Settings shared by the control plane and every node pool.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct TopologySettings {
    /// Node count; the control plane defaults to 1, unset on a pool leaves it to an autoscaler.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// VirtualMachineClass of the nodes.
    #[serde(default)]
    pub vm_class: String,
    /// StorageClass of the nodes' root disks.
    #[serde(default)]
    pub storage_class: String,
    /// Extra persistent volumes mounted on every node.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
    /// The TanzuKubernetesRelease the nodes run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tkr: Option<TkrReference>,
    /// How long draining a node may take (a Go duration such as `5m`); unset waits forever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_drain_timeout: Option<String>,
}

/// A worker node pool.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct NodePool {
    /// Pool name, unique in the cluster.
    pub name: String,
    /// Labels put on the pool's nodes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Taints put on the pool's nodes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub taints: Vec<Taint>,
    /// Replicas, class, storage and release of the pool.
    #[serde(flatten)]
    pub settings: TopologySettings,
}

/// An extra volume on every node of a pool.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Volume {
    /// Volume name (part of the PVC name).
    pub name: String,
    /// Where the volume is mounted on the node.
    pub mount_path: String,
    /// Requested size, e.g. `{storage: 50Gi}`.
    #[serde(default)]
    pub capacity: ResourceList,
    /// StorageClass of the volume; the pool's when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
}

/// Which TanzuKubernetesRelease a pool runs.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct TkrReference {
    /// The release (its `name` is what is used).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<ObjectReference>,
}

/// Kubernetes version request (deprecated in v1alpha2).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Distribution {
    /// Fully qualified distribution version, e.g. `v1.21.6+vmware.1-tkg.1.b3d708a`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_version: Option<String>,
    /// Version hint (a semantic prefix such as `v1.21`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// Cluster-wide settings.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Settings {
    /// Pod and service networking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkSettings>,
    /// Storage classes exposed in the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<StorageSettings>,
}

/// Pod and service networking of a cluster.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct NetworkSettings {
    /// The CNI plugin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cni: Option<Cni>,
    /// Pod CIDRs (default 192.168.0.0/16).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pods: Option<NetworkRanges>,
    /// Service CIDRs (default 10.96.0.0/12).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub services: Option<NetworkRanges>,
    /// Service DNS domain (default `cluster.local`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_domain: Option<String>,
    /// HTTP(S) proxy for the nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<Proxy>,
    /// Extra trusted CA certificates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust: Option<Trust>,
}

/// The CNI plugin of a cluster.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Cni {
    /// `calico` or `antrea`.
    pub name: String,
}

/// A list of CIDR blocks.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct NetworkRanges {
    /// CIDRs, e.g. `192.168.0.0/16`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cidr_blocks: Vec<String>,
}

/// Proxy settings for the nodes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Proxy {
    /// Proxy URL for HTTP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_proxy: Option<String>,
    /// Proxy URL for HTTPS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub https_proxy: Option<String>,
    /// Destinations reached without the proxy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub no_proxy: Vec<String>,
}

/// Extra trusted certificates.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Trust {
    /// Certificates added to the nodes' trust store.
    #[serde(default, rename = "additionalTrustedCAs", skip_serializing_if = "Vec::is_empty")]
    pub additional_trusted_cas: Vec<TlsCertificate>,
}

/// One named certificate.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct TlsCertificate {
    /// Certificate name (used in the file name).
    pub name: String,
    /// PEM certificate, base64-encoded.
    pub data: String,
}

/// Storage classes exposed in the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct StorageSettings {
    /// Supervisor namespace storage classes to expose; all when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<String>,
    /// The cluster's default storage class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_class: Option<String>,
}

/// Lifecycle phase of a TanzuKubernetesCluster (deprecated in v1alpha2; conditions rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub enum TkcPhase {
    /// No phase reported yet (`""`).
    #[serde(rename = "")]
    Empty,
    /// The cluster is being created.
    Creating,
    /// The cluster runs.
    Running,
    /// The cluster is being updated.
    Updating,
    /// An update failed.
    UpdateFailed,
    /// The cluster is being deleted.
    Deleting,
    /// Creation failed.
    Failed,
    /// The cluster ran but is not healthy now (v1alpha2).
    Unhealthy,
}

/// `TanzuKubernetesCluster.status`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct TanzuKubernetesClusterStatus {
    /// Where the cluster's API server listens (the control-plane VIP).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_endpoints: Vec<ApiEndpoint>,
    /// The Kubernetes version the cluster runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// State of each addon.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addons: Vec<AddonStatus>,
    /// Lifecycle phase (deprecated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<TkcPhase>,
    /// Conditions (see [`condition`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Sum of the node pools' replicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_worker_replicas: Option<i32>,
}

/// An API server endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct ApiEndpoint {
    /// Host name or IP.
    pub host: String,
    /// Port.
    pub port: i32,
}

/// State of one addon.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct AddonStatus {
    /// Addon name, e.g. `antrea`.
    pub name: String,
    /// Addon type: `AuthService`, `CNI`, `CPI`, `CSI`, `DNS`, `Proxy`, `PSP`, `MetricsServer`, ….
    #[serde(rename = "type")]
    pub type_: String,
    /// Installed version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Addon conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// `TanzuKubernetesRelease.spec`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct TanzuKubernetesReleaseSpec {
    /// Release version, e.g. `v1.21.6+vmware.1-tkg.1.b3d708a`; unique across releases.
    pub version: String,
    /// The Kubernetes version shipped, e.g. `v1.21.6+vmware.1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes_version: Option<String>,
    /// Registry repository of the core Kubernetes images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// Other essential images (coredns, etcd, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<ContainerImage>,
    /// The node image (VirtualMachineImage) of this release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_image_ref: Option<ObjectReference>,
}

/// A container image, `{repository}/{name}:{tag}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct ContainerImage {
    /// Image name without the repository.
    pub name: String,
    /// Image repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// Image tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

/// `TanzuKubernetesRelease.status`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct TanzuKubernetesReleaseStatus {
    /// Conditions (`Ready`, `Compatible`, `UpdatesAvailable`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// Condition types of TanzuKubernetesCluster and TanzuKubernetesRelease.
pub mod condition {
    /// Summary: the cluster (or release) is ready.
    pub const READY: &str = "Ready";
    /// The cluster's release is compatible with this Supervisor (printer column TKR Compatible).
    pub const TKR_COMPATIBLE: &str = "TanzuKubernetesReleaseCompatible";
    /// A newer release is available; the message names it (printer column Updates Available).
    pub const UPDATES_AVAILABLE: &str = "UpdatesAvailable";
    /// A release is compatible with this Supervisor (TanzuKubernetesRelease).
    pub const COMPATIBLE: &str = "Compatible";
    /// The control plane is ready.
    pub const CONTROL_PLANE_READY: &str = "ControlPlaneReady";
    /// Every node pool is ready.
    pub const NODE_POOLS_READY: &str = "NodePoolsReady";
    /// Every addon is installed.
    pub const ADDONS_READY: &str = "AddonsReady";
    /// Provider service accounts are in place.
    pub const PROVIDER_SERVICE_ACCOUNTS_READY: &str = "ProviderServiceAccountsReady";
    /// Role bindings are synced into the guest.
    pub const ROLE_BINDING_SYNCED: &str = "RoleBindingSynced";
    /// Storage classes are synced into the guest.
    pub const STORAGE_CLASS_SYNCED: &str = "StorageClassSynced";
    /// Supervisor service discovery is set up in the guest.
    pub const SERVICE_DISCOVERY_READY: &str = "ServiceDiscoveryReady";
}
