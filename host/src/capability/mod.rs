//! The capabilities a plugin can be granted, one folder each: [`kube`],
//! [`endpoint`] (`nsx` and `vcenter`) and [`log`], plus the operator's
//! [`grant`] and the one place a failed host call becomes a WIT error or a
//! trap ([`error`]).
//!
//! A capability folder holds the host functions (`host`), the trait of what
//! they call (`backend`) and its real implementation, and their tests; the
//! WIT interface is `wit/<capability>.wit` and the manifest's rule type
//! lives in the shared manifest crate (`host/manifest`).
//!
//! Each capability's functions see a view of the store holding only the
//! shared [`CallScope`](crate::runtime::scope::CallScope) and that capability's own
//! backend, so the NSX functions cannot reach the vCenter client. Every
//! function charges the call budget, checks the plugin's capabilities right
//! before the backend call, and records the outcome.

pub mod endpoint;
pub mod error;
pub mod grant;
pub mod kube;
pub mod log;

use wasmtime::component::Linker;

use crate::runtime::bindings::wasmvisor::plugin as wit;
use crate::runtime::instance::InstanceState;

/// Adds every WIT import to `linker`, each with its own view of the state.
pub(crate) fn add_to_linker(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
    wit::types::add_to_linker::<InstanceState, log::LogView>(linker, InstanceState::log_view)?;
    wit::kube::add_to_linker::<InstanceState, kube::host::KubeView>(linker, InstanceState::kube_view)?;
    wit::nsx::add_to_linker::<InstanceState, endpoint::host::NsxView>(linker, InstanceState::nsx_view)?;
    wit::vcenter::add_to_linker::<InstanceState, endpoint::host::VcenterView>(
        linker,
        InstanceState::vcenter_view,
    )?;
    wit::log::add_to_linker::<InstanceState, log::LogView>(linker, InstanceState::log_view)?;
    Ok(())
}
