//! Starting a simulator: data dir, credentials, world, TLS, and serving the router.
//!
//! In: a [`SimConfig`] and the simulator's router. Out: a [`Running`] simulator. HTTPS is
//! `wasmvisor_tls` end to end (CA, serving certificate, accept loop); the "dropped
//! connection" fault uses the per-connection [`wasmvisor_tls::ConnectionKill`] that loop
//! puts into every request. Invariant: two simulators starting on one data dir share one
//! CA (made under a lock, see [`wasmvisor_tls::LocalCa::load_or_create_locked`]).

use std::net::SocketAddr;
use std::path::PathBuf;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::config::SimConfig;
use crate::credentials::{self, Credentials, CredentialsError};
use crate::faults::Faults;
use crate::store::{Store, StoreError};

/// Why a simulator could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The data directory could not be created.
    #[error("creating data directory {path}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The credentials file could not be read or written.
    #[error("credentials")]
    Credentials(#[from] CredentialsError),
    /// The world database could not be opened.
    #[error("world store")]
    Store(#[from] StoreError),
    /// The CA or the serving certificate could not be loaded or made (or the lock that
    /// serialises making the CA could not be taken).
    #[error("TLS setup")]
    Tls(#[from] wasmvisor_tls::TlsError),
    /// The fault settings are invalid.
    #[error("fault settings")]
    Faults(#[from] crate::faults::FaultSettingsError),
    /// A CIDR in the settings is not an IPv4 network.
    #[error("{field} {value:?} is not an IPv4 CIDR such as 192.168.100.0/24")]
    InvalidCidr {
        /// The setting.
        field: &'static str,
        /// The value given.
        value: String,
    },
    /// An object the settings ask for could not be created at start.
    #[error("creating {path} at start")]
    Seed {
        /// The object's path.
        path: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The listen address could not be bound.
    #[error("binding {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// What every route handler of a simulator may use.
#[derive(Clone, Debug)]
pub(crate) struct Ctx {
    pub(crate) store: Store,
    pub(crate) clock: Clock,
    pub(crate) credentials: Credentials,
    pub(crate) faults: Faults,
}

/// A running simulator. Dropping it leaves the server running until the runtime ends;
/// call [`Running::shutdown`] to stop it.
#[derive(Debug)]
pub struct Running {
    /// The bound address (the real port when `listen` had port 0).
    pub addr: SocketAddr,
    /// `https://ADDR`, the base every documented path is appended to.
    pub base_url: String,
    /// The CA certificate clients must trust, in PEM.
    pub ca_pem: String,
    /// The accepted credentials (given or generated).
    pub credentials: Credentials,
    /// The file holding generated credentials (it exists only when they were generated).
    pub credentials_file: PathBuf,
    /// The live fault settings, also reachable at `/_sim/faults`.
    pub faults: Faults,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
    companions: Vec<Companion>,
}

/// A task that lives as long as its simulator (the NSX data plane): stopped by sending
/// on (or dropping) `stop`, awaited by [`Running::shutdown`] after the API has stopped.
#[derive(Debug)]
pub(crate) struct Companion {
    pub(crate) stop: oneshot::Sender<()>,
    pub(crate) task: JoinHandle<()>,
}

impl Running {
    /// Stops accepting, closes every open connection (in-flight requests get
    /// [`wasmvisor_tls::SHUTDOWN_GRACE`] to finish) and waits for the loop to end, then
    /// stops what runs beside the API (the NSX data plane closes its listeners) and
    /// waits for that too. The world is already on disk: every request commits before it
    /// is answered.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
        for companion in std::mem::take(&mut self.companions) {
            let _ = companion.stop.send(());
            let _ = companion.task.await;
        }
    }

    /// Ties `companion` to this simulator's life.
    pub(crate) fn attach(&mut self, companion: Companion) {
        self.companions.push(companion);
    }
}

/// Does the work shared by both simulators' `start`, then serves the router `build` makes.
pub(crate) async fn launch<Fut>(
    config: SimConfig,
    credentials_file: &str,
    default_user: &str,
    build: impl FnOnce(Ctx) -> Fut,
) -> Result<Running, StartError>
where
    Fut: std::future::Future<Output = Result<Router, StartError>>,
{
    let data_dir = config.data_dir.clone();
    std::fs::create_dir_all(&data_dir)
        .map_err(|source| StartError::DataDir { path: data_dir.clone(), source })?;
    let credentials = credentials::resolve(&data_dir, credentials_file, default_user, config.credentials)?;
    // Opening may wait for another simulator setting up the same file: off the runtime.
    let store = {
        let data_dir = data_dir.clone();
        tokio::task::spawn_blocking(move || Store::open(&data_dir)).await.map_err(StoreError::Task)??
    };
    config.faults.validate()?;
    let faults = Faults::new(config.faults);
    let ca =
        wasmvisor_tls::LocalCa::load_or_create_locked(&config.ca_dir.unwrap_or_else(|| data_dir.join("ca")))?;
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| StartError::Bind { addr: config.listen, source })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind { addr: config.listen, source })?;
    let ip = addr.ip().to_string();
    let tls = ca.server_config(&[ip.as_str(), "localhost", "127.0.0.1"])?;
    let ctx = Ctx { store, clock: config.clock, credentials: credentials.clone(), faults: faults.clone() };
    let router = build(ctx).await?.layer(axum::middleware::from_fn(log_request));
    let (stop_tx, stop_rx) = oneshot::channel();
    let task = tokio::spawn(wasmvisor_tls::serve(listener, tls, router, async {
        let _ = stop_rx.await;
    }));
    let host = if addr.is_ipv6() { format!("[{}]", addr.ip()) } else { ip };
    Ok(Running {
        addr,
        base_url: format!("https://{host}:{}", addr.port()),
        ca_pem: ca.ca_pem().to_owned(),
        credentials,
        credentials_file: data_dir.join(credentials_file),
        faults,
        stop: Some(stop_tx),
        task,
        companions: Vec::new(),
    })
}

/// Logs each request at debug level with method, path, status and duration as fields
/// (never headers or bodies: they carry credentials). Failures are logged where they
/// are answered, so this adds no error lines.
async fn log_request(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    tracing::debug!(%method, %path, status = response.status().as_u16(), duration_ms, "simulator request");
    response
}
