//! VirtualMachine → a VirtualNetworkInterface per NSX NIC, then the vCenter
//! VM on the segments NCP made (with the MACs NCP gave), powered on, and its
//! MoID, UUIDs and guest IP in status.
//!
//! vCenter has no watch, so while the guest has no IP yet the VM is looked
//! at again every second; everything else is driven by changes (an
//! interface's status re-queues its VM through the controller reference).

use std::time::Duration;

use wasmvisor_chain_api::conditions::ncp_ready;
use wasmvisor_chain_api::ncp::{VirtualNetworkInterface, VirtualNetworkInterfaceSpec};
use wasmvisor_chain_api::vmop::{
    NetworkInterfaceStatus, NetworkType, PowerState, VirtualMachine, VirtualMachineClass,
    VirtualMachineImage, VirtualMachinePhase, VirtualMachineStatus, condition, reason,
};
use wasmvisor_chain_api::{Condition, Resource, Severity, labels, names, new_object, set_condition, status};
use wasmvisor_sdk::{Action, Context, Error};

use crate::vcenter::{CreateSpec, NicSpec, Vcenter};

/// How often a VM whose guest has not reported an IP yet is looked at again.
const GUEST_POLL: Duration = Duration::from_secs(1);

/// Memory of a class (a Kubernetes quantity such as `4Gi`) in MiB.
pub fn memory_mib(quantity: &str) -> Option<i64> {
    let q = quantity.trim();
    let split = q.find(|c: char| !c.is_ascii_digit()).unwrap_or(q.len());
    let (number, unit) = q.split_at(split);
    let n: i64 = number.parse().ok()?;
    let bytes = match unit {
        "" => n,
        "Ki" => n << 10,
        "Mi" => n << 20,
        "Gi" => n << 30,
        "Ti" => n << 40,
        "k" => n * 1_000,
        "M" => n * 1_000_000,
        "G" => n * 1_000_000_000,
        "T" => n * 1_000_000_000_000,
        _ => return None,
    };
    Some(bytes >> 20)
}

/// The vSphere Automation API's guest OS id for an image's OVF guest type
/// (`vmwarePhoton64Guest` → `VMWARE_PHOTON_64`).
pub fn guest_os(ovf_type: Option<&str>) -> &'static str {
    let ovf = ovf_type.unwrap_or_default().to_ascii_lowercase();
    if ovf.contains("photon") {
        "VMWARE_PHOTON_64"
    } else if ovf.contains("ubuntu") {
        "UBUNTU_64"
    } else if ovf.contains("centos") || ovf.contains("rhel") {
        "CENTOS_8_64"
    } else {
        "OTHER_3X_LINUX_64"
    }
}

fn set_status(
    ctx: &Context,
    vm: &VirtualMachine,
    change: impl FnOnce(&mut VirtualMachineStatus),
) -> Result<(), Error> {
    status::set(ctx, vm, change)
}

/// The class and image the VM names, or the prerequisite condition saying which is missing.
fn prerequisites(
    ctx: &Context,
    vm: &VirtualMachine,
    namespace: &str,
) -> Result<Result<(VirtualMachineClass, VirtualMachineImage), Condition>, Error> {
    let kube = ctx.kube();
    let class: Option<VirtualMachineClass> =
        kube.get_opt(&VirtualMachineClass::named(ctx.cluster(), namespace, &vm.spec.class_name))?;
    let Some(class) = class else {
        let message = format!(
            "spec.className {:?} is not a VirtualMachineClass here; pick one of `kubectl get virtualmachineclasses`",
            vm.spec.class_name
        );
        return Ok(Err(Condition::false_(
            condition::PREREQ_READY,
            reason::CLASS_NOT_FOUND,
            Severity::Error,
            &message,
        )));
    };
    let image: Option<VirtualMachineImage> =
        kube.get_opt(&VirtualMachineImage::named(ctx.cluster(), namespace, &vm.spec.image_name))?;
    let Some(image) = image else {
        let message = format!(
            "spec.imageName {:?} is not a VirtualMachineImage here; pick one of `kubectl get virtualmachineimages`",
            vm.spec.image_name
        );
        return Ok(Err(Condition::false_(
            condition::PREREQ_READY,
            reason::IMAGE_NOT_FOUND,
            Severity::Error,
            &message,
        )));
    };
    Ok(Ok((class, image)))
}

/// The VirtualNetworkInterface of each NSX NIC, as applied (status included).
fn interfaces(
    ctx: &Context,
    vm: &VirtualMachine,
    namespace: &str,
) -> Result<Vec<VirtualNetworkInterface>, Error> {
    let owner = vm.owner_reference(true).ok_or_else(|| Error::Unavailable("the VM has no uid yet".into()))?;
    let mut applied = Vec::new();
    for (index, nic) in vm.spec.network_interfaces.iter().enumerate() {
        if !matches!(nic.network_type, Some(NetworkType::NsxT) | None) {
            continue;
        }
        let network = nic.network_name.clone().unwrap_or_default();
        let name = names::virtual_network_interface(&network, &vm.metadata.name);
        let mut vni: VirtualNetworkInterface = new_object(
            namespace,
            &name,
            VirtualNetworkInterfaceSpec { virtual_network: Some(network).filter(|n| !n.is_empty()) },
        );
        vni.metadata.labels.insert(labels::VM_NAME.into(), vm.metadata.name.clone());
        vni.metadata.labels.insert(labels::VM_INTERFACE_NAME.into(), format!("eth{index}"));
        vni.metadata.owner_references = vec![owner.clone()];
        applied.push(ctx.kube().apply(ctx.cluster(), &vni)?);
    }
    Ok(applied)
}

