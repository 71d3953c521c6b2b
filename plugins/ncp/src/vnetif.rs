//! VirtualNetworkInterface → an NSX segment port on its network's segment,
//! with an IP from the network's pool and a MAC, written back to the
//! interface's status for vm-service to put on the VM's NIC.
//!
//! The IP allocation, the port, its MAC and its attachment id all derive
//! from the interface's identity, so a retry finds them again and vCenter,
//! creating the NIC with that MAC, attaches it to this very port.

use ipnet::Ipv4Net;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use wasmvisor_chain_api::conditions::ncp_ready;
use wasmvisor_chain_api::ncp::{
    VirtualNetwork, VirtualNetworkInterface, VirtualNetworkInterfaceIp,
    VirtualNetworkInterfaceProviderStatus, VirtualNetworkInterfaceStatus,
};
use wasmvisor_chain_api::{NcpCondition, Resource, set_condition};
use wasmvisor_sdk::{Action, Context, Error};

use crate::ids;
use crate::nsx::Nsx;
use crate::vnet::{self, Paths};

/// Where one interface lives in NSX.
struct Port {
    allocation: String,
    port: String,
    segment: String,
    subnet: String,
}

impl Port {
    fn of(vni: &VirtualNetworkInterface) -> Result<(Self, String), Error> {
        let namespace = vni.metadata.namespace.clone().unwrap_or_default();
        let network = vni.spec.virtual_network.clone().filter(|n| !n.is_empty()).ok_or_else(|| {
            Error::Invalid(format!(
                "VirtualNetworkInterface {namespace}/{}: spec.virtualNetwork is empty; name the VirtualNetwork of the NIC (this NCP has no namespace default network)",
                vni.metadata.name
            ))
        })?;
        let paths = Paths::of(&namespace, &network);
        let id = ids::base(&namespace, &vni.metadata.name);
        Ok((
            Self {
                allocation: format!("{}/ip-allocations/{id}", paths.pool),
                port: format!("{}/ports/{id}", paths.segment),
                segment: paths.segment,
                subnet: paths.subnet,
            },
            network,
        ))
    }
}

#[derive(Deserialize)]
struct Allocation {
    allocation_ip: Option<String>,
}

#[derive(Deserialize)]
struct Subnet {
    cidr: Option<String>,
}

/// A locally administered MAC derived from `seed` (NSX's own pool hands out
/// `02:50:56:…` addresses the same way: unique, stable for the port).
pub fn mac_address(seed: &str) -> String {
    let d = Sha256::digest(seed.as_bytes());
    format!("02:50:56:{:02x}:{:02x}:{:02x}", d[0], d[1], d[2])
}

