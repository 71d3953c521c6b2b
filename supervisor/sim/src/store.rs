//! The persisted simulated world: JSON documents in one SQLite file.
//!
//! Both simulators keep every object (NSX intent objects, vCenter VMs, tags, the
//! segment-to-network map, id counters) as a JSON document keyed by
//! `(collection, id)` in `DATA_DIR/world.sqlite3`. SQLite is the single source of truth,
//! read and written inside one transaction per request, so:
//! - a restart comes back with the same world (nothing is cached in memory), and
//! - two simulators started as separate processes on the same data dir share one world,
//!   exactly as two simulators started in one process do (WAL mode plus a busy timeout
//!   serialise their writers).
//!
//! Transactions run on tokio's blocking pool, so a writer waiting for the file lock of
//! another process never stalls the async runtime. After a commit that wrote, the
//! subscribers of [`Store::changes`] hear of it (`crate::changes`).

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode, OptionalExtension, TransactionBehavior, params};
use serde_json::Value;

use crate::changes::Changes;

/// How long a writer waits for another process holding the database lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The pause between attempts to open a file another simulator is switching to WAL.
const OPEN_RETRY: Duration = Duration::from_millis(10);

/// File name of the world database inside the data directory.
pub const WORLD_FILE: &str = "world.sqlite3";

/// Why the world store failed. Handlers answer these with a 500.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Opening or preparing the database file failed.
    #[error("opening world database {path}")]
    Open {
        /// The database file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: rusqlite::Error,
    },
    /// A query failed.
    #[error("world database query")]
    Sql(#[from] rusqlite::Error),
    /// A stored document is not valid JSON.
    #[error("stored document {collection}/{id} is not valid JSON")]
    Corrupt {
        /// Its collection.
        collection: String,
        /// Its id.
        id: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// A panic in an earlier transaction poisoned the connection lock.
    #[error("world database lock poisoned by an earlier panic")]
    Poisoned,
    /// The blocking task running a transaction was cancelled or panicked.
    #[error("world database task failed")]
    Task(#[from] tokio::task::JoinError),
}

/// A handle on the world database; cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Store {
    conn: Arc<Mutex<Connection>>,
    changes: Arc<Changes>,
}

impl Store {
    /// Opens (creating if needed) `data_dir/world.sqlite3`.
    ///
    /// Switching a fresh file to WAL needs an exclusive lock, and SQLite answers a second
    /// connection doing the same at that moment "database is locked" at once instead of
    /// calling the busy handler; so two simulators started together retry the whole setup
    /// (each step is idempotent) until [`BUSY_TIMEOUT`]. It blocks while it waits: async
    /// callers run it on the blocking pool.
    pub(crate) fn open(data_dir: &Path) -> Result<Store, StoreError> {
        let path = data_dir.join(WORLD_FILE);
        let deadline = Instant::now() + BUSY_TIMEOUT;
        loop {
            match connect(&path) {
                Err(e)
                    if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy)
                        && Instant::now() < deadline =>
                {
                    std::thread::sleep(OPEN_RETRY);
                }
                Err(source) => return Err(StoreError::Open { path, source }),
                Ok(conn) => return Ok(Store { conn: Arc::new(Mutex::new(conn)), changes: Arc::default() }),
            }
        }
    }

    /// Who hears of committed writes through this store (and its clones).
    pub(crate) fn changes(&self) -> &Changes {
        &self.changes
    }

    /// Runs `f` in one immediate (write-locking) transaction on the blocking pool and
    /// commits when it returns `Ok`; an `Err` rolls everything back.
    pub(crate) async fn transact<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&Tx<'_>) -> Result<T, E> + Send + 'static,
    {
        let (conn, changes) = (Arc::clone(&self.conn), Arc::clone(&self.changes));
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().map_err(|_| StoreError::Poisoned)?;
            let tx =
                guard.transaction_with_behavior(TransactionBehavior::Immediate).map_err(StoreError::from)?;
            let touched = RefCell::default();
            let out = f(&Tx { tx: &tx, touched: &touched })?;
            tx.commit().map_err(StoreError::from)?;
            drop(guard);
            changes.committed(&touched.into_inner());
            Ok(out)
        })
        .await
        .map_err(|e| E::from(StoreError::Task(e)))?
    }
}

