//! The raw capture of one call, filled on the reconcile path and finished
//! into a [`super::record::Record`] by the writer thread.
//!
//! Nothing here parses or redacts: the reconcile pays only for copying what
//! it already holds (strings it hands on anyway) and one clock read per host
//! call. Parsing, redaction and encoding happen off the path, in
//! [`super::finish`].

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::capability::error::HostCallError;
use crate::recorder::record::{LogLine, WasiRead};
use crate::runtime::bindings::wasmvisor::plugin::types;
use crate::runtime::dispatch::ErrorKind;

/// A value as the call had it: JSON text is kept as text until the writer.
#[derive(Debug, Clone)]
pub(crate) enum Raw {
    /// Nothing (a function without a result).
    Unit,
    /// A JSON document as text.
    Json(String),
    /// A list of JSON documents.
    JsonList(Vec<String>),
    /// Any other value, already built (small: references, methods, paths).
    Value(serde_json::Value),
    /// An HTTP response: status and body text (often JSON).
    Http {
        /// Status code.
        status: u16,
        /// Body.
        body: String,
    },
}

/// A host call's result, before redaction.
#[derive(Debug, Clone)]
pub(crate) enum RawResult {
    Ok(Raw),
    Error { kind: ErrorKind, message: String },
    Denied(String),
    Limit(String),
}

/// One host call, before redaction.
#[derive(Debug, Clone)]
pub(crate) struct RawCall {
    pub(crate) interface: &'static str,
    pub(crate) function: &'static str,
    pub(crate) args: Vec<(&'static str, Raw)>,
    pub(crate) result: RawResult,
    pub(crate) elapsed: Duration,
}

/// What a host call returned, as the tape keeps it.
pub(crate) trait Taped {
    /// The value to keep.
    fn taped(&self) -> Raw;
}

impl Taped for String {
    fn taped(&self) -> Raw {
        Raw::Json(self.clone())
    }
}

impl Taped for Vec<String> {
    fn taped(&self) -> Raw {
        Raw::JsonList(self.clone())
    }
}

impl Taped for () {
    fn taped(&self) -> Raw {
        Raw::Unit
    }
}

impl Taped for types::HttpResponse {
    fn taped(&self) -> Raw {
        Raw::Http { status: self.status, body: self.body.clone() }
    }
}

/// A host call begun while recording: its arguments and start time.
pub(crate) struct Begun {
    args: Vec<(&'static str, Raw)>,
    started: Instant,
}

impl Begun {
    /// Starts timing a call with these arguments.
    pub(crate) fn new(args: Vec<(&'static str, Raw)>) -> Self {
        Self { args, started: Instant::now() }
    }

    /// Adds what the call learned on its way (e.g. the kind's scope from discovery).
    pub(crate) fn learned(&mut self, name: &'static str, value: Raw) {
        self.args.push((name, value));
    }

    /// The arguments so far as the record will keep them, credentials
    /// stripped (what a [`crate::runtime::stand_in::StandIn`] is asked with).
    pub(crate) fn args(&self) -> serde_json::Value {
        let mut args = super::finish::args(&self.args);
        super::redact::Redactor::default().strip(&mut args, false);
        args
    }
}

/// The capture of one call; lives in the call's scope.
#[derive(Debug, Default)]
pub(crate) struct Tape {
    pub(crate) calls: Vec<RawCall>,
    pub(crate) logs: Vec<LogLine>,
    /// Shared with the recording WASI clocks and random source, which live
    /// in the WASI context rather than in the scope.
    pub(crate) wasi: WasiTape,
}

impl Tape {
    /// Ends a call begun with [`Begun::new`].
    pub(crate) fn end<T: Taped>(
        &mut self,
        interface: &'static str,
        function: &'static str,
        begun: Begun,
        result: &Result<T, HostCallError>,
    ) {
        let elapsed = begun.started.elapsed();
        let result = match result {
            Ok(value) => RawResult::Ok(value.taped()),
            Err(HostCallError::Denied(what)) => RawResult::Denied(what.clone()),
            Err(HostCallError::Failed(error)) => {
                let (kind, message) = ErrorKind::of(error);
                RawResult::Error { kind, message: message.to_owned() }
            }
            Err(HostCallError::Limit(limit)) => RawResult::Limit(limit.to_string()),
        };
        self.calls.push(RawCall { interface, function, args: begun.args, result, elapsed });
    }

    /// Time spent in host calls.
    pub(crate) fn host_time(&self) -> Duration {
        self.calls.iter().map(|c| c.elapsed).sum()
    }

    /// A copy with WASI reads of its own (a clone would share them with
    /// the original, and finishing one would take them from the other).
    pub(crate) fn duplicate(&self) -> Tape {
        let wasi = WasiTape::default();
        for read in self.wasi.0.lock().unwrap_or_else(PoisonError::into_inner).iter() {
            wasi.push(read.clone());
        }
        Tape { calls: self.calls.clone(), logs: self.logs.clone(), wasi }
    }
}

/// WASI reads of one call, appended by the recording clocks and random
/// source (see [`crate::runtime::instance`]).
#[derive(Debug, Clone, Default)]
pub(crate) struct WasiTape(Arc<Mutex<Vec<WasiRead>>>);

/// Keeps at most this many WASI reads per call: a guest that polls the
/// clock in a loop must not grow the record without bound.
const MAX_WASI_READS: usize = 256;

impl WasiTape {
    /// Appends one read (beyond the cap it is dropped).
    pub(crate) fn push(&self, read: WasiRead) {
        let mut reads = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if reads.len() < MAX_WASI_READS {
            reads.push(read);
        }
    }

    /// The reads so far.
    pub(crate) fn take(&self) -> Vec<WasiRead> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}
