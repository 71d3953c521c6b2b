//! One call of a plugin export on a fresh instance, under its limits.
//!
//! In: a loaded [`Plugin`] and a [`Request`]. Out: a [`Report`] or a typed
//! [`ReconcileError`]. Whatever the guest does (loop, allocate, panic, flood
//! the log, exceed its budgets) ends here as a value; the host goes on.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use wasmtime::{Engine, Store, Trap, WasmBacktrace};

use crate::capability::error::LimitExceeded;
use crate::capability::log::rate::Dropped;
use crate::controller::queue::Reasons;
use crate::metrics::{Metrics, ReconcileLabels};
use crate::object::ObjectRef;
use crate::recorder::finish::finish;
use crate::recorder::record::Record;
use crate::recorder::{Capture, Recorder};
use crate::runtime::bindings::wasmvisor::plugin::types;
use crate::runtime::cpu_share::{self, GuestCpus};
use crate::runtime::engine::EpochTicker;
use crate::runtime::guest_thread;
use crate::runtime::instance::{Backends, InstanceState};
use crate::runtime::plugin::Plugin;
use crate::runtime::registry::Registry;
use crate::runtime::scope::{CallScope, OutputLimits, truncate};
use crate::runtime::stand_in::StandIn;
use crate::shadow::Shadows;

/// How many request-size caps one host call may copy from the guest.
const HOSTCALL_FUEL_FACTOR: usize = 4;

/// Which export to call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Export {
    /// `reconcile`
    Reconcile,
    /// `finalize`
    Finalize,
}

/// The object handed to the plugin.
#[derive(Debug, Clone)]
pub struct Request {
    /// Its identity.
    pub target: ObjectRef,
    /// Its JSON.
    pub object: String,
}

/// What the plugin asked for next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing until something changes.
    Done,
    /// Call again after this long.
    RequeueAfter(Duration),
}

/// A successful call.
#[derive(Debug, Clone)]
pub struct Report {
    /// The plugin's answer.
    pub outcome: Outcome,
    /// `name@version` that served the call.
    pub plugin: String,
    /// Host calls made.
    pub host_calls: u32,
    /// Log output dropped by the cap.
    pub dropped: Dropped,
    /// Wall time, instantiation included.
    pub elapsed: Duration,
}

/// The variants of the WIT `error` (`wit/types.wit`), which the host
/// branches on: the reason on the condition and the Event, and whether the
/// queue retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Outside the plugin's grant; the operator has to change the grant.
    Forbidden,
    /// The addressed object or path does not exist.
    NotFound,
    /// Another writer got there first; re-read and try again.
    Conflict,
    /// The request itself is wrong; the same request fails the same way.
    Invalid,
    /// The backend is unreachable, throttling or failing.
    Unavailable,
    /// Anything else.
    Internal,
}

impl ErrorKind {
    /// The kind and message of a WIT error.
    pub(crate) fn of(error: &types::Error) -> (Self, &str) {
        match error {
            types::Error::Forbidden(m) => (ErrorKind::Forbidden, m),
            types::Error::NotFound(m) => (ErrorKind::NotFound, m),
            types::Error::Conflict(m) => (ErrorKind::Conflict, m),
            types::Error::Invalid(m) => (ErrorKind::Invalid, m),
            types::Error::Unavailable(m) => (ErrorKind::Unavailable, m),
            types::Error::Internal(m) => (ErrorKind::Internal, m),
        }
    }

