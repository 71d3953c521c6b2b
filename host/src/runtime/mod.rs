//! The runtime core as one value: engine, loader, registry, dispatcher.
//!
//! The controller engine (watch → queue → reconcile) drives it through
//! [`Runtime::dispatcher`]; hot reload drives it through [`Runtime::load`]
//! and [`Runtime::install`].
//!
//! Read the parts in the order a plugin meets them: [`engine`] (wasmtime
//! engine, pooling allocator, epoch ticker) → [`claims`] (which source may
//! serve which plugin name) → [`plugin`] (load a component:
//! manifest, grant check, pre-instantiation, through the [`compile_cache`])
//! → [`registry`] (loaded plugins by name, swapped atomically by
//! [`reload`]) → [`dispatch`] (one call on a fresh [`instance`] under the
//! plugin's limits, with a [`scope`] of per-call budgets, on a guest thread
//! taking turns at the CPUs) → [`bindings`] (the generated WIT types the
//! capabilities implement). A call may have a [`stand_in`] answering its
//! host calls in place of the backends: how `replay` and shadows run a
//! candidate without letting it touch anything.

pub mod bindings;
pub mod claims;
pub mod compile_cache;
mod cpu_share;
pub mod dispatch;
pub mod engine;
mod guest_thread;
pub mod instance;
pub mod plugin;
pub mod registry;
pub mod reload;
pub mod scope;
pub mod stand_in;

use std::collections::BTreeMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use cap_std::fs::Dir;
use prometheus_client::registry::Registry as MetricsRegistry;

use crate::capability::grant::Grants;
use crate::metrics::{Metrics, PluginLabels};
use crate::recorder::Recorder;
use crate::runtime::compile_cache::CompileCache;
use crate::runtime::dispatch::{Dispatcher, Export, ReconcileError, Report, Request};
use crate::runtime::engine::{EngineError, EngineSettings, EpochTicker};
use crate::runtime::instance::Backends;
use crate::runtime::plugin::{LoadError, Loader, Plugin};
use crate::runtime::registry::{Entry, NameTaken, Registry};
use crate::runtime::scope::OutputLimits;
use crate::shadow::Shadows;

/// Settings of a runtime.
#[derive(Debug)]
pub struct RuntimeConfig {
    /// Engine and pooling.
    pub engine: EngineSettings,
    /// Per-call output caps.
    pub output: OutputLimits,
    /// Compile cache directory.
    pub cache_dir: Dir,
    /// What each plugin is granted.
    pub grants: Grants,
}

/// Why a runtime could not start.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The engine configuration was refused.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The host imports could not be linked (a bug).
    #[error("cannot link host functions: {0:#}")]
    Link(anyhow::Error),
    /// The epoch thread could not start.
    #[error("cannot start the epoch thread: {0}")]
    Thread(std::io::Error),
}

/// Why a call could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// No plugin of that name is loaded.
    #[error("no plugin named {0:?} is loaded")]
    NoSuchPlugin(String),
    /// The call ran and failed.
    #[error(transparent)]
    Failed(#[from] ReconcileError),
}

/// A loaded plugin, as listed for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginInfo {
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// `sha256:<hex>`.
    pub digest: String,
    /// Where it came from.
    pub source: String,
}

/// The runtime core.
pub struct Runtime {
    loader: Loader,
    dispatcher: Dispatcher,
    registry: Arc<Registry>,
    grants: ArcSwap<Grants>,
    metrics: Metrics,
}

impl Runtime {
    /// Builds the engine, links the host functions and starts the epoch clock.
    pub fn new(config: RuntimeConfig, backends: Backends) -> Result<Self, RuntimeError> {
        let engine = engine::build(&config.engine)?;
        let cache = CompileCache::new(config.cache_dir, &engine);
        let loader = Loader::new(engine.clone(), cache, config.output.log_rate)
            .map_err(|e| RuntimeError::Link(e.into()))?;
        let ticker =
            EpochTicker::start(engine.clone(), config.engine.epoch_tick).map_err(RuntimeError::Thread)?;
        let metrics = Metrics::default();
        let registry = Arc::new(Registry::default());
        let dispatcher = Dispatcher {
            registry: registry.clone(),
            engine,
            backends,
            metrics: metrics.clone(),
            output: config.output,
            cpus: cpu_share::GuestCpus::new(config.engine.guest_cpus),
            recorder: None,
            shadows: Shadows::default(),
            _ticker: Arc::new(ticker),
        };
        Ok(Self { loader, dispatcher, registry, grants: ArcSwap::from_pointee(config.grants), metrics })
    }

