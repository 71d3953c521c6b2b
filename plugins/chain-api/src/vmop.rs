//! `vmoperator.vmware.com/v1alpha1`: the VM Service API (vm-operator) — VirtualMachine,
//! VirtualMachineService, VirtualMachineClass, VirtualMachineImage and
//! VirtualMachineSetResourcePolicy.
//!
//! v1alpha1 is the vSphere 7 shape (crds.md §4). capw writes VirtualMachines, VMServices
//! and resource policies; vm-service reconciles them against vCenter and NCP.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use wasmvisor_sdk::Object;

use crate::conditions::Condition;
use crate::core::{IntOrString, LoadBalancerStatus, Protocol, Quantity, ResourceList, ServiceType};
use crate::resource;

/// `vmoperator.vmware.com/v1alpha1`.
pub const API_VERSION: &str = "vmoperator.vmware.com/v1alpha1";

/// A VirtualMachine: one vCenter VM.
pub type VirtualMachine = Object<VirtualMachineSpec, VirtualMachineStatus>;
resource!(VirtualMachine, API_VERSION, "VirtualMachine", "virtualmachines", namespaced = true);
/// A VirtualMachineService: a Service whose backends are VirtualMachines.
pub type VirtualMachineService = Object<VirtualMachineServiceSpec, VirtualMachineServiceStatus>;
resource!(
    VirtualMachineService,
    API_VERSION,
    "VirtualMachineService",
    "virtualmachineservices",
    namespaced = true
);
/// A VirtualMachineClass: the hardware of a VM (CPU, memory, devices).
pub type VirtualMachineClass = Object<VirtualMachineClassSpec, VirtualMachineClassStatus>;
resource!(
    VirtualMachineClass,
    API_VERSION,
    "VirtualMachineClass",
    "virtualmachineclasses",
    namespaced = true
);
/// A VirtualMachineImage: an OVF template in a content library.
pub type VirtualMachineImage = Object<VirtualMachineImageSpec, VirtualMachineImageStatus>;
resource!(VirtualMachineImage, API_VERSION, "VirtualMachineImage", "virtualmachineimages", namespaced = true);
/// A VirtualMachineSetResourcePolicy: resource pool, folder and cluster modules of a cluster's VMs.
pub type VirtualMachineSetResourcePolicy =
    Object<VirtualMachineSetResourcePolicySpec, VirtualMachineSetResourcePolicyStatus>;
resource!(
    VirtualMachineSetResourcePolicy,
    API_VERSION,
    "VirtualMachineSetResourcePolicy",
    "virtualmachinesetresourcepolicies",
    namespaced = true
);

/// Power state of a VM, desired (spec) or observed (status).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub enum PowerState {
    /// Running.
    PoweredOn,
    /// Off.
    PoweredOff,
    /// Suspended.
    Suspended,
}

/// How a power operation is carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub enum PowerOpMode {
    /// Immediately (the default).
    Hard,
    /// Through the guest (VMware Tools).
    Soft,
    /// Through the guest, falling back to hard.
    TrySoft,
}

/// `VirtualMachine.spec`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct VirtualMachineSpec {
    /// VirtualMachineImage (or ClusterVirtualMachineImage) to deploy from.
    #[serde(default)]
    pub image_name: String,
    /// VirtualMachineClass of the VM.
    #[serde(default)]
    pub class_name: String,
    /// Desired power state (`poweredOn` on create when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_state: Option<PowerState>,
    /// How to power off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_off_mode: Option<PowerOpMode>,
    /// How to suspend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend_mode: Option<PowerOpMode>,
    /// How to restart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_mode: Option<PowerOpMode>,
    /// Set to `now` to restart the VM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_restart_time: Option<String>,
    /// Bootstrap data for the guest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm_metadata: Option<VmMetadata>,
    /// StorageClass of the VM's disks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
    /// NICs (at most 10).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub network_interfaces: Vec<NetworkInterface>,
    /// VirtualMachineSetResourcePolicy to place the VM with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_policy_name: Option<String>,
    /// Volumes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<VirtualMachineVolume>,
    /// How readiness is decided (control plane VMs: TCP 6443).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readiness_probe: Option<Probe>,
    /// Disk provisioning and change block tracking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advanced_options: Option<AdvancedOptions>,
    /// Minimum virtual hardware version (≥ 13).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_hardware_version: Option<i32>,
}

