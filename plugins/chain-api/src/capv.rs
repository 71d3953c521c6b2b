//! `vmware.infrastructure.cluster.x-k8s.io/v1beta1`: CAPV in supervisor mode ("CAPW"),
//! the infrastructure provider that turns Clusters and Machines into VM Service objects.
//!
//! Shapes from CAPV v1.3 (crds.md §3); the reconcile steps that set the conditions below
//! are in chain.md §4 ("CAPW per cluster / per machine").

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use wasmvisor_sdk::Object;

use crate::capi::{ApiEndpoint, FailureDomain};
use crate::conditions::Condition;
use crate::core::{NodeAddress, ResourceList};
use crate::{NoStatus, resource};

/// `vmware.infrastructure.cluster.x-k8s.io/v1beta1`.
pub const API_VERSION: &str = "vmware.infrastructure.cluster.x-k8s.io/v1beta1";

/// A VSphereCluster: the Supervisor-side infrastructure of one cluster.
pub type VSphereCluster = Object<VSphereClusterSpec, VSphereClusterStatus>;
resource!(VSphereCluster, API_VERSION, "VSphereCluster", "vsphereclusters", namespaced = true);
/// A VSphereMachine: the Supervisor-side infrastructure of one Machine (one VirtualMachine).
pub type VSphereMachine = Object<VSphereMachineSpec, VSphereMachineStatus>;
resource!(VSphereMachine, API_VERSION, "VSphereMachine", "vspheremachines", namespaced = true);
/// A VSphereMachineTemplate: the VSphereMachine stamped out per Machine.
pub type VSphereMachineTemplate = Object<VSphereMachineTemplateSpec, NoStatus>;
resource!(
    VSphereMachineTemplate,
    API_VERSION,
    "VSphereMachineTemplate",
    "vspheremachinetemplates",
    namespaced = true
);

/// `VSphereCluster.spec`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct VSphereClusterSpec {
    /// The control-plane VIP and port 6443, once the load balancer has one.
    pub control_plane_endpoint: ApiEndpoint,
}

/// `VSphereCluster.status`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct VSphereClusterStatus {
    /// Whether the infrastructure is ready (copied to `Cluster.status.infrastructureReady`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<bool>,
    /// Name of the cluster's VirtualMachineSetResourcePolicy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_policy_name: Option<String>,
    /// Conditions (see [`condition`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Failure domains (zones) by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub failure_domains: BTreeMap<String, FailureDomain>,
}

/// `VSphereMachine.spec` (also the template spec).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct VSphereMachineSpec {
    /// `vsphere://<biosUUID>` once the VM has one.
    #[serde(rename = "providerID", default, skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<String>,
    /// Failure domain (zone), copied from the Machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_domain: Option<String>,
    /// VirtualMachineImage of the VM.
    #[serde(default)]
    pub image_name: String,
    /// VirtualMachineClass of the VM.
    #[serde(default)]
    pub class_name: String,
    /// StorageClass of the VM's disks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
    /// Extra volumes, one PVC `<machine>-<name>` each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<VSphereMachineVolume>,
}

/// An extra volume of a VSphereMachine.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct VSphereMachineVolume {
    /// Volume name.
    pub name: String,
    /// Requested size, e.g. `{storage: 50Gi}`.
    #[serde(default)]
    pub capacity: ResourceList,
    /// StorageClass; the machine's when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
}

/// Where a VSphereMachine's VM is in its life (`status.vmstatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub enum VmStatus {
    /// The VirtualMachine does not exist.
    NotFound,
    /// The VirtualMachine exists, vCenter has not created the VM yet.
    Pending,
    /// The VM exists.
    Created,
    /// The VM is powered on.
    PoweredOn,
    /// The VM has an IP and a BIOS UUID.
    Ready,
    /// The VirtualMachine is being deleted.
    Deleting,
    /// Creating the VM failed.
    Error,
}

/// `VSphereMachine.status`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct VSphereMachineStatus {
    /// Whether the VM is ready (copied to `Machine.status.infrastructureReady`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<bool>,
    /// The VM's addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<NodeAddress>,
    /// The VM's BIOS UUID.
    #[serde(rename = "vmID", default, skip_serializing_if = "Option::is_none")]
    pub vm_id: Option<String>,
    /// The VM's primary IP.
    #[serde(rename = "vmIp", default, skip_serializing_if = "Option::is_none")]
    pub vm_ip: Option<String>,
    /// Terminal failure, machine-readable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    /// Terminal failure, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_message: Option<String>,
    /// Where the VM is in its life.
    #[serde(rename = "vmstatus", default, skip_serializing_if = "Option::is_none")]
    pub vm_status: Option<VmStatus>,
    /// Conditions (`VMProvisioned`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// `VSphereMachineTemplate.spec`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct VSphereMachineTemplateSpec {
    /// The template.
    pub template: VSphereMachineTemplateResource,
}

