//! The HTTPS transport every endpoint client shares: one pooled hyper client
//! over rustls (ring), with a deadline on every request.
//!
//! It sits under [`retry`](super::retry) and the product clients: it sends
//! exactly one request and reports what came back, or why nothing did. It
//! never retries and never logs headers, so credentials added by a product
//! client go no further than the socket.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};
use hyper::{Request, StatusCode, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use wasmvisor_manifest::Method;

/// How long an idle pooled connection is kept.
const POOL_IDLE: Duration = Duration::from_secs(60);

/// Why a transport could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The base URL is not an absolute `https://` URL.
    #[error("endpoint url {url:?} must be an absolute https:// URL without query ({reason})")]
    Url {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The CA file could not be read.
    #[error("reading CA file {path}: {source}")]
    CaFile {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The CA file holds no usable certificate.
    #[error("CA file {path} holds no usable PEM certificate: {reason}")]
    CaPem {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// Neither a CA file nor the system trust store gave a root.
    #[error("no trusted roots: set ca-file (the system trust store is empty or unreadable: {0})")]
    NoRoots(String),
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Tls(rustls::Error),
}

/// What a request got back: any status, with the body read whole.
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// The status.
    pub status: StatusCode,
    /// `Retry-After` in seconds, when the server sent the delta form.
    pub retry_after: Option<Duration>,
    /// The body.
    pub body: Bytes,
}

/// Why a request got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The connection could not be made: the request was certainly not sent,
    /// so even a non-idempotent request may be retried.
    #[error("cannot connect: {0}")]
    Connect(String),
    /// The connection failed or closed after the request may have been sent.
    #[error("connection failed: {0}")]
    Connection(String),
    /// No full answer within the deadline.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The request could not be built (a malformed path).
    #[error("bad request target: {0}")]
    Request(String),
}

/// One pooled HTTPS client bound to a base URL.
#[derive(Clone)]
pub struct Transport {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    base: String,
    timeout: Duration,
}

impl Transport {
    /// A client for `url` (scheme, host, port and an optional path prefix)
    /// trusting `ca_file` if given, else the system trust store. `timeout`
    /// bounds connect, send and the whole body of each request.
    pub fn new(url: &str, ca_file: Option<&Path>, timeout: Duration) -> Result<Self, TransportError> {
        let base = base_url(url)?;
        let roots = match ca_file {
            Some(path) => roots_from_file(path)?,
            None => system_roots()?,
        };
        let tls =
            rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(TransportError::Tls)?
                .with_root_certificates(roots)
                .with_no_client_auth();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(timeout));
        http.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_only()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new()).pool_idle_timeout(POOL_IDLE).build(https);
        Ok(Self { client, base, timeout })
    }

    /// The base URL requests are sent under (never carries credentials).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Sends one request to `base + path` with `headers` and a JSON `body`.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &HeaderMap,
        body: Option<&str>,
    ) -> Result<RawResponse, SendError> {
        if !path.starts_with('/') {
            return Err(SendError::Request(format!("path {path:?} must start with '/'")));
        }
        let uri: Uri =
            format!("{}{path}", self.base).parse().map_err(|e| SendError::Request(format!("{e}")))?;
        let mut request = Request::builder()
            .method(method.as_str())
            .uri(uri)
            .body(Full::new(body.map(|b| Bytes::copy_from_slice(b.as_bytes())).unwrap_or_default()))
            .map_err(|e| SendError::Request(e.to_string()))?;
        let h = request.headers_mut();
        h.insert(ACCEPT, HeaderValue::from_static("application/json"));
        if body.is_some() {
            h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        for (name, value) in headers {
            h.insert(name, value.clone());
        }
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| {
                if e.is_connect() { SendError::Connect(chain(&e)) } else { SendError::Connection(chain(&e)) }
            })?;
            let status = response.status();
            let retry_after = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| SendError::Connection(chain(&e)))?
                .to_bytes();
            Ok(RawResponse { status, retry_after, body })
        };
        tokio::time::timeout(self.timeout, exchange).await.map_err(|_| SendError::Timeout(self.timeout))?
    }
}

/// `e` and its sources, joined with `: ` (hyper's own Display is terse).
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Checks `url` and strips a trailing `/`, so `base + "/path"` is the target.
fn base_url(url: &str) -> Result<String, TransportError> {
    let bad = |reason: &str| TransportError::Url { url: redact_userinfo(url), reason: reason.to_owned() };
    let uri: Uri = url.parse().map_err(|e: hyper::http::uri::InvalidUri| bad(&e.to_string()))?;
    if uri.scheme_str() != Some("https") {
        return Err(bad("the scheme must be https"));
    }
    let Some(authority) = uri.authority() else { return Err(bad("no host")) };
    if authority.as_str().contains('@') {
        return Err(bad("credentials go in the credentials file, not the URL"));
    }
    if uri.query().is_some() {
        return Err(bad("a query string is not allowed"));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

/// `url` with any `user:password@` replaced, so an error never echoes it.
fn redact_userinfo(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let end = rest.find('/').unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) if !scheme.is_empty() => format!("{scheme}://<redacted>@{}", &rest[at + 1..]),
        Some(at) => format!("<redacted>@{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

fn roots_from_file(path: &Path) -> Result<rustls::RootCertStore, TransportError> {
    let shown = path.display().to_string();
    let pem = std::fs::read(path).map_err(|source| TransportError::CaFile { path: shown.clone(), source })?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| TransportError::CaPem { path: shown.clone(), reason: e.to_string() })?;
        roots.add(cert).map_err(|e| TransportError::CaPem { path: shown.clone(), reason: e.to_string() })?;
    }
    if roots.is_empty() {
        return Err(TransportError::CaPem { path: shown, reason: "no CERTIFICATE block".into() });
    }
    Ok(roots)
}

fn system_roots() -> Result<rustls::RootCertStore, TransportError> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = rustls::RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let why = found.errors.first().map(ToString::to_string).unwrap_or_else(|| "no certificates".into());
        return Err(TransportError::NoRoots(why));
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_must_be_plain_https() {
        assert_eq!(base_url("https://nsx.example.com/").unwrap(), "https://nsx.example.com");
        assert_eq!(base_url("https://127.0.0.1:8443/prefix").unwrap(), "https://127.0.0.1:8443/prefix");
        for bad in ["http://nsx", "nsx.example.com", "https://admin:pw@nsx", "https://nsx/?a=b"] {
            assert!(base_url(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn url_error_does_not_echo_userinfo() {
        let err = base_url("https://admin:s3cret@nsx/x").unwrap_err().to_string();
        assert!(err.contains("credentials go in the credentials file"), "{err}");
        assert!(err.contains("https://<redacted>@nsx/x"), "{err}");
        assert!(!err.contains("s3cret"), "{err}");
    }

    #[test]
    fn ca_file_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("absent.pem");
        let err = roots_from_file(&missing).unwrap_err().to_string();
        assert!(err.contains("absent.pem"), "{err}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a pem").unwrap();
        let err = roots_from_file(&empty).unwrap_err().to_string();
        assert!(err.contains("no CERTIFICATE block"), "{err}");
    }
}