/// Creates, powers on and reports the VM.
pub fn reconcile(ctx: &Context, vm: VirtualMachine) -> Result<Action, Error> {
    let namespace = vm.metadata.namespace.clone().unwrap_or_default();
    let (class, image) = match prerequisites(ctx, &vm, &namespace)? {
        Ok(found) => found,
        Err(missing) => {
            set_status(ctx, &vm, |s| {
                set_condition(&mut s.conditions, missing);
            })?;
            // Nothing to do until the VM (its class or image name) changes.
            return Ok(Action::done());
        }
    };
    let vnis = interfaces(ctx, &vm, &namespace)?;
    let ready: Vec<&VirtualNetworkInterface> =
        vnis.iter().filter(|v| v.status.as_ref().is_some_and(|s| ncp_ready(&s.conditions))).collect();
    if ready.len() < vnis.len() {
        set_status(ctx, &vm, |s| {
            set_condition(&mut s.conditions, Condition::true_(condition::PREREQ_READY));
            s.phase = Some(VirtualMachinePhase::Creating);
        })?;
        // Each interface's status change re-queues the VM (controller reference).
        return Ok(Action::done());
    }

    let vcenter = Vcenter(ctx.vcenter());
    let existing = match vcenter.find(&vm.metadata.name)? {
        Some(found) => found,
        None => {
            let mut nics = Vec::new();
            for vni in &ready {
                let mac = vni.status.as_ref().and_then(|s| s.mac_address.clone()).unwrap_or_default();
                let network = vni.spec.virtual_network.clone().unwrap_or_default();
                nics.push(NicSpec {
                    mac_address: mac.to_lowercase(),
                    network: vcenter.network(&names::segment(&namespace, &network))?,
                });
            }
            let hardware = class.spec.hardware.clone().unwrap_or_default();
            let spec = CreateSpec {
                name: vm.metadata.name.clone(),
                guest_os: guest_os(image.spec.os_info.as_ref().and_then(|o| o.type_.as_deref())).to_owned(),
                cpus: hardware.cpus.unwrap_or(2),
                memory_mib: hardware.memory.as_ref().and_then(|m| memory_mib(&m.0)).unwrap_or(4096),
                nics,
            };
            let id = vcenter.create(&spec)?;
            wasmvisor_sdk::log::info("vCenter VM created", &[("vm", &id), ("name", &spec.name)]);
            vcenter
                .find(&vm.metadata.name)?
                .ok_or_else(|| Error::Unavailable(format!("{id} not listed yet")))?
        }
    };
    let powered_on = vm.spec.power_state.unwrap_or(PowerState::PoweredOn) == PowerState::PoweredOn;
    vcenter.power(&existing, powered_on)?;
    let info = vcenter.info(&existing.vm)?;
    let guest = if powered_on { vcenter.guest(&existing.vm)? } else { None };
    let vm_ip = guest.as_ref().and_then(|g| g.identity.ip_address.clone());
    set_status(ctx, &vm, |s| {
        set_condition(&mut s.conditions, Condition::true_(condition::PREREQ_READY));
        s.phase = Some(VirtualMachinePhase::Created);
        s.power_state = Some(if powered_on { PowerState::PoweredOn } else { PowerState::PoweredOff });
        s.unique_id = Some(existing.vm.clone());
        s.bios_uuid = info.identity.bios_uuid.clone();
        s.instance_uuid = info.identity.instance_uuid.clone();
        s.host_name = guest.as_ref().and_then(|g| g.identity.host_name.clone());
        s.vm_ip = vm_ip.clone();
        s.network_interfaces = info
            .nics
            .values()
            .map(|nic| {
                let mac = nic.mac_address.clone().unwrap_or_default();
                NetworkInterfaceStatus {
                    connected: Some(nic.state.as_deref() == Some("CONNECTED")),
                    ip_addresses: guest
                        .iter()
                        .flat_map(|g| g.addresses.iter())
                        .filter(|a| a.mac.eq_ignore_ascii_case(&mac))
                        .map(|a| a.cidr.clone())
                        .collect(),
                    mac_address: Some(mac),
                }
            })
            .collect();
        let tools = if guest.is_some() {
            Condition::true_(condition::TOOLS)
        } else {
            Condition::false_(condition::TOOLS, reason::TOOLS_NOT_RUNNING, Severity::Info, "")
        };
        set_condition(&mut s.conditions, tools);
    })?;
    if powered_on && vm_ip.is_none() {
        return Ok(Action::requeue(GUEST_POLL));
    }
    Ok(Action::done())
}

/// Powers the vCenter VM off and deletes it; its interfaces go with the
/// VirtualMachine through their controller reference.
pub fn finalize(ctx: &Context, vm: VirtualMachine) -> Result<Action, Error> {
    let vcenter = Vcenter(ctx.vcenter());
    if let Some(existing) = vcenter.find(&vm.metadata.name)? {
        vcenter.remove(&existing)?;
        wasmvisor_sdk::log::info("vCenter VM deleted", &[("vm", &existing.vm)]);
    }
    Ok(Action::done())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ovf_guest_types_map_to_api_ids() {
        assert_eq!(guest_os(Some("vmwarePhoton64Guest")), "VMWARE_PHOTON_64");
        assert_eq!(guest_os(Some("ubuntu64Guest")), "UBUNTU_64");
        assert_eq!(guest_os(None), "OTHER_3X_LINUX_64");
    }

    #[test]
    fn class_memory_converts_to_mib() {
        assert_eq!(memory_mib("4Gi"), Some(4096));
        assert_eq!(memory_mib("512Mi"), Some(512));
        assert_eq!(memory_mib("2G"), Some(1907));
        assert_eq!(memory_mib("lots"), None);
    }
}
