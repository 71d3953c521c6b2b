//! An HTTP-shaped endpoint (NSX Manager, vCenter) as the host functions need it.

use async_trait::async_trait;
use wasmvisor_manifest::Method;

/// Which endpoint: NSX or vCenter. Both speak HTTP through one trait and
/// one host implementation; the kind picks the rules, the identity scheme
/// and the capability name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointKind {
    /// NSX Policy API.
    Nsx,
    /// vCenter REST API.
    Vcenter,
}

impl EndpointKind {
    /// The capability name, as in WIT, grants and metrics.
    pub fn capability(self) -> &'static str {
        match self {
            EndpointKind::Nsx => "nsx",
            EndpointKind::Vcenter => "vcenter",
        }
    }
}

/// One request, path relative to the endpoint's base URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// The method.
    pub method: Method,
    /// Path and query, starting with `/`.
    pub path: String,
    /// JSON body.
    pub body: Option<String>,
}

/// A 2xx answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// JSON body (empty if none).
    pub body: String,
}

/// A failed request, classified as the plugin will see it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// 404.
    #[error("not found: {0}")]
    NotFound(String),
    /// 409/412.
    #[error("conflict: {0}")]
    Conflict(String),
    /// 400/422.
    #[error("invalid: {0}")]
    Invalid(String),
    /// 429, 5xx or connection failure after retries; or no endpoint configured.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// Anything else, including 401/403 for the host's own credentials.
    #[error("internal: {0}")]
    Internal(String),
}

/// An endpoint that holds its own base URL and credentials.
#[async_trait]
pub trait HttpEndpoint: Send + Sync {
    /// Sends one request.
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, EndpointError>;
}
