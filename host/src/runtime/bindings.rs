//! Host-side bindings generated from `wit/` (the `reconciler` world).
//!
//! Imports are async (they reach the network) and trappable: a host
//! function returns [`HostCallError`], and [`crate::capability::error`] decides in one place
//! whether that becomes a WIT `error` for the plugin or a trap that ends the call.

#![allow(missing_docs)] // generated; the WIT documents every item

pub use crate::capability::error::HostCallError;

wasmtime::component::bindgen!({
    path: "../wit",
    world: "reconciler",
    imports: { default: async | trappable },
    exports: { default: async },
    trappable_error_type: {
        "wasmvisor:plugin/types.error" => HostCallError,
    },
});
