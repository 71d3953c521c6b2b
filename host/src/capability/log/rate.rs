//! A plugin's log rate across calls: token buckets of lines and bytes.
//!
//! The per-call cap ([`crate::runtime::scope::OutputLimits`]) bounds one
//! call; a plugin that requeues at once and logs its maximum every time
//! would still flood the host's log. One [`LogRate`] per loaded plugin,
//! shared by all its calls, refills at the operator's rate up to a burst;
//! a line that finds either bucket short is dropped and counted, and the
//! drops are reported once per interval, not once per line.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// What the log cap dropped during one call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dropped {
    /// Lines dropped.
    pub lines: u64,
    /// Bytes of message text dropped (whole lines and cut tails).
    pub bytes: u64,
}

/// How fast one plugin may log, across all its calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogRateLimits {
    /// Lines per second (default 100).
    pub lines_per_second: u32,
    /// Bytes of message and fields per second (default 64 KiB).
    pub bytes_per_second: u64,
    /// How many seconds' worth a quiet plugin may save up (default 10 s).
    pub burst: Duration,
    /// Drops are reported at most this often (default 10 s).
    pub report_every: Duration,
}

impl Default for LogRateLimits {
    fn default() -> Self {
        Self {
            lines_per_second: 100,
            bytes_per_second: 64 << 10,
            burst: Duration::from_secs(10),
            report_every: Duration::from_secs(10),
        }
    }
}

/// What [`LogRate::admit`] decided about one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Verdict {
    /// Whether the line is written.
    pub(crate) admitted: bool,
    /// Drops since the last report, when one is due now.
    pub(crate) report: Option<Dropped>,
}

/// One plugin's buckets.
#[derive(Debug)]
pub(crate) struct LogRate {
    limits: LogRateLimits,
    state: Mutex<Buckets>,
}

#[derive(Debug)]
struct Buckets {
    lines: f64,
    bytes: f64,
    refilled: Instant,
    unreported: Dropped,
    reported: Instant,
}

impl LogRate {
    /// Full buckets at `now`.
    pub(crate) fn new(limits: LogRateLimits, now: Instant) -> Self {
        let (lines, bytes) = capacity(&limits);
        let state = Buckets { lines, bytes, refilled: now, unreported: Dropped::default(), reported: now };
        Self { limits, state: Mutex::new(state) }
    }

    /// Takes one line of `bytes` from the buckets at `now`, or drops it.
    pub(crate) fn admit(&self, bytes: usize, now: Instant) -> Verdict {
        let mut b = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let (max_lines, max_bytes) = capacity(&self.limits);
        let elapsed = now.saturating_duration_since(b.refilled).as_secs_f64();
        b.lines = (b.lines + elapsed * f64::from(self.limits.lines_per_second)).min(max_lines);
        b.bytes = (b.bytes + elapsed * self.limits.bytes_per_second as f64).min(max_bytes);
        b.refilled = now;
        let size = bytes as f64;
        let admitted = b.lines >= 1.0 && b.bytes >= size;
        if admitted {
            b.lines -= 1.0;
            b.bytes -= size;
        } else {
            b.unreported.lines += 1;
            b.unreported.bytes += bytes as u64;
        }
        let due = now.saturating_duration_since(b.reported) >= self.limits.report_every;
        let report = (due && b.unreported != Dropped::default()).then(|| {
            b.reported = now;
            std::mem::take(&mut b.unreported)
        });
        Verdict { admitted, report }
    }
}

fn capacity(limits: &LogRateLimits) -> (f64, f64) {
    let burst = limits.burst.as_secs_f64().max(1.0);
    (f64::from(limits.lines_per_second) * burst, limits.bytes_per_second as f64 * burst)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> LogRateLimits {
        LogRateLimits {
            lines_per_second: 10,
            bytes_per_second: 1000,
            burst: Duration::from_secs(1),
            report_every: Duration::from_secs(5),
        }
    }

    #[test]
    fn a_burst_then_the_rate() {
        let start = Instant::now();
        let rate = LogRate::new(limits(), start);
        let admitted = (0..50).filter(|_| rate.admit(10, start).admitted).count();
        assert_eq!(admitted, 10, "one second's burst");
        assert!(!rate.admit(10, start + Duration::from_millis(50)).admitted, "half a line refilled");
        assert!(rate.admit(10, start + Duration::from_millis(100)).admitted, "one line refilled");
        // A long silence refills only up to the burst.
        let later = start + Duration::from_secs(60);
        assert_eq!((0..50).filter(|_| rate.admit(10, later).admitted).count(), 10);
    }

    #[test]
    fn bytes_are_limited_as_well_as_lines() {
        let start = Instant::now();
        let rate = LogRate::new(limits(), start);
        assert!(rate.admit(900, start).admitted);
        assert!(!rate.admit(200, start).admitted, "over the byte bucket");
        assert!(rate.admit(100, start).admitted, "a smaller line still fits");
    }

    #[test]
    fn drops_are_counted_and_reported_once_per_interval() {
        let start = Instant::now();
        let rate = LogRate::new(limits(), start);
        for _ in 0..10 {
            rate.admit(10, start);
        }
        let mut reports = Vec::new();
        for ms in (0..12_000).step_by(10) {
            // 100 lines a second against a rate of 10.
            let verdict = rate.admit(10, start + Duration::from_millis(ms));
            reports.extend(verdict.report.map(|r| (ms, r)));
        }
        assert_eq!(reports.len(), 2, "at 5 s and 10 s: {reports:?}");
        assert_eq!(reports[0].0, 5000);
        let dropped: u64 = reports.iter().map(|(_, r)| r.lines).sum();
        assert!(dropped >= 850, "{reports:?}");
        assert_eq!(reports[0].1.bytes, reports[0].1.lines * 10);
    }
}