/// How bootstrap data reaches the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub enum VmMetadataTransport {
    /// guestinfo keys in the VM's extra config (capw's choice).
    ExtraConfig,
    /// OVF environment.
    OvfEnv,
    /// vApp properties.
    #[serde(rename = "vAppConfig")]
    VAppConfig,
    /// cloud-init.
    CloudInit,
    /// Windows sysprep.
    Sysprep,
}

/// Bootstrap data of a VM.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct VmMetadata {
    /// ConfigMap holding the data (`<machine>-cloud-init`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_name: Option<String>,
    /// Secret holding the data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
    /// How the data reaches the guest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<VmMetadataTransport>,
}

/// Kind of network a NIC attaches to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub enum NetworkType {
    /// An NCP VirtualNetwork (one VirtualNetworkInterface per NIC).
    #[serde(rename = "nsx-t")]
    NsxT,
    /// An NSX Operator Subnet.
    #[serde(rename = "nsx-t-subnet")]
    NsxTSubnet,
    /// An NSX Operator SubnetSet.
    #[serde(rename = "nsx-t-subnetset")]
    NsxTSubnetSet,
    /// A vSphere distributed port group.
    #[serde(rename = "vsphere-distributed")]
    VsphereDistributed,
}

/// One NIC of a VM.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct NetworkInterface {
    /// Kind of network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_type: Option<NetworkType>,
    /// Network name (the VirtualNetwork `<cluster>-vnet`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_name: Option<String>,
    /// Object describing the network, for provider-specific networks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_ref: Option<NetworkProviderReference>,
    /// Virtual NIC type (default `vmxnet3`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ethernet_card_type: Option<String>,
}

/// Reference to a network provider object.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct NetworkProviderReference {
    /// API group of the object.
    pub api_group: String,
    /// Kind of the object.
    pub kind: String,
    /// Name of the object.
    pub name: String,
    /// API version of the object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
}

/// A volume of a VM.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct VirtualMachineVolume {
    /// Volume name.
    pub name: String,
    /// A PVC to attach.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistent_volume_claim: Option<PersistentVolumeClaimVolume>,
    /// A vSphere disk (deprecated).
    #[serde(rename = "vSphereVolume", default, skip_serializing_if = "Option::is_none")]
    pub vsphere_volume: Option<VsphereVolume>,
}

/// A PVC attached to a VM.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct PersistentVolumeClaimVolume {
    /// PVC name.
    pub claim_name: String,
    /// Attach read-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    /// Instance storage claim parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_volume_claim: Option<InstanceVolumeClaim>,
}

/// Instance storage claim parameters.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct InstanceVolumeClaim {
    /// StorageClass of the claim.
    pub storage_class: String,
    /// Size, e.g. `10Gi`.
    pub size: Quantity,
}

/// A vSphere disk of a VM.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct VsphereVolume {
    /// Size, e.g. `{ephemeral-storage: 10Gi}`.
    #[serde(default, skip_serializing_if = "ResourceList::is_empty")]
    pub capacity: ResourceList,
    /// vSphere device key of an existing disk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_key: Option<i32>,
}

/// How a VM's readiness is decided.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Probe {
    /// Ready when this TCP port accepts connections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_socket: Option<TcpSocketAction>,
    /// Ready when the guest heartbeat reaches a threshold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guest_heartbeat: Option<GuestHeartbeatAction>,
    /// Probe timeout in seconds (1-60, default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<i32>,
    /// Probe period in seconds (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_seconds: Option<i32>,
}

/// A TCP readiness check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct TcpSocketAction {
    /// Port number or name.
    pub port: IntOrString,
    /// Host to connect to; the VM's IP when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

/// A guest heartbeat readiness check.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct GuestHeartbeatAction {
    /// `yellow` or `green`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold_status: Option<String>,
}

/// Advanced VM options.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct AdvancedOptions {
    /// Default provisioning of new disks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_volume_provisioning_options: Option<VolumeProvisioningOptions>,
    /// Enable change block tracking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_block_tracking: Option<bool>,
}

/// Disk provisioning options.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct VolumeProvisioningOptions {
    /// Thin-provision disks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thin_provisioned: Option<bool>,
    /// Zero disks eagerly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eager_zeroed: Option<bool>,
}

/// Phase of a VirtualMachine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub enum VirtualMachinePhase {
    /// vCenter is creating the VM.
    Creating,
    /// The VM exists.
    Created,
    /// The VM is being deleted.
    Deleting,
    /// The VM is gone.
    Deleted,
    /// Not known.
    Unknown,
}

