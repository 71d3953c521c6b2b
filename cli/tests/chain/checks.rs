//! What one guest cluster must look like in vCenter and NSX, read from the
//! simulators themselves: its VMs, its one Tier-1 and segment, the control
//! plane's virtual server and pool, and nothing of it once it is deleted.

use std::net::Ipv4Addr;

use serde_json::Value;

use crate::supervisor::Supervisor;
use crate::world::{CLUSTER_SCOPE, NAMESPACE_SCOPE, World, has_tag};

/// What a running cluster has in the simulators.
#[derive(Debug)]
pub(crate) struct Footprint {
    /// Its segment's subnet (NSX).
    pub(crate) subnet: (Ipv4Addr, u8),
    /// Its segment's id.
    pub(crate) segment: String,
    /// The control plane's VIP.
    pub(crate) vip: String,
    /// The control-plane pool's members, `ip:port`.
    pub(crate) control_plane_members: Vec<String>,
    /// Ports on its segment.
    pub(crate) ports: usize,
}

fn contains(subnet: (Ipv4Addr, u8), ip: &str) -> bool {
    let Ok(ip) = ip.parse::<Ipv4Addr>() else { return false };
    let mask = u32::MAX.checked_shl(32 - u32::from(subnet.1)).unwrap_or(0);
    u32::from(ip) & mask == u32::from(subnet.0) & mask
}

fn cidr(text: &str) -> (Ipv4Addr, u8) {
    let (ip, prefix) = text.split_once('/').expect("a CIDR");
    (ip.parse().unwrap(), prefix.parse().unwrap())
}

fn only<'a>(objects: &'a [Value], what: &str) -> Result<&'a Value, String> {
    match objects {
        [one] => Ok(one),
        other => Err(format!("{} {what}: {}", other.len(), serde_json::to_string(other).unwrap())),
    }
}

/// Reads the cluster `name` in `namespace` and checks it is whole: `vms`
/// VMs powered on with IPs from its segment's subnet, exactly one Tier-1
/// and one segment, a virtual server on 6443 with a VIP from the ingress
/// range whose pool holds exactly the control-plane VMs, every object
/// tagged with the cluster's identity. `Err` says what is off.
pub(crate) fn footprint(
    supervisor: &Supervisor,
    namespace: &str,
    name: &str,
    vms: usize,
) -> Result<Footprint, String> {
    let world = &supervisor.world;
    let tagged = |collection: &str| -> Vec<Value> {
        world
            .nsx_tagged(collection, NAMESPACE_SCOPE, namespace)
            .into_iter()
            .filter(|o| has_tag(o, CLUSTER_SCOPE, name))
            .collect()
    };
    let machines = world.vms(&format!("{name}-"));
    if machines.len() != vms || machines.iter().any(|v| v.power_state != "POWERED_ON" || v.ip.is_none()) {
        return Err(format!("want {vms} VMs powered on with IPs, vCenter has {machines:?}"));
    }
    let tier1s = tagged("/infra/tier-1s");
    only(&tier1s, "Tier-1s")?;
    let segments = tagged("/infra/segments");
    let segment = only(&segments, "segments")?;
    let gateway = segment["subnets"][0]["gateway_address"].as_str().ok_or("a segment without a subnet")?;
    let subnet = cidr(gateway);
    if let Some(outside) = machines.iter().find(|v| !contains(subnet, v.ip.as_deref().unwrap_or_default())) {
        return Err(format!("{outside:?} is outside the segment subnet {gateway}"));
    }
    let servers: Vec<Value> = tagged("/infra/lb-virtual-servers")
        .into_iter()
        .filter(|v| v["ports"] == serde_json::json!(["6443"]))
        .collect();
    let server = only(&servers, "virtual servers on 6443")?;
    let vip = server["ip_address"].as_str().unwrap_or_default().to_owned();
    if !contains(cidr(&supervisor.ingress), &vip) {
        return Err(format!("VIP {vip} is outside the ingress range {}", supervisor.ingress));
    }
    let pool = world
        .nsx_get(server["pool_path"].as_str().unwrap_or_default().trim_start_matches("/policy/api/v1"))
        .ok_or("the virtual server's pool is missing")?;
    let mut members: Vec<String> = pool["members"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            format!(
                "{}:{}",
                m["ip_address"].as_str().unwrap_or_default(),
                m["port"].as_str().unwrap_or_default()
            )
        })
        .collect();
    members.sort();
    let mut planes: Vec<String> = machines
        .iter()
        .filter(|v| v.name.contains("-control-plane-"))
        .map(|v| format!("{}:6443", v.ip.as_deref().unwrap_or_default()))
        .collect();
    planes.sort();
    if members != planes {
        return Err(format!("control-plane pool members {members:?}, control-plane VMs {planes:?}"));
    }
    let segment_id = segment["id"].as_str().unwrap_or_default().to_owned();
    let ports = world.nsx_list(&format!("/infra/segments/{segment_id}/ports")).len();
    Ok(Footprint { subnet, segment: segment_id, vip, control_plane_members: members, ports })
}

/// What of namespace `namespace` (and its cluster `name`'s VMs) is still in
/// either simulator; empty when it is all gone.
pub(crate) fn leftovers(world: &World, namespace: &str, name: &str) -> Vec<String> {
    let mut left: Vec<String> =
        world.vms(&format!("{name}-")).into_iter().map(|v| format!("vCenter VM {}", v.name)).collect();
    for collection in [
        "/infra/tier-1s",
        "/infra/segments",
        "/infra/lb-services",
        "/infra/lb-pools",
        "/infra/lb-virtual-servers",
        "/infra/ip-pools",
        "/infra/ip-pools/ingress/ip-allocations",
    ] {
        for object in world.nsx_tagged(collection, NAMESPACE_SCOPE, namespace) {
            left.push(format!("NSX {}", object["path"].as_str().unwrap_or_default()));
        }
    }
    left
}

/// What of namespace `namespace` the API server still holds.
pub(crate) fn api_leftovers(supervisor: &Supervisor, namespace: &str) -> Vec<String> {
    supervisor.names(
        "tkc,clusters,kubeadmcontrolplanes,machinedeployments,machinesets,machines,vsphereclusters,vspheremachines,virtualmachines,virtualnetworks,virtualnetworkinterfaces,virtualmachineservices,services,endpoints",
        namespace,
    )
}
