//! wasmvisor plugins as OCI artifacts, the way Kubewarden, wasmCloud and Spin
//! ship wasm: the CNCF wasm artifact layout (config
//! `application/vnd.wasm.config.v0+json`, one `application/wasm` layer
//! holding the component with its embedded manifest, OCI annotations for
//! name, version and source), pushed and pulled with the `oci-client` crate.
//!
//! Read it in this order: [`reference`] (what a REF is and whether plain
//! HTTP is allowed for it) → [`credentials`] (docker config or flags) →
//! [`artifact`] (the layout, built from a component and checked on pull,
//! with its [`config`] blob) → [`registry`] (push, resolve a tag to a
//! digest, pull with every digest verified). Errors are [`OciError`], each
//! naming the reference and what to do.

pub mod artifact;
pub mod config;
pub mod credentials;
pub mod error;
pub mod reference;
pub mod registry;

pub use artifact::{Artifact, Pulled};
pub use credentials::Credentials;
pub use error::OciError;
pub use reference::PluginRef;
pub use registry::{Registry, RegistryOptions};
#[cfg(feature = "testing")]
pub mod testing;