/// `VirtualMachine.status`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct VirtualMachineStatus {
    /// ESXi host running the VM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Guest host name (from VMware Tools).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_name: Option<String>,
    /// Observed power state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_state: Option<PowerState>,
    /// Lifecycle phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<VirtualMachinePhase>,
    /// Conditions (see [`condition`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Primary guest IP, once VMware Tools reports it.
    #[serde(rename = "vmIp", default, skip_serializing_if = "Option::is_none")]
    pub vm_ip: Option<String>,
    /// vCenter managed object id, e.g. `vm-42`.
    #[serde(rename = "uniqueID", default, skip_serializing_if = "Option::is_none")]
    pub unique_id: Option<String>,
    /// SMBIOS UUID (CAPV's provider ID).
    #[serde(rename = "biosUUID", default, skip_serializing_if = "Option::is_none")]
    pub bios_uuid: Option<String>,
    /// vCenter instance UUID.
    #[serde(rename = "instanceUUID", default, skip_serializing_if = "Option::is_none")]
    pub instance_uuid: Option<String>,
    /// Attached volumes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<VirtualMachineVolumeStatus>,
    /// Whether change block tracking is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_block_tracking: Option<bool>,
    /// Observed NICs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub network_interfaces: Vec<NetworkInterfaceStatus>,
    /// Zone the VM runs in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// When the VM was last restarted through `nextRestartTime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_restart_time: Option<String>,
    /// Virtual hardware version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware_version: Option<i32>,
}

/// One attached volume.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct VirtualMachineVolumeStatus {
    /// Volume name.
    pub name: String,
    /// Whether the disk is attached.
    pub attached: bool,
    /// Disk UUID.
    #[serde(rename = "diskUUID")]
    pub disk_uuid: String,
    /// Last attach error.
    pub error: String,
}

/// One observed NIC.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct NetworkInterfaceStatus {
    /// Whether the NIC is connected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connected: Option<bool>,
    /// MAC address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
    /// Guest IPs in CIDR form.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_addresses: Vec<String>,
}

/// `VirtualMachineService.spec`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct VirtualMachineServiceSpec {
    /// `ClusterIP`, `LoadBalancer` or `ExternalName`.
    #[serde(rename = "type")]
    pub type_: ServiceType,
    /// Ports; targetPort is always a number.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<VirtualMachineServicePort>,
    /// Selects VirtualMachines by label in the same namespace.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub selector: BTreeMap<String, String>,
    /// Requested load balancer IP (deprecated, passed through).
    #[serde(rename = "loadBalancerIP", default, skip_serializing_if = "Option::is_none")]
    pub load_balancer_ip: Option<String>,
    /// Client CIDRs allowed through the load balancer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub load_balancer_source_ranges: Vec<String>,
    /// Cluster IP (note the JSON name `clusterIp`).
    #[serde(rename = "clusterIp", default, skip_serializing_if = "Option::is_none")]
    pub cluster_ip: Option<String>,
    /// CNAME target of an `ExternalName` service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_name: Option<String>,
}

/// One port of a VirtualMachineService.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct VirtualMachineServicePort {
    /// Port name.
    pub name: String,
    /// Protocol.
    pub protocol: Protocol,
    /// The service port.
    pub port: i32,
    /// The VM port (a number; no named ports).
    pub target_port: i32,
}

/// `VirtualMachineService.status`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct VirtualMachineServiceStatus {
    /// The Service's load balancer ingress (LoadBalancer type only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancer: Option<LoadBalancerStatus>,
}

/// `VirtualMachineClass.spec`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct VirtualMachineClassSpec {
    /// Virtual hardware.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware: Option<VirtualMachineClassHardware>,
    /// Reservations and limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policies: Option<VirtualMachineClassPolicies>,
    /// For people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A vSphere `ConfigSpec` as raw JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_spec: Option<serde_json::Value>,
    /// Controller responsible for VMs of this class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller_name: Option<String>,
}

/// Virtual hardware of a class.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct VirtualMachineClassHardware {
    /// vCPU count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<i64>,
    /// Memory, e.g. `4Gi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Quantity>,
    /// Passthrough and vGPU devices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub devices: Option<VirtualDevices>,
    /// Instance storage volumes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_storage: Option<InstanceStorage>,
}

/// Devices of a class.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct VirtualDevices {
    /// vGPU devices.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vgpu_devices: Vec<VgpuDevice>,
    /// Dynamic DirectPath I/O devices.
    #[serde(rename = "dynamicDirectPathIODevices", default, skip_serializing_if = "Vec::is_empty")]
    pub dynamic_direct_path_io_devices: Vec<DynamicDirectPathIoDevice>,
}

