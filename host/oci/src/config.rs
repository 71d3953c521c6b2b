//! The artifact's config blob (`application/vnd.wasm.config.v0+json`), as the
//! CNCF wasm OCI artifact layout defines it: architecture `wasm`, os
//! `wasip2` for a component, the layer digests, and the component's
//! top-level imports, exports and target world.
//!
//! No `created` time: the same component always makes the same config and
//! so the same manifest digest, so pushing a rebuilt but identical plugin
//! does not move what a digest pin names.

use serde::{Deserialize, Serialize};
use wasmparser::{Encoding, Parser, Payload};

/// The config media type.
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";

/// The world every wasmvisor plugin targets.
pub const TARGET_WORLD: &str = "wasmvisor:plugin/reconciler@0.1.0";

/// The config blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WasmConfig {
    /// Always `wasm`.
    pub architecture: String,
    /// `wasip2` for a component.
    pub os: String,
    /// The layers' digests, in manifest order.
    pub layer_digests: Vec<String>,
    /// What the component imports and exports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<ComponentInfo>,
}

/// The component's top-level interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentInfo {
    /// Exported names (`wasmvisor:plugin/reconcile@0.1.0`, …).
    pub exports: Vec<String>,
    /// Imported names.
    pub imports: Vec<String>,
    /// The world it was built for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

impl WasmConfig {
    /// The config for `component` stored in a layer with `layer_digest`.
    pub fn for_component(component: &[u8], layer_digest: &str) -> Result<Self, String> {
        Ok(Self {
            architecture: "wasm".into(),
            os: "wasip2".into(),
            layer_digests: vec![layer_digest.to_owned()],
            component: Some(interface(component)?),
        })
    }
}

/// The top-level import and export names of a component (nested modules
/// and components are skipped).
fn interface(component: &[u8]) -> Result<ComponentInfo, String> {
    let mut info =
        ComponentInfo { exports: Vec::new(), imports: Vec::new(), target: Some(TARGET_WORLD.into()) };
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(component) {
        match payload.map_err(|e| format!("not a WebAssembly binary: {e}"))? {
            Payload::Version { encoding, .. } => {
                if depth == 0 && encoding != Encoding::Component {
                    return Err("a core module, not a component".into());
                }
                depth += 1;
            }
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(reader) if depth == 1 => {
                for import in reader {
                    info.imports.push(import.map_err(|e| e.to_string())?.name.name.to_owned());
                }
            }
            Payload::ComponentExportSection(reader) if depth == 1 => {
                for export in reader {
                    info.exports.push(export.map_err(|e| e.to_string())?.name.name.to_owned());
                }
            }
            _ => {}
        }
    }
    Ok(info)
}
