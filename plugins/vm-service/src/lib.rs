//! vm-service: vm-operator's part of the Supervisor chain.
//!
//! VirtualMachine → VirtualNetworkInterfaces, then the vCenter VM on NCP's
//! segments, powered on, its identity and guest IP in status ([`vm`]);
//! VirtualMachineService → Service + Endpoints of the VMs it selects
//! ([`vmservice`]). vCenter is reached through [`vcenter`].

pub mod vcenter;
pub mod vm;
pub mod vmservice;

use serde_json::Value;
use wasmvisor_chain_api::Resource;
use wasmvisor_chain_api::vmop::{VirtualMachine, VirtualMachineService};
use wasmvisor_sdk::{Action, Context, Error, Reconciler};

struct VmService;

impl Reconciler for VmService {
    type Object = Value;

    fn reconcile(ctx: &Context, object: Value) -> Result<Action, Error> {
        match ctx.target().kind.as_str() {
            VirtualMachine::KIND => vm::reconcile(ctx, serde_json::from_value(object)?),
            VirtualMachineService::KIND => vmservice::reconcile(ctx, serde_json::from_value(object)?),
            other => Err(Error::Invalid(format!("vm-service does not reconcile {other}"))),
        }
    }

    fn finalize(ctx: &Context, object: Value) -> Result<Action, Error> {
        match ctx.target().kind.as_str() {
            VirtualMachine::KIND => vm::finalize(ctx, serde_json::from_value(object)?),
            VirtualMachineService::KIND => vmservice::finalize(ctx, serde_json::from_value(object)?),
            _ => Ok(Action::done()),
        }
    }
}

wasmvisor_sdk::export!(VmService);
