//! Write wasmvisor reconciler plugins in Rust.
//!
//! A plugin is one [`Reconciler`] impl and one [`export!`] line:
//!
//! ```no_run
//! use wasmvisor_sdk::{Action, Context, DynamicObject, Error, Reconciler};
//!
//! struct Hello;
//!
//! impl Reconciler for Hello {
//!     type Object = DynamicObject;
//!
//!     fn reconcile(ctx: &Context, object: DynamicObject) -> Result<Action, Error> {
//!         wasmvisor_sdk::log::info("reconciling", &[("name", object.metadata.name.as_str())]);
//!         let _ = ctx;
//!         Ok(Action::done())
//!     }
//! }
//!
//! wasmvisor_sdk::export!(Hello);
//! ```
//!
//! The host hands the plugin one object per call on a fresh instance, so
//! keep no state in globals: read the cluster, write the cluster. Build with
//! `wasmvisor plugin build`, which compiles for `wasm32-wasip2` and embeds
//! `plugin.toml`.

pub mod conditions;
pub mod error;
pub mod kube;
pub mod log;
pub mod nsx;
pub mod object;
pub mod time;

#[doc(hidden)]
pub mod export;

/// Bindings generated from the WIT contract (`wit/` at the repository root).
#[allow(unsafe_code, missing_docs, unreachable_pub, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "reconciler",
        path: "../../wit",
        pub_export_macro: true,
        export_macro_name: "__export_reconciler_world",
        default_bindings_module: "wasmvisor_sdk::bindings",
    });
}

pub use conditions::{Condition, ConditionStatus, set_condition};
pub use error::Error;
pub use kube::Kube;
pub use nsx::{Endpoint, Method};
pub use object::{DynamicObject, KindRef, Object, ObjectMeta, ObjectRef, OwnerReference};

use std::time::Duration;

/// What the host should do after a reconcile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Action {
    requeue_after: Option<Duration>,
}

impl Action {
    /// Nothing more until the object (or something it owns) changes.
    pub fn done() -> Self {
        Self { requeue_after: None }
    }

    /// Reconcile again after `after` even if nothing changes: for waiting on
    /// something outside the cluster (an IP, a VM powering on).
    pub fn requeue(after: Duration) -> Self {
        Self { requeue_after: Some(after) }
    }

    /// The requested delay, if any.
    pub fn requeue_after(&self) -> Option<Duration> {
        self.requeue_after
    }
}

/// The call's context: which object, and the clients the host offers.
#[derive(Debug, Clone)]
pub struct Context {
    target: ObjectRef,
}

impl Context {
    #[doc(hidden)]
    pub fn new(target: ObjectRef) -> Self {
        Self { target }
    }

    /// The object being reconciled.
    pub fn target(&self) -> &ObjectRef {
        &self.target
    }

    /// The cluster the object lives in.
    pub fn cluster(&self) -> &str {
        &self.target.cluster
    }

    /// The Kubernetes API (checked against the plugin's kube capabilities).
    pub fn kube(&self) -> Kube {
        Kube
    }

    /// The NSX Policy API.
    pub fn nsx(&self) -> Endpoint {
        Endpoint::Nsx
    }

    /// The vCenter REST API.
    pub fn vcenter(&self) -> Endpoint {
        Endpoint::Vcenter
    }
}

/// A reconciler: the one trait a plugin implements.
pub trait Reconciler {
    /// The watched object, deserialized from the host's JSON. Use
    /// [`DynamicObject`] for untyped access or [`Object<Spec, Status>`] for
    /// your own types.
    type Object: serde::de::DeserializeOwned;

    /// Drives the world toward `object`'s spec. Must be idempotent: look at
    /// the current state, never at what changed.
    fn reconcile(ctx: &Context, object: Self::Object) -> Result<Action, Error>;

    /// Cleans up before `object` goes (its deletionTimestamp is set). The
    /// host removes its finalizer once this returns `Ok(Action::done())`.
    fn finalize(ctx: &Context, object: Self::Object) -> Result<Action, Error> {
        let _ = (ctx, object);
        Ok(Action::done())
    }
}

/// Exports a [`Reconciler`] as the plugin's `reconcile` and `finalize`.
#[macro_export]
macro_rules! export {
    ($reconciler:ty) => {
        const _: () = {
            struct __WasmvisorExport;
            impl $crate::bindings::Guest for __WasmvisorExport {
                fn reconcile(
                    request: $crate::bindings::Request,
                ) -> ::core::result::Result<$crate::bindings::Outcome, $crate::bindings::Error> {
                    $crate::export::reconcile::<$reconciler>(request)
                }
                fn finalize(
                    request: $crate::bindings::Request,
                ) -> ::core::result::Result<$crate::bindings::Outcome, $crate::bindings::Error> {
                    $crate::export::finalize::<$reconciler>(request)
                }
            }
            $crate::bindings::__export_reconciler_world!(__WasmvisorExport);
        };
    };
}
