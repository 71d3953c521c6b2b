//! `vmware.com/v1alpha1` (not `vnet.vmware.com`): NCP's VirtualNetwork and
//! VirtualNetworkInterface, as vm-operator's `external/ncp` types define them.
//!
//! capw writes VirtualNetworks, vm-service writes VirtualNetworkInterfaces, and the ncp
//! plugin realizes both in NSX and fills their status (crds.md §5).

use serde::{Deserialize, Serialize};
use wasmvisor_sdk::Object;

use crate::conditions::NcpCondition;
use crate::resource;

/// `vmware.com/v1alpha1`.
pub const API_VERSION: &str = "vmware.com/v1alpha1";

/// A VirtualNetwork: one NSX Tier-1 and segment for a cluster (`<cluster>-vnet`).
pub type VirtualNetwork = Object<VirtualNetworkSpec, VirtualNetworkStatus>;
resource!(VirtualNetwork, API_VERSION, "VirtualNetwork", "virtualnetworks", namespaced = true);
/// A VirtualNetworkInterface: one NSX segment port for one VM NIC.
pub type VirtualNetworkInterface = Object<VirtualNetworkInterfaceSpec, VirtualNetworkInterfaceStatus>;
resource!(
    VirtualNetworkInterface,
    API_VERSION,
    "VirtualNetworkInterface",
    "virtualnetworkinterfaces",
    namespaced = true
);

/// `VirtualNetwork.spec`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct VirtualNetworkSpec {
    /// CIDR allowed into the guest Tier-1 (`<SNAT IP>/32`); note the snake_case JSON name.
    #[serde(rename = "whitelist_source_ranges", default, skip_serializing_if = "Option::is_none")]
    pub whitelist_source_ranges: Option<String>,
}

/// `VirtualNetwork.status`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct VirtualNetworkStatus {
    /// Conditions (`Ready`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<NcpCondition>,
    /// SNAT IP of the network's Tier-1.
    #[serde(rename = "defaultSNATIP", default, skip_serializing_if = "Option::is_none")]
    pub default_snat_ip: Option<String>,
}

/// `VirtualNetworkInterface.spec`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct VirtualNetworkInterfaceSpec {
    /// VirtualNetwork in the same namespace; the namespace's default network when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtual_network: Option<String>,
}

/// `VirtualNetworkInterface.status`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct VirtualNetworkInterfaceStatus {
    /// Conditions (`Ready`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<NcpCondition>,
    /// NSX VIF attachment id; vm-operator sets it as the NIC's external id.
    #[serde(rename = "interfaceID", default, skip_serializing_if = "Option::is_none")]
    pub interface_id: Option<String>,
    /// IPv4 configuration of the port.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_addresses: Vec<VirtualNetworkInterfaceIp>,
    /// MAC address to put on the vNIC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
    /// NSX identities of the port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_status: Option<VirtualNetworkInterfaceProviderStatus>,
}

/// One IP configuration of a port.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct VirtualNetworkInterfaceIp {
    /// IPv4 address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// Dotted subnet mask, e.g. `255.255.255.240`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet_mask: Option<String>,
    /// Gateway IP (`None` as a string when not applicable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
}

/// NSX identities of a port.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct VirtualNetworkInterfaceProviderStatus {
    /// Logical switch (segment) UUID; finds the opaque network / DVPG backing.
    #[serde(rename = "nsxLogicalSwitchID", default, skip_serializing_if = "Option::is_none")]
    pub nsx_logical_switch_id: Option<String>,
    /// Logical port UUID.
    #[serde(rename = "nsxLogicalPortID", default, skip_serializing_if = "Option::is_none")]
    pub nsx_logical_port_id: Option<String>,
}

/// Condition types of NCP objects.
pub mod condition {
    /// The object is realized in NSX.
    pub const READY: &str = "Ready";
}