    /// Records every call from now on through `recorder` (the flight
    /// recorder); its metrics join the runtime's.
    pub fn record_to(mut self, recorder: Recorder) -> Self {
        self.dispatcher.recorder = Some(recorder);
        self
    }

    /// The shadow candidates beside live plugins.
    pub fn shadows(&self) -> &Shadows {
        &self.dispatcher.shadows
    }

    /// The flight recorder, when calls are recorded.
    pub fn recorder(&self) -> Option<&Recorder> {
        self.dispatcher.recorder.as_ref()
    }

    /// Compiles and validates `bytes` against the current grants without
    /// installing it. Blocking (compiles); call it off the async runtime.
    pub fn load(&self, bytes: &[u8]) -> Result<Arc<Plugin>, LoadError> {
        self.loader.load(bytes, &self.grants.load()).map(Arc::new)
    }

    /// Makes `plugin` the one new calls get; calls already running keep the
    /// version they started with.
    pub fn install(&self, plugin: Arc<Plugin>, source: &str) -> Result<(), NameTaken> {
        let labels = plugin_labels(&plugin);
        self.metrics.touch_plugin(&plugin.manifest.name);
        let previous = self.registry.install(Entry { plugin, source: source.to_owned() })?;
        if let Some(previous) = previous {
            self.metrics.plugin_info.remove(&plugin_labels(&previous.plugin));
        }
        self.metrics.plugin_info.get_or_create(&labels).set(1);
        Ok(())
    }

    /// Stops giving work to the plugin called `name`.
    pub fn remove(&self, name: &str) -> Option<Arc<Plugin>> {
        let removed = self.registry.remove(name)?;
        self.metrics.plugin_info.remove(&plugin_labels(&removed.plugin));
        Some(removed.plugin)
    }

    /// The grants plugins are loaded against now.
    pub fn grants(&self) -> Arc<Grants> {
        self.grants.load_full()
    }

    /// Replaces the grants; plugins loaded afterwards are checked against them.
    pub fn set_grants(&self, grants: Grants) {
        self.grants.store(Arc::new(grants));
    }

    /// The plugin called `name`, if loaded.
    pub fn plugin(&self, name: &str) -> Option<Arc<Plugin>> {
        self.registry.get(name)
    }

    /// Marked changed whenever a plugin is installed or removed (hot reload).
    pub fn plugin_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.registry.changes()
    }

    /// Every loaded plugin by name, as of now.
    pub fn loaded(&self) -> BTreeMap<String, Arc<Plugin>> {
        self.registry.snapshot().iter().map(|(name, e)| (name.clone(), e.plugin.clone())).collect()
    }

    /// Loaded plugins by name.
    pub fn plugins(&self) -> Vec<PluginInfo> {
        self.registry
            .snapshot()
            .values()
            .map(|e| PluginInfo {
                name: e.plugin.manifest.name.clone(),
                version: e.plugin.manifest.version.clone(),
                digest: e.plugin.digest.to_prefixed(),
                source: e.source.clone(),
            })
            .collect()
    }

    /// Calls `export` of the plugin called `name` on a fresh instance.
    pub async fn call(&self, name: &str, export: Export, request: &Request) -> Result<Report, CallError> {
        let plugin = self.registry.get(name).ok_or_else(|| CallError::NoSuchPlugin(name.to_owned()))?;
        Ok(self.dispatcher.call(&plugin, export, request).await?)
    }

    /// The dispatcher, for callers that hold a plugin snapshot themselves.
    pub fn dispatcher(&self) -> &Dispatcher {
        &self.dispatcher
    }

    /// Registers the runtime's metrics.
    pub fn register_metrics(&self, registry: &mut MetricsRegistry) {
        self.metrics.register(registry);
        self.dispatcher.shadows.register_metrics(registry);
        if let Some(recorder) = &self.dispatcher.recorder {
            recorder.metrics().register(registry);
        }
    }

    /// The metric handles (for tests and the admin endpoint).
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }
}

fn plugin_labels(plugin: &Plugin) -> PluginLabels {
    PluginLabels {
        plugin: plugin.manifest.name.clone(),
        version: plugin.manifest.version.clone(),
        digest: plugin.digest.to_prefixed(),
    }
}
