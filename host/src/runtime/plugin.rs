//! Loading a plugin: manifest, grant, compile (or cache), link against the
//! `reconciler` world. Every refusal names what is wrong.
//!
//! Loading is CPU-heavy (compilation) and runs off the reconcile path; the
//! result is an immutable [`Plugin`] that any number of calls share.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::Engine;
use wasmtime::component::Linker;
use wasmvisor_manifest::{ComponentManifestError, Manifest};

use crate::capability::grant::{GrantError, Grants};
use crate::capability::log::rate::{LogRate, LogRateLimits};
use crate::runtime::bindings::ReconcilerPre;
use crate::runtime::compile_cache::{CompileCache, CompileError, Digest, Provenance};
use crate::runtime::cpu_share::PluginShare;
use crate::runtime::instance::InstanceState;

/// A loaded, validated plugin, ready to instantiate.
pub struct Plugin {
    /// Its manifest.
    pub manifest: Arc<Manifest>,
    /// Digest of the component bytes (manifest included).
    pub digest: Digest,
    /// Whether it came from the compile cache.
    pub provenance: Provenance,
    /// Time to compile or deserialize it.
    pub load_time: Duration,
    pub(crate) pre: ReconcilerPre<InstanceState>,
    /// Its CPU share (`limits.cpu-share`), shared by all its calls.
    pub(crate) cpu: PluginShare,
    /// Its log rate, shared by all its calls.
    pub(crate) log_rate: Arc<LogRate>,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("plugin", &self.manifest.id())
            .field("digest", &self.digest.to_prefixed())
            .field("provenance", &self.provenance)
            .finish_non_exhaustive()
    }
}

/// Why a component was refused.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Not a component, no manifest, or an invalid one.
    #[error(transparent)]
    Manifest(#[from] ComponentManifestError),
    /// Asks for more than its grant.
    #[error(transparent)]
    Grant(#[from] GrantError),
    /// wasmtime could not compile it.
    #[error("{plugin}: does not compile: {cause}")]
    Compile {
        /// `name@version`.
        plugin: String,
        /// The compiler's error.
        cause: CompileError,
    },
    /// Imports something the host does not provide, or lacks an export.
    #[error("{plugin}: does not implement world wasmvisor:plugin/reconciler@0.1.0: {detail}")]
    World {
        /// `name@version`.
        plugin: String,
        /// wasmtime's account of the mismatch.
        detail: String,
    },
}

/// Compiles and validates components for one engine.
pub struct Loader {
    engine: Engine,
    linker: Linker<InstanceState>,
    cache: CompileCache,
    log_rate: LogRateLimits,
}

impl Loader {
    /// A loader whose linker provides the world's imports (and WASI reduced
    /// to clocks and random numbers).
    pub(crate) fn new(
        engine: Engine,
        cache: CompileCache,
        log_rate: LogRateLimits,
    ) -> wasmtime::Result<Self> {
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        crate::capability::add_to_linker(&mut linker)?;
        Ok(Self { engine, linker, cache, log_rate })
    }

    /// Loads `bytes` if its manifest fits `grants`. Blocking: compiles.
    pub fn load(&self, bytes: &[u8], grants: &Grants) -> Result<Plugin, LoadError> {
        let manifest = Manifest::from_component(bytes)?;
        grants.admit(&manifest)?;
        let plugin = manifest.id();
        let digest = Digest::of(bytes);
        let started = Instant::now();
        let (component, provenance) = self
            .cache
            .load(&self.engine, digest, bytes)
            .map_err(|cause| LoadError::Compile { plugin: plugin.clone(), cause })?;
        let load_time = started.elapsed();
        let world =
            |e: wasmtime::Error| LoadError::World { plugin: plugin.clone(), detail: format!("{e:#}") };
        let pre = self.linker.instantiate_pre(&component).map_err(world)?;
        let pre = ReconcilerPre::new(pre).map_err(world)?;
        let cpu = PluginShare::new(manifest.limits.cpu_share);
        let log_rate = Arc::new(LogRate::new(self.log_rate, Instant::now()));
        Ok(Plugin { manifest: Arc::new(manifest), digest, provenance, load_time, pre, cpu, log_rate })
    }
}
