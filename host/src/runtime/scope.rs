//! The per-call state every host function shares: who is calling, about
//! which object, and what is left of the call's budgets.
//!
//! One `CallScope` lives in each fresh instance's store and dies with it, so
//! budgets never leak from one reconcile to the next.

use std::sync::Arc;

use wasmvisor_manifest::Manifest;

use crate::capability::error::{HostCallError, LimitExceeded};
use crate::capability::log::rate::{Dropped, LogRate, LogRateLimits};
use crate::metrics::{CapabilityLabels, HostCallLabels, Metrics};
use crate::recorder::tape::{Begun, Raw, Tape, Taped};
use crate::runtime::bindings::wasmvisor::plugin::types::Error as WitError;
use crate::runtime::cpu_share::Turn;
use crate::runtime::dispatch::ErrorKind;
use crate::runtime::registry::Registry;
use crate::runtime::stand_in::{Asked, StandIn};

/// Caps on what one call may emit, set by the operator for all plugins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputLimits {
    /// Largest body a plugin may send in one host call (apply, nsx, vcenter).
    pub max_request_bytes: usize,
    /// Log lines kept per call; the rest are dropped and counted.
    pub max_log_lines: u32,
    /// Longest log message or field value kept; longer ones are cut.
    pub max_log_line_bytes: usize,
    /// Longest error message kept from a plugin.
    pub max_error_bytes: usize,
    /// Each plugin's log rate across all its calls.
    pub log_rate: LogRateLimits,
}

impl Default for OutputLimits {
    fn default() -> Self {
        Self {
            max_request_bytes: 1 << 20,
            max_log_lines: 100,
            max_log_line_bytes: 4096,
            max_error_bytes: 4096,
            log_rate: LogRateLimits::default(),
        }
    }
}

/// State shared by the host functions of one call.
#[derive(Debug)]
pub struct CallScope {
    pub(crate) manifest: Arc<Manifest>,
    /// `cluster/apiVersion/kind/namespace/name` of the object, for logs.
    pub(crate) object: String,
    /// The namespace the object's cluster comes from when it is a member of
    /// a dynamic source: what `namespaces = ["$origin"]` admits.
    pub(crate) origin: Option<String>,
    pub(crate) limits: OutputLimits,
    pub(crate) metrics: Metrics,
    host_calls: u32,
    log_lines: u32,
    pub(crate) dropped: Dropped,
    /// The call's turn at the guest CPUs, given back by every host call.
    pub(crate) turn: Turn,
    /// The plugin's log rate, shared with its other calls.
    pub(crate) log_rate: Arc<LogRate>,
    /// The flight recorder's capture of this call, when recording.
    pub(crate) tape: Option<Box<Tape>>,
    /// Answers host calls in place of the backends (replay, shadow); such
    /// a call is always taped and never counted in the plugin's metrics.
    pub(crate) stand_in: Option<Arc<dyn StandIn>>,
    /// The loaded plugins (whose kube objects this call must respect).
    pub(crate) peers: Arc<Registry>,
}

impl CallScope {
    /// A scope for one call of `manifest`'s plugin on `object`.
    pub(crate) fn new(
        manifest: Arc<Manifest>,
        object: String,
        limits: OutputLimits,
        metrics: Metrics,
        log_rate: Arc<LogRate>,
        peers: Arc<Registry>,
    ) -> Self {
        Self {
            manifest,
            object,
            origin: None,
            limits,
            metrics,
            host_calls: 0,
            log_lines: 0,
            dropped: Dropped::default(),
            turn: Turn::default(),
            log_rate,
            tape: None,
            stand_in: None,
            peers,
        }
    }

