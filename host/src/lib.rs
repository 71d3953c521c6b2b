//! The wasmvisor host: reconciler plugins as WebAssembly components, driven
//! by a Kubernetes controller engine, reaching the outside world only through
//! capability-checked host functions.
//!
//! Read the crate in the order one change flows through it:
//!
//! 1. [`host`] — a whole host from its [`config`]: connects the [`cluster`]s
//!    and the endpoints, builds the [`runtime`], starts the [`controller`],
//!    [`leader`] election and the [`admin`] endpoint.
//! 2. [`controller`] — watch → owners → queue → reconcile → effects: a change
//!    seen by a shared watch becomes one attempt for one object key.
//! 3. [`runtime`] — the attempt as one call of the plugin: engine, plugin
//!    loading against the grant, registry and hot reload, a fresh instance
//!    per call under the plugin's limits ([`runtime::dispatch`]).
//! 4. [`capability`] — what the plugin may call, one folder per capability:
//!    [`capability::kube`], [`capability::endpoint`] (`nsx`, `vcenter`),
//!    [`capability::log`]; each checks the [`capability::grant`] on every
//!    call, right before its client.
//! 5. [`source`] — plugins from OCI references: resolved, pulled, verified,
//!    cached by digest, followed into the runtime's hot-reload step.
//! 6. Around them: [`metrics`] (the runtime's counters; the engine's are in
//!    [`controller::metrics`]), [`rbac`] (least-privilege RBAC from the
//!    grants), [`recorder`] (every reconcile, its triggers and host calls,
//!    for `wasmvisor why` and `audit`), [`replay`] (a candidate version run
//!    on recorded reconciles) and [`shadow`] (one run beside the live
//!    plugin, its writes never sent), and the shared value type [`object`] (label selectors are the
//!    `wasmvisor-selector` crate, shared with the embedded API server).
//!
//! `docs/architecture.md` draws the same map for the whole repository.

pub mod admin;
pub mod capability;
pub mod cluster;
pub mod config;
pub mod controller;
pub mod host;
pub mod leader;
pub mod metrics;
pub mod object;
pub mod rbac;
pub mod recorder;
pub mod replay;
pub mod runtime;
pub mod shadow;
pub mod source;

pub use capability::grant::{Grant, Grants};
pub use object::ObjectRef;
pub use runtime::dispatch::{ErrorKind, Export, Failure, Outcome, ReconcileError, Report, Request};
pub use runtime::instance::Backends;
pub use runtime::{CallError, PluginInfo, Runtime, RuntimeConfig};
pub use wasmvisor_manifest as manifest;
