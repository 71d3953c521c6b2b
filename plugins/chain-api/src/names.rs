//! Names the chain derives from other objects' names (chain.md §2).
//!
//! Each controller finds what it made by recomputing the name, never by listing, so these
//! functions are the only place a naming rule lives. All are pure; none validates length
//! (the originals do not either: a 63-character cluster name makes an invalid vnet name).

use md5::{Digest, Md5};

/// The VirtualNetwork of a cluster: `<cluster>-vnet`.
pub fn virtual_network(cluster: &str) -> String {
    format!("{cluster}-vnet")
}

/// The control-plane VirtualMachineService of a cluster: `<cluster>-control-plane-service`.
pub fn control_plane_service(cluster: &str) -> String {
    format!("{cluster}-control-plane-service")
}

/// The VirtualMachineSetResourcePolicy of a cluster (also its resource pool and folder): the cluster name.
pub fn resource_policy(cluster: &str) -> String {
    cluster.to_owned()
}

/// The cluster module group of a cluster's workers: `<cluster>-workers-0`.
pub fn workers_module_group(cluster: &str) -> String {
    format!("{cluster}-workers-0")
}

/// The bootstrap ConfigMap of a machine: `<machine>-cloud-init`.
pub fn cloud_init_config_map(machine: &str) -> String {
    format!("{machine}-cloud-init")
}

/// The PVC of one extra volume of a machine: `<machine>-<volume>`.
pub fn machine_volume_claim(machine: &str, volume: &str) -> String {
    format!("{machine}-{volume}")
}

/// The VirtualNetworkInterface of a VM NIC, v1alpha1 naming: `<networkName>-<vmName>-lsp`,
/// or `<vmName>-lsp` when the NIC names no network.
pub fn virtual_network_interface(network_name: &str, vm_name: &str) -> String {
    if network_name.is_empty() { format!("{vm_name}-lsp") } else { format!("{network_name}-{vm_name}-lsp") }
}

/// Length of the md5 hex prefix in [`ccm_vm_service`] (cloud-provider-vsphere `MaxCheckSumLen`).
pub const CCM_CHECKSUM_LEN: usize = 21;

/// The VirtualMachineService the guest CCM makes for guest Service `service` in
/// `namespace`: `<cluster>-<first 21 hex chars of md5("<service>.<namespace>")>`.
pub fn ccm_vm_service(cluster: &str, service: &str, namespace: &str) -> String {
    let digest = Md5::digest(format!("{service}.{namespace}").as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{cluster}-{}", &hex[..CCM_CHECKSUM_LEN])
}

/// The display name of the NSX segment of VirtualNetwork `vnet` in `namespace`, which is
/// also the name vCenter lists its port group under: `vnet-<namespace>-<vnet>` (NCP's own
/// naming is not public; vm-service finds the NIC's network by this name).
pub fn segment(namespace: &str, vnet: &str) -> String {
    format!("vnet-{namespace}-{vnet}")
}

/// The Secret Cluster API publishes a cluster's admin kubeconfig in: `<cluster>-kubeconfig`.
pub fn kubeconfig_secret(cluster: &str) -> String {
    format!("{cluster}-kubeconfig")
}

/// The host's dynamic cluster source over the kubeconfig Secrets (`[clusters.guests]`).
pub const GUEST_SOURCE: &str = "guests";

/// The host's name for guest cluster `cluster` of Supervisor namespace
/// `namespace`: the member of [`GUEST_SOURCE`] its kubeconfig Secret makes.
pub fn guest_cluster(namespace: &str, cluster: &str) -> String {
    format!("{GUEST_SOURCE}/{namespace}/{}", kubeconfig_secret(cluster))
}

/// Prefix of CAPV provider IDs.
pub const PROVIDER_ID_PREFIX: &str = "vsphere://";

/// The provider ID of a machine whose VM has `bios_uuid`: `vsphere://<biosUUID>`.
pub fn provider_id(bios_uuid: &str) -> String {
    format!("{PROVIDER_ID_PREFIX}{bios_uuid}")
}

/// The BIOS UUID in a provider ID, if it is a vSphere one.
pub fn bios_uuid_from_provider_id(provider_id: &str) -> Option<&str> {
    provider_id.strip_prefix(PROVIDER_ID_PREFIX).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_scoped_names() {
        assert_eq!(virtual_network("tkc1"), "tkc1-vnet");
        assert_eq!(control_plane_service("tkc1"), "tkc1-control-plane-service");
        assert_eq!(resource_policy("tkc1"), "tkc1");
        assert_eq!(workers_module_group("tkc1"), "tkc1-workers-0");
    }

    #[test]
    fn machine_scoped_names() {
        assert_eq!(cloud_init_config_map("tkc1-cp-abcde"), "tkc1-cp-abcde-cloud-init");
        assert_eq!(machine_volume_claim("tkc1-cp-abcde", "etcd"), "tkc1-cp-abcde-etcd");
        assert_eq!(virtual_network_interface("tkc1-vnet", "tkc1-cp-abcde"), "tkc1-vnet-tkc1-cp-abcde-lsp");
        assert_eq!(virtual_network_interface("", "vm1"), "vm1-lsp");
    }

    #[test]
    fn ccm_names_hash_service_and_namespace() {
        // md5("nginx.default") = 60657ac113b7b5a0ebaab6546baccda5 (coreutils md5sum).
        assert_eq!(ccm_vm_service("tkc1", "nginx", "default"), "tkc1-60657ac113b7b5a0ebaab");
        // md5("kube-apiserver-lb-svc.kube-system") = fe7161dae9aa51d314adb768c64b749c.
        assert_eq!(
            ccm_vm_service("guest", "kube-apiserver-lb-svc", "kube-system"),
            "guest-fe7161dae9aa51d314adb"
        );
    }

    #[test]
    fn provider_ids_round_trip() {
        let id = provider_id("4207a1b2-0000-1111-2222-333344445555");
        assert_eq!(id, "vsphere://4207a1b2-0000-1111-2222-333344445555");
        assert_eq!(bios_uuid_from_provider_id(&id), Some("4207a1b2-0000-1111-2222-333344445555"));
        assert_eq!(bios_uuid_from_provider_id("aws:///i-1"), None);
        assert_eq!(bios_uuid_from_provider_id("vsphere://"), None);
    }
}
