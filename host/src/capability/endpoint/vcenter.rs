//! The vSphere Automation REST API client: one session per client, created
//! with `POST /api/session` and renewed when vCenter answers 401.
//!
//! The session id travels only in the `vmware-api-session-id` header of this
//! client's requests. It is kept as a sensitive header value, never logged
//! and never returned: a plugin that asks for `/api/session` itself is
//! refused here (and, before that, by the host function).

use async_trait::async_trait;
use hyper::StatusCode;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use tokio::sync::Mutex;
use wasmvisor_manifest::Method;

use super::classify::{Product, answer, classify};
use super::credentials::Credentials;
use super::http::Transport;
use super::nsx::basic_auth_header;
use super::retry::Retrier;
use crate::capability::endpoint::{EndpointError, HttpEndpoint, HttpRequest, HttpResponse};

/// The header carrying the session id.
pub const SESSION_HEADER: HeaderName = HeaderName::from_static("vmware-api-session-id");

/// The path that creates, reads and deletes sessions; the host's alone.
pub const SESSION_PATH: &str = "/api/session";

/// The older REST API's session resource, which makes a session from the
/// same credentials.
const REST_SESSION_PATH: &str = "/rest/com/vmware/cis/session";

/// The vAPI JSON-RPC endpoint: every operation goes to this one path, named
/// in the body where no path rule can judge it.
const JSON_RPC_PATH: &str = "/api";

/// `path` without its query or a trailing `/`.
fn bare(path: &str) -> &str {
    path.split_once('?').map_or(path, |(p, _)| p).trim_end_matches('/')
}

/// Whether `path` addresses a session resource, of the current API or of
/// the older REST API (with or without query).
pub fn is_session_path(path: &str) -> bool {
    let path = bare(path);
    [SESSION_PATH, REST_SESSION_PATH].iter().any(|session| {
        path == *session || path.strip_prefix(session).is_some_and(|rest| rest.starts_with('/'))
    })
}

/// Whether `path` is the vAPI JSON-RPC endpoint.
pub fn is_json_rpc_path(path: &str) -> bool {
    bare(path) == JSON_RPC_PATH
}

/// The current session: its header and a generation, so concurrent callers
/// that all saw a 401 on the same session renew it only once.
#[derive(Default)]
struct Session {
    header: Option<HeaderMap>,
    generation: u64,
}

/// A vCenter reached through a session.
pub struct VcenterClient {
    transport: Transport,
    basic: HeaderMap,
    retry: Retrier,
    session: Mutex<Session>,
}

impl VcenterClient {
    /// A client that logs in with `credentials` on first use.
    pub fn new(transport: Transport, credentials: &Credentials, retry: Retrier) -> Self {
        Self {
            transport,
            basic: basic_auth_header(credentials),
            retry,
            session: Mutex::new(Session::default()),
        }
    }

    /// The session header to use and its generation, logging in if there is
    /// none, or if `stale` names the generation that just got a 401.
    async fn session(&self, stale: Option<u64>) -> Result<(HeaderMap, u64), EndpointError> {
        let mut session = self.session.lock().await;
        if let Some(header) = &session.header
            && stale != Some(session.generation)
        {
            return Ok((header.clone(), session.generation));
        }
        let header = self.login().await?;
        session.generation += 1;
        session.header = Some(header.clone());
        tracing::debug!(endpoint = %self.transport.base(), generation = session.generation, "vcenter session created");
        Ok((header, session.generation))
    }

    /// `POST /api/session` with basic auth; 201 with the id as a JSON string.
    async fn login(&self) -> Result<HeaderMap, EndpointError> {
        // Creating a session changes nothing the plugin can see: safe to repeat.
        let result = self
            .retry
            .run(true, "vcenter POST /api/session", || {
                self.transport.send(Method::Post, SESSION_PATH, &self.basic, None)
            })
            .await
            .map_err(|e| EndpointError::Unavailable(format!("vCenter login: {e}")))?;
        if !result.status.is_success() {
            let e = classify(Product::Vcenter, result.status, &result.body);
            return Err(match e {
                EndpointError::Unavailable(m) => EndpointError::Unavailable(format!("vCenter login: {m}")),
                other => {
                    EndpointError::Internal(format!("vCenter login refused the host's credentials: {other}"))
                }
            });
        }
        let id: String = serde_json::from_slice(&result.body).map_err(|_| {
            EndpointError::Internal("vCenter login answered without a session id string".into())
        })?;
        let mut value = HeaderValue::try_from(id)
            .map_err(|_| EndpointError::Internal("vCenter login answered an unusable session id".into()))?;
        value.set_sensitive(true);
        let mut header = HeaderMap::new();
        header.insert(SESSION_HEADER, value);
        Ok(header)
    }

