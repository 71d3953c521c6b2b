//! Annotation keys and values the chain sets (chain.md §3, crds.md §4).

/// VirtualMachine: anti-affinity tag, [`VM_AA_TAG_CONTROL_PLANE`] or [`VM_AA_TAG_WORKER`].
pub const VSPHERE_TAG: &str = "vsphere-tag";
/// Value of [`VSPHERE_TAG`] on control plane VMs.
pub const VM_AA_TAG_CONTROL_PLANE: &str = "CtrlVmVmAATag";
/// Value of [`VSPHERE_TAG`] on worker VMs.
pub const VM_AA_TAG_WORKER: &str = "WorkerVmVmAATag";
/// VirtualMachine: its cluster module group (`control-plane-group` or `<cluster>-workers-0`).
pub const CLUSTER_MODULE_GROUP: &str = "vsphere-cluster-module-group";

/// Control-plane VMService: the VirtualNetwork (`<cluster>-vnet`) whose Tier-1 gets the LB.
pub const NCP_VIRTUAL_NETWORK_NAME: &str = "ncp.vmware.com/virtual-network-name";

/// CCM VMService: the guest Service's externalTrafficPolicy (`Local` only).
pub const VMSERVICE_EXTERNAL_TRAFFIC_POLICY: &str =
    "virtualmachineservice.vmoperator.vmware.com/service.externalTrafficPolicy";
/// CCM VMService: the guest Service's health check node port (with a `Local` policy).
pub const VMSERVICE_HEALTH_CHECK_NODE_PORT: &str =
    "virtualmachineservice.vmoperator.vmware.com/service.healthCheckNodePort";
/// Service made by vm-service: the health check node port, copied for NCP.
pub const NCP_HEALTH_CHECK_NODE_PORT: &str = "ncp/healthCheckNodePort";

/// VirtualMachine: vm-operator leaves the VM alone while present.
pub const PAUSE_RECONCILE: &str = "vmoperator.vmware.com/pause-reconcile";
/// VirtualMachine: vm-operator adds no default NIC.
pub const NO_DEFAULT_NIC: &str = "vmoperator.vmware.com/no-default-nic";
