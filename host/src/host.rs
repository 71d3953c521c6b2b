//! A whole host from its config: clusters, endpoints, runtime, hot-reloaded
//! plugin directory, controller engine, leader election, admin endpoint.
//!
//! `wasmvisor run` and `wasmvisor up` both end here, so the path a local
//! `up` exercises is the one a real Supervisor deployment runs. Start-up
//! order matters and is this: the plugin directory and the plugins' OCI
//! sources are loaded once before the host reports ready, so `/readyz` means "the plugins that can load
//! are loaded"; the engine starts after, and only while this replica leads.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use cap_std::fs::Dir;
use prometheus_client::registry::Registry;
use tokio::sync::watch;

use crate::admin::{self, AdminConfig, AdminEndpoint, AdminHandle, AdminState};
use crate::capability::endpoint::{self, ConnectError, EndpointMetrics};
use crate::capability::kube::cache::CachedKube;
use crate::cluster::{ClusterError, ClusterSource, Clusters, secrets};
use crate::config::HostConfig;
use crate::controller::metrics::ControllerMetrics;
use crate::controller::watch::Informers;
use crate::controller::{Controller, Shared};
use crate::leader::{Leader, LeaderConfig, LeaderError};
use crate::recorder::Recorder;
use crate::runtime::claims::{Claims, RecordError};
use crate::runtime::engine::EngineSettings;
use crate::runtime::instance::Backends;
use crate::runtime::reload::{DirError, PluginDir, WatchHandle};
use crate::runtime::scope::OutputLimits;
use crate::runtime::{Runtime, RuntimeConfig, RuntimeError};
use crate::source::follow::OciSources;

/// The plugin directory is rescanned this often even without a file event.
const PLUGIN_RESYNC: Duration = Duration::from_secs(30);

/// In the data directory: the first file seen with each plugin name, which
/// keeps the name under `trust-manifests` ([`Claims`]).
pub const PLUGIN_NAMES: &str = "plugin-names.json";

/// The directory in the data directory where each shadow candidate's
/// report is written (`wasmvisor shadow report` reads it).
pub const SHADOW_REPORTS: &str = "shadows";

