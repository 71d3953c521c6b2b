//! ncp: the NSX Container Plugin's part of the Supervisor chain.
//!
//! VirtualNetwork → Tier-1, segment and subnet ([`vnet`]);
//! VirtualNetworkInterface → segment port with IP and MAC ([`vnetif`]);
//! Service of type LoadBalancer → load balancer, pool, virtual server and
//! VIP ([`lb`]). Every NSX object has a deterministic id ([`ids`]) and the
//! Kubernetes identity as tags, so restarts and retries never make twins,
//! and everything is released on delete in NSX's dependency order.

pub mod ids;
pub mod lb;
pub mod nsx;
pub mod settings;
pub mod vnet;
pub mod vnetif;

use serde_json::Value;
use wasmvisor_chain_api::Resource;
use wasmvisor_chain_api::core::Service;
use wasmvisor_chain_api::ncp::{VirtualNetwork, VirtualNetworkInterface};
use wasmvisor_sdk::{Action, Context, Error, Reconciler};

struct Ncp;

impl Reconciler for Ncp {
    type Object = Value;

    fn reconcile(ctx: &Context, object: Value) -> Result<Action, Error> {
        match ctx.target().kind.as_str() {
            VirtualNetwork::KIND => vnet::reconcile(ctx, serde_json::from_value(object)?),
            VirtualNetworkInterface::KIND => vnetif::reconcile(ctx, serde_json::from_value(object)?),
            Service::KIND => lb::reconcile(ctx, serde_json::from_value(object)?),
            other => Err(Error::Invalid(format!("ncp does not reconcile {other}"))),
        }
    }

    fn finalize(ctx: &Context, object: Value) -> Result<Action, Error> {
        match ctx.target().kind.as_str() {
            VirtualNetwork::KIND => vnet::finalize(ctx, serde_json::from_value(object)?),
            VirtualNetworkInterface::KIND => vnetif::finalize(ctx, serde_json::from_value(object)?),
            Service::KIND => lb::release(ctx, &serde_json::from_value(object)?),
            _ => Ok(Action::done()),
        }
    }
}

wasmvisor_sdk::export!(Ncp);
