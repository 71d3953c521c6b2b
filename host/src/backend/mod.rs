//! What the host functions talk to: a Kubernetes API and HTTP endpoints.
//!
//! Traits, so the runtime core is testable before the engine connects a real
//! API server: the real kube-rs client and the NSX/vCenter clients implement
//! the same traits. Credentials live inside implementations, never in the
//! plugin's instance state.

pub mod endpoint;
pub mod kube;
pub mod memory;

pub use endpoint::{EndpointError, EndpointKind, HttpEndpoint, HttpRequest, HttpResponse};
pub use kube::{KubeBackend, KubeError, ReadSource};
pub use memory::MemoryKube;
