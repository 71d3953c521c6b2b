//! Cluster API v1beta1: `cluster.x-k8s.io` (Cluster, Machine, MachineSet,
//! MachineDeployment), `controlplane.cluster.x-k8s.io` (KubeadmControlPlane) and
//! `bootstrap.cluster.x-k8s.io` (KubeadmConfig, KubeadmConfigTemplate).
//!
//! The key fields only (crds.md §2): what tkc writes from a TKC and what the CAPI side of
//! the chain copies between Cluster, Machine and the CAPV objects. The kubeadm
//! configuration objects are kept as raw JSON: the chain passes them through.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use wasmvisor_sdk::Object;

use crate::conditions::Condition;
use crate::core::{IntOrString, NodeAddress, ObjectReference};
use crate::{NoStatus, resource};

/// `cluster.x-k8s.io/v1beta1`.
pub const API_VERSION: &str = "cluster.x-k8s.io/v1beta1";
/// `controlplane.cluster.x-k8s.io/v1beta1`.
pub const CONTROL_PLANE_API_VERSION: &str = "controlplane.cluster.x-k8s.io/v1beta1";
/// `bootstrap.cluster.x-k8s.io/v1beta1`.
pub const BOOTSTRAP_API_VERSION: &str = "bootstrap.cluster.x-k8s.io/v1beta1";

/// A Cluster: the CAPI root object of one workload cluster.
pub type Cluster = Object<ClusterSpec, ClusterStatus>;
resource!(Cluster, API_VERSION, "Cluster", "clusters", namespaced = true);
/// A Machine: one node.
pub type Machine = Object<MachineSpec, MachineStatus>;
resource!(Machine, API_VERSION, "Machine", "machines", namespaced = true);
/// A MachineSet: a replica set of Machines.
pub type MachineSet = Object<MachineSetSpec, MachineSetStatus>;
resource!(MachineSet, API_VERSION, "MachineSet", "machinesets", namespaced = true);
/// A MachineDeployment: rolling updates over MachineSets (one per TKC node pool).
pub type MachineDeployment = Object<MachineDeploymentSpec, MachineDeploymentStatus>;
resource!(MachineDeployment, API_VERSION, "MachineDeployment", "machinedeployments", namespaced = true);
/// A KubeadmControlPlane: the control plane Machines of a cluster.
pub type KubeadmControlPlane = Object<KubeadmControlPlaneSpec, KubeadmControlPlaneStatus>;
resource!(
    KubeadmControlPlane,
    CONTROL_PLANE_API_VERSION,
    "KubeadmControlPlane",
    "kubeadmcontrolplanes",
    namespaced = true
);
/// A KubeadmConfig: the bootstrap data request of one Machine.
pub type KubeadmConfig = Object<KubeadmConfigSpec, KubeadmConfigStatus>;
resource!(KubeadmConfig, BOOTSTRAP_API_VERSION, "KubeadmConfig", "kubeadmconfigs", namespaced = true);
/// A KubeadmConfigTemplate: the KubeadmConfig stamped out for each Machine of a deployment.
pub type KubeadmConfigTemplate = Object<KubeadmConfigTemplateSpec, NoStatus>;
resource!(
    KubeadmConfigTemplate,
    BOOTSTRAP_API_VERSION,
    "KubeadmConfigTemplate",
    "kubeadmconfigtemplates",
    namespaced = true
);

/// Host and port of an API server (`clusterv1.APIEndpoint`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct ApiEndpoint {
    /// Host name or IP (the control-plane VIP).
    pub host: String,
    /// Port (6443).
    pub port: i32,
}

impl ApiEndpoint {
    /// Whether the endpoint is unset (empty host or zero port), as CAPI's `IsZero`.
    pub fn is_zero(&self) -> bool {
        self.host.is_empty() || self.port == 0
    }
}

/// `Cluster.spec`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct ClusterSpec {
    /// Stops every controller from reconciling the cluster's objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<bool>,
    /// Pod and service networks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_network: Option<ClusterNetwork>,
    /// Where the API server is reached; copied from the VSphereCluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_plane_endpoint: Option<ApiEndpoint>,
    /// The control plane object (a KubeadmControlPlane).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_plane_ref: Option<ObjectReference>,
    /// The infrastructure object (a VSphereCluster).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub infrastructure_ref: Option<ObjectReference>,
    /// ClusterClass topology (not used by TKC v1alpha1/v1alpha2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topology: Option<ClusterTopology>,
}

/// Cluster networking.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct ClusterNetwork {
    /// Pod CIDRs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pods: Option<NetworkRanges>,
    /// Service CIDRs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub services: Option<NetworkRanges>,
    /// Service DNS domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_domain: Option<String>,
    /// Port the API server binds (default 6443).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_server_port: Option<i32>,
}

/// A list of CIDR blocks.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct NetworkRanges {
    /// CIDRs.
    #[serde(default)]
    pub cidr_blocks: Vec<String>,
}

