//! Starting and stopping one API server instance.
//!
//! In: a [`Config`] (data directory, listen address). Out: a [`Running`] server with its
//! address, kubeconfig path, CA and admin token. Several instances can run in one process;
//! each owns its data directory (SQLite refuses a second server on the same directory).
//!
//! Layout of the data directory: `state.db` (+ WAL) objects and change log, `pki/ca.crt`
//! and `pki/ca.key` (the CA, kept across restarts), `admin.token`, `kubeconfig`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::middleware;
use axum::routing::get;
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::auth::Authenticator;
use crate::context::Context;
use crate::handlers;
use crate::registry::Registry;
use crate::request::{FieldValidation, ResourcePath};
use crate::storage::{ObjectKey, StorageError, Store, Write};

/// The default listen address.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 6443);
/// How many changes the watch log keeps by default.
pub const DEFAULT_WATCH_WINDOW: u64 = 10_000;
/// The default request body limit (the real server's is 3 MiB).
pub const DEFAULT_MAX_BODY: usize = 3 * 1024 * 1024;
/// Namespaces every server has.
pub const SYSTEM_NAMESPACES: [&str; 4] = ["default", "kube-system", "kube-public", "kube-node-lease"];

/// How to run one server.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where state, CA, token and kubeconfig live.
    pub data_dir: PathBuf,
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Changes kept for watch resume; older resourceVersions get 410 Gone.
    pub watch_window: u64,
    /// Largest request body accepted (413 above).
    pub max_body_bytes: usize,
    /// Names (DNS names or IP addresses) the serving certificate is valid for besides
    /// `127.0.0.1`, `localhost`, `::1` and the listen address: a load balancer's VIP in
    /// front of this server, for instance. Empty by default.
    pub subject_alt_names: Vec<String>,
    /// Extra time every commit holds the database after its fsync, standing for a slow
    /// disk; zero (the default) but in tests of group commit under `kill -9`.
    pub commit_delay: std::time::Duration,
}

impl Config {
    /// Defaults: listen on 127.0.0.1:6443, keep 10 000 changes, 3 MiB bodies.
    pub fn new(data_dir: impl Into<PathBuf>) -> Config {
        Config {
            data_dir: data_dir.into(),
            listen: DEFAULT_LISTEN,
            watch_window: DEFAULT_WATCH_WINDOW,
            max_body_bytes: DEFAULT_MAX_BODY,
            subject_alt_names: Vec::new(),
            commit_delay: std::time::Duration::ZERO,
        }
    }

    /// The conventional data directory: `$XDG_DATA_HOME/wasmvisor/apiserver`, else
    /// `$HOME/.local/share/wasmvisor/apiserver`, else `./wasmvisor-apiserver`.
    pub fn default_data_dir() -> PathBuf {
        let base = std::env::var_os("XDG_DATA_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/share")));
        match base {
            Some(base) => base.join("wasmvisor").join("apiserver"),
            None => PathBuf::from("wasmvisor-apiserver"),
        }
    }

    /// The same config listening on `listen`.
    pub fn listen(mut self, listen: SocketAddr) -> Config {
        self.listen = listen;
        self
    }

    /// The same config whose serving certificate is also valid for `names` (see
    /// [`Config::subject_alt_names`]).
    pub fn subject_alt_names(mut self, names: impl IntoIterator<Item = impl Into<String>>) -> Config {
        self.subject_alt_names.extend(names.into_iter().map(Into::into));
        self
    }
}

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The data directory, token or kubeconfig could not be written.
    #[error("{op} {path}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The CA or serving certificate could not be set up.
    #[error("setting up TLS in {dir}")]
    Tls {
        /// The PKI directory.
        dir: PathBuf,
        /// The underlying error.
        #[source]
        source: wasmvisor_tls::TlsError,
    },
    /// The database could not be opened (or another server holds it).
    #[error("opening the database {path}")]
    Storage {
        /// The database file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: StorageError,
    },
    /// Bootstrapping the system namespaces failed.
    #[error("creating namespace {name}")]
    Bootstrap {
        /// The namespace.
        name: &'static str,
        /// What went wrong.
        #[source]
        source: crate::status::ApiError,
    },
    /// The listen address could not be bound.
    #[error("listening on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// The embedded API server.
#[derive(Debug)]
pub struct ApiServer;

