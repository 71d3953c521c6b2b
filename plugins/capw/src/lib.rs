//! capw: Cluster API Provider vSphere in supervisor mode, the chain's step
//! from Cluster API to vm-operator.
//!
//! VSphereCluster → resource policy, VirtualNetwork, control-plane
//! VirtualMachineService and endpoint ([`cluster`]); VSphereMachine →
//! bootstrap ConfigMap and VirtualMachine, provider ID and IP ([`machine`]).

pub mod cluster;
pub mod machine;

use serde_json::Value;
use wasmvisor_chain_api::Resource;
use wasmvisor_chain_api::capv::{VSphereCluster, VSphereMachine};
use wasmvisor_sdk::{Action, Context, Error, Reconciler};

struct Capw;

impl Reconciler for Capw {
    type Object = Value;

    fn reconcile(ctx: &Context, object: Value) -> Result<Action, Error> {
        match ctx.target().kind.as_str() {
            VSphereCluster::KIND => cluster::reconcile(ctx, serde_json::from_value(object)?),
            VSphereMachine::KIND => machine::reconcile(ctx, serde_json::from_value(object)?),
            other => Err(Error::Invalid(format!("capw does not reconcile {other}"))),
        }
    }

    fn finalize(ctx: &Context, object: Value) -> Result<Action, Error> {
        match ctx.target().kind.as_str() {
            VSphereMachine::KIND => machine::finalize(ctx, serde_json::from_value(object)?),
            // The cluster's network, policy and VM service go with it by
            // owner reference (CAPV only flips its conditions here).
            _ => Ok(Action::done()),
        }
    }
}

wasmvisor_sdk::export!(Capw);