    /// The WIT name: `forbidden`, `not-found`, ….
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::NotFound => "not-found",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Invalid => "invalid",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Internal => "internal",
        }
    }

    /// The kind named by its WIT name ([`ErrorKind::as_str`]).
    pub fn parse(name: &str) -> Option<Self> {
        [
            ErrorKind::Forbidden,
            ErrorKind::NotFound,
            ErrorKind::Conflict,
            ErrorKind::Invalid,
            ErrorKind::Unavailable,
            ErrorKind::Internal,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == name)
    }

    /// The CamelCase reason for conditions and Events.
    pub fn reason(self) -> &'static str {
        match self {
            ErrorKind::Forbidden => "Forbidden",
            ErrorKind::NotFound => "NotFound",
            ErrorKind::Conflict => "Conflict",
            ErrorKind::Invalid => "Invalid",
            ErrorKind::Unavailable => "Unavailable",
            ErrorKind::Internal => "InternalError",
        }
    }

    /// Whether the same request fails the same way until the object (or
    /// the grant) changes: `invalid` and `forbidden`. Such a failure is
    /// terminal — not retried with backoff, run again on the next change —
    /// as controller-runtime's `TerminalError`.
    pub fn is_terminal(self) -> bool {
        matches!(self, ErrorKind::Invalid | ErrorKind::Forbidden)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The plugin returned an error.
    Returned {
        /// The WIT error variant.
        kind: ErrorKind,
        /// Its message (cut to the operator's cap).
        message: String,
    },
    /// The wall-clock limit passed.
    Deadline {
        /// `limits.timeout`.
        limit: Duration,
    },
    /// A limit enforced by trapping: memory, host calls, request size.
    Limit(LimitExceeded),
    /// The guest panicked; the message is what it wrote to stderr.
    Panic {
        /// The panic message.
        message: String,
    },
    /// The guest called `wasi:cli/exit` before returning: `exit-with-code`
    /// reports its code as given; plain `exit` carries only ok or error
    /// (0 or 1), which is what a WASI libc that predates `exit-with-code`
    /// makes of any `exit(n)`.
    Exit {
        /// The exit status.
        code: i32,
    },
    /// Any other trap (unreachable, out-of-bounds, stack overflow, …).
    Trap {
        /// wasmtime's description.
        message: String,
    },
    /// The instance could not be created.
    Instantiate {
        /// wasmtime's description.
        message: String,
    },
}

impl Failure {
    /// Whether trying again later may succeed without a change to the plugin
    /// or its grant (the engine backs off either way).
    pub fn is_retryable(&self) -> bool {
        match self {
            Failure::Returned { kind, .. } => !kind.is_terminal(),
            Failure::Deadline { .. } | Failure::Instantiate { .. } => true,
            Failure::Limit(_) | Failure::Panic { .. } | Failure::Exit { .. } | Failure::Trap { .. } => false,
        }
    }

    /// Whether the engine waits for a change of the object instead of
    /// backing off: the plugin returned a terminal error
    /// ([`ErrorKind::is_terminal`]). A trap or a blown limit is a bug or a
    /// resource matter the plugin did not choose to report, so it keeps
    /// backing off (up to the maximum delay) like a retryable error.
    pub fn is_terminal(&self) -> bool {
        matches!(self, Failure::Returned { kind, .. } if kind.is_terminal())
    }

    fn metric_result(&self) -> &'static str {
        match self {
            Failure::Returned { .. } => "error",
            _ => "trap",
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Returned { kind, message } => write!(f, "returned {kind}: {message}"),
            Failure::Deadline { limit } => {
                write!(f, "ran past its deadline of {}", humantime::format_duration(*limit))
            }
            Failure::Limit(limit) => write!(f, "{limit}"),
            Failure::Panic { message } => write!(f, "panicked: {message}"),
            Failure::Exit { code } => write!(f, "exited with status {code} before returning a result"),
            Failure::Trap { message } => write!(f, "trapped: {message}"),
            Failure::Instantiate { message } => write!(f, "could not be instantiated: {message}"),
        }
    }
}

/// A failed call, naming the plugin, its version and the object.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{plugin} {failure} (object {object})")]
pub struct ReconcileError {
    /// `name@version`.
    pub plugin: String,
    /// The object.
    pub object: String,
    /// What went wrong.
    pub failure: Failure,
    /// Guest frames (function names from the component) for traps.
    pub backtrace: Option<String>,
}

