//! The output types of the served operations, field by field as the SDK's bindings
//! declare them (`com/vmware/vcenter_client.py`, `…/vm/guest_client.py`, …).
//!
//! Only what the simulator answers is typed in full; maps the simulator always leaves
//! empty (disks, CD-ROMs, …) carry a placeholder value type, since an empty map has no
//! values to encode.

use super::value::Ty::{self, Bool, Int, List, Map, Opt, Str, Struct};

/// Value type of maps the simulator always answers empty.
const EMPTY: Ty = Struct("com.vmware.vapi.sim.unused", &[]);

/// `com.vmware.cis.session.info`.
pub(crate) const SESSION_INFO: Ty = Struct(
    "com.vmware.cis.session.info",
    &[("user", Str), ("created_time", Str), ("last_accessed_time", Str)],
);

/// `com.vmware.vcenter.datacenter.summary`.
pub(crate) const DATACENTER_SUMMARY: Ty =
    Struct("com.vmware.vcenter.datacenter.summary", &[("datacenter", Str), ("name", Str)]);

/// `com.vmware.vcenter.folder.summary`.
pub(crate) const FOLDER_SUMMARY: Ty =
    Struct("com.vmware.vcenter.folder.summary", &[("folder", Str), ("name", Str), ("type", Str)]);

/// `com.vmware.vcenter.resource_pool.summary`.
pub(crate) const RESOURCE_POOL_SUMMARY: Ty =
    Struct("com.vmware.vcenter.resource_pool.summary", &[("resource_pool", Str), ("name", Str)]);

/// `com.vmware.vcenter.network.summary`.
pub(crate) const NETWORK_SUMMARY: Ty =
    Struct("com.vmware.vcenter.network.summary", &[("network", Str), ("name", Str), ("type", Str)]);

/// `com.vmware.vcenter.host.summary`.
pub(crate) const HOST_SUMMARY: Ty = Struct(
    "com.vmware.vcenter.host.summary",
    &[
        ("host", Str),
        ("name", Str),
        ("connection_state", Str),
        ("power_state", Opt(&Str)),
        ("host_uuid", Opt(&Str)),
    ],
);

/// `com.vmware.vcenter.cluster.summary`.
pub(crate) const CLUSTER_SUMMARY: Ty = Struct(
    "com.vmware.vcenter.cluster.summary",
    &[("cluster", Str), ("name", Str), ("ha_enabled", Bool), ("drs_enabled", Bool)],
);

/// `com.vmware.vcenter.VM.summary`.
pub(crate) const VM_SUMMARY: Ty = Struct(
    "com.vmware.vcenter.VM.summary",
    &[
        ("vm", Str),
        ("name", Str),
        ("power_state", Str),
        ("cpu_count", Opt(&Int)),
        ("memory_size_MiB", Opt(&Int)),
    ],
);

/// `com.vmware.vcenter.vm.hardware.ethernet.backing_info`.
const ETHERNET_BACKING: Ty = Struct(
    "com.vmware.vcenter.vm.hardware.ethernet.backing_info",
    &[
        ("type", Str),
        ("network", Opt(&Str)),
        ("network_name", Opt(&Str)),
        ("host_device", Opt(&Str)),
        ("distributed_switch_uuid", Opt(&Str)),
        ("distributed_port", Opt(&Str)),
        ("connection_cookie", Opt(&Int)),
        ("opaque_network_type", Opt(&Str)),
        ("opaque_network_id", Opt(&Str)),
    ],
);

/// `com.vmware.vcenter.vm.hardware.ethernet.info`.
pub(crate) const ETHERNET_INFO: Ty = Struct(
    "com.vmware.vcenter.vm.hardware.ethernet.info",
    &[
        ("label", Str),
        ("type", Str),
        ("upt_compatibility_enabled", Opt(&Bool)),
        ("upt_v2_compatibility_enabled", Opt(&Bool)),
        ("mac_type", Str),
        ("mac_address", Opt(&Str)),
        ("pci_slot_number", Opt(&Int)),
        ("wake_on_lan_enabled", Bool),
        ("backing", ETHERNET_BACKING),
        ("state", Str),
        ("start_connected", Bool),
        ("allow_guest_control", Bool),
    ],
);

/// `com.vmware.vcenter.vm.hardware.ethernet.summary`.
pub(crate) const ETHERNET_SUMMARY: Ty =
    Struct("com.vmware.vcenter.vm.hardware.ethernet.summary", &[("nic", Str)]);