/// One connection to `path`, in WAL mode, with the schema in place.
fn connect(path: &Path) -> Result<Connection, rusqlite::Error> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS objects (
             collection TEXT NOT NULL,
             id TEXT NOT NULL,
             body TEXT NOT NULL,
             PRIMARY KEY (collection, id)
         );
         CREATE TABLE IF NOT EXISTS counters (
             name TEXT PRIMARY KEY,
             next INTEGER NOT NULL
         );",
    )?;
    Ok(conn)
}

/// An open transaction: the only way handlers touch stored documents.
pub(crate) struct Tx<'a> {
    tx: &'a rusqlite::Transaction<'a>,
    /// The collections written so far, for [`Changes::committed`].
    touched: &'a RefCell<BTreeSet<String>>,
}

impl Tx<'_> {
    /// The document `collection/id`, if any.
    pub(crate) fn get(&self, collection: &str, id: &str) -> Result<Option<Value>, StoreError> {
        let body: Option<String> = self
            .tx
            .query_row(
                "SELECT body FROM objects WHERE collection = ?1 AND id = ?2",
                params![collection, id],
                |row| row.get(0),
            )
            .optional()?;
        body.map(|b| parse(collection, id, &b)).transpose()
    }

    /// Inserts or replaces `collection/id`.
    pub(crate) fn put(&self, collection: &str, id: &str, body: &Value) -> Result<(), StoreError> {
        self.tx.execute(
            "INSERT INTO objects (collection, id, body) VALUES (?1, ?2, ?3)
             ON CONFLICT (collection, id) DO UPDATE SET body = excluded.body",
            params![collection, id, body.to_string()],
        )?;
        self.touch(collection);
        Ok(())
    }

    /// Removes `collection/id`; returns whether it existed.
    pub(crate) fn delete(&self, collection: &str, id: &str) -> Result<bool, StoreError> {
        let n = self
            .tx
            .execute("DELETE FROM objects WHERE collection = ?1 AND id = ?2", params![collection, id])?;
        if n > 0 {
            self.touch(collection);
        }
        Ok(n > 0)
    }

    fn touch(&self, collection: &str) {
        let mut touched = self.touched.borrow_mut();
        if !touched.contains(collection) {
            touched.insert(collection.to_owned());
        }
    }

    /// Every document of `collection`, ordered by id.
    pub(crate) fn list(&self, collection: &str) -> Result<Vec<(String, Value)>, StoreError> {
        self.query("SELECT collection, id, body FROM objects WHERE collection = ?1 ORDER BY id", collection)
            .map(|rows| rows.into_iter().map(|(_, id, body)| (id, body)).collect())
    }

    /// Every document whose collection starts with `prefix`, as `(collection, id, body)`.
    pub(crate) fn list_under(&self, prefix: &str) -> Result<Vec<(String, String, Value)>, StoreError> {
        let pattern = format!("{}%", prefix.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
        self.query(
            "SELECT collection, id, body FROM objects WHERE collection LIKE ?1 ESCAPE '\\' \
             ORDER BY collection, id",
            &pattern,
        )
    }

    /// The next value of the named counter, starting at `first`.
    pub(crate) fn next_counter(&self, name: &str, first: u64) -> Result<u64, StoreError> {
        let first = i64::try_from(first).unwrap_or(i64::MAX);
        let value: i64 = self.tx.query_row(
            "INSERT INTO counters (name, next) VALUES (?1, ?2 + 1)
             ON CONFLICT (name) DO UPDATE SET next = next + 1
             RETURNING next - 1",
            params![name, first],
            |row| row.get(0),
        )?;
        Ok(u64::try_from(value).unwrap_or(0))
    }

    fn query(&self, sql: &str, arg: &str) -> Result<Vec<(String, String, Value)>, StoreError> {
        let mut stmt = self.tx.prepare_cached(sql)?;
        let rows = stmt.query_map(params![arg], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get::<_, String>(2)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (collection, id, body) = row?;
            let value = parse(&collection, &id, &body)?;
            out.push((collection, id, value));
        }
        Ok(out)
    }
}

