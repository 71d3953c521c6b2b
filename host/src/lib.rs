//! The wasmvisor runtime core: reconciler plugins as WebAssembly components.
//!
//! A plugin is a component of the `wasmvisor:plugin/reconciler` world with a
//! manifest inside it. The [`Runtime`] loads it if the manifest fits the
//! operator's [`Grants`], keeps it in a registry that hot reload swaps
//! atomically ([`reload`]), and runs every call on a fresh instance under
//! the plugin's limits ([`dispatch`]). Host functions ([`host_fns`]) check
//! the plugin's capabilities on each call before they reach a
//! [`backend`], for NSX and vCenter one of the [`clients`]. Read the
//! modules in that order to follow a call.

pub mod admin;
pub mod backend;
pub mod clients;
pub mod cluster;
pub mod config;
pub mod controller;
pub mod grant;
pub mod host;
pub mod host_fns;
pub mod label_selector;
pub mod leader;
pub mod metrics;
pub mod object;
pub mod rbac;
pub mod runtime;

pub use grant::{Grant, Grants};
pub use object::ObjectRef;
pub use runtime::dispatch::{ErrorKind, Export, Failure, Outcome, ReconcileError, Report, Request};
pub use runtime::instance::Backends;
pub use runtime::{CallError, PluginInfo, Runtime, RuntimeConfig};
pub use wasmvisor_manifest as manifest;
