//! Where the two products meet: NSX segments are vCenter networks, and a VM NIC on such
//! a network is an NSX segment port carrying the NIC's MAC.
//!
//! Both simulators read and write one store (see `store`), so this linkage holds whether
//! they run in one process or as two processes on the same data dir:
//! - creating a segment (NSX) records a `dvportgroup-N` network for it in collection
//!   [`NSX_NETWORKS`]; vCenter lists it as a `DISTRIBUTED_PORTGROUP` named after the
//!   segment's `display_name`; deleting the segment removes it;
//! - creating a VM with a NIC on that network creates a port under the segment with
//!   `address_bindings[0].mac_address` = the NIC's MAC and an `attachment.id` (the VIF id),
//!   or, when NCP already made a port with that MAC, attaches to that one;
//! - the guest IP vCenter reports for the NIC is the IP bound on that port
//!   (`address_bindings[].ip_address`, as NCP assigns it), else one the simulator picks from
//!   the segment subnet at power-on (a stand-in for DHCP);
//! - deleting the VM removes the ports it created, so the segment can be deleted again.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde_json::{Map, Value, json};

use crate::cidr::{Range, first_free, parse_net};
use crate::nsx::deletion::is_marked;
use crate::nsx::kinds::parse_object;
use crate::nsx::segments::{SEGMENTS, subnets_of};
use crate::nsx::stamp::{Author, public_fields, stamp};
use crate::store::{StoreError, Tx};
use crate::vcenter::model::{NicRecord, PortLink, VM_COLLECTION, VmRecord};

/// Collection mapping vCenter network ids to NSX segment paths.
pub(crate) const NSX_NETWORKS: &str = "vcenter/nsx-networks";

/// The standard port group every vCenter has, for VMs not on NSX.
pub(crate) const VM_NETWORK: (&str, &str) = ("network-12", "VM Network");

/// Addresses handed to guests on [`VM_NETWORK`] (a stand-in for its DHCP server).
const VM_NETWORK_CIDR: &str = "10.10.0.1/16";

/// A vCenter network as the inventory lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Network {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) network_type: &'static str,
    /// The NSX segment behind it, for NSX-backed networks.
    pub(crate) segment: Option<String>,
}

/// Records a vCenter network for a newly created segment (idempotent).
pub(crate) fn ensure_network(tx: &Tx<'_>, segment_path: &str) -> Result<String, StoreError> {
    if let Some((id, _)) = find_network(tx, segment_path)? {
        return Ok(id);
    }
    let id = format!("dvportgroup-{}", tx.next_counter("dvportgroup", 1001)?);
    tx.put(NSX_NETWORKS, &id, &json!({"segment_path": segment_path}))?;
    Ok(id)
}

/// Forgets the vCenter network of a deleted segment.
pub(crate) fn forget_network(tx: &Tx<'_>, segment_path: &str) -> Result<(), StoreError> {
    if let Some((id, _)) = find_network(tx, segment_path)? {
        tx.delete(NSX_NETWORKS, &id)?;
    }
    Ok(())
}

/// Every network: the standard one, then one per NSX segment.
pub(crate) fn networks(tx: &Tx<'_>) -> Result<Vec<Network>, StoreError> {
    let mut out = vec![Network {
        id: VM_NETWORK.0.into(),
        name: VM_NETWORK.1.into(),
        network_type: "STANDARD_PORTGROUP",
        segment: None,
    }];
    for (id, link) in tx.list(NSX_NETWORKS)? {
        let Some(path) = link.get("segment_path").and_then(Value::as_str) else { continue };
        let Some(segment) = segment(tx, path)? else { continue };
        let name = segment.get("display_name").and_then(Value::as_str).unwrap_or(path).to_owned();
        out.push(Network { id, name, network_type: "DISTRIBUTED_PORTGROUP", segment: Some(path.to_owned()) });
    }
    Ok(out)
}

/// The network with this id, if any.
pub(crate) fn network(tx: &Tx<'_>, id: &str) -> Result<Option<Network>, StoreError> {
    Ok(networks(tx)?.into_iter().find(|n| n.id == id))
}

/// Connects a new NIC to `network`: creates or adopts the NSX segment port for NSX
/// networks; returns how the NIC is linked.
pub(crate) fn attach_nic(
    tx: &Tx<'_>,
    author: &Author,
    network: &Network,
    vm: &VmRecord,
    nic: &NicRecord,
) -> Result<Option<PortLink>, StoreError> {
    let Some(segment_path) = &network.segment else { return Ok(None) };
    let ports = format!("{segment_path}/ports");
    let vif = uuid::Uuid::new_v4().to_string();
    let attachment = json!({
        "id": vif,
        "type": "INDEPENDENT",
        "context_id": vm.instance_uuid,
        "allocate_addresses": "NONE",
    });
    for (id, port) in tx.list(&ports)? {
        if port_mac_matches(&port, &nic.mac_address) {
            let port_path = format!("{ports}/{id}");
            if let Some(existing) = port.get("attachment").and_then(|a| a.get("id")).and_then(Value::as_str) {
                return Ok(Some(PortLink {
                    port_path,
                    attachment_id: existing.to_owned(),
                    created: false,
                    attached: false,
                }));
            }
            let Some(object) = parse_object(&port_path) else { continue };
            let mut fields = public_fields(&port);
            fields.insert("attachment".into(), attachment);
            tx.put(&object.collection, &object.id, &stamp(Some(&port), &object, fields, author))?;
            return Ok(Some(PortLink { port_path, attachment_id: vif, created: false, attached: true }));
        }
    }
    let port_id = uuid::Uuid::new_v4().to_string();
    let port_path = format!("{ports}/{port_id}");
    let Some(object) = parse_object(&port_path) else { return Ok(None) };
    let mut fields = Map::new();
    fields.insert("resource_type".into(), json!("SegmentPort"));
    fields.insert("display_name".into(), json!(format!("{}-{}", vm.name, nic.label())));
    fields.insert("attachment".into(), attachment);
    fields.insert("address_bindings".into(), json!([{"mac_address": nic.mac_address}]));
    fields.insert("admin_state".into(), json!("UP"));
    fields.insert("tags".into(), json!([{"scope": "vcenter/vm", "tag": vm.id}]));
    tx.put(&object.collection, &object.id, &stamp(None, &object, fields, author))?;
    Ok(Some(PortLink { port_path, attachment_id: vif, created: true, attached: true }))
}

