//! The state inside one instance's store: WASI reduced to clocks and random
//! numbers, the memory cap, and the per-call scope and backends.
//!
//! Built fresh for every reconcile and dropped with the store. The WASI part
//! is built on the guest's first WASI call, not before: most reconciles make
//! none, and building a WASI context seeds random generators (its builder
//! does so twice) and boxes its streams and clocks.

use std::sync::Arc;
use std::time::Duration;

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::clocks::{MonotonicClock, WallClock};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{Deterministic, HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxView, WasiView};

use crate::capability::kube::KubeBackend;

use crate::capability::endpoint::host::EndpointHost;
use crate::capability::endpoint::{EndpointKind, HttpEndpoint};
use crate::capability::error::LimitExceeded;
use crate::capability::kube::host::KubeHost;
use crate::capability::log::LogHost;
use crate::recorder::record::WasiRead;
use crate::recorder::tape::WasiTape;
use crate::runtime::scope::CallScope;
use crate::runtime::stand_in::ReplayedClocks;

/// The outside world as host functions reach it.
#[derive(Clone)]
pub struct Backends {
    /// The Kubernetes API.
    pub kube: Arc<dyn KubeBackend>,
    /// NSX Manager, if configured.
    pub nsx: Option<Arc<dyn HttpEndpoint>>,
    /// vCenter, if configured.
    pub vcenter: Option<Arc<dyn HttpEndpoint>>,
}

/// Bytes of guest stderr kept, so a panic message can be reported.
const STDERR_CAPTURE: usize = 8 << 10;

/// Store data of one call.
pub struct InstanceState {
    wasi: Option<Wasi>,
    memory: MemoryCap,
    pub(crate) scope: CallScope,
    backends: Backends,
}

/// WASI for one call: no files, sockets, environment or arguments; stderr
/// captured.
struct Wasi {
    ctx: WasiCtx,
    table: ResourceTable,
    stderr: MemoryOutputPipe,
}

impl Wasi {
    /// `reads` records the clock values the guest reads (flight recorder);
    /// `replayed` gives the guest recorded readings instead of the clocks,
    /// and random numbers that are the same on every run.
    fn new(reads: Option<WasiTape>, replayed: Option<ReplayedClocks>) -> Self {
        let stderr = MemoryOutputPipe::new(STDERR_CAPTURE);
        let mut builder = WasiCtx::builder();
        builder.stderr(stderr.clone()).allow_tcp(false).allow_udp(false).allow_ip_name_lookup(false);
        let (wall, monotonic): (Box<dyn HostWallClock>, Box<dyn HostMonotonicClock>) = match replayed {
            Some(replayed) => {
                builder
                    .secure_random(Deterministic::new(REPLAY_RANDOM.to_vec()))
                    .insecure_random(Deterministic::new(REPLAY_RANDOM.to_vec()))
                    .insecure_random_seed(u128::from_le_bytes(REPLAY_RANDOM));
                (Box::new(replayed.wall()), Box::new(replayed.monotonic()))
            }
            None => (Box::new(WallClock), Box::new(MonotonicClock::default())),
        };
        builder.wall_clock(Wall { clock: wall, reads: reads.clone() });
        builder.monotonic_clock(Monotonic { clock: monotonic, reads });
        Self { ctx: builder.build(), table: ResourceTable::new(), stderr }
    }
}

/// Random bytes of a replayed call: random numbers are not recorded (they
/// may be key material), so a replay gives every run the same ones.
const REPLAY_RANDOM: [u8; 16] = *b"wasmvisor-replay";

/// The guest's wall clock; when recording, each reading is kept.
struct Wall {
    clock: Box<dyn HostWallClock>,
    reads: Option<WasiTape>,
}

impl HostWallClock for Wall {
    fn resolution(&self) -> Duration {
        self.clock.resolution()
    }
    fn now(&self) -> Duration {
        let now = self.clock.now();
        if let Some(reads) = &self.reads {
            reads.push(WasiRead::WallClock { nanos: u64::try_from(now.as_nanos()).unwrap_or(u64::MAX) });
        }
        now
    }
}

/// The guest's monotonic clock; when recording, each reading is kept.
struct Monotonic {
    clock: Box<dyn HostMonotonicClock>,
    reads: Option<WasiTape>,
}

impl HostMonotonicClock for Monotonic {
    fn resolution(&self) -> u64 {
        self.clock.resolution()
    }
    fn now(&self) -> u64 {
        let now = self.clock.now();
        if let Some(reads) = &self.reads {
            reads.push(WasiRead::MonotonicClock { nanos: now });
        }
        now
    }
}

impl InstanceState {
    /// State for one call; its WASI context comes with the first WASI call.
    pub(crate) fn new(scope: CallScope, backends: Backends, memory_limit: usize) -> Self {
        Self { wasi: None, memory: MemoryCap { limit: memory_limit, exceeded: None }, scope, backends }
    }

    /// What the guest wrote to stderr (a Rust panic message lands here).
    pub(crate) fn stderr(&self) -> String {
        self.wasi
            .as_ref()
            .map(|w| String::from_utf8_lossy(&w.stderr.contents()).into_owned())
            .unwrap_or_default()
    }

    /// The memory the guest tried to grow to past its cap, if it did.
    pub(crate) fn memory_exceeded(&self) -> Option<LimitExceeded> {
        self.memory.exceeded.clone()
    }

    pub(crate) fn limiter(&mut self) -> &mut dyn ResourceLimiter {
        &mut self.memory
    }

    pub(crate) fn kube_view(&mut self) -> KubeHost<'_> {
        KubeHost { scope: &mut self.scope, backend: &*self.backends.kube }
    }

    pub(crate) fn nsx_view(&mut self) -> EndpointHost<'_> {
        EndpointHost {
            scope: &mut self.scope,
            endpoint: self.backends.nsx.as_deref(),
            kind: EndpointKind::Nsx,
        }
    }

    pub(crate) fn vcenter_view(&mut self) -> EndpointHost<'_> {
        EndpointHost {
            scope: &mut self.scope,
            endpoint: self.backends.vcenter.as_deref(),
            kind: EndpointKind::Vcenter,
        }
    }

    pub(crate) fn log_view(&mut self) -> LogHost<'_> {
        LogHost { scope: &mut self.scope }
    }
}

impl WasiView for InstanceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        if self.wasi.is_none() {
            let replayed = self.scope.stand_in.as_ref().and_then(|s| s.clocks());
            self.wasi = Some(Wasi::new(self.scope.tape.as_ref().map(|t| t.wasi.clone()), replayed));
        }
        let wasi = self.wasi.as_mut().expect("built above");
        WasiCtxView { ctx: &mut wasi.ctx, table: &mut wasi.table }
    }
}

/// Caps linear memory; growing past the cap traps with a typed error
/// instead of failing the allocation, so the failure names its cause.
struct MemoryCap {
    limit: usize,
    exceeded: Option<LimitExceeded>,
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit {
            let exceeded = LimitExceeded::Memory { wanted: desired, limit: self.limit };
            self.exceeded = Some(exceeded.clone());
            return Err(wasmtime::Error::new(exceeded));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}
