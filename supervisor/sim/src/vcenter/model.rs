//! What the vCenter simulator stores about a VM: its spec, power state and NICs, and how
//! each NIC is linked to an NSX segment port.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

/// Store collection of VMs, keyed by `vm-N`.
pub(crate) const VM_COLLECTION: &str = "vcenter/vms";

/// Device key of the first NIC; vCenter numbers NICs 4000, 4001, …
pub(crate) const FIRST_NIC_KEY: u32 = 4000;

/// Power state, spelled as the API spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum PowerState {
    PoweredOn,
    PoweredOff,
    Suspended,
}

impl PowerState {
    /// The API spelling.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            PowerState::PoweredOn => "POWERED_ON",
            PowerState::PoweredOff => "POWERED_OFF",
            PowerState::Suspended => "SUSPENDED",
        }
    }
}

/// A stored VM.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct VmRecord {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) guest_os: String,
    pub(crate) folder: String,
    pub(crate) resource_pool: String,
    pub(crate) host: String,
    pub(crate) cluster: String,
    pub(crate) datastore: String,
    pub(crate) cpu_count: u64,
    pub(crate) cores_per_socket: u64,
    pub(crate) memory_mib: u64,
    pub(crate) hardware_version: String,
    pub(crate) power_state: PowerState,
    /// When the guest last booted (power-on or reset), epoch ms; `None` unless on.
    pub(crate) booted_at_ms: Option<u64>,
    /// Whether the last power-off was a guest shutdown (reported by `GET …/power`).
    #[serde(default)]
    pub(crate) clean_power_off: bool,
    pub(crate) bios_uuid: String,
    pub(crate) instance_uuid: String,
    pub(crate) nics: Vec<NicRecord>,
}

/// A stored NIC.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct NicRecord {
    pub(crate) key: u32,
    pub(crate) nic_type: String,
    pub(crate) mac_type: String,
    pub(crate) mac_address: String,
    /// The vCenter network id (`network-12`, `dvportgroup-N`).
    pub(crate) network: String,
    pub(crate) start_connected: bool,
    pub(crate) allow_guest_control: bool,
    /// The NSX port behind this NIC, for NSX-backed networks.
    pub(crate) port: Option<PortLink>,
    /// The address the simulator's stand-in DHCP gave the guest at power-on, used when
    /// NCP bound no IP on the port.
    pub(crate) guest_ip: Option<Ipv4Addr>,
}

impl NicRecord {
    /// `Network adapter N`, as vCenter labels NICs.
    pub(crate) fn label(&self) -> String {
        format!("Network adapter {}", self.key - FIRST_NIC_KEY + 1)
    }
}

/// How a NIC is linked to an NSX segment port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PortLink {
    /// `/infra/segments/S/ports/P`.
    pub(crate) port_path: String,
    /// The VIF id (`attachment.id`), what vm-operator calls the interface id.
    pub(crate) attachment_id: String,
    /// The simulator created the port for this NIC (and deletes it with the VM).
    pub(crate) created: bool,
    /// The simulator set the port's attachment (and removes it with the VM).
    pub(crate) attached: bool,
}