/// Why a host could not start; each names the part and the cause.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A directory could not be created or opened.
    #[error("cannot prepare {}: {error}", .path.display())]
    Dir {
        /// The directory.
        path: std::path::PathBuf,
        /// The cause.
        error: std::io::Error,
    },
    /// A cluster's connection settings are unusable.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// The NSX or vCenter client could not be built.
    #[error("{endpoint}: {error}")]
    Endpoint {
        /// `nsx` or `vcenter`.
        endpoint: &'static str,
        /// The cause.
        error: ConnectError,
    },
    /// The runtime could not start.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The plugin directory could not be read.
    #[error(transparent)]
    PluginDir(#[from] DirError),
    /// The record of which file first served each plugin name could not be read.
    #[error(transparent)]
    PluginNames(#[from] RecordError),
    /// Leader election could not start.
    #[error(transparent)]
    Leader(#[from] LeaderError),
    /// `[leader-election]` names a cluster that is not configured.
    #[error("leader-election.cluster {0:?} is not one of the configured clusters")]
    LeaderCluster(String),
    /// The admin endpoint could not start.
    #[error(transparent)]
    Admin(#[from] admin::AdminError),
}

/// A running host.
pub struct Host {
    runtime: Arc<Runtime>,
    metrics: ControllerMetrics,
    clusters: Arc<Clusters>,
    /// Followers of the dynamic cluster sources.
    _members: Vec<secrets::Members>,
    admin: AdminHandle,
    /// `/readyz`: true from start until shutdown begins.
    ready: watch::Sender<bool>,
    stop: watch::Sender<bool>,
    engine: tokio::task::JoinHandle<()>,
    _reload: WatchHandle,
    /// Plugins from OCI references, refreshed while this lives.
    _oci: OciSources,
    leader: Option<Leader>,
    /// Keeps the "always active" channel open when there is no election.
    _always: watch::Sender<bool>,
}

impl Host {
    /// Starts everything `config` names.
    pub async fn start(config: HostConfig) -> Result<Self, StartError> {
        let plugin_dir_path = config.plugin_dir();
        let cache_path = config.data_dir.join("cache");
        for path in [&config.data_dir, &plugin_dir_path, &cache_path] {
            std::fs::create_dir_all(path).map_err(|error| StartError::Dir { path: path.clone(), error })?;
        }
        let cache_dir = Dir::open_ambient_dir(&cache_path, cap_std::ambient_authority())
            .map_err(|error| StartError::Dir { path: cache_path.clone(), error })?;

        let cluster_list: Vec<_> = config.clusters.clone().into_iter().collect();
        let clusters = Arc::new(Clusters::connect(&cluster_list).await?);
        let metrics = ControllerMetrics::default();
        let informers = Arc::new(Informers::new(clusters.clone(), metrics.clone()));
        // Endpoint credentials kept in a Secret are read from the host's own
        // (default) cluster, once, here; plugins never see them.
        let home = clusters.client(wasmvisor_manifest::DEFAULT_CLUSTER);
        let fail = |endpoint: &'static str| move |error| StartError::Endpoint { endpoint, error };
        let endpoint_metrics = EndpointMetrics::default();
        let nsx = match &config.nsx {
            Some(nsx) => Some(
                endpoint::connect_nsx(nsx, home.as_ref(), &endpoint_metrics).await.map_err(fail("nsx"))?,
            ),
            None => None,
        };
        let vcenter = match &config.vcenter {
            Some(vc) => Some(
                endpoint::connect_vcenter(vc, home.as_ref(), &endpoint_metrics)
                    .await
                    .map_err(fail("vcenter"))?,
            ),
            None => None,
        };
        let backends =
            Backends { kube: Arc::new(CachedKube::new(clusters.clone(), informers.clone())), nsx, vcenter };
        let mut runtime = Runtime::new(
            RuntimeConfig {
                engine: EngineSettings::default(),
                output: OutputLimits::default(),
                cache_dir,
                grants: config.grants(),
            },
            backends,
        )?;
        if config.recorder.enabled {
            // A store that cannot open costs the recordings, not the host.
            match Recorder::start(&config.data_dir, &config.recorder) {
                Ok(recorder) => runtime = runtime.record_to(recorder),
                Err(error) => tracing::warn!(%error, "flight recorder disabled: cannot open its store"),
            }
        }
        runtime.shadows().report_to(config.data_dir.join(SHADOW_REPORTS));
        let runtime = Arc::new(runtime);

        let claims = Claims::recorded(&config.data_dir.join(PLUGIN_NAMES))?;
        let plugin_dir = Arc::new(PluginDir::open(&plugin_dir_path)?.with_claims(claims));
        plugin_dir.sync(&runtime).await?;
        let reload = plugin_dir.clone().watch(runtime.clone(), PLUGIN_RESYNC)?;
        let oci = OciSources::start(&config.data_dir, &config.plugins, runtime.clone()).await;

        // Without election this replica always leads; the sender lives in
        // the Host, since a closed channel ends the engine.
        let (always, alone) = watch::channel(true);
        let (leader, active) = match &config.leader_election {
            Some(election) => {
                let client = clusters
                    .client(&election.cluster)
                    .ok_or_else(|| StartError::LeaderCluster(election.cluster.clone()))?;
                let identity = election.identity.clone().unwrap_or_else(default_identity);
                let leader = Leader::start(
                    client,
                    LeaderConfig::new(&election.namespace, &election.lease, &identity),
                )?;
                let active = leader.watch();
                (Some(leader), active)
            }
            None => (None, alone),
        };

        let mut registry = Registry::default();
        runtime.register_metrics(&mut registry);
        metrics.register(&mut registry);
        endpoint_metrics.register(&mut registry);
        let (ready_tx, ready) = watch::channel(true);
        let mut admin_config = AdminConfig::new(&config.data_dir);
        admin_config.listen = config.admin.listen;
        admin_config.protect_metrics = config.admin.protect_metrics;
        let admin = admin::serve(
            admin_config,
            AdminState {
                runtime: runtime.clone(),
                plugin_dir: Some(plugin_dir.clone()),
                registry: Arc::new(registry),
                ready,
            },
        )
        .await?;

        let dynamic: BTreeSet<String> = config
            .clusters
            .iter()
            .filter(|(_, c)| matches!(c.source, ClusterSource::KubeconfigSecrets { .. }))
            .map(|(name, _)| name.clone())
            .collect();
        let members = config
            .clusters
            .iter()
            .filter_map(|(name, c)| secrets::follow(&clusters, name, &c.source))
            .collect();
        let clusters_handle = clusters.clone();
        let controller = Controller::new(Shared {
            dynamic,
            runtime: runtime.clone(),
            clusters,
            informers,
            metrics: metrics.clone(),
            settings: config.controller.clone(),
        });
        let (stop, stopped) = watch::channel(false);
        let engine = tokio::spawn(async move { controller.run(active, stopped).await });
        Ok(Self {
            runtime,
            metrics,
            clusters: clusters_handle,
            admin,
            ready: ready_tx,
            stop,
            engine,
            _reload: reload,
            _oci: oci,
            _members: members,
            leader,
            _always: always,
        })
    }

    /// The clusters connected now (dynamic members included).
    pub fn clusters(&self) -> &Arc<Clusters> {
        &self.clusters
    }

    /// The runtime (loaded plugins, metrics).
    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    /// The controller engine's metrics (queue, cache, terminal errors).
    pub fn controller_metrics(&self) -> &ControllerMetrics {
        &self.metrics
    }

    /// Where the admin endpoint listens and its token.
    pub fn admin(&self) -> &AdminEndpoint {
        self.admin.endpoint()
    }

    /// Graceful shutdown: stop taking work, let reconciles in flight finish
    /// (up to `controller.shutdown-timeout`), release the Lease so a standby
    /// takes over at once, close the admin endpoint.
    pub async fn shutdown(self) {
        self.ready.send_replace(false);
        self.stop.send_replace(true);
        if let Err(error) = self.engine.await {
            tracing::error!(%error, "controller engine ended abnormally");
        }
        if let Some(leader) = self.leader {
            leader.step_down().await;
        }
        self.admin.shutdown().await;
    }
}

/// `$HOSTNAME` (the pod name in a Deployment), else a random identity.
fn default_identity() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| format!("wasmvisor-{:016x}", fastrand::u64(..)))
}