/// Undoes [`attach_nic`]: removes a port the VM created, or the attachment it added to
/// NCP's port; leaves a port it found attached alone.
pub(crate) fn detach_nic(tx: &Tx<'_>, author: &Author, link: &PortLink) -> Result<(), StoreError> {
    let Some(object) = parse_object(&link.port_path) else { return Ok(()) };
    if link.created {
        tx.delete(&object.collection, &object.id)?;
    } else if link.attached
        && let Some(port) = tx.get(&object.collection, &object.id)?
    {
        let mut fields = public_fields(&port);
        fields.remove("attachment");
        tx.put(&object.collection, &object.id, &stamp(Some(&port), &object, fields, author))?;
    }
    Ok(())
}

/// The IP NCP bound on the NIC's port (`address_bindings[].ip_address`), if any.
pub(crate) fn bound_ip(tx: &Tx<'_>, nic: &NicRecord) -> Result<Option<Ipv4Addr>, StoreError> {
    let Some(object) = nic.port.as_ref().and_then(|l| parse_object(&l.port_path)) else { return Ok(None) };
    let Some(port) = tx.get(&object.collection, &object.id)? else { return Ok(None) };
    Ok(bindings(&port)
        .filter(|b| {
            b.get("mac_address")
                .and_then(Value::as_str)
                .is_none_or(|m| m.eq_ignore_ascii_case(&nic.mac_address))
        })
        .find_map(|b| b.get("ip_address").and_then(Value::as_str).and_then(|ip| ip.parse().ok())))
}

/// The subnet guests on `network` get addresses from: the segment's first subnet (with
/// its gateway as address) or the standard network's stand-in DHCP range.
pub(crate) fn guest_subnet(tx: &Tx<'_>, network: &Network) -> Result<Option<Ipv4Net>, StoreError> {
    match &network.segment {
        None => Ok(parse_net(VM_NETWORK_CIDR)),
        Some(path) => Ok(segment(tx, path)?.and_then(|s| subnets_of(&s).into_iter().next())),
    }
}

/// Picks a free guest address on `network` for a NIC without a bound IP: not the
/// gateway, not bound on any port of the segment, not used by another NIC.
pub(crate) fn pick_guest_ip(tx: &Tx<'_>, network: &Network) -> Result<Option<Ipv4Addr>, StoreError> {
    let Some(subnet) = guest_subnet(tx, network)? else { return Ok(None) };
    let mut used: HashSet<Ipv4Addr> = HashSet::from([subnet.addr()]);
    if let Some(path) = &network.segment {
        for (_, port) in tx.list(&format!("{path}/ports"))? {
            used.extend(
                bindings(&port)
                    .filter_map(|b| b.get("ip_address").and_then(Value::as_str)?.parse::<Ipv4Addr>().ok()),
            );
        }
    }
    for (_, vm) in tx.list(VM_COLLECTION)? {
        let Ok(vm) = serde_json::from_value::<VmRecord>(vm) else { continue };
        used.extend(vm.nics.iter().filter(|n| n.network == network.id).filter_map(|n| n.guest_ip));
    }
    Ok(first_free(&[Range::hosts(subnet.trunc())], &used))
}

fn find_network(tx: &Tx<'_>, segment_path: &str) -> Result<Option<(String, Value)>, StoreError> {
    Ok(tx
        .list(NSX_NETWORKS)?
        .into_iter()
        .find(|(_, link)| link.get("segment_path").and_then(Value::as_str) == Some(segment_path)))
}

fn segment(tx: &Tx<'_>, path: &str) -> Result<Option<Value>, StoreError> {
    match path.strip_prefix(SEGMENTS).and_then(|rest| rest.strip_prefix('/')) {
        Some(id) => tx.get(SEGMENTS, id),
        None => Ok(None),
    }
}

fn bindings(port: &Value) -> impl Iterator<Item = &Value> {
    port.get("address_bindings").and_then(Value::as_array).into_iter().flatten()
}

fn port_mac_matches(port: &Value, mac: &str) -> bool {
    !is_marked(port)
        && bindings(port).any(|b| {
            b.get("mac_address").and_then(Value::as_str).is_some_and(|m| m.eq_ignore_ascii_case(mac))
        })
}
