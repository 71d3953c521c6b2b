//! A Service of type LoadBalancer → on its VirtualNetwork's Tier-1 an NSX
//! load balancer service, a VIP allocated from the ingress pool, and per
//! port a pool (the Endpoints' addresses) and a virtual server on the VIP;
//! the VIP goes into `status.loadBalancer.ingress`.
//!
//! Pools and virtual servers are tagged with the Service they serve, so
//! those of ports the Service no longer has are found and removed. The load
//! balancer service is the network's and goes with it.

use std::collections::BTreeSet;

use serde::Deserialize;
use serde_json::json;
use wasmvisor_chain_api::conditions::ncp_ready;
use wasmvisor_chain_api::core::{
    Endpoints, LoadBalancerIngress, LoadBalancerStatus, Protocol, Service, ServiceStatus, ServiceType,
};
use wasmvisor_chain_api::ncp::VirtualNetwork;
use wasmvisor_chain_api::{Resource, annotations};
use wasmvisor_sdk::{Action, Context, Error};

use crate::ids::{self, OWNER_SCOPE};
use crate::nsx::{Nsx, Tag};
use crate::settings;
use crate::vnet::{self, Paths};

const VIRTUAL_SERVERS: &str = "/infra/lb-virtual-servers";
const POOLS: &str = "/infra/lb-pools";

/// One port's pool and virtual server id: `<ns>-<name>-<hash>-<port>-<proto>`.
fn port_id(base: &str, port: i32, protocol: Protocol) -> String {
    let proto = match protocol {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::Sctp => "sctp",
    };
    format!("{base}-{port}-{proto}")
}

fn profile(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Udp => "/infra/lb-app-profiles/default-udp-lb-app-profile",
        Protocol::Tcp | Protocol::Sctp => "/infra/lb-app-profiles/default-tcp-lb-app-profile",
    }
}

fn owner_tag(namespace: &str, name: &str) -> Tag {
    (OWNER_SCOPE.to_owned(), format!("{}/{namespace}/{name}", Service::KIND))
}

#[derive(Deserialize)]
struct Allocation {
    allocation_ip: Option<String>,
}

/// The VirtualNetwork whose Tier-1 carries the Service's load balancer: the
/// one its annotation names, else the namespace's only one.
fn network_of(ctx: &Context, service: &Service, namespace: &str) -> Result<String, Error> {
    if let Some(name) = service.metadata.annotations.get(annotations::NCP_VIRTUAL_NETWORK_NAME) {
        return Ok(name.clone());
    }
    let networks: Vec<VirtualNetwork> =
        ctx.kube().list(&VirtualNetwork::kind_ref(ctx.cluster(), Some(namespace)), None)?;
    match networks.as_slice() {
        [only] => Ok(only.metadata.name.clone()),
        _ => Err(Error::Invalid(format!(
            "Service {namespace}/{}: annotate it with {}=<VirtualNetwork> to say which network's Tier-1 carries its load balancer ({} VirtualNetworks in the namespace)",
            service.metadata.name,
            annotations::NCP_VIRTUAL_NETWORK_NAME,
            networks.len()
        ))),
    }
}

/// The pool members of `port`: every ready address of the Endpoints on the
/// subset port of the same name.
fn members(endpoints: Option<&Endpoints>, port_name: Option<&str>) -> Vec<serde_json::Value> {
    let mut members = BTreeSet::new();
    for subset in endpoints.map(|e| e.subsets.as_slice()).unwrap_or_default() {
        let Some(target) = subset
            .ports
            .iter()
            .find(|p| p.name.as_deref() == port_name)
            .or_else(|| (subset.ports.len() == 1).then(|| &subset.ports[0]))
        else {
            continue;
        };
        members.extend(subset.addresses.iter().map(|a| (a.ip.clone(), target.port)));
    }
    members.into_iter().map(|(ip, port)| json!({"ip_address": ip, "port": port.to_string()})).collect()
}

