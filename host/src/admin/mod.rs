//! The admin endpoint: health, readiness, metrics and the loaded plugins,
//! over plain HTTP on loopback by default.
//!
//! | route | auth | answer |
//! | --- | --- | --- |
//! | `GET /healthz` | none | `200 ok` while the process serves |
//! | `GET /readyz` | none | `200 ok` when the caller's readiness flag is `true`, else `503` |
//! | `GET /metrics` | none, or the token with [`AdminConfig::protect_metrics`] | Prometheus/OpenMetrics text |
//! | `GET /plugins` | bearer token | JSON [`PluginList`] |
//! | `POST /recordings` | bearer token | JSON [`ObjectQuery`] in, JSON records out (`wasmvisor why`) |
//!
//! Probes stay open because kubelet and load balancers send no token;
//! `/metrics` is open by default for the same reason (Prometheus scrapers),
//! and holds no secrets — plugin names, versions and digests. `/plugins`
//! carries the refusal messages, which may quote grants and paths, so it
//! needs the token.
//!
//! On start the endpoint writes `DATA_DIR/admin.json` (mode 0600, written
//! atomically) with its URL and token — an [`AdminEndpoint`] — so
//! `wasmvisor plugin list --data-dir DIR` finds a running host; a graceful
//! [`AdminHandle::shutdown`] removes it. A file left by a crashed host
//! names a port nobody answers on, which the [`client`] reports as "not
//! running".

pub mod client;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use cap_std::fs::{Dir, OpenOptions, OpenOptionsExt as _};
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};
use tokio::sync::{oneshot, watch};

use crate::recorder::store::{ObjectQuery, Reader};
use crate::runtime::Runtime;
use crate::runtime::reload::PluginDir;

pub use client::AdminEndpoint;

/// File in the data directory that tells clients where the endpoint is.
pub const ADMIN_FILE: &str = "admin.json";

/// Where and how to serve.
#[derive(Debug, Clone)]
pub struct AdminConfig {
    /// Listen address; loopback (`127.0.0.1:0` picks a free port) unless the
    /// endpoint must be reachable from elsewhere.
    pub listen: SocketAddr,
    /// The host's data directory, where `admin.json` goes (created if missing).
    pub data_dir: PathBuf,
    /// The bearer token; `None` draws a random one.
    pub token: Option<String>,
    /// Whether `/metrics` needs the token too.
    pub protect_metrics: bool,
}

impl AdminConfig {
    /// Loopback on a free port, random token, open `/metrics`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            data_dir: data_dir.into(),
            token: None,
            protect_metrics: false,
        }
    }
}

/// What the endpoint reports on.
#[derive(Clone)]
pub struct AdminState {
    /// The runtime whose plugins are listed.
    pub runtime: Arc<Runtime>,
    /// The hot-reloaded directory, for refused files and their errors.
    pub plugin_dir: Option<Arc<PluginDir>>,
    /// Every metric the host exports, registered before serving.
    pub registry: Arc<Registry>,
    /// `true` when the host is ready for work (`/readyz`).
    pub ready: watch::Receiver<bool>,
}

/// Why the endpoint could not start.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The listen address is taken or not allowed.
    #[error("cannot listen on {addr}: {error}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        error: std::io::Error,
    },
    /// `admin.json` could not be written.
    #[error("cannot write {}: {error}", .path.display())]
    DataDir {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        error: std::io::Error,
    },
    /// No randomness for the token.
    #[error("cannot draw a random admin token: {0}")]
    Random(getrandom::Error),
}

/// The running endpoint.
pub struct AdminHandle {
    addr: SocketAddr,
    endpoint: AdminEndpoint,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl AdminHandle {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// URL and token, as written to `admin.json`.
    pub fn endpoint(&self) -> &AdminEndpoint {
        &self.endpoint
    }

    /// Stops serving (requests in flight finish) and removes `admin.json`.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for AdminHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// How one plugin (or one refused file) stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PluginState {
    /// Loaded, and its file's current contents are what serves.
    Serving,
    /// Loaded, but a newer file was refused: the older version keeps serving.
    Stale,
    /// A file whose contents were refused, with nothing serving from it.
    Refused,
}

impl std::fmt::Display for PluginState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PluginState::Serving => "serving",
            PluginState::Stale => "stale",
            PluginState::Refused => "refused",
        })
    }
}