/// `com.vmware.vcenter.VM.info`.
pub(crate) const VM_INFO: Ty = Struct(
    "com.vmware.vcenter.VM.info",
    &[
        ("guest_OS", Str),
        ("name", Str),
        (
            "identity",
            Opt(&Struct(
                "com.vmware.vcenter.vm.identity.info",
                &[("name", Str), ("bios_uuid", Str), ("instance_uuid", Str)],
            )),
        ),
        ("power_state", Str),
        ("instant_clone_frozen", Opt(&Bool)),
        (
            "hardware",
            Struct(
                "com.vmware.vcenter.vm.hardware.info",
                &[
                    ("version", Str),
                    ("upgrade_policy", Str),
                    ("upgrade_version", Opt(&Str)),
                    ("upgrade_status", Str),
                    ("upgrade_error", Opt(&EMPTY)),
                ],
            ),
        ),
        (
            "boot",
            Struct(
                "com.vmware.vcenter.vm.hardware.boot.info",
                &[
                    ("type", Str),
                    ("efi_legacy_boot", Opt(&Bool)),
                    ("network_protocol", Opt(&Str)),
                    ("delay", Int),
                    ("retry", Bool),
                    ("retry_delay", Int),
                    ("enter_setup_mode", Bool),
                ],
            ),
        ),
        ("boot_devices", List(&EMPTY)),
        (
            "cpu",
            Struct(
                "com.vmware.vcenter.vm.hardware.cpu.info",
                &[
                    ("count", Int),
                    ("cores_per_socket", Int),
                    ("hot_add_enabled", Bool),
                    ("hot_remove_enabled", Bool),
                ],
            ),
        ),
        (
            "memory",
            Struct(
                "com.vmware.vcenter.vm.hardware.memory.info",
                &[
                    ("size_MiB", Int),
                    ("hot_add_enabled", Bool),
                    ("hot_add_increment_size_MiB", Opt(&Int)),
                    ("hot_add_limit_MiB", Opt(&Int)),
                ],
            ),
        ),
        ("disks", Map(&EMPTY)),
        ("nics", Map(&ETHERNET_INFO)),
        ("cdroms", Map(&EMPTY)),
        ("floppies", Map(&EMPTY)),
        ("parallel_ports", Map(&EMPTY)),
        ("serial_ports", Map(&EMPTY)),
        ("sata_adapters", Map(&EMPTY)),
        ("scsi_adapters", Map(&EMPTY)),
        ("nvme_adapters", Opt(&Map(&EMPTY))),
    ],
);

/// `com.vmware.vcenter.vm.power.info`.
pub(crate) const POWER_INFO: Ty =
    Struct("com.vmware.vcenter.vm.power.info", &[("state", Str), ("clean_power_off", Opt(&Bool))]);

/// `com.vmware.vapi.std.localizable_message`.
const LOCALIZABLE_MESSAGE: Ty = Struct(
    "com.vmware.vapi.std.localizable_message",
    &[
        ("id", Str),
        ("default_message", Str),
        ("args", List(&Str)),
        ("params", Opt(&Map(&EMPTY))),
        ("localized", Opt(&Str)),
    ],
);

/// `com.vmware.vcenter.vm.guest.identity.info`.
pub(crate) const IDENTITY_INFO: Ty = Struct(
    "com.vmware.vcenter.vm.guest.identity.info",
    &[
        ("name", Str),
        ("family", Str),
        ("full_name", LOCALIZABLE_MESSAGE),
        ("host_name", Str),
        ("ip_address", Opt(&Str)),
    ],
);

const DNS_VALUES: Ty =
    Struct("com.vmware.vcenter.vm.guest.dns_assigned_values", &[("host_name", Str), ("domain_name", Str)]);

const DNS_CONFIG: Ty = Struct(
    "com.vmware.vcenter.vm.guest.dns_config_info",
    &[("ip_addresses", List(&Str)), ("search_domains", List(&Str))],
);

/// `com.vmware.vcenter.vm.guest.networking.info`.
pub(crate) const NETWORKING_INFO: Ty = Struct(
    "com.vmware.vcenter.vm.guest.networking.info",
    &[("dns_values", Opt(&DNS_VALUES)), ("dns", Opt(&DNS_CONFIG))],
);

const IP_ADDRESS_INFO: Ty = Struct(
    "com.vmware.vcenter.vm.guest.networking.interfaces.ip_address_info",
    &[("ip_address", Str), ("prefix_length", Int), ("origin", Opt(&Str)), ("state", Str)],
);

/// `com.vmware.vcenter.vm.guest.networking.interfaces.info`.
pub(crate) const INTERFACE_INFO: Ty = Struct(
    "com.vmware.vcenter.vm.guest.networking.interfaces.info",
    &[
        ("dns_values", Opt(&DNS_VALUES)),
        ("mac_address", Opt(&Str)),
        ("dns", Opt(&DNS_CONFIG)),
        (
            "ip",
            Opt(&Struct(
                "com.vmware.vcenter.vm.guest.networking.interfaces.ip_config_info",
                &[
                    ("ip_addresses", List(&IP_ADDRESS_INFO)),
                    (
                        "dhcp",
                        Opt(&Struct(
                            "com.vmware.vcenter.vm.guest.dhcp_config_info",
                            &[("ipv4_enabled", Bool), ("ipv6_enabled", Bool)],
                        )),
                    ),
                ],
            )),
        ),
        ("wins_servers", Opt(&List(&Str))),
        ("nic", Opt(&Str)),
    ],
);