/// Runs calls on fresh instances.
#[derive(Clone)]
pub struct Dispatcher {
    pub(crate) engine: Engine,
    pub(crate) backends: Backends,
    pub(crate) metrics: Metrics,
    pub(crate) output: OutputLimits,
    pub(crate) cpus: GuestCpus,
    pub(crate) recorder: Option<Recorder>,
    pub(crate) shadows: Shadows,
    /// The loaded plugins, whose objects a call's kube writes must respect
    /// ([`crate::capability::kube::ownership`]).
    pub(crate) registry: Arc<Registry>,
    /// The epoch clock, kept by every call in flight: a guest still running
    /// when the runtime is dropped (a shadow's, a call at shutdown) is still
    /// interrupted at its deadline instead of spinning forever.
    pub(crate) _ticker: Arc<EpochTicker>,
}

impl Dispatcher {
    /// Calls `export` of `plugin` on `request` in a fresh instance, on a
    /// guest thread ([`guest_thread`]): guest code never runs on the async
    /// runtime's workers.
    pub async fn call(
        &self,
        plugin: &Arc<Plugin>,
        export: Export,
        request: &Request,
    ) -> Result<Report, ReconcileError> {
        self.call_for(plugin, export, request, &Reasons::default()).await
    }

    /// [`Dispatcher::call`] for a queued key: `triggers` are why it ran,
    /// which the flight recorder keeps with the call.
    pub async fn call_for(
        &self,
        plugin: &Arc<Plugin>,
        export: Export,
        request: &Request,
        triggers: &Reasons,
    ) -> Result<Report, ReconcileError> {
        let (this, plugin, request) = (self.clone(), plugin.clone(), request.clone());
        let (manifest, triggers) = (plugin.manifest.clone(), triggers.clone());
        let object = request.target.to_string();
        guest_thread::run(async move {
            let (report, capture) = this.call_here(&plugin, export, &request, &triggers, None).await;
            if let Some(capture) = capture {
                if this.shadows.has(&plugin.manifest.name) {
                    this.shadows.follow(&this, export, &request, capture.duplicate());
                }
                if let Some(recorder) = &this.recorder {
                    recorder.submit(capture);
                }
            }
            report
        })
        .await
        .unwrap_or_else(|| {
            Err(ReconcileError {
                plugin: manifest.id(),
                object,
                failure: Failure::Instantiate { message: "the host is shutting down".into() },
                backtrace: None,
            })
        })
    }

    /// Calls `export` of `plugin` with `stand_in` answering its host calls
    /// in place of the backends (replay, shadow). The call runs under the
    /// plugin's limits like any other; it is recorded into the returned
    /// [`Record`] only, never into the store, and not counted in the
    /// plugin's metrics. `None` if the host is shutting down.
    pub async fn rehearse(
        &self,
        plugin: &Arc<Plugin>,
        export: Export,
        request: &Request,
        stand_in: Arc<dyn StandIn>,
    ) -> Option<Record> {
        let (this, plugin, request) = (self.clone(), plugin.clone(), request.clone());
        guest_thread::run(async move {
            let (_, capture) =
                this.call_here(&plugin, export, &request, &Reasons::default(), Some(stand_in)).await;
            capture.map(finish)
        })
        .await
        .flatten()
    }

