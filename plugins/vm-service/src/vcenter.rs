//! The vSphere Automation API calls vm-service makes, through the host's
//! `vcenter` interface: find a VM by name, create it on the NSX segments of
//! its interfaces, power it, read what VMware Tools reports, delete it.
//!
//! A VM is found again by its name, which is the VirtualMachine's, so a
//! reconcile that died after the create finds the VM instead of making a
//! second one.

use serde::Deserialize;
use serde_json::{Value, json};
use wasmvisor_sdk::{Endpoint, Error, Method};

/// A VM as the list call returns it.
#[derive(Debug, Clone, Deserialize)]
pub struct VmSummary {
    /// MoID, e.g. `vm-1001`.
    pub vm: String,
    /// `POWERED_ON`, `POWERED_OFF` or `SUSPENDED`.
    pub power_state: String,
}

/// What vm-service reads back from a VM.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct VmInfo {
    /// BIOS and instance UUIDs.
    #[serde(default)]
    pub identity: Identity,
    /// NICs by device key.
    #[serde(default)]
    pub nics: std::collections::BTreeMap<String, Nic>,
}

/// `identity` of a VM.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Identity {
    /// SMBIOS UUID.
    pub bios_uuid: Option<String>,
    /// Instance UUID.
    pub instance_uuid: Option<String>,
}

/// One NIC of a VM.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Nic {
    /// Its MAC.
    pub mac_address: Option<String>,
    /// `CONNECTED`, …
    pub state: Option<String>,
}

/// What VMware Tools says about the guest.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct GuestIdentity {
    /// Guest host name.
    pub host_name: Option<String>,
    /// Primary IP, once the guest network is up.
    pub ip_address: Option<String>,
}

/// What VMware Tools reports once it runs.
#[derive(Debug, Clone, Default)]
pub struct Guest {
    /// Host name and primary IP.
    pub identity: GuestIdentity,
    /// Every guest address, by NIC.
    pub addresses: Vec<GuestAddress>,
}

/// One guest address of one NIC.
#[derive(Debug, Clone)]
pub struct GuestAddress {
    /// The NIC's MAC.
    pub mac: String,
    /// The address in CIDR form, e.g. `10.244.0.18/28`.
    pub cidr: String,
}

#[derive(Deserialize)]
struct Tools {
    run_state: String,
}

#[derive(Deserialize)]
struct GuestInterface {
    mac_address: Option<String>,
    #[serde(default)]
    ip: Option<GuestIp>,
}

#[derive(Deserialize)]
struct GuestIp {
    #[serde(default)]
    ip_addresses: Vec<ReportedAddress>,
}

#[derive(Deserialize)]
struct ReportedAddress {
    ip_address: String,
    prefix_length: u8,
}

/// One NIC to create: its MAC (NCP's) on the port group of a segment.
#[derive(Debug, Clone)]
pub struct NicSpec {
    /// The MAC NCP gave the port.
    pub mac_address: String,
    /// The vCenter network (port group) of the segment.
    pub network: String,
}

/// What a new VM gets.
#[derive(Debug, Clone)]
pub struct CreateSpec {
    /// The VM name (the VirtualMachine's).
    pub name: String,
    /// Guest OS id, e.g. `VMWARE_PHOTON_64`.
    pub guest_os: String,
    /// vCPUs from the class.
    pub cpus: i64,
    /// Memory from the class, in MiB.
    pub memory_mib: i64,
    /// NICs.
    pub nics: Vec<NicSpec>,
}

/// vCenter through the host.
#[derive(Debug, Clone, Copy)]
pub struct Vcenter(pub Endpoint);

impl Vcenter {
    /// The VM called `name`, if vCenter has one.
    pub fn find(&self, name: &str) -> Result<Option<VmSummary>, Error> {
        let found: Vec<VmSummary> = self.0.get(&format!("/api/vcenter/vm?names={}", query(name)))?;
        Ok(found.into_iter().next())
    }

