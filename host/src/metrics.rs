//! Prometheus metrics of the runtime core, named as controller-runtime names
//! its own (`wasmvisor_reconcile_total{plugin,result}`), created at zero.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Labels naming a plugin and a capability.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct CapabilityLabels {
    /// Plugin name.
    pub plugin: String,
    /// `kube`, `nsx`, `vcenter`.
    pub capability: &'static str,
}

/// Labels of a host call.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct HostCallLabels {
    /// Plugin name.
    pub plugin: String,
    /// `kube`, `nsx`, `vcenter`.
    pub capability: &'static str,
    /// `ok`, `denied` (a capability check refused it), or the WIT kind of
    /// the error the plugin got (`not-found`, `conflict`, `unavailable`, …).
    pub outcome: &'static str,
}

/// Labels of a reconcile.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ReconcileLabels {
    /// Plugin name.
    pub plugin: String,
    /// `success`, `requeue`, `error` or `trap`.
    pub result: &'static str,
}

/// Labels of a loaded plugin.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct PluginLabels {
    /// Plugin name.
    pub plugin: String,
    /// Its version.
    pub version: String,
    /// `sha256:<hex>` of its component.
    pub digest: String,
}

/// Labels naming a plugin.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct PluginName {
    /// Plugin name.
    pub plugin: String,
}

/// The metric families; cheap to clone (shared handles).
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    /// `wasmvisor_host_calls_total{plugin,capability,outcome}`.
    pub host_calls: Family<HostCallLabels, Counter>,
    /// `wasmvisor_host_call_denied_total{plugin,capability}`.
    pub denied: Family<CapabilityLabels, Counter>,
    /// `wasmvisor_reconcile_total{plugin,result}`.
    pub reconciles: Family<ReconcileLabels, Counter>,
    /// `wasmvisor_log_lines_dropped_total{plugin}`.
    pub log_lines_dropped: Family<PluginName, Counter>,
    /// `wasmvisor_plugin_info{plugin,version,digest}`: 1 while loaded.
    pub plugin_info: Family<PluginLabels, Gauge>,
}

impl Metrics {
    /// Registers every family in `registry` under the `wasmvisor` prefix.
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("wasmvisor");
        r.register("host_calls", "Host calls by plugin, capability and outcome", self.host_calls.clone());
        r.register("host_call_denied", "Host calls refused by a capability check", self.denied.clone());
        r.register("reconcile", "Reconciles by plugin and result", self.reconciles.clone());
        r.register(
            "log_lines_dropped",
            "Plugin log lines over the per-call cap",
            self.log_lines_dropped.clone(),
        );
        r.register("plugin_info", "Loaded plugins (1 per loaded version)", self.plugin_info.clone());
    }

    /// Creates a plugin's series at zero so dashboards see it before the first event.
    pub fn touch_plugin(&self, plugin: &str) {
        for capability in ["kube", "nsx", "vcenter"] {
            drop(self.denied.get_or_create(&CapabilityLabels { plugin: plugin.to_owned(), capability }));
        }
        for result in ["success", "requeue", "error", "trap"] {
            drop(self.reconciles.get_or_create(&ReconcileLabels { plugin: plugin.to_owned(), result }));
        }
    }
}