/// A vGPU device.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct VgpuDevice {
    /// vGPU profile.
    pub profile_name: String,
}

/// A passthrough device.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct DynamicDirectPathIoDevice {
    /// PCI vendor id.
    #[serde(rename = "vendorID")]
    pub vendor_id: i64,
    /// PCI device id.
    #[serde(rename = "deviceID")]
    pub device_id: i64,
    /// Device label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_label: Option<String>,
}

/// Instance storage of a class.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct InstanceStorage {
    /// StorageClass of the volumes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
    /// Volumes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<InstanceStorageVolume>,
}

/// One instance storage volume.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct InstanceStorageVolume {
    /// Size, e.g. `10Gi`.
    pub size: Quantity,
}

/// Policies of a class.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct VirtualMachineClassPolicies {
    /// CPU and memory reservations and limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<VirtualMachineClassResources>,
}

/// Requests and limits.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct VirtualMachineClassResources {
    /// Reserved resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<VirtualMachineResourceSpec>,
    /// Resource limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<VirtualMachineResourceSpec>,
}

/// CPU and memory amounts.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct VirtualMachineResourceSpec {
    /// CPU, e.g. `1000m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Quantity>,
    /// Memory, e.g. `4Gi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Quantity>,
}

/// `VirtualMachineClass.status`: unused (classes are immutable).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct VirtualMachineClassStatus {}

/// `VirtualMachineImage.spec`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct VirtualMachineImageSpec {
    /// Image format, e.g. `ovf`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// Source type, e.g. `Content Library`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_source_type: Option<String>,
    /// Provider-side id of the image (content library item id).
    #[serde(rename = "imageID", default, skip_serializing_if = "Option::is_none")]
    pub image_id: Option<String>,
    /// The content provider object of the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_ref: Option<ContentProviderReference>,
    /// Product information from the OVF.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_info: Option<ProductInfo>,
    /// Guest OS information.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_info: Option<OsInfo>,
    /// OVF properties by key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ovf_env: BTreeMap<String, OvfProperty>,
    /// Virtual hardware version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hw_version: Option<i32>,
}

/// Reference to a content provider object.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct ContentProviderReference {
    /// API version of the object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Kind of the object.
    pub kind: String,
    /// Name of the object.
    pub name: String,
    /// Namespace of the object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// Product information of an image.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct ProductInfo {
    /// Product name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    /// Vendor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    /// Short version (e.g. the Kubernetes version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Full version (e.g. the TKR version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_version: Option<String>,
}

/// Guest OS information of an image.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct OsInfo {
    /// OS version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// OS type, e.g. `ubuntu64Guest`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
}

/// One OVF property.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct OvfProperty {
    /// Property key.
    pub key: String,
    /// Property type.
    #[serde(rename = "type")]
    pub type_: String,
    /// Default value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// For people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Display label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// `VirtualMachineImage.status`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct VirtualMachineImageStatus {
    /// vCenter UUID of the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    /// Provider-internal id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internal_id: Option<String>,
    /// Power state of the template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_state: Option<String>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_name: Option<String>,
    /// Whether VM Service can deploy the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_supported: Option<bool>,
    /// Conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The content library holding the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_library_ref: Option<TypedLocalObjectReference>,
    /// Content version of the library item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_version: Option<String>,
    /// `bios` or `efi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firmware: Option<String>,
}

/// A reference to an object in the same namespace, with its group (`corev1.TypedLocalObjectReference`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct TypedLocalObjectReference {
    /// API group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_group: Option<String>,
    /// Kind.
    pub kind: String,
    /// Name.
    pub name: String,
}

/// `VirtualMachineSetResourcePolicy.spec` (note the all-lower-case JSON names).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct VirtualMachineSetResourcePolicySpec {
    /// Child resource pool of the cluster's VMs (named after the cluster).
    #[serde(rename = "resourcepool", default, skip_serializing_if = "Option::is_none")]
    pub resource_pool: Option<ResourcePoolSpec>,
    /// VM folder of the cluster's VMs (named after the cluster).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folder: Option<FolderSpec>,
    /// Cluster modules (anti-affinity groups).
    #[serde(rename = "clustermodules", default, skip_serializing_if = "Vec::is_empty")]
    pub cluster_modules: Vec<ClusterModuleSpec>,
}