    /// The id of the port group vCenter shows for an NSX segment named `segment`.
    pub fn network(&self, segment: &str) -> Result<String, Error> {
        #[derive(Deserialize)]
        struct Network {
            network: String,
        }
        let found: Vec<Network> = self.0.get(&format!("/api/vcenter/network?names={}", query(segment)))?;
        found.into_iter().next().map(|n| n.network).ok_or_else(|| {
            Error::Unavailable(format!("vCenter shows no port group {segment:?} for the NSX segment yet"))
        })
    }

    /// Creates the VM in the first VM folder, resource pool and datastore.
    pub fn create(&self, spec: &CreateSpec) -> Result<String, Error> {
        let first = |path: &str, field: &str| -> Result<String, Error> {
            let items: Vec<Value> = self.0.get(path)?;
            items
                .first()
                .and_then(|i| i.get(field))
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| Error::Unavailable(format!("vCenter lists nothing at {path}")))
        };
        let folder = first("/api/vcenter/folder?type=VIRTUAL_MACHINE", "folder")?;
        let pool = first("/api/vcenter/resource-pool", "resource_pool")?;
        let datastore = first("/api/vcenter/datastore", "datastore")?;
        let nics: Vec<Value> = spec
            .nics
            .iter()
            .map(|nic| {
                json!({
                    "type": "VMXNET3",
                    "mac_type": "MANUAL",
                    "mac_address": nic.mac_address,
                    "start_connected": true,
                    "backing": {"type": "DISTRIBUTED_PORTGROUP", "network": nic.network},
                })
            })
            .collect();
        let body = json!({
            "name": spec.name,
            "guest_OS": spec.guest_os,
            "placement": {"folder": folder, "resource_pool": pool, "datastore": datastore},
            "cpu": {"count": spec.cpus},
            "memory": {"size_MiB": spec.memory_mib},
            "nics": nics,
        });
        let response = self.0.send(Method::Post, "/api/vcenter/vm", &body)?;
        Ok(serde_json::from_str(&response.body)?)
    }

    /// Powers the VM on (`on`) or off, unless it already is.
    pub fn power(&self, vm: &VmSummary, on: bool) -> Result<(), Error> {
        let wanted = if on { "POWERED_ON" } else { "POWERED_OFF" };
        if vm.power_state == wanted {
            return Ok(());
        }
        let action = if on { "start" } else { "stop" };
        self.0.request(Method::Post, &format!("/api/vcenter/vm/{}/power?action={action}", vm.vm), None)?;
        Ok(())
    }

    /// The VM's identity and NICs.
    pub fn info(&self, vm: &str) -> Result<VmInfo, Error> {
        self.0.get(&format!("/api/vcenter/vm/{vm}"))
    }

    /// What Tools reports, or `None` while Tools is not running yet.
    pub fn guest(&self, vm: &str) -> Result<Option<Guest>, Error> {
        let tools: Tools = self.0.get(&format!("/api/vcenter/vm/{vm}/tools"))?;
        if tools.run_state == "NOT_RUNNING" {
            return Ok(None);
        }
        let identity: GuestIdentity = self.0.get(&format!("/api/vcenter/vm/{vm}/guest/identity"))?;
        let interfaces: Vec<GuestInterface> =
            self.0.get(&format!("/api/vcenter/vm/{vm}/guest/networking/interfaces"))?;
        let addresses = interfaces
            .into_iter()
            .flat_map(|i| {
                let mac = i.mac_address.unwrap_or_default();
                i.ip.map(|ip| ip.ip_addresses).unwrap_or_default().into_iter().map(move |a| GuestAddress {
                    mac: mac.clone(),
                    cidr: format!("{}/{}", a.ip_address, a.prefix_length),
                })
            })
            .collect();
        Ok(Some(Guest { identity, addresses }))
    }

    /// Powers the VM off and deletes it (vCenter refuses to delete a running VM).
    pub fn remove(&self, vm: &VmSummary) -> Result<(), Error> {
        self.power(vm, false)?;
        match self.0.request(Method::Delete, &format!("/api/vcenter/vm/{}", vm.vm), None) {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// Percent-encodes a query value (names are DNS labels, but be exact).
fn query(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