    /// Starts recording a host call when the call is recorded; `args` is
    /// built only then.
    pub(crate) fn begin(&self, args: impl FnOnce() -> Vec<(&'static str, Raw)>) -> Option<Begun> {
        self.tape.is_some().then(|| Begun::new(args()))
    }

    /// The stand-in's answer to a call about to reach its backend; `None`
    /// when the call has no stand-in or it lets the call through. `args`
    /// are built only when there is a stand-in to ask.
    pub(crate) fn stand_in(
        &self,
        interface: &str,
        function: &str,
        args: impl FnOnce() -> serde_json::Value,
    ) -> Option<Result<serde_json::Value, HostCallError>> {
        let stand_in = self.stand_in.as_ref()?;
        let args = args();
        let answer = stand_in.answer(&Asked { interface, function, args: &args })?;
        Some(answer.map_err(|(kind, message)| HostCallError::answered(kind, message)))
    }

    /// Records the end of a host call begun with [`CallScope::begin`].
    pub(crate) fn end<T: Taped>(
        &mut self,
        interface: &'static str,
        function: &'static str,
        begun: Option<Begun>,
        result: &Result<T, HostCallError>,
    ) {
        if let (Some(tape), Some(begun)) = (self.tape.as_deref_mut(), begun) {
            tape.end(interface, function, begun, result);
        }
    }

    /// Counts one host call against the plugin's budget; over budget, the
    /// call traps. The call is about to wait on I/O, so it gives its turn
    /// at the CPUs back.
    pub(crate) fn charge(&mut self) -> Result<(), HostCallError> {
        self.turn.give_back();
        let limit = self.manifest.limits.host_calls;
        if self.host_calls >= limit {
            return Err(HostCallError::Limit(LimitExceeded::HostCalls { limit }));
        }
        self.host_calls += 1;
        Ok(())
    }

    /// Refuses a request body over the output cap (the call traps).
    pub(crate) fn check_request_size(&self, what: &'static str, len: usize) -> Result<(), HostCallError> {
        let limit = self.limits.max_request_bytes;
        if len > limit {
            return Err(HostCallError::Limit(LimitExceeded::Output { what, size: len, limit }));
        }
        Ok(())
    }

    /// Whether another log line fits; if not, counts it as dropped.
    pub(crate) fn admit_log_line(&mut self, bytes: usize) -> bool {
        if self.log_lines >= self.limits.max_log_lines {
            self.dropped.lines += 1;
            self.dropped.bytes += bytes as u64;
            return false;
        }
        self.log_lines += 1;
        true
    }

    /// Records a host call that reached its backend: `ok`, or the WIT
    /// kind of its error (`not-found`, `unavailable`, …).
    pub(crate) fn record_result<T>(&self, capability: &'static str, result: &Result<T, WitError>) {
        let outcome = match result {
            Ok(_) => "ok",
            Err(error) => ErrorKind::of(error).0.as_str(),
        };
        self.record(capability, outcome);
    }

    /// Records a host call's outcome in the metrics: `ok`, `denied`, or
    /// the WIT kind of its error.
    pub(crate) fn record(&self, capability: &'static str, outcome: &'static str) {
        if self.stand_in.is_some() {
            return;
        }
        let plugin = self.manifest.name.clone();
        if outcome == "denied" {
            self.metrics.denied.get_or_create(&CapabilityLabels { plugin: plugin.clone(), capability }).inc();
        }
        self.metrics.host_calls.get_or_create(&HostCallLabels { plugin, capability, outcome }).inc();
    }

    /// Host calls made so far.
    pub(crate) fn host_calls(&self) -> u32 {
        self.host_calls
    }
}

/// Cuts `text` to at most `max` bytes on a character boundary, returning how
/// many bytes were cut.
pub(crate) fn truncate(text: &mut String, max: usize) -> usize {
    if text.len() <= max {
        return 0;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let cut = text.len() - end;
    text.truncate(end);
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(host_calls: u32, log_lines: u32) -> CallScope {
        let mut manifest = Manifest::parse(
            "name = \"t\"\nversion = \"1\"\n[[watches]]\napi-version = \"v1\"\nkind = \"ConfigMap\"",
        )
        .unwrap();
        manifest.limits.host_calls = host_calls;
        let limits = OutputLimits { max_log_lines: log_lines, ..OutputLimits::default() };
        let log_rate = Arc::new(LogRate::new(limits.log_rate, std::time::Instant::now()));
        CallScope::new(Arc::new(manifest), "obj".into(), limits, Metrics::default(), log_rate, Arc::default())
    }

    #[test]
    fn budget_allows_exactly_the_limit() {
        let mut s = scope(2, 0);
        assert!(s.charge().is_ok());
        assert!(s.charge().is_ok());
        assert!(matches!(s.charge(), Err(HostCallError::Limit(LimitExceeded::HostCalls { limit: 2 }))));
        assert_eq!(s.host_calls(), 2);
    }

    #[test]
    fn log_cap_counts_what_it_drops() {
        let mut s = scope(1, 1);
        assert!(s.admit_log_line(10));
        assert!(!s.admit_log_line(10));
        assert!(!s.admit_log_line(5));
        assert_eq!(s.dropped, Dropped { lines: 2, bytes: 15 });
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        let mut t = "aé".to_string(); // 'é' is two bytes
        assert_eq!(truncate(&mut t, 2), 2);
        assert_eq!(t, "a");
    }
}