/// A child resource pool.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct ResourcePoolSpec {
    /// Pool name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Reservations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservations: Option<VirtualMachineResourceSpec>,
    /// Limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<VirtualMachineResourceSpec>,
}

/// A VM folder.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct FolderSpec {
    /// Folder name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A cluster module request.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct ClusterModuleSpec {
    /// Group name (`control-plane-group`, `<cluster>-workers-0`).
    #[serde(rename = "groupname")]
    pub group_name: String,
}

/// `VirtualMachineSetResourcePolicy.status`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct VirtualMachineSetResourcePolicyStatus {
    /// Resource pools created, per vSphere cluster.
    #[serde(rename = "resourcePools", default, skip_serializing_if = "Vec::is_empty")]
    pub resource_pools: Vec<ResourcePoolStatus>,
    /// Cluster modules created.
    #[serde(rename = "clustermodules", default, skip_serializing_if = "Vec::is_empty")]
    pub cluster_modules: Vec<ClusterModuleStatus>,
}

/// A created resource pool.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct ResourcePoolStatus {
    /// vSphere cluster MoID.
    #[serde(rename = "clusterMoID")]
    pub cluster_moid: String,
    /// Child resource pool MoID.
    #[serde(rename = "childResourcePoolMoID")]
    pub child_resource_pool_moid: String,
}

/// A created cluster module.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct ClusterModuleStatus {
    /// Group name.
    #[serde(rename = "groupname")]
    pub group_name: String,
    /// vCenter cluster module UUID.
    #[serde(rename = "moduleUUID")]
    pub module_uuid: String,
    /// vSphere cluster MoID.
    #[serde(rename = "clusterMoID")]
    pub cluster_moid: String,
}

/// Condition types of VirtualMachine (v1alpha1).
pub mod condition {
    /// Summary condition.
    pub const READY: &str = "Ready";
    /// Class, image and bindings exist.
    pub const PREREQ_READY: &str = "VirtualMachinePrereqReady";
    /// Guest customization state.
    pub const GUEST_CUSTOMIZATION: &str = "GuestCustomization";
    /// VMware Tools state.
    pub const TOOLS: &str = "VirtualMachineTools";
    /// Guest bootstrap state.
    pub const GUEST_BOOTSTRAP: &str = "GuestBootstrap";
}

/// Condition reasons of VirtualMachine (v1alpha1).
pub mod reason {
    /// No VirtualMachineClassBinding for the class in the namespace.
    pub const CLASS_BINDING_NOT_FOUND: &str = "VirtualMachineClassBindingNotFound";
    /// The VirtualMachineClass does not exist.
    pub const CLASS_NOT_FOUND: &str = "VirtualMachineClassNotFound";
    /// No ContentSourceBinding for the image's library.
    pub const CONTENT_SOURCE_BINDING_NOT_FOUND: &str = "ContentSourceBindingNotFound";
    /// The image's ContentLibraryProvider does not exist.
    pub const CONTENT_LIBRARY_PROVIDER_NOT_FOUND: &str = "ContentLibraryProviderNotFound";
    /// The VirtualMachineImage does not exist.
    pub const IMAGE_NOT_FOUND: &str = "VirtualMachineImageNotFound";
    /// The VirtualMachineImage is not ready.
    pub const IMAGE_NOT_READY: &str = "VirtualMachineImageNotReady";
    /// Guest customization has not started.
    pub const GUEST_CUSTOMIZATION_IDLE: &str = "GuestCustomizationIdle";
    /// Guest customization is queued.
    pub const GUEST_CUSTOMIZATION_PENDING: &str = "GuestCustomizationPending";
    /// Guest customization is running.
    pub const GUEST_CUSTOMIZATION_RUNNING: &str = "GuestCustomizationRunning";
    /// Guest customization succeeded.
    pub const GUEST_CUSTOMIZATION_SUCCEEDED: &str = "GuestCustomizationSucceeded";
    /// Guest customization failed.
    pub const GUEST_CUSTOMIZATION_FAILED: &str = "GuestCustomizationFailed";
    /// VMware Tools is not running.
    pub const TOOLS_NOT_RUNNING: &str = "VirtualMachineToolsNotRunning";
    /// VMware Tools is running.
    pub const TOOLS_RUNNING: &str = "VirtualMachineToolsRunning";
    /// The object is being deleted.
    pub const DELETING: &str = "Deleting";
    /// Deleting failed.
    pub const DELETION_FAILED: &str = "DeletionFailed";
    /// The object was deleted.
    pub const DELETED: &str = "Deleted";
}