/// Brings the Service's load balancer in NSX in line with its spec and Endpoints.
pub fn reconcile(ctx: &Context, service: Service) -> Result<Action, Error> {
    if service.spec.type_ != Some(ServiceType::LoadBalancer) {
        // Not (or no longer) a load balancer: nothing of it may stay in NSX.
        return release(ctx, &service);
    }
    let namespace = service.metadata.namespace.clone().unwrap_or_default();
    let name = service.metadata.name.clone();
    let network = network_of(ctx, &service, &namespace)?;
    let vnet: Option<VirtualNetwork> =
        ctx.kube().get_opt(&VirtualNetwork::named(ctx.cluster(), &namespace, &network))?;
    if !vnet.as_ref().and_then(|v| v.status.as_ref()).is_some_and(|s| ncp_ready(&s.conditions)) {
        // The network's change re-queues this Service (a `related` entry).
        return Ok(Action::done());
    }
    let settings = settings::read(ctx)?;
    let paths = Paths::of(&namespace, &network);
    let cluster = vnet::cluster_of(&service.metadata.labels)
        .or_else(|| vnet.as_ref().and_then(|v| vnet::cluster_of(&v.metadata.labels)))
        .map(str::to_owned);
    let tags = ids::tags(Service::KIND, &namespace, &name, cluster.as_deref());
    let nsx = Nsx::new(ctx.nsx());

    nsx.patch(
        &paths.lb_service,
        json!({"resource_type": "LBService", "connectivity_path": paths.tier1, "size": "SMALL", "enabled": true}),
        &ids::tags(VirtualNetwork::KIND, &namespace, &network, cluster.as_deref()),
    )?;
    let base = ids::base(&namespace, &name);
    let allocation = format!("{}/ip-allocations/{base}", settings.ingress_ip_pool);
    let mut request = json!({"resource_type": "IpAddressAllocation"});
    if let Some(ip) = service.spec.load_balancer_ip.as_deref().filter(|ip| !ip.is_empty()) {
        request["allocation_ip"] = json!(ip);
    }
    nsx.patch(&allocation, request, &tags)?;
    let Some(vip) = nsx.get::<Allocation>(&allocation)?.and_then(|a| a.allocation_ip) else {
        return Err(Error::Unavailable(format!(
            "no VIP left in the ingress range {} ({})",
            settings.ingress_cidr, settings.ingress_ip_pool
        )));
    };

    let endpoints: Option<Endpoints> =
        ctx.kube().get_opt(&Endpoints::named(ctx.cluster(), &namespace, &name))?;
    let mut wanted = BTreeSet::new();
    for port in &service.spec.ports {
        let protocol = port.protocol.unwrap_or_default();
        let id = port_id(&base, port.port, protocol);
        let pool = format!("{POOLS}/{id}");
        nsx.patch(
            &pool,
            json!({
                "resource_type": "LBPool",
                "display_name": format!("{namespace}/{name}:{}", port.port),
                "members": members(endpoints.as_ref(), port.name.as_deref()),
                "algorithm": "ROUND_ROBIN",
                "snat_translation": {"type": "LBSnatAutoMap"},
            }),
            &tags,
        )?;
        nsx.patch(
            &format!("{VIRTUAL_SERVERS}/{id}"),
            json!({
                "resource_type": "LBVirtualServer",
                "display_name": format!("{namespace}/{name}:{}", port.port),
                "ip_address": vip,
                "ports": [port.port.to_string()],
                "lb_service_path": paths.lb_service,
                "pool_path": pool,
                "application_profile_path": profile(protocol),
                "enabled": true,
            }),
            &tags,
        )?;
        wanted.insert(id);
    }
    remove_stale(&nsx, &owner_tag(&namespace, &name), &wanted)?;

    let ingress = LoadBalancerStatus { ingress: vec![LoadBalancerIngress { ip: Some(vip), hostname: None }] };
    wasmvisor_chain_api::status::update(ctx, &service, |s: &mut ServiceStatus| {
        let changed = s.load_balancer.as_ref() != Some(&ingress);
        s.load_balancer = Some(ingress);
        changed
    })?;
    Ok(Action::done())
}

/// Deletes the virtual servers, then the pools, tagged for this Service
/// whose ids are not in `keep`.
fn remove_stale(nsx: &Nsx, owner: &Tag, keep: &BTreeSet<String>) -> Result<(), Error> {
    for collection in [VIRTUAL_SERVERS, POOLS] {
        for id in nsx.ids_tagged(collection, owner)? {
            if !keep.contains(&id) {
                nsx.delete(&format!("{collection}/{id}"))?;
            }
        }
    }
    Ok(())
}

/// Removes everything the Service had in NSX: virtual servers, pools, VIP.
pub fn release(ctx: &Context, service: &Service) -> Result<Action, Error> {
    let namespace = service.metadata.namespace.clone().unwrap_or_default();
    let name = &service.metadata.name;
    let nsx = Nsx::new(ctx.nsx());
    remove_stale(&nsx, &owner_tag(&namespace, name), &BTreeSet::new())?;
    let settings = settings::read(ctx)?;
    nsx.delete(&format!("{}/ip-allocations/{}", settings.ingress_ip_pool, ids::base(&namespace, name)))?;
    if service.status.as_ref().and_then(|s| s.load_balancer.as_ref()).is_some_and(|lb| !lb.ingress.is_empty())
        && !service.is_being_deleted()
    {
        wasmvisor_chain_api::status::update(ctx, service, |s: &mut ServiceStatus| {
            s.load_balancer = Some(LoadBalancerStatus::default());
            true
        })?;
    }
    Ok(Action::done())
}
