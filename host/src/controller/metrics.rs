//! Metrics of the controller engine, beside the runtime's own
//! ([`crate::metrics`]): cache size per watched kind, queue depth per plugin
//! and reconcile latency, as controller-runtime and client-go name theirs.
//!
//! The cache gauges matter most at scale: cached cluster state is what runs
//! controllers out of memory, so each shared watch reports its objects and
//! their JSON bytes.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of one shared watch.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct CacheLabels {
    /// Cluster name from the host config.
    pub cluster: String,
    /// `apiVersion`.
    pub api_version: String,
    /// `kind`.
    pub kind: String,
}

/// Labels naming a plugin.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct PluginLabel {
    /// Plugin name.
    pub plugin: String,
}

fn latency_histogram() -> Histogram {
    // 1 ms … ~33 s: a trivial wasm reconcile to one at a plugin's deadline.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// The engine's metric families; cheap to clone (shared handles).
#[derive(Debug, Clone)]
pub struct ControllerMetrics {
    /// `wasmvisor_cache_objects{cluster,api_version,kind}`.
    pub cache_objects: Family<CacheLabels, Gauge>,
    /// `wasmvisor_cache_bytes{cluster,api_version,kind}`: JSON size of the cached objects.
    pub cache_bytes: Family<CacheLabels, Gauge>,
    /// `wasmvisor_queue_depth{plugin}`: keys waiting (ready or scheduled).
    pub queue_depth: Family<PluginLabel, Gauge>,
    /// `wasmvisor_active_workers{plugin}`: reconciles in flight.
    pub active_workers: Family<PluginLabel, Gauge>,
    /// `wasmvisor_reconcile_time_seconds{plugin}`: one attempt, finalizer and effects included.
    pub reconcile_time: Family<PluginLabel, Histogram, fn() -> Histogram>,
    /// `wasmvisor_terminal_reconcile_errors_total{plugin}`: failures not
    /// retried with backoff (the plugin returned `invalid` or `forbidden`).
    pub terminal_errors: Family<PluginLabel, Counter>,
}

impl Default for ControllerMetrics {
    fn default() -> Self {
        Self {
            cache_objects: Family::default(),
            cache_bytes: Family::default(),
            queue_depth: Family::default(),
            active_workers: Family::default(),
            reconcile_time: Family::new_with_constructor(latency_histogram),
            terminal_errors: Family::default(),
        }
    }
}

impl ControllerMetrics {
    /// Registers every family in `registry` under the `wasmvisor` prefix.
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("wasmvisor");
        r.register("cache_objects", "Objects in the shared watch cache", self.cache_objects.clone());
        r.register(
            "cache_bytes",
            "JSON bytes of the objects in the shared watch cache",
            self.cache_bytes.clone(),
        );
        r.register("queue_depth", "Keys waiting in a plugin's work queue", self.queue_depth.clone());
        r.register("active_workers", "Reconciles in flight per plugin", self.active_workers.clone());
        r.register(
            "reconcile_time_seconds",
            "Time of one reconcile attempt, finalizer and effects included",
            self.reconcile_time.clone(),
        );
        r.register(
            "terminal_reconcile_errors",
            "Reconcile failures not retried until the object changes",
            self.terminal_errors.clone(),
        );
    }

    /// Creates a plugin's series at zero.
    pub fn touch_plugin(&self, plugin: &str) {
        let label = PluginLabel { plugin: plugin.to_owned() };
        drop(self.queue_depth.get_or_create(&label));
        drop(self.active_workers.get_or_create(&label));
        drop(self.reconcile_time.get_or_create(&label));
        drop(self.terminal_errors.get_or_create(&label));
    }
}