/// The VSphereMachine stamped out per Machine.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct VSphereMachineTemplateResource {
    /// Spec of each VSphereMachine.
    pub spec: VSphereMachineSpec,
}

/// The control-plane VMService port: name `apiserver`, TCP 6443 → 6443.
pub const CONTROL_PLANE_PORT_NAME: &str = "apiserver";
/// The API server port of every control plane VM and of the control-plane VMService.
pub const CONTROL_PLANE_PORT: i32 = 6443;
/// The cluster module (anti-affinity group) of control plane VMs.
pub const CONTROL_PLANE_MODULE_GROUP: &str = "control-plane-group";

/// Keys of the bootstrap ConfigMap `<machine>-cloud-init` (VM transport `ExtraConfig`).
pub mod cloud_init {
    /// The bootstrap data (cloud-init user data), base64.
    pub const USERDATA: &str = "guestinfo.userdata";
    /// Encoding of [`USERDATA`]: `base64`.
    pub const USERDATA_ENCODING: &str = "guestinfo.userdata.encoding";
    /// Instance metadata (hostname = machine name), base64.
    pub const METADATA: &str = "guestinfo.metadata";
    /// Encoding of [`METADATA`]: `base64`.
    pub const METADATA_ENCODING: &str = "guestinfo.metadata.encoding";
    /// The only encoding capw writes.
    pub const BASE64: &str = "base64";
}

/// Condition types of VSphereCluster and VSphereMachine.
pub mod condition {
    /// Summary condition.
    pub const READY: &str = "Ready";
    /// The VirtualMachineSetResourcePolicy exists.
    pub const RESOURCE_POLICY_READY: &str = "ResourcePolicyReady";
    /// The VirtualNetwork is realized (NCP says Ready).
    pub const CLUSTER_NETWORK_READY: &str = "ClusterNetworkReady";
    /// The control-plane VMService has a VIP.
    pub const LOAD_BALANCER_READY: &str = "LoadBalancerReady";
    /// Provider service accounts are in place.
    pub const PROVIDER_SERVICE_ACCOUNTS_READY: &str = "ProviderServiceAccountsReady";
    /// Supervisor service discovery is set up.
    pub const SERVICE_DISCOVERY_READY: &str = "ServiceDiscoveryReady";
    /// The machine's VM is created, powered on and addressed.
    pub const VM_PROVISIONED: &str = "VMProvisioned";
}

/// Condition reasons of VSphereCluster and VSphereMachine.
pub mod reason {
    /// Creating the resource policy failed.
    pub const RESOURCE_POLICY_CREATION_FAILED: &str = "ResourcePolicyCreationFailed";
    /// The VirtualNetwork was created; waiting for NCP.
    pub const CLUSTER_NETWORK_PROVISION_STARTED: &str = "ClusterNetworkProvisionStarted";
    /// Creating the VirtualNetwork failed.
    pub const CLUSTER_NETWORK_PROVISION_FAILED: &str = "ClusterNetworkProvisionFailed";
    /// Creating the control-plane VMService failed.
    pub const LOAD_BALANCER_CREATION_FAILED: &str = "LoadBalancerCreationFailed";
    /// The control-plane VMService has no ingress IP yet.
    pub const WAITING_FOR_LOAD_BALANCER_IP: &str = "WaitingForLoadBalancerIP";
    /// Creating the VirtualMachine failed.
    pub const VM_CREATION_FAILED: &str = "VMCreationFailed";
    /// The VirtualMachine exists; vCenter is creating the VM.
    pub const VM_PROVISION_STARTED: &str = "VMProvisionStarted";
    /// The VM is powering on.
    pub const POWERING_ON: &str = "PoweringOn";
    /// The VM has no IP yet.
    pub const WAITING_FOR_NETWORK_ADDRESS: &str = "WaitingForNetworkAddress";
    /// The VM has no BIOS UUID yet.
    pub const WAITING_FOR_BIOS_UUID: &str = "WaitingForBIOSUUID";
    /// The object is being deleted.
    pub const DELETING: &str = "Deleting";
}
