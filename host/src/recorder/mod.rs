//! The flight recorder: every reconcile and finalize, why it ran, what it
//! called and what came of it, kept in a bounded store in the data
//! directory for `wasmvisor why` and `wasmvisor audit`.
//!
//! The reconcile path only copies what it already holds into a [`Capture`]
//! (see [`tape`]) and offers it to a bounded channel; a writer thread
//! parses, redacts ([`redact`]), encodes and stores it ([`store`]). A full
//! channel drops the record — counted in `wasmvisor_recorder_dropped_total`
//! and warned about once — and never blocks or fails the reconcile. A
//! record is committed within one write batch of its reconcile's end, so a
//! crash loses the reconciles in flight and at most the batch being written.
//!
//! Hooks elsewhere: [`crate::runtime::dispatch`] (one capture per call),
//! the host functions through [`crate::runtime::scope::CallScope`] (each
//! host call and log line), and the work queue's merged reasons
//! ([`crate::controller::queue::Reason`]) as the triggers.

pub mod audit;
pub mod diff;
pub(crate) mod finish;
pub mod record;
pub mod redact;
pub mod render;
pub mod store;
pub(crate) mod tape;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, mpsc};
use std::time::{Duration, SystemTime};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};
use wasmvisor_manifest::{ByteSize, Manifest};

use crate::controller::queue::Reasons;
use crate::object::ObjectRef;
use crate::runtime::dispatch::{Export, ReconcileError, Report};
use store::{StoreError, Writer};
use tape::Tape;

/// The store's file in the data directory.
pub const STORE_FILE: &str = "recordings.db";

/// `[recorder]` in the host config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RecorderSettings {
    /// Record reconciles at all (default true).
    #[serde(default = "default_enabled")]
    pub enabled: bool,
    /// Largest size of the store on disk, WAL included (default 256MiB);
    /// the oldest records go first.
    #[serde(default = "default_max_size")]
    pub max_size: ByteSize,
    /// Records older than this are deleted (default 7d).
    #[serde(default = "default_retention", with = "wasmvisor_manifest::limits::duration")]
    pub retention: Duration,
    /// Records waiting for the writer; beyond this they are dropped and
    /// counted (default 4096).
    #[serde(default = "default_queue")]
    pub queue: usize,
}

fn default_enabled() -> bool {
    true
}
fn default_max_size() -> ByteSize {
    ByteSize(256 << 20)
}
fn default_retention() -> Duration {
    Duration::from_secs(7 * 24 * 3600)
}
fn default_queue() -> usize {
    4096
}

impl Default for RecorderSettings {
    fn default() -> Self {
        Self {
            enabled: default_enabled(),
            max_size: default_max_size(),
            retention: default_retention(),
            queue: default_queue(),
        }
    }
}

/// The recorder's metrics.
#[derive(Debug, Clone, Default)]
pub struct RecorderMetrics {
    /// `wasmvisor_recorder_records_total`: records committed to the store.
    pub records: Counter,
    /// `wasmvisor_recorder_bytes_total`: encoded bytes of those records.
    pub bytes: Counter,
    /// `wasmvisor_recorder_dropped_total`: records lost (channel full,
    /// writer gone, or a failed write).
    pub dropped: Counter,
    /// `wasmvisor_recorder_store_bytes`: the store's size on disk.
    pub store_bytes: Gauge,
}

impl RecorderMetrics {
    /// Registers the recorder's metrics under `wasmvisor_recorder`.
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("wasmvisor_recorder");
        r.register("records", "Reconciles recorded", self.records.clone());
        r.register("bytes", "Encoded bytes of the recorded reconciles", self.bytes.clone());
        r.register("dropped", "Records lost before reaching the store", self.dropped.clone());
        r.register("store_bytes", "Size of the recording store on disk", self.store_bytes.clone());
    }
}