/// The ClusterClass a cluster is built from (printer columns only).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct ClusterTopology {
    /// ClusterClass name.
    pub class: String,
    /// Kubernetes version.
    pub version: String,
}

/// Phase of a Cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub enum ClusterPhase {
    /// Just created.
    Pending,
    /// Infrastructure is being provisioned.
    Provisioning,
    /// Infrastructure is ready and the control plane endpoint is known.
    Provisioned,
    /// Being deleted.
    Deleting,
    /// Failed irrecoverably.
    Failed,
    /// Not known.
    Unknown,
}

/// `Cluster.status`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct ClusterStatus {
    /// Lifecycle phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<ClusterPhase>,
    /// Copied from `VSphereCluster.status.ready`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub infrastructure_ready: Option<bool>,
    /// Whether the control plane is ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_plane_ready: Option<bool>,
    /// Failure domains by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub failure_domains: BTreeMap<String, FailureDomain>,
    /// Conditions (see [`condition`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// One failure domain (a vSphere zone).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct FailureDomain {
    /// Whether control plane Machines may go here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_plane: Option<bool>,
    /// Free-form attributes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
}

/// `Machine.spec` (also the template of MachineSets and MachineDeployments).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct MachineSpec {
    /// The Cluster this Machine belongs to.
    pub cluster_name: String,
    /// Where the bootstrap data comes from.
    pub bootstrap: Bootstrap,
    /// The infrastructure object (a VSphereMachine).
    pub infrastructure_ref: ObjectReference,
    /// Kubernetes version of the node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `vsphere://<biosUUID>`, copied from the VSphereMachine.
    #[serde(rename = "providerID", default, skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<String>,
    /// Failure domain (zone) to place the Machine in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_domain: Option<String>,
    /// How long draining the node may take; unset waits forever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_drain_timeout: Option<String>,
}

/// Bootstrap data source of a Machine.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Bootstrap {
    /// The bootstrap config object (a KubeadmConfig).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_ref: Option<ObjectReference>,
    /// Secret holding the bootstrap data (key `value`), once generated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_secret_name: Option<String>,
}

/// Phase of a Machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub enum MachinePhase {
    /// Just created.
    Pending,
    /// Bootstrap data is ready, infrastructure is being provisioned.
    Provisioning,
    /// Infrastructure is ready, the node has not joined yet.
    Provisioned,
    /// The node has joined.
    Running,
    /// Being deleted.
    Deleting,
    /// Deleted.
    Deleted,
    /// Failed irrecoverably.
    Failed,
    /// Not known.
    Unknown,
}

/// `Machine.status`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct MachineStatus {
    /// The guest Node of this Machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_ref: Option<ObjectReference>,
    /// Addresses, copied from the VSphereMachine.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<NodeAddress>,
    /// Lifecycle phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<MachinePhase>,
    /// Whether the bootstrap data is ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap_ready: Option<bool>,
    /// Copied from `VSphereMachine.status.ready`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub infrastructure_ready: Option<bool>,
    /// Conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// A label selector (`metav1.LabelSelector`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct LabelSelector {
    /// Labels that must match exactly.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
    /// Set-based requirements.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

/// One set-based label requirement.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct LabelSelectorRequirement {
    /// Label key.
    pub key: String,
    /// `In`, `NotIn`, `Exists` or `DoesNotExist`.
    pub operator: String,
    /// Values for `In` and `NotIn`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

/// Labels and annotations of templated objects (`clusterv1.ObjectMeta`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct TemplateMeta {
    /// Labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// The Machine template of a MachineSet or MachineDeployment.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct MachineTemplateSpec {
    /// Labels and annotations of each Machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<TemplateMeta>,
    /// Spec of each Machine.
    #[serde(default)]
    pub spec: MachineSpec,
}

/// `MachineSet.spec`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct MachineSetSpec {
    /// The Cluster of the Machines.
    pub cluster_name: String,
    /// Desired Machine count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Selects the Machines of this set.
    pub selector: LabelSelector,
    /// Template of each Machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<MachineTemplateSpec>,
}

/// `MachineSet.status`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct MachineSetStatus {
    /// Machines that exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Machines whose node is ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_replicas: Option<i32>,
    /// Machines available for at least minReadySeconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_replicas: Option<i32>,
    /// Conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// `MachineDeployment.spec`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct MachineDeploymentSpec {
    /// The Cluster of the Machines.
    pub cluster_name: String,
    /// Desired Machine count; unset leaves it to an autoscaler.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Selects the Machines of this deployment.
    pub selector: LabelSelector,
    /// Template of each Machine.
    pub template: MachineTemplateSpec,
    /// How Machines are replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<MachineDeploymentStrategy>,
}

/// How a MachineDeployment replaces Machines.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct MachineDeploymentStrategy {
    /// `RollingUpdate` or `OnDelete`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// Parameters of a rolling update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolling_update: Option<RollingUpdate>,
}

