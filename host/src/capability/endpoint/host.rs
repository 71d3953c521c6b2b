//! `wasmvisor:plugin/nsx` and `wasmvisor:plugin/vcenter`: HTTP-shaped calls to
//! the configured NSX Manager and vCenter, checked per call against the
//! plugin's method/path rules for that endpoint.
//!
//! Both interfaces share one implementation; each view holds only its own
//! endpoint, so an NSX call can never reach vCenter's client or credentials.
//!
//! A call passes four gates, in order, before the plugin's request is sent:
//! the path must read the same to every server, and is judged as the server
//! decodes it ([`super::request_target`]); a rule must allow the method on
//! the path; the path must not be reserved to the host nor alter an identity
//! without a rule naming it; and a mutating call on an existing object must find the
//! plugin's own identity on it unless the rule has `foreign = true`
//! ([`super::identity`]). A refusal at any gate is `forbidden` for
//! the plugin, one `warn!` here and one count in the denied metric.

use serde_json::Value;
use tracing::Instrument as _;
use tracing::field::Empty;
use wasmtime::component::HasData;
use wasmvisor_manifest::{HttpAccess, HttpRule, Method, http_access};

use super::identity::{self, Identity, Refusal};
use super::request_target::RequestTarget;
use crate::capability::endpoint::{EndpointError, EndpointKind, HttpEndpoint, HttpRequest};
use crate::capability::error::{HostCallError, convert};
use crate::recorder::tape::{Begun, Raw};
use crate::runtime::bindings::wasmvisor::plugin::{nsx, types, vcenter};
use crate::runtime::scope::CallScope;

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

    /// [`EndpointHost::request`], recorded by the flight recorder.
    async fn recorded(&mut self, req: types::HttpRequest) -> Result<types::HttpResponse, HostCallError> {
        let begun = self.scope.begin(|| {
            vec![
                ("method", Raw::Value(serde_json::json!(method(req.method)))),
                ("path", Raw::Value(req.path.clone().into())),
                ("body", req.body.clone().map_or(Raw::Unit, Raw::Json)),
            ]
        });
        let result = self.request(req, begun.as_ref()).await;
        self.scope.end(self.kind.capability(), "request", begun, &result);
        result
    }

    async fn request(
        &mut self,
        req: types::HttpRequest,
        begun: Option<&Begun>,
    ) -> Result<types::HttpResponse, HostCallError> {
        let capability = self.kind.capability();
        self.scope.charge()?;
        if let Some(body) = &req.body {
            self.scope.check_request_size(capability, body.len())?;
        }
        let method = method(req.method);
        let target = match RequestTarget::parse(&req.path) {
            Ok(target) => target,
            Err(unreadable) => {
                let reason = unreadable.to_string();
                return Err(self.deny(format!("{capability} {method} {}: {reason}", req.path), Some(&reason)));
            }
        };
        // From here on every gate, and the request sent, see the path as
        // the server will read it.
        let path = target.wire();
        let access = http_access(self.rules(), method, &path);
        if access == HttpAccess::Denied {
            return Err(self.deny(format!("{capability} {method} {path}"), None));
        }
        if let Some(reason) = identity::reserved(self.kind, method, &target, self.rules()) {
            return Err(self.deny(format!("{capability} {method} {path}: {reason}"), Some(&reason)));
        }
        // A stand-in (replay, shadow) answers before the endpoint, and so
        // before the identity checks, which would reach it.
        if let Some(answer) =
            self.scope.stand_in(capability, "request", || begun.map_or(Value::Null, Begun::args))
        {
            tracing::Span::current().record("allowed", true);
            return answer.map(answered_response);
        }
        let Some(endpoint) = self.endpoint else {
            return self.failed(types::Error::Unavailable(format!(
                "this host has no {capability} endpoint configured"
            )));
        };
        let plugin = self.scope.manifest.name.clone();
        let identity = Identity { kind: self.kind, plugin: &plugin, endpoint };
        let plan = match identity.check(method, &path, access).await {
            Ok(plan) => plan,
            Err(Refusal::Denied(reason)) => {
                return Err(self.deny(format!("{capability} {method} {path}: {reason}"), Some(&reason)));
            }
            Err(Refusal::Failed(e)) => return self.failed(wit_error(e)),
        };
        tracing::Span::current().record("allowed", true);
        let body = match identity::stamp(&plan, req.body) {
            Ok(body) => body,
            Err(reason) => {
                return self.failed(types::Error::Invalid(format!("{capability} {method} {path}: {reason}")));
            }
        };
        let mut result = endpoint.send(HttpRequest { method, path, body }).await;
        if let Ok(response) = &result
            && let Err(e) = identity.finish(&plan, response).await
        {
            result = Err(e);
        }
        let result =
            result.map(|r| types::HttpResponse { status: r.status, body: r.body }).map_err(wit_error);
        self.scope.record_result(capability, &result);
        result.map_err(HostCallError::Failed)
    }

    /// Counts a call that failed before it reached the endpoint by the kind
    /// of its error, and gives the plugin that error.
    fn failed<T>(&self, error: types::Error) -> Result<T, HostCallError> {
        let failed = Err(error);
        self.scope.record_result(self.kind.capability(), &failed);
        failed.map_err(HostCallError::Failed)
    }

    /// Counts and logs a refusal; `denied` is what the plugin is told.
    fn deny(&self, denied: String, reason: Option<&str>) -> HostCallError {
        let capability = self.kind.capability();
        tracing::Span::current().record("allowed", false);
        self.scope.record(capability, "denied");
        let granted: Vec<String> = self.rules().iter().map(ToString::to_string).collect();
        tracing::warn!(
            plugin = %self.scope.manifest.id(),
            object = %self.scope.object,
            %denied,
            reason = reason.unwrap_or("no rule allows the method on the path"),
            granted = %granted.join("; "),
            "host call denied: outside the plugin's {capability} capabilities"
        );
        HostCallError::Denied(denied)
    }
}

/// A stand-in's answer as the response the plugin gets: `{"status",
/// "body"}` as the flight recorder keeps it. A recorded body that was JSON
/// is given back as JSON (a JSON string in quotes); an empty one as empty.
fn answered_response(answer: Value) -> types::HttpResponse {
    let status =
        answer.get("status").and_then(Value::as_u64).and_then(|s| u16::try_from(s).ok()).unwrap_or(200);
    let body = match answer.get("body") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(text)) if text.is_empty() => String::new(),
        Some(body) => body.to_string(),
    };
    types::HttpResponse { status, body }
}

impl types::Host for EndpointHost<'_> {
    fn convert_error(&mut self, err: HostCallError) -> wasmtime::Result<types::Error> {
        convert(err)
    }
}

/// The span of one endpoint call, `host.<capability>.request`, a child of
/// the attempt's `reconcile` span; `allowed` is recorded once the gates
/// have decided.
macro_rules! call_span {
    ($capability:literal, $req:expr) => {
        tracing::info_span!(
            concat!("host.", $capability, ".request"),
            method = %method($req.method),
            target = $req.path.as_str(),
            allowed = Empty,
        )
    };
}

impl nsx::Host for EndpointHost<'_> {
    async fn request(&mut self, req: types::HttpRequest) -> Result<types::HttpResponse, HostCallError> {
        let span = call_span!("nsx", req);
        EndpointHost::recorded(self, req).instrument(span).await
    }
}

impl vcenter::Host for EndpointHost<'_> {
    async fn request(&mut self, req: types::HttpRequest) -> Result<types::HttpResponse, HostCallError> {
        let span = call_span!("vcenter", req);
        EndpointHost::recorded(self, req).instrument(span).await
    }
}
