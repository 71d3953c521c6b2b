//! The plugin components built from this workspace, as bytes.
//!
//! `build.rs` compiles them for wasm32-wasip2 and embeds their manifests;
//! nothing here is read from disk at run time.

/// A plugin that ships with wasmvisor.
#[derive(Debug, Clone, Copy)]
pub struct Bundled {
    /// File name to install it under, e.g. `namespace-config.wasm`.
    pub file: &'static str,
    /// The component, manifest embedded.
    pub bytes: &'static [u8],
}

/// The example plugin (`plugins/example`).
pub const NAMESPACE_CONFIG: Bundled = Bundled {
    file: "namespace-config.wasm",
    bytes: include_bytes!(concat!(env!("OUT_DIR"), "/namespace-config.wasm")),
};

/// Plugins `wasmvisor up` places in a fresh plugin directory.
pub const BUNDLED: &[Bundled] = &[NAMESPACE_CONFIG];

/// Test-only components; not shipped.
pub mod testing {
    use super::Bundled;

    /// `plugins/testing/chaos`: misbehaves on request.
    pub const CHAOS: Bundled =
        Bundled { file: "chaos.wasm", bytes: include_bytes!(concat!(env!("OUT_DIR"), "/chaos.wasm")) };

    /// `plugins/testing/bench`: the runtime benchmark's reconcile.
    pub const BENCH: Bundled =
        Bundled { file: "bench.wasm", bytes: include_bytes!(concat!(env!("OUT_DIR"), "/bench.wasm")) };

    /// `plugins/testing/probe`: sends the NSX/vCenter requests it is handed
    /// and reports all it saw.
    pub const PROBE: Bundled =
        Bundled { file: "probe.wasm", bytes: include_bytes!(concat!(env!("OUT_DIR"), "/probe.wasm")) };

    /// `plugins/testing/widget`: reconciles Widgets as their spec asks (the
    /// engine's tests and benchmark).
    pub const WIDGET: Bundled =
        Bundled { file: "widget.wasm", bytes: include_bytes!(concat!(env!("OUT_DIR"), "/widget.wasm")) };
}