/// Rolling update parameters.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct RollingUpdate {
    /// Machines that may exist above the desired count (number or percentage).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_surge: Option<IntOrString>,
    /// Machines that may be unavailable (number or percentage).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<IntOrString>,
    /// `Random`, `Newest` or `Oldest`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_policy: Option<String>,
}

/// Phase of a MachineDeployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub enum MachineDeploymentPhase {
    /// Adding Machines.
    ScalingUp,
    /// Removing Machines.
    ScalingDown,
    /// At the desired count.
    Running,
    /// Failed.
    Failed,
    /// Not known.
    Unknown,
}

/// `MachineDeployment.status`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct MachineDeploymentStatus {
    /// Machines that exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Machines whose node is ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_replicas: Option<i32>,
    /// Machines with the current template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_replicas: Option<i32>,
    /// Machines not available yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailable_replicas: Option<i32>,
    /// Phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<MachineDeploymentPhase>,
    /// Conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// `KubeadmControlPlane.spec`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct KubeadmControlPlaneSpec {
    /// Control plane Machine count (from the TKC's control plane replicas).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Kubernetes version.
    pub version: String,
    /// Infrastructure template of the control plane Machines.
    pub machine_template: KubeadmControlPlaneMachineTemplate,
    /// Kubeadm configuration of the control plane nodes.
    pub kubeadm_config_spec: KubeadmConfigSpec,
}

/// The Machine template of a KubeadmControlPlane.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct KubeadmControlPlaneMachineTemplate {
    /// Labels and annotations of each Machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<TemplateMeta>,
    /// The infrastructure template (a VSphereMachineTemplate).
    pub infrastructure_ref: ObjectReference,
    /// How long draining a node may take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_drain_timeout: Option<String>,
}

/// `KubeadmControlPlane.status`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct KubeadmControlPlaneStatus {
    /// Whether `kubeadm init` has completed on the first Machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initialized: Option<bool>,
    /// Whether the API server answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<bool>,
    /// Control plane Machines that exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Control plane Machines that are ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_replicas: Option<i32>,
    /// Machines with the current spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_replicas: Option<i32>,
    /// Machines not ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailable_replicas: Option<i32>,
    /// Conditions (`Available`, `MachinesReady`, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// Kubeadm bootstrap configuration: the subset the chain writes.
///
/// The three kubeadm configuration objects are passed through as raw JSON (their CRD
/// schema preserves unknown fields); other fields of the original are pruned.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct KubeadmConfigSpec {
    /// Files written on the node before kubeadm runs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<File>,
    /// Commands run before kubeadm.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pre_kubeadm_commands: Vec<String>,
    /// kubeadm `ClusterConfiguration` (raw).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_configuration: Option<serde_json::Value>,
    /// kubeadm `InitConfiguration` (raw).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_configuration: Option<serde_json::Value>,
    /// kubeadm `JoinConfiguration` (raw).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub join_configuration: Option<serde_json::Value>,
}

/// A file written on the node.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct File {
    /// Absolute path.
    pub path: String,
    /// `user:group`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Octal permissions, e.g. `0640`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<String>,
    /// `base64`, `gzip` or `gzip+base64`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    /// Append instead of overwrite.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub append: Option<bool>,
    /// File content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
}

/// `KubeadmConfig.status`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct KubeadmConfigStatus {
    /// Whether the bootstrap data Secret is ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<bool>,
    /// Secret holding the bootstrap data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_secret_name: Option<String>,
    /// Conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// `KubeadmConfigTemplate.spec`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct KubeadmConfigTemplateSpec {
    /// The KubeadmConfig template.
    pub template: KubeadmConfigTemplateResource,
}

/// The KubeadmConfig stamped out per Machine.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct KubeadmConfigTemplateResource {
    /// Spec of each KubeadmConfig.
    #[serde(default)]
    pub spec: KubeadmConfigSpec,
}

/// Condition types of CAPI objects.
pub mod condition {
    /// Summary condition.
    pub const READY: &str = "Ready";
    /// The infrastructure object (VSphereCluster / VSphereMachine) is ready.
    pub const INFRASTRUCTURE_READY: &str = "InfrastructureReady";
    /// The control plane is ready.
    pub const CONTROL_PLANE_READY: &str = "ControlPlaneReady";
    /// The first control plane node has initialized.
    pub const CONTROL_PLANE_INITIALIZED: &str = "ControlPlaneInitialized";
    /// The bootstrap data is ready (Machine).
    pub const BOOTSTRAP_READY: &str = "BootstrapReady";
    /// Machine: its Node has joined the workload cluster and is Ready.
    pub const NODE_HEALTHY: &str = "NodeHealthy";
    /// The API server is reachable (KubeadmControlPlane).
    pub const AVAILABLE: &str = "Available";
    /// Every control plane Machine is ready (KubeadmControlPlane).
    pub const MACHINES_READY: &str = "MachinesReady";
}
