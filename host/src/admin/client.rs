//! The client side of the admin endpoint, for `wasmvisor plugin list` and `wasmvisor why`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};

use super::{ADMIN_FILE, PluginList, PluginStatus};
use crate::recorder::record::Record;
use crate::recorder::store::ObjectQuery;

/// Where a running host's admin endpoint is: the contents of `admin.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminEndpoint {
    /// `http://ADDR`.
    pub url: String,
    /// The bearer token.
    pub token: String,
}

/// Why the plugins could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No `admin.json`: no host has run with this data directory, or it stopped cleanly.
    #[error("no host is running with data directory {}: {} is missing", .data_dir.display(), ADMIN_FILE)]
    NotRunning {
        /// The data directory.
        data_dir: PathBuf,
    },
    /// `admin.json` exists but cannot be read or parsed.
    #[error("cannot read {}: {error}", .path.display())]
    BadFile {
        /// The file.
        path: PathBuf,
        /// The cause.
        error: std::io::Error,
    },
    /// Nothing answers at the URL (a host that crashed leaves its file behind).
    #[error("no host answers at {url} (is it running?): {error}")]
    Unreachable {
        /// The URL.
        url: String,
        /// The cause.
        error: String,
    },
    /// The token was refused.
    #[error("the host at {url} refused the admin token")]
    Unauthorized {
        /// The URL.
        url: String,
    },
    /// Any other answer.
    #[error("the host at {url} answered {status}: {body}")]
    Status {
        /// The URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// What it said.
        body: String,
    },
    /// The URL is not an HTTP URL.
    #[error("invalid admin URL {url:?}: {error}")]
    BadUrl {
        /// The URL.
        url: String,
        /// The cause.
        error: String,
    },
}

impl AdminEndpoint {
    /// Reads `DATA_DIR/admin.json`.
    pub fn read(data_dir: &Path) -> Result<Self, ClientError> {
        let path = data_dir.join(ADMIN_FILE);
        let text = match std::fs::read(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Err(ClientError::NotRunning { data_dir: data_dir.to_owned() });
            }
            Err(error) => return Err(ClientError::BadFile { path, error }),
        };
        serde_json::from_slice(&text).map_err(|error| ClientError::BadFile { path, error: error.into() })
    }

    /// Asks the host for its plugins (10 s limit).
    pub async fn plugins(&self) -> Result<Vec<PluginStatus>, ClientError> {
        let list: PluginList = self.exchange(hyper::Method::GET, "plugins", None).await?;
        Ok(list.plugins)
    }

    /// Asks the host for an object's recorded reconciles, newest first (10 s limit).
    pub async fn recordings(&self, query: &ObjectQuery) -> Result<Vec<Record>, ClientError> {
        let body = serde_json::to_vec(query).expect("a query serializes");
        self.exchange(hyper::Method::POST, "recordings", Some(body)).await
    }

    /// One authorized request, its JSON answer decoded.
    async fn exchange<T: serde::de::DeserializeOwned>(
        &self,
        method: hyper::Method,
        route: &str,
        body: Option<Vec<u8>>,
    ) -> Result<T, ClientError> {
        let url = self.url.trim_end_matches('/');
        let uri = format!("{url}/{route}")
            .parse::<hyper::Uri>()
            .map_err(|e| ClientError::BadUrl { url: url.into(), error: e.to_string() })?;
        let request = hyper::Request::builder()
            .method(method)
            .uri(uri)
            .header(hyper::header::AUTHORIZATION, format!("Bearer {}", self.token))
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| ClientError::BadUrl { url: url.into(), error: e.to_string() })?;
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let unreachable = |error: String| ClientError::Unreachable { url: url.into(), error };
        let exchange = async {
            let response = client
                .request(request)
                .await
                .map_err(|e| unreachable(format!("{:#}", anyhow::Error::from(e))))?;
            let status = response.status();
            let body =
                response.into_body().collect().await.map_err(|e| unreachable(e.to_string()))?.to_bytes();
            Ok::<_, ClientError>((status, body))
        };
        let (status, body) = tokio::time::timeout(Duration::from_secs(10), exchange)
            .await
            .map_err(|_| unreachable("no answer within 10s".into()))??;
        if status == hyper::StatusCode::UNAUTHORIZED {
            return Err(ClientError::Unauthorized { url: url.into() });
        }
        let text = String::from_utf8_lossy(&body);
        if !status.is_success() {
            return Err(ClientError::Status {
                url: url.into(),
                status: status.as_u16(),
                body: text.trim().into(),
            });
        }
        serde_json::from_slice(&body).map_err(|e| ClientError::Status {
            url: url.into(),
            status: status.as_u16(),
            body: format!("not the expected answer ({e}): {}", text.trim()),
        })
    }
}