/// One row of `/plugins`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginStatus {
    /// Plugin name; for a refused file, the file name.
    pub name: String,
    /// Version serving, if any.
    pub version: Option<String>,
    /// `sha256:<hex>` of the component serving, if any.
    pub digest: Option<String>,
    /// The file it came from.
    pub source: Option<String>,
    /// How it stands.
    pub state: PluginState,
    /// Why the file's latest contents were refused, if they were.
    pub last_error: Option<String>,
}

/// The body of `/plugins`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginList {
    /// Loaded plugins and refused files, by name.
    pub plugins: Vec<PluginStatus>,
}

/// Joins what the runtime serves with what the directory refused.
pub fn plugin_statuses(runtime: &Runtime, dir: Option<&PluginDir>) -> Vec<PluginStatus> {
    let mut errors = std::collections::BTreeMap::new();
    let mut rows = Vec::new();
    for (file, state) in dir.map(PluginDir::states).unwrap_or_default() {
        match (state.serving, state.error) {
            (Some(serving), Some(error)) => {
                errors.insert(serving.name, error);
            }
            (None, Some(error)) => rows.push(PluginStatus {
                name: file.clone(),
                version: None,
                digest: None,
                source: Some(file),
                state: PluginState::Refused,
                last_error: Some(error),
            }),
            (_, None) => {}
        }
    }
    for info in runtime.plugins() {
        let last_error = errors.remove(&info.name);
        rows.push(PluginStatus {
            state: if last_error.is_some() { PluginState::Stale } else { PluginState::Serving },
            name: info.name,
            version: Some(info.version),
            digest: Some(info.digest),
            source: Some(info.source),
            last_error,
        });
    }
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    rows
}

struct Shared {
    state: AdminState,
    token: String,
    protect_metrics: bool,
}

/// Binds, writes `admin.json` and serves until the handle is shut down or dropped.
pub async fn serve(config: AdminConfig, state: AdminState) -> Result<AdminHandle, AdminError> {
    let token = match config.token {
        Some(token) => token,
        None => random_token()?,
    };
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|error| AdminError::Bind { addr: config.listen, error })?;
    let addr = listener.local_addr().map_err(|error| AdminError::Bind { addr: config.listen, error })?;
    let endpoint = AdminEndpoint { url: format!("http://{}", reachable(addr)), token: token.clone() };
    let dir = write_admin_file(&config.data_dir, &endpoint)?;

    let shared = Arc::new(Shared { state, token, protect_metrics: config.protect_metrics });
    let app = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/plugins", get(plugins))
        .route("/recordings", post(recordings))
        .with_state(shared);
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await;
        if let Err(error) = served {
            tracing::error!(%error, "admin endpoint failed");
        }
        if let Err(error) = dir.remove_file(ADMIN_FILE) {
            tracing::warn!(%error, file = ADMIN_FILE, "cannot remove the admin file");
        }
    });
    tracing::info!(url = endpoint.url, "admin endpoint listening");
    Ok(AdminHandle { addr, endpoint, stop: Some(stop), task })
}

/// The address clients should use: loopback when bound to "any".
fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => SocketAddr::from((Ipv4Addr::LOCALHOST, addr.port())),
        IpAddr::V6(ip) if ip.is_unspecified() => SocketAddr::from((Ipv6Addr::LOCALHOST, addr.port())),
        _ => addr,
    }
}

fn random_token() -> Result<String, AdminError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(AdminError::Random)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Writes `admin.json` with mode 0600 through a temporary file and a
/// rename, so a reader never sees half of it.
fn write_admin_file(data_dir: &Path, endpoint: &AdminEndpoint) -> Result<Dir, AdminError> {
    let fail = |path: PathBuf| move |error| AdminError::DataDir { path, error };
    std::fs::create_dir_all(data_dir).map_err(fail(data_dir.to_owned()))?;
    let dir =
        Dir::open_ambient_dir(data_dir, cap_std::ambient_authority()).map_err(fail(data_dir.to_owned()))?;
    let tmp = ".admin.json.tmp";
    let file_path = data_dir.join(ADMIN_FILE);
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true).mode(0o600);
    let body = serde_json::to_vec_pretty(endpoint).expect("two strings serialize");
    let written = dir.open_with(tmp, &options).and_then(|mut file| {
        use std::io::Write as _;
        file.write_all(&body)?;
        file.sync_all()
    });
    written.map_err(fail(data_dir.join(tmp)))?;
    dir.rename(tmp, &dir, ADMIN_FILE).map_err(fail(file_path))?;
    Ok(dir)
}

