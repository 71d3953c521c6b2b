//! VirtualNetwork → an NSX Tier-1 (with locale services for its load
//! balancer), an IP pool holding a subnet carved from the namespace network
//! block, and a segment on that Tier-1 with the subnet's gateway.
//!
//! Deletion goes in NSX's dependency order once nothing uses the network
//! any more: the load balancer service, the segment, the Tier-1, then the
//! subnet and pool, so NSX never refuses a step with "in use".

use std::time::Duration;

use ipnet::Ipv4Net;
use serde::Deserialize;
use serde_json::json;
use wasmvisor_chain_api::core::Service;
use wasmvisor_chain_api::ncp::{VirtualNetwork, VirtualNetworkInterface, VirtualNetworkStatus};
use wasmvisor_chain_api::{NcpCondition, Resource, annotations, labels, names, set_condition};
use wasmvisor_sdk::{Action, Context, Error};

use crate::ids;
use crate::nsx::Nsx;
use crate::settings;

/// How often a network waiting on NSX or on its users is looked at again.
const WAIT: Duration = Duration::from_secs(2);

/// The NSX paths of one VirtualNetwork.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// `/infra/tier-1s/<id>`
    pub tier1: String,
    /// `/infra/tier-1s/<id>/locale-services/default`
    pub locale_services: String,
    /// `/infra/segments/<id>`
    pub segment: String,
    /// `/infra/ip-pools/<id>`
    pub pool: String,
    /// `/infra/ip-pools/<id>/ip-subnets/<id>`
    pub subnet: String,
    /// `/infra/lb-services/<id>`: the network's load balancer.
    pub lb_service: String,
}

impl Paths {
    /// The paths of VirtualNetwork `namespace/name`.
    pub fn of(namespace: &str, name: &str) -> Self {
        let id = ids::base(namespace, name);
        Self {
            tier1: format!("/infra/tier-1s/{id}"),
            locale_services: format!("/infra/tier-1s/{id}/locale-services/default"),
            segment: format!("/infra/segments/{id}"),
            pool: format!("/infra/ip-pools/{id}"),
            subnet: format!("/infra/ip-pools/{id}/ip-subnets/{id}"),
            lb_service: format!("/infra/lb-services/{id}"),
        }
    }
}

/// The guest cluster an object serves, from the labels capw and CAPI put on it.
pub fn cluster_of(labels: &std::collections::BTreeMap<String, String>) -> Option<&str> {
    labels
        .get(labels::CAPI_CLUSTER_NAME)
        .or_else(|| labels.get(labels::CAPV_CLUSTER_NAME))
        .map(String::as_str)
}

#[derive(Deserialize)]
struct Subnet {
    cidr: Option<String>,
}

/// Realizes `vnet` in NSX and reports it `Ready`.
pub fn reconcile(ctx: &Context, vnet: VirtualNetwork) -> Result<Action, Error> {
    let settings = settings::read(ctx)?;
    let namespace = vnet.metadata.namespace.clone().unwrap_or_default();
    let name = vnet.metadata.name.clone();
    let paths = Paths::of(&namespace, &name);
    let tags = ids::tags(VirtualNetwork::KIND, &namespace, &name, cluster_of(&vnet.metadata.labels));
    let nsx = Nsx::new(ctx.nsx());

    nsx.patch(
        &paths.tier1,
        json!({
            "resource_type": "Tier1",
            "display_name": format!("{namespace}/{name}"),
            "tier0_path": settings.tier0_path,
            "failover_mode": "NON_PREEMPTIVE",
            "route_advertisement_types": ["TIER1_CONNECTED", "TIER1_NAT", "TIER1_LB_VIP", "TIER1_LB_SNAT"],
        }),
        &tags,
    )?;
    nsx.patch(
        &paths.locale_services,
        json!({"resource_type": "LocaleServices", "edge_cluster_path": settings.edge_cluster_path}),
        &tags,
    )?;
    nsx.patch(
        &paths.pool,
        json!({"resource_type": "IpAddressPool", "display_name": format!("{namespace}/{name}")}),
        &tags,
    )?;
    nsx.patch(
        &paths.subnet,
        json!({
            "resource_type": "IpAddressPoolBlockSubnet",
            "ip_block_path": settings.namespace_network_ip_block,
            "size": 1u64 << (32 - u32::from(settings.subnet_prefix)),
            "auto_assign_gateway": true,
        }),
        &tags,
    )?;
    let cidr = nsx.get::<Subnet>(&paths.subnet)?.and_then(|s| s.cidr);
    let Some(subnet) = cidr.as_deref().and_then(|c| c.parse::<Ipv4Net>().ok()) else {
        let message = format!(
            "no /{} left in the namespace network {} ({}); free a network or widen the block",
            settings.subnet_prefix, settings.namespace_network_cidr, settings.namespace_network_ip_block
        );
        report(ctx, &vnet, NcpCondition::ready(false, "SubnetExhausted", &message))?;
        return Ok(Action::requeue(WAIT * 5));
    };
    nsx.patch(
        &paths.segment,
        json!({
            "resource_type": "Segment",
            "display_name": names::segment(&namespace, &name),
            "connectivity_path": paths.tier1,
            "transport_zone_path": settings.transport_zone_path,
            "subnets": [{"gateway_address": settings::gateway(subnet)}],
            "advanced_config": {"address_pool_paths": [paths.pool]},
        }),
        &tags,
    )?;
    report(ctx, &vnet, NcpCondition::ready(true, "", ""))?;
    Ok(Action::done())
}

/// Releases the network's NSX objects once no interface or load balancer
/// uses it; until then the network waits (their deletion re-queues it).
pub fn finalize(ctx: &Context, vnet: VirtualNetwork) -> Result<Action, Error> {
    let namespace = vnet.metadata.namespace.clone().unwrap_or_default();
    let name = vnet.metadata.name.clone();
    let kube = ctx.kube();
    let interfaces: Vec<VirtualNetworkInterface> =
        kube.list(&VirtualNetworkInterface::kind_ref(ctx.cluster(), Some(&namespace)), None)?;
    let on_it =
        interfaces.iter().filter(|i| i.spec.virtual_network.as_deref() == Some(name.as_str())).count();
    let services: Vec<Service> = kube.list(&Service::kind_ref(ctx.cluster(), Some(&namespace)), None)?;
    let balanced = services
        .iter()
        .filter(|s| s.metadata.annotations.get(annotations::NCP_VIRTUAL_NETWORK_NAME) == Some(&name))
        .count();
    if on_it + balanced > 0 {
        wasmvisor_sdk::log::info(
            "virtual network still in use; waiting",
            &[("interfaces", &on_it.to_string()), ("load-balancers", &balanced.to_string())],
        );
        return Ok(Action::requeue(WAIT));
    }
    let paths = Paths::of(&namespace, &name);
    let nsx = Nsx::new(ctx.nsx());
    for path in
        [&paths.lb_service, &paths.segment, &paths.locale_services, &paths.tier1, &paths.subnet, &paths.pool]
    {
        nsx.delete(path)?;
    }
    Ok(Action::done())
}

fn report(ctx: &Context, vnet: &VirtualNetwork, ready: NcpCondition) -> Result<(), Error> {
    wasmvisor_chain_api::status::update(ctx, vnet, |s: &mut VirtualNetworkStatus| {
        set_condition(&mut s.conditions, ready)
    })
}
