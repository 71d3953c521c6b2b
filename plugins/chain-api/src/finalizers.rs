//! Finalizers the chain's controllers hold (chain.md §3).

/// VirtualMachineService (vm-service): delete the Service and Endpoints first.
pub const VIRTUAL_MACHINE_SERVICE: &str = "vmoperator.vmware.com/virtualmachineservice";
/// VirtualMachineService, older spelling still found on existing objects.
pub const VIRTUAL_MACHINE_SERVICE_LEGACY: &str = "virtualmachineservice.vmoperator.vmware.com";
/// VSphereCluster (capw).
pub const VSPHERE_CLUSTER: &str = "vspherecluster.vmware.infrastructure.cluster.x-k8s.io";
/// VSphereMachine (capw; the same constant in both CAPV modes).
pub const VSPHERE_MACHINE: &str = "vspheremachine.infrastructure.cluster.x-k8s.io";