/// A request without the right bearer token.
struct Unauthorized;

impl IntoResponse for Unauthorized {
    fn into_response(self) -> Response {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "missing or wrong bearer token (see admin.json in the host's data directory)\n",
        )
            .into_response()
    }
}

fn authorize(headers: &HeaderMap, token: &str) -> Result<(), Unauthorized> {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(Unauthorized)?;
    // Compare without an early exit, so timing does not reveal a prefix.
    let same = given.len() == token.len()
        && given.bytes().zip(token.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
    if same { Ok(()) } else { Err(Unauthorized) }
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(shared): State<Arc<Shared>>) -> (StatusCode, &'static str) {
    if *shared.state.ready.borrow() {
        (StatusCode::OK, "ok\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}

async fn metrics(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if shared.protect_metrics
        && let Err(refused) = authorize(&headers, &shared.token)
    {
        return refused.into_response();
    }
    let mut text = String::new();
    if let Err(error) = prometheus_client::encoding::text::encode(&mut text, &shared.state.registry) {
        tracing::error!(%error, "cannot encode metrics");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text)
        .into_response()
}

async fn plugins(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Err(refused) = authorize(&headers, &shared.token) {
        return refused.into_response();
    }
    let plugins = plugin_statuses(&shared.state.runtime, shared.state.plugin_dir.as_deref());
    Json(PluginList { plugins }).into_response()
}

async fn recordings(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Json(query): Json<ObjectQuery>,
) -> Response {
    if let Err(refused) = authorize(&headers, &shared.token) {
        return refused.into_response();
    }
    let Some(path) = shared.state.runtime.recorder().map(|r| r.path().to_owned()) else {
        return (
            StatusCode::NOT_FOUND,
            "this host does not record reconciles ([recorder] enabled = false)\n",
        )
            .into_response();
    };
    let read = tokio::task::spawn_blocking(move || Reader::open(&path)?.object(&query)).await;
    match read {
        Ok(Ok(records)) => Json(records).into_response(),
        Ok(Err(error)) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{error}\n")).into_response(),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{error}\n")).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, value.parse().unwrap());
        headers
    }

    #[test]
    fn only_the_exact_bearer_token_is_authorized() {
        assert!(authorize(&headers("Bearer s3cret"), "s3cret").is_ok());
        assert!(authorize(&headers("Bearer s3cre"), "s3cret").is_err());
        assert!(authorize(&headers("Bearer s3cretx"), "s3cret").is_err());
        assert!(authorize(&headers("Basic s3cret"), "s3cret").is_err());
        assert!(authorize(&HeaderMap::new(), "s3cret").is_err());
    }

    #[test]
    fn clients_reach_an_any_address_through_loopback() {
        assert_eq!(reachable("0.0.0.0:8080".parse().unwrap()), "127.0.0.1:8080".parse().unwrap());
        assert_eq!(reachable("[::]:8080".parse().unwrap()), "[::1]:8080".parse().unwrap());
        assert_eq!(reachable("10.0.0.1:80".parse().unwrap()), "10.0.0.1:80".parse().unwrap());
    }

    #[test]
    fn random_tokens_differ() {
        let (a, b) = (random_token().unwrap(), random_token().unwrap());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
    }

    #[test]
    fn admin_file_is_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let endpoint = AdminEndpoint { url: "http://127.0.0.1:1".into(), token: "t".into() };
        write_admin_file(&data, &endpoint).unwrap();
        let mode = std::fs::metadata(data.join(ADMIN_FILE)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(AdminEndpoint::read(&data).unwrap(), endpoint);
    }
}