/// A running server. Dropping it does not stop it; call [`Running::shutdown`].
#[derive(Debug)]
pub struct Running {
    addr: SocketAddr,
    kubeconfig_path: PathBuf,
    ca_pem: String,
    token: String,
    stop: watch::Sender<bool>,
    task: JoinHandle<std::io::Result<()>>,
    gc: JoinHandle<()>,
}

impl ApiServer {
    /// Opens the data directory, binds the listener, writes the kubeconfig and starts serving.
    pub async fn start(config: Config) -> Result<Running, StartError> {
        let dir = config.data_dir.clone();
        std::fs::create_dir_all(&dir).map_err(|source| StartError::Io {
            op: "creating data directory",
            path: dir.clone(),
            source,
        })?;
        let pki = dir.join("pki");
        let ca = wasmvisor_tls::LocalCa::load_or_create(&pki)
            .map_err(|source| StartError::Tls { dir: pki.clone(), source })?;
        let token_path = dir.join("admin.token");
        let auth = Authenticator::load_or_create(&token_path).map_err(|source| StartError::Io {
            op: "writing admin token",
            path: token_path,
            source,
        })?;
        let key_path = dir.join("serviceaccount.key");
        let tokens = crate::rbac::tokens::TokenIssuer::load_or_create(&key_path).map_err(|source| {
            StartError::Io { op: "writing the service account signing key", path: key_path, source }
        })?;
        let db = dir.join("state.db");
        let window = config.watch_window;
        let db_path = db.clone();
        let commit_delay = config.commit_delay;
        let store = tokio::task::spawn_blocking(move || {
            Store::open(&db_path, window).map(|store| store.with_commit_delay(commit_delay))
        })
        .await
        .map_err(|_| StartError::Storage { path: db.clone(), source: StorageError::Poisoned })?
        .map_err(|source| StartError::Storage { path: db.clone(), source })?;
        let store = Arc::new(store);
        let registry = Arc::new(Registry::with_builtins());
        load_crds(&store, &registry).map_err(|source| StartError::Storage { path: db.clone(), source })?;
        bootstrap_namespaces(&store, &registry)?;
        bootstrap_rbac(&store, &registry)?;

        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| StartError::Bind { addr: config.listen, source })?;
        let bound =
            listener.local_addr().map_err(|source| StartError::Bind { addr: config.listen, source })?;
        let addr = if bound.ip().is_unspecified() {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), bound.port())
        } else {
            bound
        };
        let mut names = vec!["127.0.0.1".to_owned(), "localhost".to_owned(), "::1".to_owned()];
        // Any specific address, loopback ones too: 127.160.0.2 is not 127.0.0.1.
        let listen_ip = (!bound.ip().is_unspecified()).then(|| bound.ip().to_string());
        for name in listen_ip.iter().chain(&config.subject_alt_names) {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
        let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let tls = ca.server_config(&name_refs).map_err(|source| StartError::Tls { dir: pki, source })?;

        let kubeconfig_path = dir.join("kubeconfig");
        let kubeconfig = crate::kubeconfig::render(addr, ca.ca_pem(), auth.admin_token());
        wasmvisor_tls::write_private(&kubeconfig_path, kubeconfig.as_bytes()).map_err(|source| {
            StartError::Io { op: "writing kubeconfig", path: kubeconfig_path.clone(), source }
        })?;

        let (stop, stop_rx) = watch::channel(false);
        let token = auth.admin_token().to_owned();
        let ctx = Arc::new(Context {
            store,
            registry,
            auth,
            tokens,
            ca_pem: ca.ca_pem().to_owned(),
            max_body: config.max_body_bytes,
            shutdown: stop_rx.clone(),
            addr,
        });
        let gc = crate::gc::spawn(ctx.store.clone(), ctx.registry.clone(), stop_rx.clone());
        let app = router(ctx);
        let mut stopped = stop_rx;
        let task = tokio::spawn(wasmvisor_tls::serve(listener, tls, app, async move {
            let _ = stopped.wait_for(|s| *s).await;
        }));
        tracing::info!(%addr, data_dir = %dir.display(), "API server listening");
        Ok(Running { addr, kubeconfig_path, ca_pem: ca.ca_pem().to_owned(), token, stop, task, gc })
    }
}

