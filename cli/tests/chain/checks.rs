//! What one guest cluster must look like in vCenter and NSX, read from the
//! simulators themselves: its VMs, its one Tier-1 and segment, the control
//! plane's virtual server and pool, and nothing of it once it is deleted.

use std::net::Ipv4Addr;

use serde_json::Value;

use crate::supervisor::{CONVERGE, Supervisor};
use crate::support::eventually;
use crate::world::{CLUSTER_SCOPE, NAMESPACE_SCOPE, OWNER_SCOPE, Vm, World, has_tag};

/// What a running cluster has in the simulators.
#[derive(Debug, Clone)]
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
    let members = pool_members(world, server)?;
    let planes = member_addresses(&machines, true, "6443");
    if members != planes {
        return Err(format!("control-plane pool members {members:?}, control-plane VMs {planes:?}"));
    }
    let segment_id = segment["id"].as_str().unwrap_or_default().to_owned();
    let ports = world.nsx_list(&format!("/infra/segments/{segment_id}/ports")).len();
    Ok(Footprint { subnet, segment: segment_id, vip, control_plane_members: members, ports })
}

/// The members (`ip:port`, sorted) of the pool behind virtual server `server`.
fn pool_members(world: &World, server: &Value) -> Result<Vec<String>, String> {
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
    Ok(members)
}

/// `ip:port` (sorted) of the control-plane VMs, or of the workers.
fn member_addresses(machines: &[Vm], control_plane: bool, port: &str) -> Vec<String> {
    let mut addresses: Vec<String> = machines
        .iter()
        .filter(|v| v.name.contains("-control-plane-") == control_plane)
        .map(|v| format!("{}:{port}", v.ip.as_deref().unwrap_or_default()))
        .collect();
    addresses.sort();
    addresses
}

/// The NSX load balancer of a guest LoadBalancer Service: the virtual
/// server on `port` in `namespace` that is not a control plane's, its VIP,
/// and whether its pool holds exactly the workers of cluster `name` on
/// `node_port`. `Err` says what is off.
pub(crate) fn guest_service_balancer(
    supervisor: &Supervisor,
    namespace: &str,
    name: &str,
    port: u16,
    node_port: u16,
) -> Result<String, String> {
    let world = &supervisor.world;
    let servers: Vec<Value> = world
        .nsx_tagged("/infra/lb-virtual-servers", NAMESPACE_SCOPE, namespace)
        .into_iter()
        .filter(|v| v["ports"] == serde_json::json!([port.to_string()]))
        .collect();
    let server = only(&servers, &format!("virtual servers on {port}"))?;
    let vip = server["ip_address"].as_str().unwrap_or_default().to_owned();
    if !contains(cidr(&supervisor.ingress), &vip) {
        return Err(format!("VIP {vip} is outside the ingress range {}", supervisor.ingress));
    }
    let members = pool_members(world, server)?;
    let workers = member_addresses(&world.vms(&format!("{name}-")), false, &node_port.to_string());
    if members != workers {
        return Err(format!("the Service's pool members {members:?}, the workers {workers:?}"));
    }
    Ok(vip)
}

/// The NSX objects still there for the Supervisor Service `service` in
/// `namespace` (its virtual server, pool and VIP allocation, tagged with it
/// as their owner); empty once it is gone.
pub(crate) fn service_leftovers(world: &World, namespace: &str, service: &str) -> Vec<String> {
    let owner = format!("Service/{namespace}/{service}");
    ["/infra/lb-virtual-servers", "/infra/lb-pools", "/infra/ip-pools/ingress/ip-allocations"]
        .into_iter()
        .flat_map(|collection| world.nsx_tagged(collection, OWNER_SCOPE, &owner))
        .map(|object| format!("NSX {}", object["path"].as_str().unwrap_or_default()))
        .collect()
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

/// Scales the cluster's first node pool to `workers` and waits until it has
/// `vms` VMs, one port each, and is `running` again; its footprint then.
pub(crate) fn scale_to(
    supervisor: &Supervisor,
    namespace: &str,
    name: &str,
    workers: u32,
    vms: usize,
) -> Footprint {
    supervisor.scale(namespace, name, workers);
    eventually(&format!("{workers} workers in {namespace}/{name}"), CONVERGE, |last| {
        let tkc = supervisor.tkc(namespace, name)?;
        let found = footprint(supervisor, namespace, name, vms).map_err(|e| *last = e).ok()?;
        (found.ports == vms && tkc["status"]["phase"] == "running").then_some(found)
    })
}

/// Deletes the TKCs `clusters` (namespace, name) and waits until nothing of
/// them is left in either simulator or the API server.
pub(crate) fn delete_and_wait_gone(supervisor: &Supervisor, clusters: &[(&str, &str)]) {
    for (namespace, name) in clusters {
        supervisor.kubectl(&["delete", "tkc", name, "-n", namespace, "--wait=false"]);
    }
    wait_gone(supervisor, clusters);
}

/// Waits until nothing of the clusters (namespace, name) is left in either
/// simulator or the API server.
pub(crate) fn wait_gone(supervisor: &Supervisor, clusters: &[(&str, &str)]) {
    for (namespace, name) in clusters {
        eventually(&format!("nothing of {namespace}/{name} to remain"), CONVERGE, |last| {
            let mut left = leftovers(&supervisor.world, namespace, name);
            left.extend(api_leftovers(supervisor, namespace));
            *last = left.join("\n");
            left.is_empty().then_some(())
        });
    }
}

/// What of namespace `namespace` the API server still holds.
pub(crate) fn api_leftovers(supervisor: &Supervisor, namespace: &str) -> Vec<String> {
    supervisor.names(
        "tkc,clusters,kubeadmcontrolplanes,machinedeployments,machinesets,machines,vsphereclusters,vspheremachines,virtualmachines,virtualnetworks,virtualnetworkinterfaces,virtualmachineservices,services,endpoints",
        namespace,
    )
}
