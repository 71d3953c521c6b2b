//! The controller engine: watch → queue → reconcile against real API servers.
//!
//! Read the modules in flow order: [`watch`] (one shared kube-runtime
//! watcher and cache per cluster and kind) → [`owners`] (an owned object's
//! change becomes its controller owner's key) → [`queue`] (dedup, one
//! attempt per key at a time, concurrency, backoff, requeue-after) →
//! [`reconcile`] (one attempt: finalizer, fresh instance, call) →
//! [`effects`] (Event, condition, the next queue operation). [`runner`] is
//! one plugin's loop over those stages, reading from its [`sources`]; [`Controller`] keeps one runner per
//! loaded plugin in step with hot reload. The plugins' cached reads come
//! from the same watches ([`crate::capability::kube::cache`]).
//!
//! What is ours and why: kube-runtime's `Controller` is typed per kind and
//! fixed at build time, while here kinds come from plugin manifests that
//! hot reload may change, one watch serves many plugins, and the reasons a
//! key was queued are merged while it waits. So the watcher and the store
//! are kube-runtime's, the queue, fan-out and loop are ours.

pub mod effects;
pub mod finalizer;
pub mod metrics;
pub mod owners;
pub mod queue;
pub mod reconcile;
pub mod related;
pub mod runner;
pub mod shard;
pub mod sources;
pub mod watch;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch as signal;
use wasmvisor_manifest::Manifest;

use crate::cluster::Clusters;
use crate::runtime::Runtime;
use metrics::ControllerMetrics;
use queue::{Backoff, Reason};
use runner::PluginController;
use watch::Informers;

/// How the engine schedules work: `[controller]` in the host config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ControllerSettings {
    /// Reconciles of one plugin in flight at once (default 4; each is one
    /// instance, so this bounds the plugin's memory too).
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Every watched object is reconciled again this often even without a
    /// change, the level-based safety net (default 10m, controller-runtime's
    /// SyncPeriod is 10h; ours is shorter because NSX and vCenter state can
    /// drift without any Kubernetes event).
    #[serde(default = "default_resync", with = "wasmvisor_manifest::limits::duration")]
    pub resync: Duration,
    /// First retry delay after a failure; doubles per failure (default 200ms).
    #[serde(default = "default_backoff_base", with = "wasmvisor_manifest::limits::duration")]
    pub backoff_base: Duration,
    /// Longest retry delay (default 5m).
    #[serde(default = "default_backoff_max", with = "wasmvisor_manifest::limits::duration")]
    pub backoff_max: Duration,
    /// The shortest `requeue-after` honoured (default 250ms): a plugin that
    /// asks for less (or 0) waits this long, so no plugin can spin the host
    /// by requeueing at once, forever.
    #[serde(default = "default_requeue_floor", with = "wasmvisor_manifest::limits::duration")]
    pub requeue_floor: Duration,
    /// How long shutdown waits for reconciles in flight (default 30s).
    #[serde(default = "default_shutdown_timeout", with = "wasmvisor_manifest::limits::duration")]
    pub shutdown_timeout: Duration,
    /// Split the keys across replicas (default: this replica takes all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sharding: Option<shard::Sharding>,
}

fn default_concurrency() -> usize {
    4
}
fn default_resync() -> Duration {
    Duration::from_secs(600)
}
fn default_backoff_base() -> Duration {
    Duration::from_millis(200)
}
fn default_backoff_max() -> Duration {
    Duration::from_secs(300)
}
fn default_requeue_floor() -> Duration {
    Duration::from_millis(250)
}
fn default_shutdown_timeout() -> Duration {
    Duration::from_secs(30)
}

impl Default for ControllerSettings {
    fn default() -> Self {
        Self {
            concurrency: default_concurrency(),
            resync: default_resync(),
            backoff_base: default_backoff_base(),
            backoff_max: default_backoff_max(),
            requeue_floor: default_requeue_floor(),
            shutdown_timeout: default_shutdown_timeout(),
            sharding: None,
        }
    }
}

impl ControllerSettings {
    /// The queue's backoff from these settings.
    pub fn backoff(&self) -> Backoff {
        Backoff { base: self.backoff_base, max: self.backoff_max }
    }
}

/// What every plugin controller shares.
pub struct Shared {
    /// Names of the dynamic cluster sources (kubeconfig Secrets): a plugin
    /// watching one gets a controller per member cluster.
    pub dynamic: BTreeSet<String>,
    /// The runtime that loads and calls plugins.
    pub runtime: Arc<Runtime>,
    /// kube-rs clients by cluster.
    pub clusters: Arc<Clusters>,
    /// The shared watches.
    pub informers: Arc<Informers>,
    /// The engine's metrics.
    pub metrics: ControllerMetrics,
    /// Scheduling settings.
    pub settings: ControllerSettings,
}