fn router(ctx: Arc<Context>) -> Router {
    let ok = || async { "ok" };
    Router::new()
        .route("/healthz", get(ok))
        .route("/livez", get(ok))
        .route("/readyz", get(ok))
        .route("/version", get(crate::discovery::version))
        .route("/api", get(crate::discovery::core_versions))
        .route("/apis", get(crate::discovery::groups))
        .route("/openapi/v3", get(crate::discovery::openapi_index))
        .route("/openapi/v3/{*rest}", get(crate::discovery::openapi_group_version))
        .fallback(handlers::dispatch)
        .layer(middleware::from_fn_with_state(ctx.clone(), handlers::authenticate))
        .with_state(ctx)
}

fn load_crds(store: &Store, registry: &Registry) -> Result<(), StorageError> {
    let page = store.list("apiextensions.k8s.io/customresourcedefinitions", None)?;
    for crd in page.items {
        let name = crd.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_owned();
        registry.set_crd(&name, crate::crd::resources_for(&crd));
    }
    Ok(())
}

fn bootstrap_namespaces(store: &Store, registry: &Registry) -> Result<(), StartError> {
    let Some(resource) = registry.get("", "v1", "namespaces") else { return Ok(()) };
    for name in SYSTEM_NAMESPACES {
        let key = ObjectKey {
            resource: resource.storage_resource(),
            namespace: String::new(),
            name: name.to_owned(),
        };
        let path = ResourcePath {
            group: String::new(),
            version: "v1".into(),
            namespace: None,
            plural: "namespaces".into(),
            name: None,
            subresource: None,
        };
        let bootstrap = |current: Option<&Value>| -> Result<Write, crate::status::ApiError> {
            if current.is_some() {
                return Ok(Write::Keep);
            }
            let mut body = serde_json::json!({"metadata": {"name": name}});
            crate::pipeline::check_identity(&resource, &path, &mut body)?;
            crate::pipeline::prepare_create(&resource, &mut body, FieldValidation::Strict)?;
            Ok(Write::Put(body))
        };
        store.mutate(&key, false, bootstrap).map_err(|source| StartError::Bootstrap { name, source })?;
    }
    Ok(())
}

/// The bootstrap RBAC objects every cluster has: the `cluster-admin` ClusterRole (everything)
/// bound to `system:masters`. Created when missing, left alone when present.
fn bootstrap_rbac(store: &Store, registry: &Registry) -> Result<(), StartError> {
    let meta = |name: &str| {
        serde_json::json!({"name": name, "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
            "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"}})
    };
    let objects = [
        (
            "clusterroles",
            serde_json::json!({"metadata": meta("cluster-admin"), "rules": [
                {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                {"nonResourceURLs": ["*"], "verbs": ["*"]}]}),
        ),
        (
            "clusterrolebindings",
            serde_json::json!({"metadata": meta("cluster-admin"),
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:masters"}]}),
        ),
    ];
    for (plural, object) in objects {
        let Some(resource) = registry.get("rbac.authorization.k8s.io", "v1", plural) else { continue };
        let key = ObjectKey {
            resource: resource.storage_resource(),
            namespace: String::new(),
            name: "cluster-admin".to_owned(),
        };
        let path = ResourcePath {
            group: resource.group.clone(),
            version: "v1".into(),
            namespace: None,
            plural: plural.into(),
            name: None,
            subresource: None,
        };
        let create = |current: Option<&Value>| -> Result<Write, crate::status::ApiError> {
            if current.is_some() {
                return Ok(Write::Keep);
            }
            let mut body = object.clone();
            crate::pipeline::check_identity(&resource, &path, &mut body)?;
            crate::pipeline::prepare_create(&resource, &mut body, FieldValidation::Strict)?;
            Ok(Write::Put(body))
        };
        store
            .mutate(&key, false, create)
            .map_err(|source| StartError::Bootstrap { name: "cluster-admin", source })?;
    }
    Ok(())
}

impl Running {
    /// The address clients connect to (loopback when listening on all interfaces).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `DATA_DIR/kubeconfig` (mode 0600): server URL, CA and admin token.
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig_path
    }

    /// The CA certificate (PEM) clients must trust.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The admin bearer token.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Stops accepting, ends watches, waits for connections to close, releases the database.
    pub async fn shutdown(self) -> std::io::Result<()> {
        let _ = self.stop.send(true);
        let served = self.task.await.map_err(std::io::Error::other)?;
        // The collector holds the database too; it is released only once it has stopped.
        self.gc.await.map_err(std::io::Error::other)?;
        served
    }

    /// Waits until the server stops by itself (it only does on a fatal listener error).
    pub async fn wait(&mut self) -> std::io::Result<()> {
        (&mut self.task).await.map_err(std::io::Error::other)?
    }
}