/// A UUID-shaped VIF attachment id derived from `seed`.
pub fn attachment_id(seed: &str) -> String {
    let d = Sha256::digest(format!("vif/{seed}").as_bytes());
    let hex: String = d.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

/// Makes the interface's port and reports its addresses.
pub fn reconcile(ctx: &Context, vni: VirtualNetworkInterface) -> Result<Action, Error> {
    let namespace = vni.metadata.namespace.clone().unwrap_or_default();
    let (port, network) = Port::of(&vni)?;
    let vnet: Option<VirtualNetwork> =
        ctx.kube().get_opt(&VirtualNetwork::named(ctx.cluster(), &namespace, &network))?;
    let ready = vnet.as_ref().and_then(|v| v.status.as_ref()).is_some_and(|s| ncp_ready(&s.conditions));
    if !ready {
        let message = format!("waiting for VirtualNetwork {namespace}/{network} to be ready");
        report(ctx, &vni, |s| {
            set_condition(&mut s.conditions, NcpCondition::ready(false, "VirtualNetworkNotReady", &message))
        })?;
        // The network's change re-queues this interface (a `related` entry).
        return Ok(Action::done());
    }
    let cluster = vnet.as_ref().and_then(|v| vnet::cluster_of(&v.metadata.labels)).map(str::to_owned);
    let tags = ids::tags(VirtualNetworkInterface::KIND, &namespace, &vni.metadata.name, cluster.as_deref());
    let nsx = Nsx::new(ctx.nsx());
    nsx.patch(&port.allocation, json!({"resource_type": "IpAddressAllocation"}), &tags)?;
    let ip = nsx.get::<Allocation>(&port.allocation)?.and_then(|a| a.allocation_ip);
    let Some(ip) = ip else {
        let message = format!("the network {namespace}/{network} has no free address left");
        report(ctx, &vni, |s| {
            set_condition(&mut s.conditions, NcpCondition::ready(false, "IPExhausted", &message))
        })?;
        return Ok(Action::requeue(std::time::Duration::from_secs(10)));
    };
    let seed = vni.metadata.uid.clone().unwrap_or_else(|| format!("{namespace}/{}", vni.metadata.name));
    let mac = mac_address(&seed);
    let attachment = attachment_id(&seed);
    nsx.patch(
        &port.port,
        json!({
            "resource_type": "SegmentPort",
            "display_name": format!("{namespace}/{}", vni.metadata.name),
            "attachment": {"id": attachment},
            "address_bindings": [{"ip_address": ip, "mac_address": mac}],
            "admin_state": "UP",
        }),
        &tags,
    )?;
    let subnet =
        nsx.get::<Subnet>(&port.subnet)?.and_then(|s| s.cidr).and_then(|c| c.parse::<Ipv4Net>().ok());
    let Some(subnet) = subnet else {
        return Err(Error::Unavailable(format!(
            "the subnet of {network} at {} has no CIDR yet",
            port.subnet
        )));
    };
    let gateway = crate::settings::gateway(subnet);
    let switch = nsx.realized_id(&port.segment)?;
    let logical_port = nsx.realized_id(&port.port)?;
    report(ctx, &vni, |s| {
        let mut changed = set_condition(&mut s.conditions, NcpCondition::ready(true, "", ""));
        let addresses = vec![VirtualNetworkInterfaceIp {
            ip: Some(ip.clone()),
            subnet_mask: Some(subnet.netmask().to_string()),
            gateway: gateway.split('/').next().map(str::to_owned),
        }];
        let provider = Some(VirtualNetworkInterfaceProviderStatus {
            nsx_logical_switch_id: switch.clone(),
            nsx_logical_port_id: logical_port.clone(),
        });
        changed |= s.ip_addresses != addresses || s.provider_status != provider;
        changed |= s.mac_address.as_deref() != Some(mac.as_str())
            || s.interface_id.as_deref() != Some(attachment.as_str());
        s.ip_addresses = addresses;
        s.provider_status = provider;
        s.mac_address = Some(mac.clone());
        s.interface_id = Some(attachment.clone());
        changed
    })?;
    Ok(Action::done())
}

/// Removes the port and frees its address.
pub fn finalize(ctx: &Context, vni: VirtualNetworkInterface) -> Result<Action, Error> {
    let Ok((port, _)) = Port::of(&vni) else { return Ok(Action::done()) };
    let nsx = Nsx::new(ctx.nsx());
    nsx.delete(&port.port)?;
    nsx.delete(&port.allocation)?;
    Ok(Action::done())
}

fn report(
    ctx: &Context,
    vni: &VirtualNetworkInterface,
    update: impl FnOnce(&mut VirtualNetworkInterfaceStatus) -> bool,
) -> Result<(), Error> {
    wasmvisor_chain_api::status::update(ctx, vni, update)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_and_attachment_are_stable_per_interface() {
        assert_eq!(mac_address("uid-1"), mac_address("uid-1"));
        assert_ne!(mac_address("uid-1"), mac_address("uid-2"));
        assert!(mac_address("uid-1").starts_with("02:50:56:"));
        let id = attachment_id("uid-1");
        assert_eq!(id.len(), 36);
        assert_eq!(id.matches('-').count(), 4);
    }
}
