//! The NSX-T Policy API client: HTTP basic auth on every request.
//!
//! One [`Transport`] per NSX Manager, shared by every plugin's calls. Basic
//! auth rather than NSX's session (`/api/session/create`, JSESSIONID + XSRF
//! token) because it needs no state and no renewal, and it is what NSX
//! documents for scripts; the password is encoded once into a sensitive
//! header value and never leaves this struct.

use async_trait::async_trait;
use base64::Engine;
use hyper::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use wasmvisor_manifest::Method;

use super::classify::{Product, answer};
use super::credentials::Credentials;
use super::http::Transport;
use super::retry::Retrier;
use crate::capability::endpoint::{EndpointError, HttpEndpoint, HttpRequest, HttpResponse};

/// Whether `path` is under NSX's session resource (`/api/session/create`,
/// `/api/session/destroy`): sessions made from the host's credentials.
pub fn is_session_path(path: &str) -> bool {
    path.split_once('?').map_or(path, |(p, _)| p).starts_with("/api/session/")
}

/// An NSX Manager reached with basic auth.
pub struct NsxClient {
    transport: Transport,
    auth: HeaderMap,
    retry: Retrier,
}

impl NsxClient {
    /// A client sending `credentials` as basic auth.
    pub fn new(transport: Transport, credentials: &Credentials, retry: Retrier) -> Self {
        Self { transport, auth: basic_auth_header(credentials), retry }
    }
}

/// The `Authorization` header sending `credentials` as basic auth.
pub(crate) fn basic_auth_header(credentials: &Credentials) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, basic_auth(credentials));
    headers
}

/// `Basic base64(user:password)`, marked sensitive (hidden from `Debug`,
/// never indexed).
fn basic_auth(credentials: &Credentials) -> HeaderValue {
    let token = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", credentials.username, credentials.password));
    let mut value =
        HeaderValue::try_from(format!("Basic {token}")).unwrap_or_else(|_| HeaderValue::from_static("Basic"));
    value.set_sensitive(true);
    value
}

/// Whether NSX treats `method` as safe to repeat: the Policy API creates and
/// updates by caller-chosen id, so PATCH (create or merge) and PUT (create or
/// replace) converge to the same object; only POST actions may not.
fn idempotent(method: Method) -> bool {
    !matches!(method, Method::Post)
}

#[async_trait]
impl HttpEndpoint for NsxClient {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, EndpointError> {
        let what = format!("nsx {} {}", request.method, request.path);
        let result = self
            .retry
            .run(idempotent(request.method), &what, || {
                self.transport.send(request.method, &request.path, &self.auth, request.body.as_deref())
            })
            .await;
        answer(Product::Nsx, result)
    }
}

impl std::fmt::Debug for NsxClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NsxClient").field("base", &self.transport.base()).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_is_sensitive_and_correct() {
        let value = basic_auth(&Credentials { username: "admin".into(), password: "pw".into() });
        assert!(value.is_sensitive());
        assert_eq!(value.to_str().unwrap(), "Basic YWRtaW46cHc=");
        assert!(!format!("{value:?}").contains("YWRtaW46cHc"));
    }

    #[test]
    fn only_post_is_not_repeated() {
        assert!(idempotent(Method::Patch) && idempotent(Method::Put) && idempotent(Method::Delete));
        assert!(!idempotent(Method::Post));
    }
}
