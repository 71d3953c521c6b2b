//! Label keys the chain sets and selects on (chain.md §3, crds.md §1–2).
//!
//! The `capv.*` / `capw.*` pairs are written together on every VirtualMachine (the `capw.*`
//! ones are legacy duplicates kept for compatibility); VMService selectors use both.

/// CAPI: the Cluster an object belongs to.
pub const CAPI_CLUSTER_NAME: &str = "cluster.x-k8s.io/cluster-name";
/// CAPI: present (empty value) on control plane Machines.
pub const CAPI_CONTROL_PLANE: &str = "cluster.x-k8s.io/control-plane";
/// CAPI: the MachineDeployment a Machine or MachineSet belongs to.
pub const CAPI_DEPLOYMENT_NAME: &str = "cluster.x-k8s.io/deployment-name";
/// CAPI: the MachineSet a Machine belongs to.
pub const CAPI_SET_NAME: &str = "cluster.x-k8s.io/set-name";
/// TKG: the TanzuKubernetesCluster an object was derived from (unconfirmed for TKG service).
pub const TKG_CLUSTER_NAME: &str = "tkg.tanzu.vmware.com/cluster-name";

/// VirtualMachine: its cluster's name (selector of VMServices and the CCM).
pub const CAPV_CLUSTER_NAME: &str = "capv.vmware.com/cluster.name";
/// VirtualMachine: [`ROLE_CONTROL_PLANE`] or [`ROLE_NODE`].
pub const CAPV_CLUSTER_ROLE: &str = "capv.vmware.com/cluster.role";
/// VirtualMachine: legacy duplicate of [`CAPV_CLUSTER_NAME`].
pub const CAPW_CLUSTER_NAME: &str = "capw.vmware.com/cluster.name";
/// VirtualMachine: legacy duplicate of [`CAPV_CLUSTER_ROLE`].
pub const CAPW_CLUSTER_ROLE: &str = "capw.vmware.com/cluster.role";
/// Value of the cluster-role labels on control plane VMs.
pub const ROLE_CONTROL_PLANE: &str = "controlplane";
/// Value of the cluster-role labels on worker VMs.
pub const ROLE_NODE: &str = "node";
/// VirtualMachine: its failure domain, only when set.
pub const TOPOLOGY_ZONE: &str = "topology.kubernetes.io/zone";

/// VirtualNetworkInterface: the VM it belongs to.
pub const VM_NAME: &str = "vmoperator.vmware.com/vm-name";
/// VirtualNetworkInterface: the VM interface it backs (e.g. `eth0`).
pub const VM_INTERFACE_NAME: &str = "vmoperator.vmware.com/vm-interface-name";

/// CCM VMService: the guest cluster's name.
pub const CCM_CLUSTER_NAME: &str = "run.tanzu.vmware.com/cluster.name";
/// CCM VMService: the guest Service's name.
pub const CCM_SERVICE_NAME: &str = "run.tanzu.vmware.com/service.name";
/// CCM VMService: the guest Service's namespace.
pub const CCM_SERVICE_NAMESPACE: &str = "run.tanzu.vmware.com/service.namespace";

/// Service made by vm-service for a `Local` VMService: routes it through NSX (value [`NSX_T_PROXY`]).
pub const SERVICE_PROXY_NAME: &str = "service.kubernetes.io/service-proxy-name";
/// Value of [`SERVICE_PROXY_NAME`].
pub const NSX_T_PROXY: &str = "nsx-t";
