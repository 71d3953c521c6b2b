//! The wasmtime engine every plugin runs on, and the clock behind deadlines.
//!
//! One engine per host: component model, async host calls, epoch
//! interruption for wall-clock deadlines, and (by default) the pooling
//! allocator so a fresh instance per reconcile reuses pre-reserved slots.

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How the engine allocates instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineSettings {
    /// Use the pooling allocator (default). Off: allocate on demand.
    pub pooling: bool,
    /// Instances that may run at once across all plugins (pool size).
    pub max_instances: u32,
    /// Largest linear memory any plugin may be granted (pool slot size).
    pub max_memory_bytes: u64,
    /// Epoch tick: the granularity of reconcile deadlines and the length of
    /// a guest's turn at a CPU.
    pub epoch_tick: Duration,
    /// CPUs guest code may occupy at once, across all plugins (default: all
    /// but one, at least one), so looping guests always leave the host's own
    /// work a core.
    pub guest_cpus: usize,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            pooling: true,
            max_instances: 64,
            max_memory_bytes: 256 << 20,
            epoch_tick: Duration::from_millis(10),
            guest_cpus: std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1)),
        }
    }
}

/// Why the engine could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot configure the wasm engine: {0}")]
pub struct EngineError(anyhow::Error);

/// Builds the engine. Pool sizes fit components from Rust, componentize-py
/// and componentize-js (the interpreters bring many core modules and large
/// tables), checked on this project's machines.
pub fn build(settings: &EngineSettings) -> Result<Engine, EngineError> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config.wasm_backtrace_max_frames(std::num::NonZeroUsize::new(32));
    config.wasm_backtrace_details(wasmtime::WasmBacktraceDetails::Disable);
    if settings.pooling {
        let instances = settings.max_instances;
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(instances)
            .total_core_instances(instances * 8)
            .total_memories(instances * 2)
            .total_tables(instances * 4)
            .total_stacks(instances)
            .max_core_instances_per_component(50)
            .max_memories_per_component(16)
            .max_tables_per_component(16)
            .table_elements(100_000)
            .max_memory_size(usize::try_from(settings.max_memory_bytes).unwrap_or(usize::MAX))
            // Keep a little of each slot resident: resetting it is a memset
            // instead of a madvise, which is what makes reuse cheap.
            .linear_memory_keep_resident(64 << 10)
            .table_keep_resident(16 << 10)
            // Where the kernel has PAGEMAP_SCAN (Linux 6.7+), reset only the
            // pages the last instance dirtied, by memcpy, instead of the
            // slot's first bytes plus a madvise of the rest that the next
            // instance pays back in page faults: a trivial reconcile on the
            // bench fell from 66 µs to 26 µs with it. Elsewhere it is off
            // and reuse works as before.
            .pagemap_scan(Enabled::Auto);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    Engine::new(&config).map_err(|e| EngineError(e.into()))
}

/// A fingerprint of everything that makes a compiled artifact usable by
/// this engine (wasmtime version, target, settings): part of the compile
/// cache key.
pub fn fingerprint(engine: &Engine) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    hasher.finish()
}

/// Advances the engine's epoch every tick on a background thread until dropped.
#[derive(Debug)]
pub struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    /// Starts ticking.
    pub fn start(engine: Engine, tick: Duration) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new().name("wasmvisor-epoch".into()).spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                std::thread::park_timeout(tick);
                engine.increment_epoch();
            }
        })?;
        Ok(Self { stop, thread: Some(thread) })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _joined = thread.join();
        }
    }
}
