//! The dispatch table: `(serviceId, operationId)` → the REST side's model function and
//! the output type its answer is encoded with.
//!
//! In: a live session and the decoded `operation-input` (one field per parameter, named
//! as in the SDK: `vm`, `nic`, `spec`, `filter`). Out: the encoded output, or the
//! [`VcError`] the REST side would answer with. Every operation calls the same model
//! functions as its REST route, in one transaction on the shared world, so what one
//! protocol creates the other sees.

use serde_json::{Value, json};

use super::types;
use super::value::{Ty, encode};
use crate::nsx::stamp::Author;
use crate::vcenter::VcState;
use crate::vcenter::error::{ErrorType, VcError};
use crate::vcenter::filters::Filters;
use crate::vcenter::guest::{GuestView, view_in};
use crate::vcenter::inventory::{List, items};
use crate::vcenter::vm::{
    CreateSpec, create_in, delete_in, ethernet_get_in, ethernet_list_in, info_in, list_in, load,
};
use crate::vcenter::{power, session::Session};

/// `com.vmware.cis.session`.
pub(crate) const SESSION: &str = "com.vmware.cis.session";

/// Calls `operation` of `service` for the holder of `session` (id `session_id`).
pub(crate) async fn call(
    state: &VcState,
    session_id: &str,
    session: &Session,
    service: &str,
    operation: &str,
    input: Value,
) -> Result<Value, VcError> {
    let (plain, ty) = match (service, operation) {
        (SESSION, "get") => (session.info(), types::SESSION_INFO),
        (SESSION, "delete") => {
            state.sessions.remove(session_id);
            (Value::Null, Ty::Void)
        }
        ("com.vmware.vcenter.datacenter", "list") => {
            (inventory(state, List::Datacenter, &input).await?, Ty::List(&types::DATACENTER_SUMMARY))
        }
        ("com.vmware.vcenter.folder", "list") => {
            (inventory(state, List::Folder, &input).await?, Ty::List(&types::FOLDER_SUMMARY))
        }
        ("com.vmware.vcenter.resource_pool", "list") => {
            (inventory(state, List::ResourcePool, &input).await?, Ty::List(&types::RESOURCE_POOL_SUMMARY))
        }
        ("com.vmware.vcenter.network", "list") => {
            (inventory(state, List::Network, &input).await?, Ty::List(&types::NETWORK_SUMMARY))
        }
        ("com.vmware.vcenter.host", "list") => {
            (inventory(state, List::Host, &input).await?, Ty::List(&types::HOST_SUMMARY))
        }
        ("com.vmware.vcenter.cluster", "list") => {
            (inventory(state, List::Cluster, &input).await?, Ty::List(&types::CLUSTER_SUMMARY))
        }
        ("com.vmware.vcenter.VM", "create") => {
            let spec: CreateSpec = serde_json::from_value(input["spec"].clone())
                .map_err(|e| VcError::invalid(format!("The VM create spec is not valid: {e}.")))?;
            let author = Author { user: "vcenter".into(), now_ms: state.ctx.clock.now_ms() };
            let id = state.ctx.store.transact(move |tx| create_in(tx, &author, spec)).await?;
            (json!(id), Ty::Str)
        }
        ("com.vmware.vcenter.VM", "get") => {
            let vm = vm_id(&input)?;
            (state.ctx.store.transact(move |tx| info_in(tx, &vm)).await?, types::VM_INFO)
        }
        ("com.vmware.vcenter.VM", "list") => {
            let filters = filters(&input);
            let list = state.ctx.store.transact(move |tx| list_in(tx, &filters)).await?;
            (json!(list), Ty::List(&types::VM_SUMMARY))
        }
        ("com.vmware.vcenter.VM", "delete") => {
            let vm = vm_id(&input)?;
            let author = Author { user: "vcenter".into(), now_ms: state.ctx.clock.now_ms() };
            state.ctx.store.transact(move |tx| delete_in(tx, &author, &vm)).await?;
            (Value::Null, Ty::Void)
        }
        ("com.vmware.vcenter.vm.power", "get") => {
            let vm = vm_id(&input)?;
            let record = state.ctx.store.transact(move |tx| load(tx, &vm)).await?;
            (power::info(&record), types::POWER_INFO)
        }
        ("com.vmware.vcenter.vm.power", action @ ("start" | "stop" | "suspend" | "reset")) => {
            let (vm, action, now) = (vm_id(&input)?, action.to_owned(), state.ctx.clock.now_ms());
            state.ctx.store.transact(move |tx| power::apply(tx, &vm, &action, now)).await?;
            (Value::Null, Ty::Void)
        }
        ("com.vmware.vcenter.vm.guest.identity", "get") => {
            (guest(state, &input, GuestView::Identity).await?, types::IDENTITY_INFO)
        }
        ("com.vmware.vcenter.vm.guest.networking", "get") => {
            (guest(state, &input, GuestView::Networking).await?, types::NETWORKING_INFO)
        }
        ("com.vmware.vcenter.vm.guest.networking.interfaces", "list") => {
            (guest(state, &input, GuestView::Interfaces).await?, Ty::List(&types::INTERFACE_INFO))
        }
        ("com.vmware.vcenter.vm.hardware.ethernet", "list") => {
            let vm = vm_id(&input)?;
            let nics = state.ctx.store.transact(move |tx| ethernet_list_in(tx, &vm)).await?;
            (json!(nics), Ty::List(&types::ETHERNET_SUMMARY))
        }
        ("com.vmware.vcenter.vm.hardware.ethernet", "get") => {
            let (vm, nic) = (vm_id(&input)?, required(&input, "nic")?);
            (state.ctx.store.transact(move |tx| ethernet_get_in(tx, &vm, &nic)).await?, types::ETHERNET_INFO)
        }
        _ => {
            return Err(VcError::new(
                ErrorType::OperationNotFound,
                "vapi.method.input.invalid.operation",
                format!("Operation {operation} of service {service} is not served by the simulator."),
            ));
        }
    };
    output(&plain, &ty, service, operation)
}

/// `plain` encoded as `ty`; a result that does not fit is logged and answered as an
/// internal error.
pub(crate) fn output(plain: &Value, ty: &Ty, service: &str, operation: &str) -> Result<Value, VcError> {
    encode(plain, ty).map_err(|e| {
        tracing::error!(
            error = &e as &dyn std::error::Error,
            service,
            operation,
            "vAPI result encoding failed"
        );
        VcError::new(ErrorType::Error, "com.vmware.api.vcenter.internal", e.to_string())
    })
}

async fn inventory(state: &VcState, which: List, input: &Value) -> Result<Value, VcError> {
    Ok(json!(items(state, which, &filters(input)).await?))
}

async fn guest(state: &VcState, input: &Value, view: GuestView) -> Result<Value, VcError> {
    let (vm, now, timing) = (vm_id(input)?, state.ctx.clock.now_ms(), state.timing.clone());
    state.ctx.store.transact(move |tx| view_in(tx, &vm, view, &timing, now)).await
}

fn filters(input: &Value) -> Filters {
    Filters::from_spec(&input["filter"])
}

fn vm_id(input: &Value) -> Result<String, VcError> {
    required(input, "vm")
}

fn required(input: &Value, name: &str) -> Result<String, VcError> {
    input[name]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| VcError::invalid(format!("The operation input needs the string parameter {name}.")))
}