    /// [`Dispatcher::call_for`] on the current thread; with the capture of
    /// the call when it was taped (recording, or a stand-in).
    async fn call_here(
        &self,
        plugin: &Arc<Plugin>,
        export: Export,
        request: &Request,
        triggers: &Reasons,
        stand_in: Option<Arc<dyn StandIn>>,
    ) -> (Result<Report, ReconcileError>, Option<Capture>) {
        let wall = SystemTime::now();
        let started = Instant::now();
        let manifest = plugin.manifest.clone();
        let limits = manifest.limits;
        let object = request.target.to_string();
        let mut scope = CallScope::new(
            manifest.clone(),
            object.clone(),
            self.output,
            self.metrics.clone(),
            plugin.log_rate.clone(),
            self.registry.clone(),
        );
        scope.origin = crate::cluster::member_namespace(&request.target.cluster).map(str::to_owned);
        if self.recorder.is_some() || stand_in.is_some() || self.shadows.has(&manifest.name) {
            scope.tape = Some(Box::default());
        }
        let rehearsal = stand_in.is_some();
        scope.stand_in = stand_in;
        let memory = usize::try_from(limits.memory.0).unwrap_or(usize::MAX);
        let turn = scope.turn.clone();
        let mut store = Store::new(&self.engine, InstanceState::new(scope, self.backends.clone(), memory));
        store.limiter(|state| state.limiter());
        // What one host call may copy out of the guest (strings and lists,
        // aliased or not): a few times the request-size cap, so a body just
        // over the cap still gets its typed error, yet far below any
        // plugin's memory. wasmtime checks it while lifting, before the host
        // allocates, so no call makes the host hold more for the plugin.
        store.set_hostcall_fuel(self.output.max_request_bytes.saturating_mul(HOSTCALL_FUEL_FACTOR));
        cpu_share::install(&mut store, started + limits.timeout, turn, self.cpus.clone(), plugin.cpu.clone());

        let wit_request = types::Request::from(request);
        let run = async {
            let instance = plugin.pre.instantiate_async(&mut store).await.map_err(Err)?;
            match export {
                Export::Reconcile => instance.call_reconcile(&mut store, &wit_request).await.map_err(Ok),
                Export::Finalize => instance.call_finalize(&mut store, &wit_request).await.map_err(Ok),
            }
        };
        // The epoch deadline stops guest code; the timer stops a host call
        // that hangs (a slow backend), which the epoch cannot interrupt.
        let result = tokio::time::timeout(limits.timeout, run).await;
        let fail = |failure: Failure, backtrace: Option<String>| ReconcileError {
            plugin: manifest.id(),
            object: object.clone(),
            failure,
            backtrace,
        };
        let outcome = match result {
            Err(_elapsed) => Err(fail(Failure::Deadline { limit: limits.timeout }, None)),
            Ok(Ok(Ok(outcome))) => Ok(outcome),
            Ok(Ok(Err(wit_error))) => {
                let (kind, message) = ErrorKind::of(&wit_error);
                let mut message = message.to_owned();
                truncate(&mut message, self.output.max_error_bytes);
                Err(fail(Failure::Returned { kind, message }, None))
            }
            Ok(Err(Err(instantiate))) => {
                Err(fail(Failure::Instantiate { message: format!("{instantiate:#}") }, None))
            }
            Ok(Err(Ok(trap))) => {
                let (failure, backtrace) = classify(&trap, store.data(), limits.timeout);
                Err(fail(failure, backtrace))
            }
        };
        let state = store.data();
        let report = outcome.map(|outcome| Report {
            outcome: match outcome {
                types::Outcome::Done => Outcome::Done,
                types::Outcome::RequeueAfter(ms) => Outcome::RequeueAfter(Duration::from_millis(ms)),
            },
            plugin: manifest.id(),
            host_calls: state.scope.host_calls(),
            dropped: state.scope.dropped,
            elapsed: started.elapsed(),
        });
        if !rehearsal {
            self.finish(&manifest.name, &object, &report, state.scope.dropped);
        }
        let origin = state.scope.origin.clone();
        let capture = store.data_mut().scope.tape.take().map(|tape| Capture {
            started: wall,
            manifest,
            digest: plugin.digest.to_prefixed(),
            export,
            target: request.target.clone(),
            object: request.object.clone(),
            origin,
            triggers: triggers.clone(),
            tape: *tape,
            result: report.clone(),
        });
        (report, capture)
    }

