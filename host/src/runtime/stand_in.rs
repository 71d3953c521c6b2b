//! A stand-in for the outside world, for a call that must not touch it:
//! `wasmvisor replay` answers every host call of a candidate from a
//! recording; a shadow candidate's writes are answered without being sent.
//!
//! The host functions ask the call's stand-in where the call would reach
//! its client, after the grant check: a candidate is judged exactly as a
//! live call, and nothing it asks reaches a backend unless the stand-in
//! lets it through. A call with a stand-in is always taped, so the
//! arguments the stand-in sees are the ones the flight recorder keeps.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde_json::Value;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock};

use crate::runtime::dispatch::ErrorKind;

/// A host call about to reach its backend.
#[derive(Debug, Clone, Copy)]
pub struct Asked<'a> {
    /// `kube`, `nsx` or `vcenter`.
    pub interface: &'a str,
    /// `scope` (discovery), `get`, `list`, `apply`, `apply-status`,
    /// `delete`, `request`.
    pub function: &'a str,
    /// The arguments as the flight recorder keeps them, credentials stripped.
    pub args: &'a Value,
}

impl Asked<'_> {
    /// Whether the call changes something: a kube apply or delete, or any
    /// HTTP method but GET (a POST that only reads is still not sent).
    pub fn writes(&self) -> bool {
        match self.interface {
            "kube" => matches!(self.function, "apply" | "apply-status" | "delete"),
            _ => self.args.get("method").and_then(Value::as_str) != Some("GET"),
        }
    }
}

/// What the stand-in answers: the call's result as the flight recorder
/// keeps it (a kube object, a list, `null`, or `{"status", "body"}`), or
/// the error the plugin gets.
pub type Answer = Result<Value, (ErrorKind, String)>;

/// Answers host calls in place of the backends.
pub trait StandIn: Send + Sync + std::fmt::Debug {
    /// The answer to `asked`; `None` lets the call through to its backend.
    fn answer(&self, asked: &Asked<'_>) -> Option<Answer>;

    /// Clock readings to give the guest instead of the real clocks.
    fn clocks(&self) -> Option<ReplayedClocks> {
        None
    }
}

/// WASI clock readings given back in the order they were recorded. Past
/// the last recorded reading a clock stands still at it (time read more
/// often than recorded does not move).
#[derive(Debug, Clone, Default)]
pub struct ReplayedClocks(Arc<Mutex<Readings>>);

#[derive(Debug, Default)]
struct Readings {
    wall: VecDeque<u64>,
    monotonic: VecDeque<u64>,
    last_wall: u64,
    last_monotonic: u64,
}

impl ReplayedClocks {
    /// Clocks that give back these readings, in nanoseconds.
    pub fn new(wall: Vec<u64>, monotonic: Vec<u64>) -> Self {
        Self(Arc::new(Mutex::new(Readings {
            wall: wall.into(),
            monotonic: monotonic.into(),
            last_wall: 0,
            last_monotonic: 0,
        })))
    }

    fn next_wall(&self) -> u64 {
        let mut r = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(next) = r.wall.pop_front() {
            r.last_wall = next;
        }
        r.last_wall
    }

    fn next_monotonic(&self) -> u64 {
        let mut r = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(next) = r.monotonic.pop_front() {
            r.last_monotonic = next;
        }
        r.last_monotonic
    }

    /// The wall clock half.
    pub(crate) fn wall(&self) -> impl HostWallClock + use<> {
        ReplayedWall(self.clone())
    }

    /// The monotonic clock half.
    pub(crate) fn monotonic(&self) -> impl HostMonotonicClock + use<> {
        ReplayedMonotonic(self.clone())
    }
}

struct ReplayedWall(ReplayedClocks);

impl HostWallClock for ReplayedWall {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }
    fn now(&self) -> Duration {
        Duration::from_nanos(self.0.next_wall())
    }
}

struct ReplayedMonotonic(ReplayedClocks);

impl HostMonotonicClock for ReplayedMonotonic {
    fn resolution(&self) -> u64 {
        1
    }
    fn now(&self) -> u64 {
        self.0.next_monotonic()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_give_back_their_readings_then_stand_still() {
        let clocks = ReplayedClocks::new(vec![5, 9], vec![100]);
        let (wall, monotonic) = (clocks.wall(), clocks.monotonic());
        assert_eq!(wall.now(), Duration::from_nanos(5));
        assert_eq!(monotonic.now(), 100);
        assert_eq!(wall.now(), Duration::from_nanos(9));
        assert_eq!(wall.now(), Duration::from_nanos(9));
        assert_eq!(monotonic.now(), 100);
    }

    #[test]
    fn writes_are_kube_changes_and_every_method_but_get() {
        let args = serde_json::json!({"method": "POST", "path": "/api/vcenter/vm?action=list"});
        assert!(Asked { interface: "vcenter", function: "request", args: &args }.writes());
        let args = serde_json::json!({"method": "GET", "path": "/x"});
        assert!(!Asked { interface: "nsx", function: "request", args: &args }.writes());
        for (function, writes) in [("get", false), ("list", false), ("apply", true), ("delete", true)] {
            assert_eq!(Asked { interface: "kube", function, args: &Value::Null }.writes(), writes);
        }
    }
}
