//! What a shadow did against the live plugin, kept for `wasmvisor shadow
//! report NAME`: counts, and the latest differences with what differed.
//!
//! The host rewrites `DATA_DIR/shadows/NAME.json` (write, then rename)
//! after each shadow reconcile, so the report is readable while the host
//! runs and after it stops.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::replay::verdict::Judgement;

/// Differences kept, newest last.
pub const KEPT: usize = 100;

/// One shadow reconcile that did not do what the live one did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Difference {
    /// When the live reconcile started, Unix milliseconds.
    pub at_ms: u64,
    /// `reconcile` or `finalize`.
    pub export: String,
    /// `Kind namespace/name`.
    pub object: String,
    /// The live version, `name@version`.
    pub live: String,
    /// What differed.
    #[serde(flatten)]
    pub judgement: Judgement,
}

/// A shadow's report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The plugin it shadows.
    pub plugin: String,
    /// The candidate, `name@version`.
    pub shadow: String,
    /// The candidate's digest.
    pub digest: String,
    /// When the candidate was placed, Unix milliseconds.
    pub since_ms: u64,
    /// Reconciles whose writes and outcome were the live one's.
    pub same: u64,
    /// Reconciles that differed.
    pub different: u64,
    /// Live reconciles the shadow did not follow, because it was still busy
    /// with earlier ones (it never makes the live plugin wait).
    pub skipped: u64,
    /// The latest differences, newest last (at most [`KEPT`]).
    pub differences: VecDeque<Difference>,
}

impl Report {
    /// Counts one judged reconcile.
    pub(crate) fn judged(&mut self, difference: Difference) {
        if difference.judgement == Judgement::Same {
            self.same += 1;
            return;
        }
        self.different += 1;
        if self.differences.len() == KEPT {
            self.differences.pop_front();
        }
        self.differences.push_back(difference);
    }

    /// Reads a report the host wrote.
    pub fn load(path: &Path) -> std::io::Result<Self> {
        let text = std::fs::read_to_string(path)?;
        serde_json::from_str(&text).map_err(std::io::Error::other)
    }

    /// Writes the report atomically (a reader never sees half of it).
    pub(crate) fn save(&self, path: &Path) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        let partial = path.with_extension("json.partial");
        std::fs::write(&partial, text)?;
        std::fs::rename(&partial, path)
    }

    /// The report for people: counts, then each kept difference.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let followed = self.same + self.different;
        let _ = writeln!(out, "shadow {} ({}) beside the live {}", self.shadow, self.digest, self.plugin);
        let _ = writeln!(
            out,
            "{followed} reconciles followed: {} same, {} different; {} skipped while busy",
            self.same, self.different, self.skipped
        );
        for d in &self.differences {
            let at = humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(d.at_ms));
            let _ = writeln!(out, "\n{at} {} {} (live {})", d.export, d.object, d.live);
            let lines: Vec<String> = match &d.judgement {
                Judgement::Same => Vec::new(),
                Judgement::Different { writes, outcome } => {
                    writes.iter().cloned().chain(outcome.iter().map(|o| format!("outcome: {o}"))).collect()
                }
                Judgement::Diverged { reads } => reads.clone(),
            };
            for line in lines {
                let _ = writeln!(out, "  {line}");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn difference(n: u64, judgement: Judgement) -> Difference {
        Difference {
            at_ms: n,
            export: "reconcile".into(),
            object: format!("ConfigMap ns/c{n}"),
            live: "p@1".into(),
            judgement,
        }
    }

    #[test]
    fn counts_all_keeps_the_latest_differences_and_reads_back_what_it_wrote() {
        let mut report = Report { plugin: "p".into(), shadow: "p@2".into(), ..Report::default() };
        report.judged(difference(0, Judgement::Same));
        for n in 1..=KEPT as u64 + 5 {
            report.judged(difference(n, Judgement::Different { writes: vec!["- x".into()], outcome: None }));
        }
        assert_eq!((report.same, report.different), (1, KEPT as u64 + 5));
        assert_eq!(report.differences.len(), KEPT);
        assert_eq!(report.differences.front().unwrap().at_ms, 6, "the oldest went first");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.json");
        report.save(&path).unwrap();
        assert_eq!(Report::load(&path).unwrap(), report);
        assert!(report.render().contains("106 reconciles followed: 1 same, 105 different"));
    }
}