    /// Metrics and the one log line for the call's failure or dropped output.
    fn finish(&self, plugin: &str, object: &str, report: &Result<Report, ReconcileError>, dropped: Dropped) {
        let result = match report {
            Ok(Report { outcome: Outcome::Done, .. }) => "success",
            Ok(Report { outcome: Outcome::RequeueAfter(_), .. }) => "requeue",
            Err(e) => e.failure.metric_result(),
        };
        self.metrics.reconciles.get_or_create(&ReconcileLabels { plugin: plugin.to_owned(), result }).inc();
        if dropped.lines > 0 || dropped.bytes > 0 {
            let labels = crate::metrics::PluginName { plugin: plugin.to_owned() };
            self.metrics.log_lines_dropped.get_or_create(&labels).inc_by(dropped.lines);
            tracing::warn!(
                plugin,
                object,
                dropped_lines = dropped.lines,
                dropped_bytes = dropped.bytes,
                "plugin log output over the per-call cap was dropped"
            );
        }
    }
}

/// Names the cause of a trap: one of our limits, the deadline, a panic, or
/// another trap; with the guest backtrace when wasmtime has one.
fn classify(trap: &wasmtime::Error, state: &InstanceState, timeout: Duration) -> (Failure, Option<String>) {
    let backtrace = trap.downcast_ref::<WasmBacktrace>().map(|bt| format!("{bt}"));
    if let Some(limit) = trap.downcast_ref::<LimitExceeded>() {
        return (Failure::Limit(limit.clone()), backtrace);
    }
    if let Some(limit) = state.memory_exceeded() {
        return (Failure::Limit(limit), backtrace);
    }
    if let Some(exit) = trap.downcast_ref::<wasmtime_wasi::I32Exit>() {
        return (Failure::Exit { code: exit.0 }, backtrace);
    }
    match trap.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => (Failure::Deadline { limit: timeout }, backtrace),
        Some(Trap::UnreachableCodeReached) if state.stderr().contains("panicked") => {
            let message = state.stderr().trim().to_owned();
            (Failure::Panic { message }, backtrace)
        }
        _ => (Failure::Trap { message: trap_cause(trap) }, backtrace),
    }
}

/// What the trap was, without the backtrace wasmtime wraps around it (that
/// goes in [`ReconcileError::backtrace`]): a message that starts with its
/// cause survives the 1 KiB cut of an Event note.
fn trap_cause(trap: &wasmtime::Error) -> String {
    match trap.downcast_ref::<Trap>() {
        Some(code) => code.to_string(),
        None => trap.root_cause().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trap_names_its_cause_not_its_backtrace() {
        let frames: String = (0..64).map(|i| format!("  {i}: plugin::deep::frame_{i}\n")).collect();
        let trap = wasmtime::Error::new(Trap::StackOverflow)
            .context(format!("error while executing at wasm backtrace:\n{frames}"));
        assert_eq!(trap_cause(&trap), Trap::StackOverflow.to_string());
        let other =
            wasmtime::Error::msg("host function failed").context("error while executing at wasm backtrace");
        assert_eq!(trap_cause(&other), "host function failed");
    }

    #[test]
    fn retryable_failures() {
        assert!(Failure::Deadline { limit: Duration::from_secs(1) }.is_retryable());
        let returned = |kind| Failure::Returned { kind, message: String::new() };
        assert!(returned(ErrorKind::Unavailable).is_retryable());
        assert!(returned(ErrorKind::NotFound).is_retryable());
        assert!(!returned(ErrorKind::Forbidden).is_retryable());
        assert!(!Failure::Panic { message: String::new() }.is_retryable());
    }

    #[test]
    fn only_invalid_and_forbidden_are_terminal() {
        let returned = |kind| Failure::Returned { kind, message: String::new() };
        assert!(returned(ErrorKind::Invalid).is_terminal());
        assert!(returned(ErrorKind::Forbidden).is_terminal());
        for kind in [ErrorKind::NotFound, ErrorKind::Conflict, ErrorKind::Unavailable, ErrorKind::Internal] {
            assert!(!returned(kind).is_terminal(), "{kind}");
        }
        assert!(!Failure::Panic { message: String::new() }.is_terminal());
    }
}