/// Keeps one plugin controller per loaded plugin, in step with hot reload:
/// a new plugin gets a controller, a new version of a plugin with the same
/// watches keeps its controller and re-queues every object (attempts in
/// flight finish on the old version), a new version with other watches
/// gets a fresh controller, a removed plugin's controller stops.
pub struct Controller {
    shared: Arc<Shared>,
}

impl Controller {
    /// An engine over `shared`; nothing runs until [`Controller::run`].
    pub fn new(shared: Shared) -> Self {
        Self { shared: Arc::new(shared) }
    }

    /// The shared state (informers for cached reads, metrics).
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Runs until `stop` turns `true`, then stops every plugin controller,
    /// letting reconciles in flight finish up to the shutdown timeout.
    /// Runs only while `active` is `true` (leader election): a replica that
    /// loses the lease stops its controllers and starts them again when it
    /// leads again.
    pub async fn run(&self, mut active: signal::Receiver<bool>, mut stop: signal::Receiver<bool>) {
        let mut changes = self.shared.runtime.plugin_changes();
        let mut members = self.shared.clusters.changes();
        let mut running: BTreeMap<String, PluginController> = BTreeMap::new();
        // Why controllers started in this round start: the first round is
        // the host's start; a round woken by the election is a new leader.
        let mut cause = Reason::Started;
        loop {
            if *active.borrow() {
                self.sync(&mut running, &cause);
            } else {
                stop_all(&mut running).await;
            }
            cause = Reason::Started;
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { break },
                changed = members.changed() => if changed.is_err() { break },
                changed = active.changed() => {
                    if changed.is_err() { break }
                    cause = Reason::LeaderElected;
                }
                _ = stop.wait_for(|s| *s) => break,
            }
        }
        stop_all(&mut running).await;
    }

    /// Brings the running controllers in step with the loaded plugins and
    /// the member clusters of dynamic sources; `cause` is why a controller
    /// started here queues what it lists.
    fn sync(&self, running: &mut BTreeMap<String, PluginController>, cause: &Reason) {
        let wanted: BTreeMap<String, Arc<Manifest>> = self
            .shared
            .runtime
            .loaded()
            .values()
            .flat_map(|plugin| instances(&plugin.manifest, &self.shared.dynamic, &self.shared.clusters))
            .collect();
        let gone: Vec<String> = running.keys().filter(|n| !wanted.contains_key(*n)).cloned().collect();
        for key in gone {
            if let Some(controller) = running.remove(&key) {
                tracing::info!(controller = key, "plugin or cluster removed; its controller stops");
                tokio::spawn(controller.stop());
            }
        }
        for (key, manifest) in wanted {
            match running.get_mut(&key) {
                Some(current) if *current.manifest == *manifest => {}
                Some(current)
                    if current.manifest.watches == manifest.watches
                        && current.manifest.owns == manifest.owns
                        && current.manifest.related == manifest.related =>
                {
                    tracing::info!(
                        controller = key,
                        plugin = manifest.id(),
                        "new version loaded; re-queueing every object"
                    );
                    current.manifest = manifest.clone();
                    current.requeue_all(&Reason::PluginChanged { plugin: manifest.id() });
                }
                _ => {
                    self.shared.metrics.touch_plugin(&manifest.name);
                    let started =
                        PluginController::start(self.shared.clone(), manifest.clone(), cause.clone());
                    if let Some(old) = running.insert(key.clone(), started) {
                        tokio::spawn(old.stop());
                    }
                    tracing::info!(controller = key, plugin = manifest.id(), "plugin controller started");
                }
            }
        }
    }
}

/// The controllers `manifest` needs, by key: one, keyed by the plugin's
/// name, when it watches static clusters; one per member cluster, keyed
/// `<plugin> in <member>`, with the source's name in its watches and owned
/// kinds replaced by the member's, when it watches a dynamic source. A
/// plugin binds at most one dynamic source (the first its watches name).
fn instances(
    manifest: &Arc<Manifest>,
    dynamic: &BTreeSet<String>,
    clusters: &Clusters,
) -> Vec<(String, Arc<Manifest>)> {
    let Some(source) = manifest.watches.iter().map(|w| &w.cluster).find(|c| dynamic.contains(*c)) else {
        return vec![(manifest.name.clone(), manifest.clone())];
    };
    clusters
        .members(source)
        .into_iter()
        .map(|member| {
            let mut bound = (**manifest).clone();
            for watch in bound.watches.iter_mut().filter(|w| &w.cluster == source) {
                watch.cluster = member.clone();
            }
            for owned in bound.owns.iter_mut().filter(|o| &o.cluster == source) {
                owned.cluster = member.clone();
            }
            for related in bound.related.iter_mut().filter(|r| &r.cluster == source) {
                related.cluster = member.clone();
            }
            (format!("{} in {member}", manifest.name), Arc::new(bound))
        })
        .collect()
}

async fn stop_all(running: &mut BTreeMap<String, PluginController>) {
    let stopping: Vec<_> = std::mem::take(running).into_values().map(PluginController::stop).collect();
    futures::future::join_all(stopping).await;
}