fn parse(collection: &str, id: &str, body: &str) -> Result<Value, StoreError> {
    serde_json::from_str(body).map_err(|source| StoreError::Corrupt {
        collection: collection.to_owned(),
        id: id.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn documents_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .transact::<_, StoreError, _>(|tx| tx.put("/infra/segments", "a", &json!({"id": "a"})))
            .await
            .unwrap();
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        let got = store.transact::<_, StoreError, _>(|tx| tx.get("/infra/segments", "a")).await.unwrap();
        assert_eq!(got, Some(json!({"id": "a"})));
    }

    /// Two simulators started at once on a fresh data dir both open the file and switch
    /// it to WAL; SQLite answers one of them "database is locked" at once, without
    /// waiting out the busy timeout, unless the open retries.
    #[test]
    fn stores_opened_at_once_on_a_fresh_file_all_open() {
        for _ in 0..50 {
            let dir = tempfile::tempdir().unwrap();
            let opened: Vec<_> = std::thread::scope(|s| {
                let opening: Vec<_> = (0..4).map(|_| s.spawn(|| Store::open(dir.path()))).collect();
                opening.into_iter().map(|t| t.join().unwrap()).collect()
            });
            for store in opened {
                if let Err(e) = store {
                    panic!("{:?}", anyhow::Error::from(e));
                }
            }
        }
    }

    #[tokio::test]
    async fn failed_transaction_rolls_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let failed = store
            .transact::<(), StoreError, _>(|tx| {
                tx.put("c", "x", &json!(1))?;
                Err(StoreError::Poisoned)
            })
            .await;
        assert!(failed.is_err());
        let got = store.transact::<_, StoreError, _>(|tx| tx.get("c", "x")).await.unwrap();
        assert_eq!(got, None);
    }

    #[tokio::test]
    async fn counters_and_prefix_listing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (a, b, under) = store
            .transact::<_, StoreError, _>(|tx| {
                let a = tx.next_counter("vm", 1001)?;
                let b = tx.next_counter("vm", 1001)?;
                tx.put("/infra/segments/s1/ports", "p", &json!({}))?;
                tx.put("/infra/segments", "s1", &json!({}))?;
                tx.put("/infra/segments_x/ports", "q", &json!({}))?;
                Ok((a, b, tx.list_under("/infra/segments/s1/")?))
            })
            .await
            .unwrap();
        assert_eq!((a, b), (1001, 1002));
        assert_eq!(under.len(), 1, "{under:?}");
        assert_eq!(under[0].1, "p");
    }

    #[tokio::test]
    async fn subscribers_hear_of_committed_writes_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut lb = store.changes().subscribe("/infra/lb-");
        store.transact::<_, StoreError, _>(|tx| tx.get("/infra/lb-pools", "p")).await.unwrap();
        assert!(!lb.has_changed().unwrap(), "a read is no change");
        let failed = store
            .transact::<(), StoreError, _>(|tx| {
                tx.put("/infra/lb-pools", "p", &json!({}))?;
                Err(StoreError::Poisoned)
            })
            .await;
        assert!(failed.is_err());
        assert!(!lb.has_changed().unwrap(), "a rolled back write is no change");
        store.transact::<_, StoreError, _>(|tx| tx.put("/infra/lb-pools", "p", &json!({}))).await.unwrap();
        assert!(lb.has_changed().unwrap(), "a committed write is");
        lb.borrow_and_update();
        store.transact::<_, StoreError, _>(|tx| tx.delete("/infra/lb-pools", "absent")).await.unwrap();
        assert!(!lb.has_changed().unwrap(), "deleting nothing is no change");
    }
}
