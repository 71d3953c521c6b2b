//! The recording store: one SQLite file in the data directory, written by
//! one thread, read by `why` and `audit` (a host or the CLI) through their
//! own connections.
//!
//! Durable against a crash of the process: WAL mode, each batch one
//! transaction, committed as soon as it is written (a killed process loses
//! nothing committed; `synchronous = NORMAL` trades only the last commits
//! before a power loss). Bounded: after each batch, records older than the
//! retention go, and while the file (WAL included) is over its share of
//! `max-size` the oldest records go and the freed pages are returned to
//! the file system (incremental vacuum).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Receiver;
use std::time::{Duration, SystemTime};

use rusqlite::{Connection, OpenFlags, OptionalExtension as _, params};
use wasmvisor_manifest::Manifest;

use super::record::{PluginId, Record};
use super::{Capture, RecorderMetrics, RecorderSettings, finish::finish};

/// Records written in one transaction at most.
const BATCH: usize = 256;

/// Why the store could not be opened, written or read.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused.
    #[error("recording store {}: {error}", .path.display())]
    Sqlite {
        /// The file.
        path: PathBuf,
        /// SQLite's message.
        error: rusqlite::Error,
    },
    /// No store at that path: no host recorded with this data directory.
    #[error(
        "no recordings at {}: no host has run with this data directory, or its [recorder] is disabled",
        .0.display()
    )]
    Missing(PathBuf),
    /// No record with that id (never written, or aged out by the cap).
    #[error("no record {0} in the store (it was never written, or the store's cap or retention removed it)")]
    NoRecord(i64),
    /// The writer thread could not start.
    #[error("cannot start the recorder thread: {0}")]
    Thread(String),
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY,
    started_ms INTEGER NOT NULL,
    plugin TEXT NOT NULL,
    cluster TEXT NOT NULL,
    kind TEXT NOT NULL COLLATE NOCASE,
    namespace TEXT,
    name TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_by_object ON records (kind, name, id);
CREATE INDEX IF NOT EXISTS records_by_plugin ON records (plugin, id);
CREATE TABLE IF NOT EXISTS plugins (
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    digest TEXT NOT NULL,
    manifest TEXT NOT NULL,
    PRIMARY KEY (name, version, digest)
);
";

fn open(path: &Path, flags: OpenFlags) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|error| StoreError::Sqlite { path: path.to_owned(), error })?;
    conn.busy_timeout(Duration::from_secs(5))
        .map_err(|error| StoreError::Sqlite { path: path.to_owned(), error })?;
    Ok(conn)
}

/// The writing side, owned by the writer thread.
pub(crate) struct Writer {
    conn: Connection,
    path: PathBuf,
    /// Bytes file and WAL may use after a batch (the rest of `max-size`
    /// is room for the next batch's WAL).
    file_budget: u64,
    wal_limit: u64,
    retention: Duration,
    metrics: RecorderMetrics,
    manifests: HashSet<String>,
    warned: bool,
}

impl Writer {
    /// Opens or creates the store.
    pub(crate) fn open(
        path: &Path,
        settings: &RecorderSettings,
        metrics: RecorderMetrics,
    ) -> Result<Self, StoreError> {
        let conn = open(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE)?;
        let max = settings.max_size.0.max(64 << 10);
        let wal_limit = max / 10;
        let sql = |error| StoreError::Sqlite { path: path.to_owned(), error };
        // auto_vacuum must be set before the first table exists to take effect.
        conn.execute_batch(&format!(
            "PRAGMA auto_vacuum = INCREMENTAL;
             PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             PRAGMA journal_size_limit = {wal_limit};
             PRAGMA wal_autocheckpoint = {};
             {SCHEMA}",
            (wal_limit / 4096).max(8)
        ))
        .map_err(sql)?;
        let writer = Self {
            conn,
            path: path.to_owned(),
            file_budget: max - wal_limit,
            wal_limit,
            retention: settings.retention,
            metrics,
            manifests: HashSet::new(),
            warned: false,
        };
        writer.metrics.store_bytes.set(i64::try_from(writer.disk_bytes()).unwrap_or(i64::MAX));
        Ok(writer)
    }

