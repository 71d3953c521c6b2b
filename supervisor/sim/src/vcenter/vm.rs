//! VM create, list, get and delete (`/api/vcenter/vm`).
//!
//! Create checks the spec the way vCenter does (guest OS, placement ids, network ids),
//! gives each NIC a device key and MAC, and connects NICs on NSX-backed networks to a
//! segment port through `world`. Delete refuses a powered-on VM with 400
//! `NOT_ALLOWED_IN_CURRENT_STATE` and otherwise also removes its ports and tag
//! associations.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::VcState;
use super::error::{ErrorType, VcError};
use super::filters::Filters;
use super::inventory::{CLUSTER, DATACENTER, DATASTORE, HOST, RESOURCE_POOL, is_vm_folder};
use super::model::{FIRST_NIC_KEY, NicRecord, PowerState, VM_COLLECTION, VmRecord};
use crate::nsx::stamp::Author;
use crate::store::Tx;
use crate::world;

/// Most VMs a list may return before vCenter refuses it.
const MAX_LIST: usize = 4000;

/// The fields of `CreateSpec` the simulator reads; others are accepted and ignored.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct CreateSpec {
    #[serde(rename = "guest_OS", alias = "guest_os")]
    guest_os: Option<String>,
    name: Option<String>,
    placement: Option<Placement>,
    cpu: Option<Cpu>,
    memory: Option<Memory>,
    hardware_version: Option<String>,
    #[serde(default)]
    nics: Vec<NicSpec>,
}

