//! `wasmvisor:plugin/nsx` and `wasmvisor:plugin/vcenter`: HTTP-shaped calls to
//! the configured NSX Manager and vCenter, checked per call against the
//! plugin's method/path rules for that endpoint.
//!
//! Both interfaces share one implementation; each view holds only its own
//! endpoint, so an NSX call can never reach vCenter's client or credentials.

use wasmtime::component::HasData;
use wasmvisor_manifest::{HttpRule, Method};

use super::error::{HostCallError, convert};
use crate::backend::{EndpointError, HttpEndpoint, HttpRequest};
use crate::bindings::wasmvisor::plugin::{nsx, types, vcenter};
use crate::scope::CallScope;

/// Which endpoint a view serves.
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

/// One endpoint's view of the store.
pub struct EndpointHost<'a> {
    pub(crate) scope: &'a mut CallScope,
    pub(crate) endpoint: Option<&'a dyn HttpEndpoint>,
    pub(crate) kind: EndpointKind,
}

/// [`HasData`] marker for the NSX view.
pub struct NsxView;
impl HasData for NsxView {
    type Data<'a> = EndpointHost<'a>;
}

/// [`HasData`] marker for the vCenter view.
pub struct VcenterView;
impl HasData for VcenterView {
    type Data<'a> = EndpointHost<'a>;
}

fn method(m: types::Method) -> Method {
    match m {
        types::Method::Get => Method::Get,
        types::Method::Post => Method::Post,
        types::Method::Put => Method::Put,
        types::Method::Patch => Method::Patch,
        types::Method::Delete => Method::Delete,
    }
}

fn wit_error(e: EndpointError) -> types::Error {
    match e {
        EndpointError::NotFound(m) => types::Error::NotFound(m),
        EndpointError::Conflict(m) => types::Error::Conflict(m),
        EndpointError::Invalid(m) => types::Error::Invalid(m),
        EndpointError::Unavailable(m) => types::Error::Unavailable(m),
        EndpointError::Internal(m) => types::Error::Internal(m),
    }
}

impl EndpointHost<'_> {
    fn rules(&self) -> &[HttpRule] {
        let caps = &self.scope.manifest.capabilities;
        match self.kind {
            EndpointKind::Nsx => &caps.nsx,
            EndpointKind::Vcenter => &caps.vcenter,
        }
    }

    async fn request(&mut self, req: types::HttpRequest) -> Result<types::HttpResponse, HostCallError> {
        let capability = self.kind.capability();
        self.scope.charge()?;
        if let Some(body) = &req.body {
            self.scope.check_request_size(capability, body.len())?;
        }
        let method = method(req.method);
        if !self.rules().iter().any(|r| r.allows(method, &req.path)) {
            self.scope.record(capability, "denied");
            let denied = format!("{capability} {method} {}", req.path);
            let granted: Vec<String> = self.rules().iter().map(ToString::to_string).collect();
            tracing::warn!(
                plugin = %self.scope.manifest.id(),
                object = %self.scope.object,
                %denied,
                granted = %granted.join("; "),
                "host call denied: outside the plugin's {capability} capabilities"
            );
            return Err(HostCallError::Denied(denied));
        }
        let Some(endpoint) = self.endpoint else {
            self.scope.record(capability, "error");
            return Err(HostCallError::Failed(types::Error::Unavailable(format!(
                "this host has no {capability} endpoint configured"
            ))));
        };
        let result = endpoint.send(HttpRequest { method, path: req.path, body: req.body }).await;
        self.scope.record(capability, if result.is_ok() { "ok" } else { "error" });
        result
            .map(|r| types::HttpResponse { status: r.status, body: r.body })
            .map_err(|e| HostCallError::Failed(wit_error(e)))
    }
}

impl types::Host for EndpointHost<'_> {
    fn convert_error(&mut self, err: HostCallError) -> wasmtime::Result<types::Error> {
        convert(err)
    }
}

impl nsx::Host for EndpointHost<'_> {
    async fn request(&mut self, req: types::HttpRequest) -> Result<types::HttpResponse, HostCallError> {
        EndpointHost::request(self, req).await
    }
}

impl vcenter::Host for EndpointHost<'_> {
    async fn request(&mut self, req: types::HttpRequest) -> Result<types::HttpResponse, HostCallError> {
        EndpointHost::request(self, req).await
    }
}