    /// Writes batches until every sender is gone.
    pub(crate) fn run(mut self, rx: Receiver<Capture>) {
        while let Ok(first) = rx.recv() {
            let mut batch = vec![first];
            while batch.len() < BATCH
                && let Ok(more) = rx.try_recv()
            {
                batch.push(more);
            }
            let n = batch.len() as u64;
            if let Err(error) = self.write(batch) {
                self.metrics.dropped.inc_by(n);
                if !std::mem::replace(&mut self.warned, true) {
                    tracing::warn!(%error, "flight recorder cannot write; records are dropped and counted");
                }
            }
        }
    }

    /// Stores one batch in one transaction, then enforces retention and size.
    fn write(&mut self, batch: Vec<Capture>) -> Result<(), StoreError> {
        let path = self.path.clone();
        let sql = move |error| StoreError::Sqlite { path: path.clone(), error };
        let mut bytes = 0u64;
        let mut rows = Vec::with_capacity(batch.len());
        let mut manifests: Vec<(PluginId, std::sync::Arc<Manifest>)> = Vec::new();
        for capture in batch {
            let manifest = capture.manifest.clone();
            let record = finish(capture);
            if self.manifests.insert(record.plugin.digest.clone()) {
                manifests.push((record.plugin.clone(), manifest));
            }
            let body = serde_json::to_string(&record).expect("records serialize");
            bytes += body.len() as u64;
            rows.push((record, body));
        }
        let tx = self.conn.transaction().map_err(&sql)?;
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO records (started_ms, plugin, cluster, kind, namespace, name, body)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .map_err(&sql)?;
            for (r, body) in &rows {
                insert
                    .execute(params![
                        i64::try_from(r.started_ms).unwrap_or(i64::MAX),
                        r.plugin.name,
                        r.object.cluster,
                        r.object.kind,
                        r.object.namespace,
                        r.object.name,
                        body
                    ])
                    .map_err(&sql)?;
            }
            for (id, manifest) in &manifests {
                let text = serde_json::to_string(&**manifest).expect("manifests serialize");
                tx.execute(
                    "INSERT OR IGNORE INTO plugins (name, version, digest, manifest) VALUES (?1, ?2, ?3, ?4)",
                    params![id.name, id.version, id.digest, text],
                )
                .map_err(&sql)?;
            }
            let cutoff = SystemTime::now()
                .checked_sub(self.retention)
                .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
            tx.execute(
                "DELETE FROM records WHERE id < COALESCE(
                     (SELECT id FROM records WHERE started_ms >= ?1 ORDER BY id LIMIT 1),
                     (SELECT MAX(id) + 1 FROM records))",
                params![cutoff],
            )
            .map_err(&sql)?;
        }
        tx.commit().map_err(&sql)?;
        self.metrics.records.inc_by(rows.len() as u64);
        self.metrics.bytes.inc_by(bytes);
        self.enforce_cap().map_err(&sql)?;
        self.metrics.store_bytes.set(i64::try_from(self.disk_bytes()).unwrap_or(i64::MAX));
        Ok(())
    }

    /// While the store (file and WAL) is over its budget, deletes the
    /// oldest tenth of the records, gives the freed pages back (incremental
    /// vacuum) and folds the WAL into the file (checkpoint), which is when
    /// the file shrinks. A WAL over its limit is folded in any case.
    fn enforce_cap(&mut self) -> rusqlite::Result<()> {
        if self.wal_bytes() > self.wal_limit {
            self.checkpoint()?;
        }
        for _ in 0..32 {
            if self.disk_bytes() <= self.file_budget {
                break;
            }
            let count: i64 = self.conn.query_row("SELECT COUNT(*) FROM records", [], |r| r.get(0))?;
            if count == 0 {
                break;
            }
            let oldest_kept: Option<i64> = self
                .conn
                .query_row(
                    "SELECT id FROM records ORDER BY id LIMIT 1 OFFSET ?1",
                    params![(count / 10).max(1)],
                    |r| r.get(0),
                )
                .optional()?;
            match oldest_kept {
                Some(id) => self.conn.execute("DELETE FROM records WHERE id < ?1", params![id])?,
                None => self.conn.execute("DELETE FROM records", [])?,
            };
            // Each step of the pragma frees one page: step it to the end.
            let mut vacuum = self.conn.prepare("PRAGMA incremental_vacuum")?;
            let mut rows = vacuum.query([])?;
            while rows.next()?.is_some() {}
            drop(rows);
            drop(vacuum);
            self.checkpoint()?;
        }
        Ok(())
    }

    fn checkpoint(&self) -> rusqlite::Result<()> {
        self.conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
    }

    fn wal_bytes(&self) -> u64 {
        std::fs::metadata(wal_path(&self.path)).map_or(0, |m| m.len())
    }

    fn disk_bytes(&self) -> u64 {
        std::fs::metadata(&self.path).map_or(0, |m| m.len()) + self.wal_bytes()
    }
}