#[derive(Debug, Default, Deserialize)]
struct Placement {
    folder: Option<String>,
    resource_pool: Option<String>,
    host: Option<String>,
    cluster: Option<String>,
    datastore: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Cpu {
    count: Option<u64>,
    cores_per_socket: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
struct Memory {
    #[serde(rename = "size_MiB")]
    size_mib: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
struct NicSpec {
    #[serde(rename = "type")]
    nic_type: Option<String>,
    mac_type: Option<String>,
    mac_address: Option<String>,
    backing: Option<Backing>,
    start_connected: Option<bool>,
    allow_guest_control: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
struct Backing {
    network: Option<String>,
}

/// `POST /api/vcenter/vm`: 201 with the new id as a JSON string.
pub(crate) async fn create(State(state): State<VcState>, body: Bytes) -> Response {
    let spec: CreateSpec = match serde_json::from_slice(&body) {
        Ok(spec) => spec,
        Err(e) => return VcError::invalid(format!("The VM create spec is not valid: {e}.")).into_response(),
    };
    let author = Author { user: "vcenter".into(), now_ms: state.ctx.clock.now_ms() };
    let result = state.ctx.store.transact(move |tx| create_in(tx, &author, spec)).await;
    match result {
        Ok(id) => (StatusCode::CREATED, axum::Json(json!(id))).into_response(),
        Err(e) => e.into_response(),
    }
}

/// Creates a VM from `spec` and returns its id.
pub(crate) fn create_in(tx: &Tx<'_>, author: &Author, spec: CreateSpec) -> Result<String, VcError> {
    let guest_os =
        spec.guest_os.filter(|g| !g.is_empty()).ok_or_else(|| VcError::invalid("guest_OS is required."))?;
    let placement = spec.placement.unwrap_or_default();
    let folder = placement.folder.ok_or_else(|| VcError::invalid("placement.folder is required."))?;
    if !is_vm_folder(&folder) {
        return Err(VcError::not_found("Folder", &folder));
    }
    if placement.resource_pool.is_none() && placement.host.is_none() && placement.cluster.is_none() {
        return Err(VcError::invalid("placement needs one of resource_pool, host or cluster."));
    }
    for (what, given, known) in [
        ("Resource pool", &placement.resource_pool, RESOURCE_POOL.0),
        ("Host", &placement.host, HOST.0),
        ("Cluster", &placement.cluster, CLUSTER.0),
        ("Datastore", &placement.datastore, DATASTORE.0),
    ] {
        if let Some(id) = given.as_deref().filter(|id| *id != known) {
            return Err(VcError::not_found(what, id));
        }
    }
    let number = tx.next_counter("vm", 1001)?;
    let id = format!("vm-{number}");
    let name = spec.name.unwrap_or_else(|| format!("Virtual Machine {number}"));
    let taken = tx.list(VM_COLLECTION)?.into_iter().any(|(_, vm)| {
        vm.get("name").and_then(Value::as_str) == Some(name.as_str())
            && vm.get("folder").and_then(Value::as_str) == Some(folder.as_str())
    });
    if taken {
        return Err(VcError::new(
            ErrorType::AlreadyExists,
            "com.vmware.api.vcenter.vm.name_exists",
            format!("A VM named {name} already exists in folder {folder}."),
        ));
    }
    let mut vm = VmRecord {
        id: id.clone(),
        name,
        guest_os,
        folder,
        resource_pool: RESOURCE_POOL.0.into(),
        host: HOST.0.into(),
        cluster: CLUSTER.0.into(),
        datastore: DATASTORE.0.into(),
        cpu_count: spec.cpu.as_ref().and_then(|c| c.count).unwrap_or(1),
        cores_per_socket: spec.cpu.as_ref().and_then(|c| c.cores_per_socket).unwrap_or(1),
        memory_mib: spec.memory.and_then(|m| m.size_mib).unwrap_or(1024),
        hardware_version: spec.hardware_version.unwrap_or_else(|| "VMX_19".into()),
        power_state: PowerState::PoweredOff,
        booted_at_ms: None,
        clean_power_off: false,
        bios_uuid: uuid::Uuid::new_v4().to_string(),
        instance_uuid: uuid::Uuid::new_v4().to_string(),
        nics: Vec::new(),
    };
    for (index, nic) in spec.nics.into_iter().enumerate() {
        let network_id = nic
            .backing
            .and_then(|b| b.network)
            .ok_or_else(|| VcError::invalid(format!("nics[{index}].backing.network is required.")))?;
        let network =
            world::network(tx, &network_id)?.ok_or_else(|| VcError::not_found("Network", &network_id))?;
        let mac_type = nic.mac_type.unwrap_or_else(|| "ASSIGNED".into());
        let mac_address = match (mac_type.as_str(), nic.mac_address) {
            ("MANUAL", Some(mac)) if is_mac(&mac) => mac.to_ascii_lowercase(),
            ("MANUAL", other) => {
                return Err(VcError::invalid(format!(
                    "nics[{index}].mac_address {other:?} is not a MAC address."
                )));
            }
            _ => generated_mac(tx.next_counter("mac", 1)?),
        };
        let mut record = NicRecord {
            key: FIRST_NIC_KEY + u32::try_from(index).unwrap_or(0),
            nic_type: nic.nic_type.unwrap_or_else(|| "VMXNET3".into()),
            mac_type,
            mac_address,
            network: network.id.clone(),
            start_connected: nic.start_connected.unwrap_or(true),
            allow_guest_control: nic.allow_guest_control.unwrap_or(true),
            port: None,
            guest_ip: None,
        };
        record.port = world::attach_nic(tx, author, &network, &vm, &record)?;
        vm.nics.push(record);
    }
    save(tx, &vm)?;
    Ok(id)
}

/// `GET /api/vcenter/vm`: summaries, filtered.
pub(crate) async fn list(State(state): State<VcState>, RawQuery(query): RawQuery) -> Response {
    let filters = Filters::parse(query.as_deref());
    match state.ctx.store.transact(move |tx| list_in(tx, &filters)).await {
        Ok(items) => axum::Json(items).into_response(),
        Err(e) => e.into_response(),
    }
}

/// The summaries `{vm, name, power_state, cpu_count, memory_size_MiB}` of the VMs that
/// pass `filters`; more than [`MAX_LIST`] is `UNABLE_TO_ALLOCATE_RESOURCE`.
pub(crate) fn list_in(tx: &Tx<'_>, filters: &Filters) -> Result<Vec<Value>, VcError> {
    let mut out = Vec::new();
    for (_, vm) in tx.list(VM_COLLECTION)? {
        let vm = decode(vm)?;
        let passes = filters.allows("vms", &vm.id)
            && filters.allows("names", &vm.name)
            && filters.allows("folders", &vm.folder)
            && filters.allows("resource_pools", &vm.resource_pool)
            && filters.allows("hosts", &vm.host)
            && filters.allows("clusters", &vm.cluster)
            && filters.allows("datacenters", DATACENTER.0)
            && filters.allows("power_states", vm.power_state.as_str());
        if passes {
            out.push(json!({
                "vm": vm.id,
                "name": vm.name,
                "power_state": vm.power_state.as_str(),
                "cpu_count": vm.cpu_count,
                "memory_size_MiB": vm.memory_mib,
            }));
        }
    }
    if out.len() > MAX_LIST {
        return Err(VcError::new(
            ErrorType::UnableToAllocateResource,
            "com.vmware.api.vcenter.vm.list.too_many",
            format!("The filter matches more than {MAX_LIST} VMs."),
        ));
    }
    Ok(out)
}

/// `GET /api/vcenter/vm/{vm}`: the VM's info.
pub(crate) async fn get(State(state): State<VcState>, Path(id): Path<String>) -> Response {
    match state.ctx.store.transact(move |tx| info_in(tx, &id)).await {
        Ok(info) => axum::Json(info).into_response(),
        Err(e) => e.into_response(),
    }
}

/// The info of VM `id` (`VM.Info`), or 404.
pub(crate) fn info_in(tx: &Tx<'_>, id: &str) -> Result<Value, VcError> {
    let vm = load(tx, id)?;
    let networks = world::networks(tx)?;
    let mut nics = Map::new();
    for nic in &vm.nics {
        nics.insert(nic.key.to_string(), nic_info(&vm, nic, &networks));
    }
    Ok(json!({
        "name": vm.name,
        "guest_OS": vm.guest_os,
        "power_state": vm.power_state.as_str(),
        "identity": {"name": vm.name, "bios_uuid": vm.bios_uuid, "instance_uuid": vm.instance_uuid},
        "cpu": {"count": vm.cpu_count, "cores_per_socket": vm.cores_per_socket,
                "hot_add_enabled": false, "hot_remove_enabled": false},
        "memory": {"size_MiB": vm.memory_mib, "hot_add_enabled": false},
        "hardware": {"version": vm.hardware_version,
                     "upgrade_policy": "NEVER", "upgrade_status": "NONE"},
        "boot": {"type": "BIOS", "delay": 0, "retry": false, "retry_delay": 10000,
                 "enter_setup_mode": false},
        "boot_devices": [],
        "nics": nics,
        "disks": {}, "cdroms": {}, "floppies": {}, "serial_ports": {}, "parallel_ports": {},
        "sata_adapters": {}, "scsi_adapters": {}, "nvme_adapters": {},
    }))
}

/// One NIC as `Ethernet.Info` (the values of `VM.Info.nics` and `…/hardware/ethernet/{nic}`).
pub(crate) fn nic_info(vm: &VmRecord, nic: &NicRecord, networks: &[world::Network]) -> Value {
    let network = networks.iter().find(|n| n.id == nic.network);
    let connected = vm.power_state == PowerState::PoweredOn && nic.start_connected;
    json!({
        "label": nic.label(),
        "type": nic.nic_type,
        "mac_type": nic.mac_type,
        "mac_address": nic.mac_address,
        "backing": {
            "type": network.map_or("STANDARD_PORTGROUP", |n| n.network_type),
            "network": nic.network,
            "network_name": network.map(|n| n.name.clone()),
        },
        "state": if connected { "CONNECTED" } else { "NOT_CONNECTED" },
        "start_connected": nic.start_connected,
        "allow_guest_control": nic.allow_guest_control,
        "wake_on_lan_enabled": false,
        "upt_compatibility_enabled": false,
        "pci_slot_number": 160 + nic.key - FIRST_NIC_KEY,
    })
}

/// `GET /api/vcenter/vm/{vm}/hardware/ethernet`: `[{nic}]`.
pub(crate) async fn ethernet_list(State(state): State<VcState>, Path(id): Path<String>) -> Response {
    match state.ctx.store.transact(move |tx| ethernet_list_in(tx, &id)).await {
        Ok(nics) => axum::Json(nics).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `GET /api/vcenter/vm/{vm}/hardware/ethernet/{nic}`: the NIC's `Ethernet.Info`.
pub(crate) async fn ethernet_get(
    State(state): State<VcState>,
    Path((id, nic)): Path<(String, String)>,
) -> Response {
    match state.ctx.store.transact(move |tx| ethernet_get_in(tx, &id, &nic)).await {
        Ok(info) => axum::Json(info).into_response(),
        Err(e) => e.into_response(),
    }
}

/// The NICs of VM `id` as `Ethernet.Summary` (`{nic}`, the device key).
pub(crate) fn ethernet_list_in(tx: &Tx<'_>, id: &str) -> Result<Vec<Value>, VcError> {
    Ok(load(tx, id)?.nics.iter().map(|n| json!({"nic": n.key.to_string()})).collect())
}

/// NIC `nic` (a device key) of VM `id`, or 404.
pub(crate) fn ethernet_get_in(tx: &Tx<'_>, id: &str, nic: &str) -> Result<Value, VcError> {
    let vm = load(tx, id)?;
    let key = nic.parse::<u32>().ok();
    let found = vm
        .nics
        .iter()
        .find(|n| Some(n.key) == key)
        .ok_or_else(|| VcError::not_found("Network adapter", nic))?;
    Ok(nic_info(&vm, found, &world::networks(tx)?))
}

/// `DELETE /api/vcenter/vm/{vm}`: 204; 400 `NOT_ALLOWED_IN_CURRENT_STATE` while powered on.
pub(crate) async fn delete(State(state): State<VcState>, Path(id): Path<String>) -> Response {
    let author = Author { user: "vcenter".into(), now_ms: state.ctx.clock.now_ms() };
    match state.ctx.store.transact(move |tx| delete_in(tx, &author, &id)).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

/// Deletes VM `id` with its ports and tag associations; refused while powered on.
pub(crate) fn delete_in(tx: &Tx<'_>, author: &Author, id: &str) -> Result<(), VcError> {
    let vm = load(tx, id)?;
    if vm.power_state == PowerState::PoweredOn {
        return Err(VcError::new(
            ErrorType::NotAllowedInCurrentState,
            "com.vmware.api.vcenter.vm.powered_on",
            "Virtual machine is powered on.",
        ));
    }
    for link in vm.nics.iter().filter_map(|n| n.port.as_ref()) {
        world::detach_nic(tx, author, link)?;
    }
    super::tagging::forget_object(tx, "VirtualMachine", &vm.id)?;
    tx.delete(VM_COLLECTION, &vm.id)?;
    Ok(())
}

/// The stored VM `id`, or 404.
pub(crate) fn load(tx: &Tx<'_>, id: &str) -> Result<VmRecord, VcError> {
    let stored = tx.get(VM_COLLECTION, id)?.ok_or_else(|| VcError::not_found("Virtual machine", id))?;
    decode(stored)
}

/// Stores `vm`.
pub(crate) fn save(tx: &Tx<'_>, vm: &VmRecord) -> Result<(), VcError> {
    let value = serde_json::to_value(vm)
        .map_err(|e| VcError::new(ErrorType::Error, "com.vmware.api.vcenter.internal", e.to_string()))?;
    Ok(tx.put(VM_COLLECTION, &vm.id, &value)?)
}

fn decode(stored: Value) -> Result<VmRecord, VcError> {
    serde_json::from_value(stored).map_err(|e| {
        VcError::new(
            ErrorType::Error,
            "com.vmware.api.vcenter.internal",
            format!("A stored VM is unreadable: {e}."),
        )
    })
}

fn is_mac(text: &str) -> bool {
    let parts: Vec<&str> = text.split(':').collect();
    parts.len() == 6 && parts.iter().all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// VMware's vCenter-assigned prefix `00:50:56` followed by a counter.
fn generated_mac(n: u64) -> String {
    let n = n & 0x3f_ffff;
    format!("00:50:56:{:02x}:{:02x}:{:02x}", n >> 16, (n >> 8) & 0xff, n & 0xff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs() {
        assert!(is_mac("00:50:56:AA:bb:01"));
        assert!(!is_mac("00:50:56:aa:bb"));
        assert!(!is_mac("00:50:56:aa:bb:zz"));
        assert_eq!(generated_mac(1), "00:50:56:00:00:01");
        assert_eq!(generated_mac(0x012345), "00:50:56:01:23:45");
    }

    #[test]
    fn create_spec_accepts_both_guest_os_spellings() {
        let a: CreateSpec = serde_json::from_value(json!({"guest_OS": "UBUNTU_64"})).unwrap();
        let b: CreateSpec = serde_json::from_value(json!({"guest_os": "UBUNTU_64", "unknown": 1})).unwrap();
        assert_eq!(a.guest_os.as_deref(), Some("UBUNTU_64"));
        assert_eq!(b.guest_os.as_deref(), Some("UBUNTU_64"));
    }
}
