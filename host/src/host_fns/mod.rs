//! The host side of the WIT imports, one module per capability.
//!
//! Each capability's functions see a view of the store holding only the
//! shared [`CallScope`](crate::runtime::scope::CallScope) and that capability's own
//! backend, so the NSX functions cannot reach the vCenter client. Every
//! function charges the call budget, checks the plugin's capabilities right
//! before the backend call, and records the outcome.

pub mod endpoint;
pub mod error;
pub mod identity;
pub mod kube;
pub mod log;

use wasmtime::component::Linker;

use crate::runtime::bindings::wasmvisor::plugin as wit;
use crate::runtime::instance::InstanceState;

/// Adds every WIT import to `linker`, each with its own view of the state.
pub(crate) fn add_to_linker(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
    wit::types::add_to_linker::<InstanceState, log::LogView>(linker, InstanceState::log_view)?;
    wit::kube::add_to_linker::<InstanceState, kube::KubeView>(linker, InstanceState::kube_view)?;
    wit::nsx::add_to_linker::<InstanceState, endpoint::NsxView>(linker, InstanceState::nsx_view)?;
    wit::vcenter::add_to_linker::<InstanceState, endpoint::VcenterView>(linker, InstanceState::vcenter_view)?;
    wit::log::add_to_linker::<InstanceState, log::LogView>(linker, InstanceState::log_view)?;
    Ok(())
}