fn wal_path(path: &Path) -> PathBuf {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    PathBuf::from(wal)
}

/// Which object's records to read.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ObjectQuery {
    /// Kind, case-insensitive (`ConfigMap`, `configmap`).
    pub kind: String,
    /// Name.
    pub name: String,
    /// Namespace; `None` matches any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Cluster; `None` matches any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// How many records, newest first.
    pub last: usize,
}

/// A read-only view of the store.
pub struct Reader {
    conn: Connection,
    path: PathBuf,
}

impl Reader {
    /// Opens `path` read-only (a host may be writing it meanwhile).
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if !path.exists() {
            return Err(StoreError::Missing(path.to_owned()));
        }
        let conn = open(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        Ok(Self { conn, path: path.to_owned() })
    }

    fn sql(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        |error| StoreError::Sqlite { path: self.path.clone(), error }
    }

    /// The object's newest records first.
    pub fn object(&self, q: &ObjectQuery) -> Result<Vec<Record>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, body FROM records WHERE kind = ?1 AND name = ?2
                   AND (?3 IS NULL OR namespace = ?3) AND (?4 IS NULL OR cluster = ?4)
                 ORDER BY id DESC LIMIT ?5",
            )
            .map_err(self.sql())?;
        let rows = stmt
            .query_map(
                params![q.kind, q.name, q.namespace, q.cluster, i64::try_from(q.last).unwrap_or(i64::MAX)],
                row,
            )
            .map_err(self.sql())?;
        rows.map(|r| r.map_err(self.sql())).collect()
    }

    /// Every record since `since_ms` (Unix milliseconds), of one plugin or all, oldest first.
    pub fn since(&self, plugin: Option<&str>, since_ms: u64) -> Result<Vec<Record>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, body FROM records WHERE (?1 IS NULL OR plugin = ?1) AND started_ms >= ?2 ORDER BY id",
            )
            .map_err(self.sql())?;
        let rows = stmt
            .query_map(params![plugin, i64::try_from(since_ms).unwrap_or(i64::MAX)], row)
            .map_err(self.sql())?;
        rows.map(|r| r.map_err(self.sql())).collect()
    }

    /// The records with these ids, in the order given; an id the store
    /// does not hold (never written, or aged out) is an error naming it.
    pub fn records(&self, ids: &[i64]) -> Result<Vec<Record>, StoreError> {
        let mut stmt = self.conn.prepare("SELECT id, body FROM records WHERE id = ?1").map_err(self.sql())?;
        ids.iter()
            .map(|id| {
                stmt.query_row(params![id], row)
                    .optional()
                    .map_err(self.sql())?
                    .ok_or(StoreError::NoRecord(*id))
            })
            .collect()
    }

    /// The manifest of each plugin version seen, by `(name, version, digest)`.
    pub fn manifests(&self) -> Result<Vec<(PluginId, Manifest)>, StoreError> {
        let mut stmt =
            self.conn.prepare("SELECT name, version, digest, manifest FROM plugins").map_err(self.sql())?;
        let rows = stmt
            .query_map([], |r| {
                let text: String = r.get(3)?;
                let manifest: Manifest = serde_json::from_str(&text).map_err(|e| {
                    rusqlite::Error::FromSqlConversionFailure(3, rusqlite::types::Type::Text, e.into())
                })?;
                Ok((PluginId { name: r.get(0)?, version: r.get(1)?, digest: r.get(2)? }, manifest))
            })
            .map_err(self.sql())?;
        rows.map(|r| r.map_err(self.sql())).collect()
    }

    /// How many records the store holds.
    pub fn count(&self) -> Result<u64, StoreError> {
        let n: i64 =
            self.conn.query_row("SELECT COUNT(*) FROM records", [], |r| r.get(0)).map_err(self.sql())?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Record> {
    let id: i64 = r.get(0)?;
    let body: String = r.get(1)?;
    let mut record: Record = serde_json::from_str(&body)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Text, e.into()))?;
    record.id = id;
    Ok(record)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use wasmvisor_manifest::ByteSize;

    use super::*;
    use crate::controller::queue::{Reason, Reasons};
    use crate::object::ObjectRef;
    use crate::recorder::STORE_FILE;
    use crate::recorder::tape::{Raw, RawCall, RawResult, Tape};
    use crate::runtime::dispatch::{Export, Outcome, Report};

    fn capture(i: usize, started: SystemTime) -> Capture {
        let manifest = Manifest::parse(
            "name = \"t\"\nversion = \"1\"\n[[watches]]\napi-version = \"v1\"\nkind = \"ConfigMap\"",
        )
        .unwrap();
        let name = format!("o{i}");
        let object = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "n"}, "data": {"pad": "x".repeat(600)}}).to_string();
        let mut tape = Tape::default();
        tape.calls.push(RawCall {
            interface: "kube",
            function: "apply",
            args: vec![("cluster", Raw::Value("default".into())), ("object", Raw::Json(object.clone()))],
            result: RawResult::Ok(Raw::Json(object.clone())),
            elapsed: Duration::from_micros(100),
        });
        let mut triggers = Reasons::default();
        triggers.push(Reason::ObjectChanged);
        Capture {
            started,
            manifest: Arc::new(manifest),
            digest: "sha256:00".into(),
            export: Export::Reconcile,
            target: ObjectRef {
                cluster: "default".into(),
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                namespace: Some("n".into()),
                name,
            },
            object,
            origin: None,
            triggers,
            tape,
            result: Ok(Report {
                outcome: Outcome::Done,
                plugin: "t@1".into(),
                host_calls: 1,
                dropped: Default::default(),
                elapsed: Duration::from_millis(1),
            }),
        }
    }

    fn query(name: &str) -> ObjectQuery {
        ObjectQuery { kind: "configmap".into(), name: name.into(), namespace: None, cluster: None, last: 10 }
    }

    #[test]
    fn the_store_stays_under_its_cap_through_10k_records_and_the_oldest_go_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(STORE_FILE);
        let max = 2u64 << 20;
        let settings = RecorderSettings { max_size: ByteSize(max), ..RecorderSettings::default() };
        let mut writer = Writer::open(&path, &settings, RecorderMetrics::default()).unwrap();
        let now = SystemTime::now();
        let mut largest = 0;
        for start in (0..10_000).step_by(BATCH) {
            let batch = (start..(start + BATCH).min(10_000)).map(|i| capture(i, now)).collect();
            writer.write(batch).unwrap();
            largest = largest.max(writer.disk_bytes());
        }
        assert!(largest <= max, "the store grew to {largest} bytes, over its cap of {max}");
        assert_eq!(writer.metrics.records.get(), 10_000);
        let reader = Reader::open(&path).unwrap();
        let kept = reader.count().unwrap();
        assert!(kept > 100 && kept < 10_000, "{kept} records kept");
        // The newest are all there, the oldest gone: what is kept is the last `kept`.
        assert_eq!(reader.object(&query("o9999")).unwrap().len(), 1);
        assert!(reader.object(&query("o0")).unwrap().is_empty());
        let first_kept = format!("o{}", 10_000 - kept);
        assert_eq!(
            reader.object(&query(&first_kept)).unwrap().len(),
            1,
            "{first_kept} should be the oldest kept"
        );
        let before = format!("o{}", 10_000 - kept - 1);
        assert!(reader.object(&query(&before)).unwrap().is_empty(), "{before} should be gone");
    }

    #[test]
    fn records_past_their_retention_go() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(STORE_FILE);
        let settings =
            RecorderSettings { retention: Duration::from_secs(3600), ..RecorderSettings::default() };
        let mut writer = Writer::open(&path, &settings, RecorderMetrics::default()).unwrap();
        let old = SystemTime::now() - Duration::from_secs(7200);
        writer.write(vec![capture(1, old), capture(2, old)]).unwrap();
        writer.write(vec![capture(3, SystemTime::now())]).unwrap();
        let reader = Reader::open(&path).unwrap();
        assert_eq!(reader.count().unwrap(), 1);
        assert_eq!(reader.object(&query("o3")).unwrap().len(), 1);
    }

    #[test]
    fn a_missing_store_says_no_host_recorded_there() {
        let dir = tempfile::tempdir().unwrap();
        let error = Reader::open(&dir.path().join(STORE_FILE)).err().unwrap().to_string();
        assert!(error.contains("no host has run with this data directory"), "{error}");
    }
}
