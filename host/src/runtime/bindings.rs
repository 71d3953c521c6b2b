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

use wasmvisor::plugin::types;

// The WIT records and the host's own types, converted here and nowhere else.
// The guest SDK (`plugins/sdk`) has the same conversions on its side of the
// contract: it compiles to wasm for plugin authors and shares no code with
// the host by design.

impl From<types::ObjectRef> for crate::ObjectRef {
    fn from(r: types::ObjectRef) -> Self {
        Self {
            cluster: r.cluster,
            api_version: r.api_version,
            kind: r.kind,
            namespace: r.namespace,
            name: r.name,
        }
    }
}

impl From<&crate::Request> for types::Request {
    fn from(request: &crate::Request) -> Self {
        let target = &request.target;
        Self {
            target: types::ObjectRef {
                cluster: target.cluster.clone(),
                api_version: target.api_version.clone(),
                kind: target.kind.clone(),
                namespace: target.namespace.clone(),
                name: target.name.clone(),
            },
            object: request.object.clone(),
        }
    }
}
