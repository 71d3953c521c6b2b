//! The `nsx` and `vcenter` capabilities: HTTP-shaped calls to the
//! configured NSX Manager and vCenter, one implementation for both.
//!
//! In the order a call meets them: the path is read as the server will
//! read it ([`request_target`]); the grant rules are the manifest crate's
//! `HttpRule`s (method + path pattern, `foreign`), checked in [`host`] (the
//! WIT `nsx`/`vcenter` host functions) together with the ownership gates of
//! [`identity`]; then the call goes to an
//! [`HttpEndpoint`] ([`backend`]), in production one of the host's own
//! clients below, configured by [`EndpointConfig`] and connected by
//! [`connect_nsx`] / [`connect_vcenter`].
//!
//! The clients' layers, bottom up: [`http`] (one pooled HTTPS client, timeouts), [`retry`]
//! (backoff with jitter, `Retry-After`), [`classify`] (status → typed error),
//! then the products: [`nsx`] (basic auth) and [`vcenter`] (session, renewed
//! on 401). [`credentials`] reads the user name and password once. The
//! invariant: credentials and session ids stay inside these structs — they
//! are never logged, never in an error, never in what a plugin receives.

pub mod backend;
pub mod classify;
pub mod credentials;
pub mod host;
pub mod http;
pub mod identity;
pub mod metrics;
pub mod nsx;
pub mod request_target;
pub mod retry;
pub mod vcenter;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use backend::{EndpointError, EndpointKind, HttpEndpoint, HttpRequest, HttpResponse};
pub use credentials::{Credentials, CredentialsError, CredentialsSource};
pub use metrics::EndpointMetrics;
pub use nsx::NsxClient;
pub use retry::{Retrier, RetryPolicy};
pub use vcenter::VcenterClient;

use http::{Transport, TransportError};

/// One endpoint in host config:
///
/// ```toml
/// [nsx]
/// url = "https://nsx.example.com"
/// ca-file = "/etc/wasmvisor/nsx-ca.pem"
/// credentials = { file = "/etc/wasmvisor/nsx-credentials.json" }
/// # or: credentials.secret = { namespace = "wasmvisor-system", name = "nsx" }
/// timeout = "30s"
/// retries = 3
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct EndpointConfig {
    /// Base URL, `https://host[:port]`; plugin paths are appended to it.
    pub url: String,
    /// PEM file of the CA(s) to trust for this endpoint; when absent, the
    /// system trust store is used (a simulator's `ca.crt` goes here).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Where the user name and password come from.
    pub credentials: CredentialsSource,
    /// Deadline of one attempt: connect, send and read the whole answer.
    /// Default 30s, long enough for NSX's slow list calls.
    #[serde(default = "default_timeout", with = "wasmvisor_manifest::limits::duration")]
    pub timeout: Duration,
    /// Retries of a failed idempotent request (429, 5xx, connection error)
    /// after the first attempt. Default 3.
    #[serde(default = "default_retries")]
    pub retries: u32,
}

fn default_timeout() -> Duration {
    Duration::from_secs(30)
}

fn default_retries() -> u32 {
    3
}

impl EndpointConfig {
    /// A config with the defaults for `url` and credentials from `file`.
    pub fn new(url: impl Into<String>, credentials_file: impl Into<PathBuf>) -> Self {
        Self {
            url: url.into(),
            ca_file: None,
            credentials: CredentialsSource::File(credentials_file.into()),
            timeout: default_timeout(),
            retries: default_retries(),
        }
    }

    async fn parts(
        &self,
        cluster: Option<&kube::Client>,
    ) -> Result<(Transport, Credentials, RetryPolicy), ConnectError> {
        let transport = Transport::new(&self.url, self.ca_file.as_deref(), self.timeout)?;
        let credentials = self.credentials.load(cluster).await?;
        Ok((transport, credentials, RetryPolicy::new(self.retries)))
    }
}

/// Why a client could not be built from its config.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// URL or TLS trust.
    #[error("{0}")]
    Transport(#[from] TransportError),
    /// The credentials.
    #[error("{0}")]
    Credentials(#[from] CredentialsError),
}

/// An NSX client for `config`, counting its retries in `metrics`; `cluster`
/// reads credentials kept in a Secret. Nothing is sent to NSX until the
/// first request.
pub async fn connect_nsx(
    config: &EndpointConfig,
    cluster: Option<&kube::Client>,
    metrics: &EndpointMetrics,
) -> Result<Arc<dyn HttpEndpoint>, ConnectError> {
    let (transport, credentials, policy) = config.parts(cluster).await?;
    let retry = Retrier { policy, counted: metrics.retries_of("nsx") };
    Ok(Arc::new(NsxClient::new(transport, &credentials, retry)))
}

/// A vCenter client for `config`, counting its retries in `metrics`;
/// `cluster` reads credentials kept in a Secret. It logs in on the first
/// request.
pub async fn connect_vcenter(
    config: &EndpointConfig,
    cluster: Option<&kube::Client>,
    metrics: &EndpointMetrics,
) -> Result<Arc<dyn HttpEndpoint>, ConnectError> {
    let (transport, credentials, policy) = config.parts(cluster).await?;
    let retry = Retrier { policy, counted: metrics.retries_of("vcenter") };
    Ok(Arc::new(VcenterClient::new(transport, &credentials, retry)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_parses_with_defaults_and_refuses_unknown_keys() {
        let c: EndpointConfig =
            toml::from_str("url = \"https://nsx\"\ncredentials = { file = \"/etc/c.json\" }").unwrap();
        assert_eq!(c, EndpointConfig::new("https://nsx", "/etc/c.json"));
        let c: EndpointConfig = toml::from_str(
            "url = \"https://nsx\"\nca-file = \"/ca.pem\"\ncredentials = { file = \"/c\" }\ntimeout = \"2s\"\nretries = 0",
        )
        .unwrap();
        assert_eq!(
            (c.timeout, c.retries, c.ca_file.as_deref()),
            (Duration::from_secs(2), 0, Some("/ca.pem".as_ref()))
        );
        let err = toml::from_str::<EndpointConfig>(
            "url = \"https://n\"\ncredentials = { file = \"/c\" }\nuser = \"x\"",
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown field `user`"), "{err}");
    }

    #[tokio::test]
    async fn secret_credentials_without_a_cluster_are_refused_with_a_clear_error() {
        let c: EndpointConfig = toml::from_str(
            "url = \"https://nsx\"\nca-file = \"/dev/null\"\ncredentials.secret = { namespace = \"ns\", name = \"nsx\" }",
        )
        .unwrap();
        // The CA file is checked first; use a real one so the Secret is what fails.
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        let pem = wasmvisor_tls::LocalCa::load_or_create(&dir.path().join("ca")).unwrap().ca_pem().to_owned();
        std::fs::write(&ca, pem).unwrap();
        let c = EndpointConfig { ca_file: Some(ca), ..c };
        let Err(err) = connect_nsx(&c, None, &EndpointMetrics::default()).await else {
            panic!("a Secret source needs a cluster")
        };
        let err = err.to_string();
        assert!(err.contains("Secret ns/nsx") && err.contains("no cluster client"), "{err}");
    }
}
