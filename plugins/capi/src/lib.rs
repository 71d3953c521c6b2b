//! capi: the parts of Cluster API core the Supervisor chain needs, and its
//! kubeadm bootstrap provider.
//!
//! Cluster ([`cluster`]): endpoint and readiness from infrastructure and
//! control plane, ordered deletion. KubeadmControlPlane ([`control_plane`])
//! and MachineDeployment → MachineSet ([`deployment`], [`machine_set`]):
//! Machines from templates ([`machines`]), scaled up and down. Machine
//! ([`machine`]): bootstrap data ([`bootstrap`]), provider ID and phase.

pub mod bootstrap;
pub mod cluster;
pub mod control_plane;
pub mod deployment;
pub mod machine;
pub mod machine_set;
pub mod machines;

use serde_json::Value;
use wasmvisor_chain_api::Resource;
use wasmvisor_chain_api::capi::{Cluster, KubeadmControlPlane, Machine, MachineDeployment, MachineSet};
use wasmvisor_sdk::{Action, Context, Error, Reconciler};

struct Capi;

impl Reconciler for Capi {
    type Object = Value;

    fn reconcile(ctx: &Context, object: Value) -> Result<Action, Error> {
        match ctx.target().kind.as_str() {
            Cluster::KIND => cluster::reconcile(ctx, serde_json::from_value(object)?),
            KubeadmControlPlane::KIND => control_plane::reconcile(ctx, serde_json::from_value(object)?),
            MachineDeployment::KIND => deployment::reconcile(ctx, serde_json::from_value(object)?),
            MachineSet::KIND => machine_set::reconcile(ctx, serde_json::from_value(object)?),
            Machine::KIND => machine::reconcile(ctx, serde_json::from_value(object)?),
            other => Err(Error::Invalid(format!("capi does not reconcile {other}"))),
        }
    }

    fn finalize(ctx: &Context, object: Value) -> Result<Action, Error> {
        match ctx.target().kind.as_str() {
            Cluster::KIND => cluster::finalize(ctx, serde_json::from_value(object)?),
            Machine::KIND => machine::finalize(ctx, serde_json::from_value(object)?),
            // Control planes, deployments and sets go with their Machines
            // through owner references.
            _ => Ok(Action::done()),
        }
    }
}

wasmvisor_sdk::export!(Capi);