/// One call as the reconcile path hands it to the writer.
pub(crate) struct Capture {
    pub(crate) started: SystemTime,
    pub(crate) manifest: Arc<Manifest>,
    pub(crate) digest: String,
    pub(crate) export: Export,
    pub(crate) target: ObjectRef,
    pub(crate) object: String,
    pub(crate) origin: Option<String>,
    pub(crate) triggers: Reasons,
    pub(crate) tape: Tape,
    pub(crate) result: Result<Report, ReconcileError>,
}

impl Capture {
    /// A copy to finish apart from this one (a shadow compares with it).
    pub(crate) fn duplicate(&self) -> Capture {
        Capture {
            started: self.started,
            manifest: self.manifest.clone(),
            digest: self.digest.clone(),
            export: self.export,
            target: self.target.clone(),
            object: self.object.clone(),
            origin: self.origin.clone(),
            triggers: self.triggers.clone(),
            tape: self.tape.duplicate(),
            result: self.result.clone(),
        }
    }
}

/// The handle the dispatcher records through; cheap to clone.
#[derive(Clone)]
pub struct Recorder {
    tx: SyncSender<Capture>,
    metrics: RecorderMetrics,
    warned: Arc<AtomicBool>,
    path: PathBuf,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder").field("path", &self.path).finish_non_exhaustive()
    }
}

impl Recorder {
    /// Opens (or creates) `DATA_DIR/recordings.db` and starts the writer
    /// thread; it ends when the last handle is dropped.
    pub fn start(data_dir: &Path, settings: &RecorderSettings) -> Result<Self, StoreError> {
        let path = data_dir.join(STORE_FILE);
        let metrics = RecorderMetrics::default();
        let writer = Writer::open(&path, settings, metrics.clone())?;
        let (tx, rx) = mpsc::sync_channel(settings.queue.max(1));
        std::thread::Builder::new()
            .name("wasmvisor-recorder".into())
            .spawn(move || writer.run(rx))
            .map_err(|error| StoreError::Thread(error.to_string()))?;
        Ok(Self { tx, metrics, warned: Arc::new(AtomicBool::new(false)), path })
    }

    /// The store's path (readers open it themselves).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The recorder's metrics.
    pub fn metrics(&self) -> &RecorderMetrics {
        &self.metrics
    }

    /// Offers a capture to the writer without waiting; when the channel is
    /// full or the writer gone it is dropped, counted, and warned about once.
    pub(crate) fn submit(&self, capture: Capture) {
        let reason = match self.tx.try_send(capture) {
            Ok(()) => return,
            Err(TrySendError::Full(_)) => "the writer is behind (queue full)",
            Err(TrySendError::Disconnected(_)) => "the writer stopped",
        };
        self.metrics.dropped.inc();
        if !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                reason,
                "flight recorder dropped a record; further drops are only counted in wasmvisor_recorder_dropped_total"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_channel_drops_and_counts_without_blocking() {
        let (tx, rx) = mpsc::sync_channel(1);
        let recorder = Recorder {
            tx,
            metrics: RecorderMetrics::default(),
            warned: Arc::new(AtomicBool::new(false)),
            path: PathBuf::new(),
        };
        let settings = RecorderSettings::default();
        assert!(settings.enabled);
        let capture = || Capture {
            started: SystemTime::now(),
            manifest: Arc::new(
                Manifest::parse(
                    "name = \"t\"\nversion = \"1\"\n[[watches]]\napi-version = \"v1\"\nkind = \"ConfigMap\"",
                )
                .unwrap(),
            ),
            digest: String::new(),
            export: Export::Reconcile,
            target: ObjectRef {
                cluster: "default".into(),
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                namespace: None,
                name: "x".into(),
            },
            object: "{}".into(),
            origin: None,
            triggers: Reasons::default(),
            tape: Tape::default(),
            result: Err(ReconcileError {
                plugin: "t@1".into(),
                object: "x".into(),
                failure: crate::runtime::dispatch::Failure::Trap { message: "boom".into() },
                backtrace: None,
            }),
        };
        for _ in 0..3 {
            recorder.submit(capture());
        }
        assert_eq!(recorder.metrics.dropped.get(), 2);
        drop(rx);
        recorder.submit(capture());
        assert_eq!(recorder.metrics.dropped.get(), 3);
    }
}
