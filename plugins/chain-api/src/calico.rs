//! Calico's IPAM kinds (`crd.projectcalico.org/v1`) as the calico plugin
//! keeps them in each guest cluster: the IPPool the tkc plugin installs from
//! the TKC's pod CIDR, and per Node one IPAMBlock with its BlockAffinity.
//! All three are cluster-scoped, as in Calico; their CRDs are in
//! `crds/guest/`. Names follow Calico's: a block is named by its CIDR with
//! `.` and `/` turned into `-` (`192-168-0-64-26`), an affinity by its node
//! and that (`node-1-192-168-0-64-26`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use wasmvisor_sdk::Object;

use crate::{NoStatus, resource};

/// `crd.projectcalico.org/v1`.
pub const API_VERSION: &str = "crd.projectcalico.org/v1";

/// The pool Calico's installer creates from `CALICO_IPV4POOL_CIDR`.
pub const DEFAULT_POOL: &str = "default-ipv4-ippool";

/// Calico's default block size for IPv4.
pub const BLOCK_SIZE: u8 = 26;

/// Node annotation: the node's address with its prefix, as calico-node detects it.
pub const IPV4_ADDRESS: &str = "projectcalico.org/IPv4Address";

/// Node annotation: the node's IP-in-IP tunnel address, taken from its block.
pub const IPIP_TUNNEL_ADDRESS: &str = "projectcalico.org/IPv4IPIPTunnelAddr";

/// The guest ConfigMap Calico reads its settings from (`kube-system/calico-config`).
pub const CONFIG: &str = "calico-config";

/// Key of [`CONFIG`]: how calico-node finds its node's address and prefix,
/// `cidr=<the cluster's segment subnet>` (Calico's `IP_AUTODETECTION_METHOD`).
pub const IP_AUTODETECTION_METHOD: &str = "ip_autodetection_method";

/// An IPPool: a range pods get addresses from.
pub type IpPool = Object<IpPoolSpec, NoStatus>;
resource!(IpPool, API_VERSION, "IPPool", "ippools", namespaced = false);

/// An IPAMBlock: `2^(32-blockSize)` pod addresses, affine to one node.
pub type IpamBlock = Object<IpamBlockSpec, NoStatus>;
resource!(IpamBlock, API_VERSION, "IPAMBlock", "ipamblocks", namespaced = false);

/// A BlockAffinity: the claim of one node on one block.
pub type BlockAffinity = Object<BlockAffinitySpec, NoStatus>;
resource!(BlockAffinity, API_VERSION, "BlockAffinity", "blockaffinities", namespaced = false);

/// `IPPool.spec`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IpPoolSpec {
    /// The pool's range.
    pub cidr: String,
    /// Prefix length of the blocks (26 when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_size: Option<u8>,
    /// `Always`, `CrossSubnet` or `Never`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipip_mode: Option<String>,
    /// `Always`, `CrossSubnet` or `Never`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vxlan_mode: Option<String>,
    /// Masquerade traffic leaving the pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nat_outgoing: Option<bool>,
    /// A disabled pool hands out nothing new.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    /// Calico selector of the nodes using the pool (`all()`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<String>,
}

/// `IPAMBlock.spec`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IpamBlockSpec {
    /// The block's range.
    pub cidr: String,
    /// `host:<node>` for a block affine to a node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<String>,
    /// Whether only the affine node may take addresses from it.
    pub strict_affinity: bool,
    /// Per address of the block, the index of its `attributes` entry; `None` when free.
    pub allocations: Vec<Option<u32>>,
    /// Offsets of the free addresses.
    pub unallocated: Vec<u32>,
    /// Who holds the allocated addresses.
    pub attributes: Vec<AllocationAttribute>,
    /// Marked for deletion.
    #[serde(default)]
    pub deleted: bool,
}

/// Who holds an allocated address.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AllocationAttribute {
    /// The IPAM handle (`ipip-tunnel-addr-<node>` for a tunnel address).
    pub handle_id: String,
    /// What the address is for (`node`, `type`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secondary: BTreeMap<String, String>,
}

/// `BlockAffinity.spec`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockAffinitySpec {
    /// The block's range.
    pub cidr: String,
    /// The node holding it.
    pub node: String,
    /// `confirmed`, `pending` or `pendingDeletion`.
    pub state: String,
    /// `"true"` or `"false"`: a string, as Calico stores it.
    pub deleted: String,
}

/// The object name Calico gives a CIDR: `192.168.0.64/26` → `192-168-0-64-26`.
pub fn cidr_name(cidr: &str) -> String {
    cidr.replace(['.', '/', ':'], "-")
}

/// The name of `node`'s affinity to the block `cidr`.
pub fn affinity_name(node: &str, cidr: &str) -> String {
    format!("{node}-{}", cidr_name(cidr))
}

/// The `affinity` of a block held by `node`.
pub fn host_affinity(node: &str) -> String {
    format!("host:{node}")
}

/// The IPAM handle of `node`'s IP-in-IP tunnel address.
pub fn tunnel_handle(node: &str) -> String {
    format!("ipip-tunnel-addr-{node}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_calico() {
        assert_eq!(cidr_name("192.168.0.64/26"), "192-168-0-64-26");
        assert_eq!(affinity_name("w-1", "192.168.0.64/26"), "w-1-192-168-0-64-26");
        assert_eq!(host_affinity("w-1"), "host:w-1");
    }
}