    async fn attempt(
        &self,
        request: &HttpRequest,
        session: &HeaderMap,
    ) -> Result<HttpResponseOr401, EndpointError> {
        let what = format!("vcenter {} {}", request.method, request.path);
        let result = self
            .retry
            .run(idempotent(request.method, &request.path), &what, || {
                self.transport.send(request.method, &request.path, session, request.body.as_deref())
            })
            .await;
        if let Ok(raw) = &result
            && raw.status == StatusCode::UNAUTHORIZED
        {
            return Ok(HttpResponseOr401::Unauthorized);
        }
        answer(Product::Vcenter, result).map(HttpResponseOr401::Answer)
    }
}

enum HttpResponseOr401 {
    Answer(HttpResponse),
    Unauthorized,
}

/// Whether a request may be sent again after an answer that says nothing
/// of its effect (a 5xx, a lost connection). vCenter's POST creates (a VM)
/// or acts (power), and those may not repeat; but an `?action=` that only
/// reads (`list…`, `get`) or that changes nothing when repeated (a tag's
/// `attach`/`detach`) may. The host's own ownership tagging depends on the
/// latter: a VM whose tag attach failed once would belong to no plugin.
fn idempotent(method: Method, path: &str) -> bool {
    if method != Method::Post {
        return true;
    }
    let query = path.split_once('?').map_or("", |(_, q)| q);
    query
        .split('&')
        .filter_map(|pair| pair.strip_prefix("action="))
        .any(|action| action.starts_with("list") || matches!(action, "get" | "attach" | "detach"))
}

#[async_trait]
impl HttpEndpoint for VcenterClient {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, EndpointError> {
        if is_session_path(&request.path) {
            return Err(EndpointError::Invalid(format!("{SESSION_PATH} is managed by the host")));
        }
        let (session, generation) = self.session(None).await?;
        if let HttpResponseOr401::Answer(a) = self.attempt(&request, &session).await? {
            return Ok(a);
        }
        tracing::debug!(endpoint = %self.transport.base(), generation, "vcenter session expired, renewing");
        let (session, _) = self.session(Some(generation)).await?;
        match self.attempt(&request, &session).await? {
            HttpResponseOr401::Answer(a) => Ok(a),
            HttpResponseOr401::Unauthorized => {
                Err(EndpointError::Internal("vCenter answered 401 to a freshly created session".into()))
            }
        }
    }
}

impl std::fmt::Debug for VcenterClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VcenterClient").field("base", &self.transport.base()).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_paths_are_recognised() {
        for p in [
            "/api/session",
            "/api/session/",
            "/api/session?x=1",
            "/api/session/anything",
            "/rest/com/vmware/cis/session",
            "/rest/com/vmware/cis/session?~action=get",
        ] {
            assert!(is_session_path(p), "{p}");
        }
        for p in ["/api/sessions", "/api/vcenter/vm", "/api/sessionx", "/rest/com/vmware/cis/sessions"] {
            assert!(!is_session_path(p), "{p}");
        }
        assert!(
            is_json_rpc_path("/api") && is_json_rpc_path("/api/") && !is_json_rpc_path("/api/vcenter/vm")
        );
    }

    #[test]
    fn only_reads_and_repeatable_actions_are_retried_after_a_5xx() {
        let tagging = "/api/cis/tagging/tag-association";
        for (method, path) in [
            (Method::Get, "/api/vcenter/vm/vm-1"),
            (Method::Delete, "/api/vcenter/vm/vm-1"),
            (Method::Post, &format!("{tagging}?action=list-attached-tags") as &str),
            (Method::Post, &format!("{tagging}/urn:t?action=attach")),
            (Method::Post, &format!("{tagging}/urn:t?action=detach")),
        ] {
            assert!(idempotent(method, path), "{method} {path}");
        }
        for (method, path) in [
            (Method::Post, "/api/vcenter/vm"),
            (Method::Post, "/api/vcenter/vm/vm-1/power?action=start"),
            (Method::Post, "/api/cis/tagging/tag"),
            (Method::Post, "/api/vcenter/vm?xaction=list"),
        ] {
            assert!(!idempotent(method, path), "{method} {path}");
        }
    }
}
