//! Storage: SQLite as the source of truth, an in-memory cache of every object in front of
//! it, one global resourceVersion, group commit, and a change log for watches.
//!
//! In: keys (`resource` = `group/plural`, namespace, name) and JSON objects. Out: stored
//! objects carrying `metadata.resourceVersion`, and a stream of [`Change`]s.
//!
//! Invariants:
//! - Every write (create, update, delete) is durable before it is acknowledged: the
//!   database runs in WAL mode with `synchronous=FULL`, so the WAL is fsynced at every
//!   commit and an acknowledged write survives `kill -9` and power loss.
//! - Group commit: concurrent writes share one SQLite transaction and one fsync. A write is
//!   decided under the state lock (against the committed objects plus the writes queued
//!   before it), gets the next resourceVersion and joins the queue; the store's committer
//!   thread commits the queue and answers the writer once its commit is durable (module
//!   `commit`, [`Store::write`]). The batching window is the previous commit: whatever
//!   queued while one fsync ran goes into the next, at most [`MAX_BATCH`] writes.
//!   Each transaction bumps the stored global resourceVersion, writes the object rows and
//!   appends to the change log, so the log and the objects never disagree, and
//!   resourceVersions are strictly increasing across restarts. The WAL is checkpointed
//!   between commits, never inside one (module `checkpoint`). A failed commit fails every
//!   write queued at that moment (later ones may have been decided on top of them) and the
//!   resourceVersion counter goes back to the last durable one.
//! - The cache holds committed objects only, each once (`Arc`), and is updated before any
//!   write of the commit is acknowledged; so a read served from it never shows a write
//!   that could still be lost, and always shows every acknowledged one (as a consistent
//!   read from etcd would). It is rebuilt from SQLite at open.
//! - Changes are broadcast after commit, under the state lock, in resourceVersion order:
//!   watch order is commit order.
//! - Paged lists are consistent: later pages show the first page's resourceVersion, or
//!   fail with [`StorageError::ContinueExpired`] (module `snapshots`).
//! - The change log keeps the last `window` changes. A watch from an older resourceVersion
//!   gets [`StorageError::Gone`] (410 for the client, which relists).
//!
//! Read-modify-write goes through [`Store::mutate`]: the closure sees the current object
//! and decides what to write, under the lock, so preconditions, finalizers and server-side
//! apply never race with another writer.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::{Bound, Deref};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use rusqlite::{Connection, params};
use serde_json::Value;
use tokio::sync::broadcast;

use checkpoint::WalPages;
use commit::{Durable, Pending, Shared, State};
use snapshots::{Of, Rest, Snapshots};
pub use stored::Stored;

mod checkpoint;
mod commit;
mod snapshots;
mod stored;

pub use commit::MAX_BATCH;

/// How many changes a lagging subscriber may fall behind before it must catch up from SQLite.
pub(crate) const BROADCAST_CAPACITY: usize = 8192;

/// Identifies one stored object.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectKey {
    /// `group/plural`, e.g. `/configmaps` or `example.com/widgets`.
    pub resource: String,
    /// Namespace, empty for cluster-scoped objects.
    pub namespace: String,
    /// Object name.
    pub name: String,
}

/// The kind of a change, as in a watch event's `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// The object was created.
    Added,
    /// The object was updated.
    Modified,
    /// The object was removed.
    Deleted,
}

impl EventType {
    /// The watch event `type` string.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }

    fn parse(text: &str) -> Option<EventType> {
        match text {
            "ADDED" => Some(EventType::Added),
            "MODIFIED" => Some(EventType::Modified),
            "DELETED" => Some(EventType::Deleted),
            _ => None,
        }
    }
}

/// One committed change.
#[derive(Debug, Clone)]
pub struct Change {
    /// The resourceVersion the change was committed at.
    pub rv: u64,
    /// What happened.
    pub event: EventType,
    /// Which object.
    pub key: ObjectKey,
    /// The object after the change (for deletions: the last state, at the deletion's rv).
    pub object: Arc<Stored>,
    /// The object before the change, when known (live changes only, not replayed ones).
    pub prev: Option<Arc<Stored>>,
    /// Watch-event encodings of this change, made once and shared by every watcher.
    pub encoded: Encodings,
}

/// Encoded watch events of one [`Change`], one per format (served version and event type),
/// so a hundred watchers of a change cost one serialisation, not a hundred.
#[derive(Default)]
pub struct Encodings(Mutex<Vec<(String, &'static str, Bytes)>>);

impl Encodings {
    /// The encoding for `format` and `event`, made by `encode` the first time it is asked for.
    pub fn get_or_encode(&self, format: &str, event: &'static str, encode: impl FnOnce() -> Bytes) -> Bytes {
        let mut made = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, _, bytes)) = made.iter().find(|(f, e, _)| f == format && *e == event) {
            return bytes.clone();
        }
        let bytes = encode();
        made.push((format.to_owned(), event, bytes.clone()));
        bytes
    }
}

impl Clone for Encodings {
    /// A clone starts empty: encodings are a cache, not part of the change.
    fn clone(&self) -> Encodings {
        Encodings::default()
    }
}

impl std::fmt::Debug for Encodings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Encodings")
    }
}

/// What a [`Store::mutate`] closure decides to do with the object.
#[derive(Debug)]
pub enum Write {
    /// Store this object (create or replace).
    Put(Value),
    /// Remove the object; its last state (in the DELETED event) is the stored one.
    Delete,
    /// Remove the object, recording this as its last state (e.g. with finalizers cleared).
    DeleteAs(Value),
    /// Leave it as it is (a no-op update does not bump the resourceVersion).
    Keep,
}

/// The result of [`Store::mutate`].
#[derive(Debug)]
pub struct Outcome {
    /// The object as stored (or as it would be, for dry-run), or as it was before a delete
    /// (JSON `null` when there was none). Shared with the cache, so an answer is written
    /// from its stored text without copying or serialising the object again.
    pub object: Arc<Stored>,
    /// What was written; `None` when nothing was (a `Keep`, or dry-run).
    pub event: Option<EventType>,
}

/// A decided write's answer, and what it must wait for before it is given.
type Decided<E> = (Result<Outcome, E>, Option<Durable>);

/// Where a page of a list starts (see [`Store::page`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageStart {
    /// At the beginning, at the newest durable resourceVersion.
    First,
    /// After the object `namespace/name`, at resourceVersion `rv` (a continue token's).
    After {
        /// The first page's resourceVersion.
        rv: u64,
        /// Namespace of the last object of the previous page.
        namespace: String,
        /// Name of the last object of the previous page.
        name: String,
    },
    /// After the object `namespace/name`, at the newest resourceVersion: the inconsistent
    /// continuation a 410 for an expired continue token offers.
    Latest {
        /// Namespace of the last object of the previous page.
        namespace: String,
        /// Name of the last object of the previous page.
        name: String,
    },
}

/// One page of a list.
#[derive(Debug)]
pub struct Page {
    /// Objects in (namespace, name) order, shared with the cache.
    pub items: Vec<Arc<Stored>>,
    /// The global resourceVersion the page was read at.
    pub rv: u64,
    /// The `namespace/name` after which the next page starts, if there are more.
    pub next: Option<(String, String)>,
    /// How many objects follow this page (before any filter).
    pub remaining: u64,
}

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// SQLite failed (disk full, I/O error, corrupt file).
    #[error("sqlite")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored body is not valid JSON.
    #[error("stored object {resource} {namespace}/{name} is not valid JSON")]
    Corrupt {
        /// Resource of the object.
        resource: String,
        /// Namespace of the object.
        namespace: String,
        /// Name of the object.
        name: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// The commit holding this write failed, so the write was not made (nor any write
    /// queued with or after it).
    #[error("committing a batch of writes")]
    Commit {
        /// Why the commit failed (shared by every write of the batch).
        #[source]
        source: Arc<StorageError>,
    },
    /// The requested resourceVersion is older than the change log keeps.
    #[error("too old resource version: {requested} ({oldest})")]
    Gone {
        /// The resourceVersion asked for.
        requested: u64,
        /// The oldest resourceVersion a watch can start from.
        oldest: u64,
    },
    /// The rest of a paged list is no longer kept at its first page's resourceVersion and
    /// the store has changed since (see [`Store::page`]).
    #[error("the continue token of a list at resource version {rv} has expired")]
    ContinueExpired {
        /// The first page's resourceVersion.
        rv: u64,
    },
    /// The committer thread could not be started.
    #[error("starting the commit thread")]
    Committer(#[source] Arc<std::io::Error>),
    /// The storage lock was poisoned by a panic in another request.
    #[error("storage lock poisoned")]
    Poisoned,
}

/// Committed objects of one resource, in (namespace, name) order.
type Objects = BTreeMap<(String, String), Arc<Stored>>;

impl State {
    /// The object at `key` as a writer sees it: queued writes included.
    fn current(&self, key: &ObjectKey) -> Option<Arc<Stored>> {
        match self.overlay.get(key) {
            Some((_, queued)) => queued.clone(),
            None => self.committed_object(key),
        }
    }

    /// The object at `key` as readers see it: committed writes only.
    fn committed_object(&self, key: &ObjectKey) -> Option<Arc<Stored>> {
        self.objects.get(&key.resource)?.get(&(key.namespace.clone(), key.name.clone())).cloned()
    }
}

/// The storage: SQLite behind an in-memory cache, and its committer thread. Cheap to share
/// behind an `Arc`; dropping it commits what is queued and closes the database.
pub struct Store {
    shared: Arc<Shared>,
    /// The rest of paged lists, at their first page's resourceVersion.
    snapshots: Mutex<Snapshots>,
    committer: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Store {
    fn drop(&mut self) {
        self.shared.state.lock().unwrap_or_else(PoisonError::into_inner).closing = true;
        self.shared.queued.notify_one();
        if let Some(committer) = self.committer.take() {
            // A committer that panicked has nothing left to release.
            let _ = committer.join();
        }
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("window", &self.shared.window).finish_non_exhaustive()
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS objects (
    resource TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
    rv INTEGER NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (resource, namespace, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS changes (
    rv INTEGER PRIMARY KEY, resource TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
    event TEXT NOT NULL, body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS changes_by_resource ON changes (resource, rv);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta (key, value) VALUES ('rv', 0), ('compacted', 0);
";

impl Store {
    /// Opens (or creates) the database at `path`, keeping the last `window` changes for
    /// watches, and loads every object into the cache.
    pub fn open(path: &Path, window: u64) -> Result<Store, StorageError> {
        Store::open_with_buffer(path, window, BROADCAST_CAPACITY)
    }

    /// [`Store::open`] with `buffer` live changes buffered per subscriber before it lags and
    /// must catch up from SQLite (small buffers exercise that path in tests).
    pub fn open_with_buffer(path: &Path, window: u64, buffer: usize) -> Result<Store, StorageError> {
        let mut conn = Connection::open(path)?;
        // One server per database: the first write takes an exclusive lock held until the
        // connection closes (or the process dies), so a second server on the same data
        // directory fails with "database is locked" instead of forking the resourceVersion.
        conn.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(std::time::Duration::from_secs(2))?;
        let wal = WalPages::watch(&mut conn)?;
        conn.execute_batch(SCHEMA)?;
        let rv = read_meta(&conn, "rv")?;
        let compacted = read_meta(&conn, "compacted")?;
        let objects = load_objects(&conn)?;
        let (events, _) = broadcast::channel(buffer.max(1));
        let state = State {
            objects,
            overlay: HashMap::new(),
            queue: VecDeque::new(),
            waiters: VecDeque::new(),
            assigned: rv,
            committed: rv,
            compacted,
            closing: false,
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            queued: Condvar::new(),
            conn: Mutex::new(conn),
            wal,
            events,
            window: window.max(1),
            commits: AtomicU64::new(0),
            commit_delay_ns: AtomicU64::new(0),
        });
        let committer = std::thread::Builder::new().name("apiserver-commit".into()).spawn({
            let shared = shared.clone();
            move || shared.run_committer()
        });
        let committer = committer.map_err(|e| StorageError::Committer(Arc::new(e)))?;
        Ok(Store { shared, snapshots: Mutex::default(), committer: Some(committer) })
    }

    /// The same store, each commit holding the database `delay` longer after its fsync,
    /// as on a slow disk: more writes queue behind each commit. For tests.
    pub fn with_commit_delay(self, delay: std::time::Duration) -> Store {
        let nanos = u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX);
        self.shared.commit_delay_ns.store(nanos, Ordering::Relaxed);
        self
    }

    fn lock(&self) -> Result<MutexGuard<'_, State>, StorageError> {
        self.shared.state.lock().map_err(|_| StorageError::Poisoned)
    }

    /// The newest durable resourceVersion.
    pub fn current_rv(&self) -> Result<u64, StorageError> {
        Ok(self.lock()?.committed)
    }

    /// How many commits (each one fsync) this store has made since it was opened; with
    /// concurrent writers it is less than the number of writes.
    pub fn commits(&self) -> u64 {
        self.shared.commits.load(Ordering::Relaxed)
    }

    /// The oldest resourceVersion a watch may resume from.
    pub fn oldest_watchable_rv(&self) -> Result<u64, StorageError> {
        Ok(self.lock()?.compacted)
    }

    /// Subscribes to changes committed from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Change>> {
        self.shared.events.subscribe()
    }

    /// Reads one object (from the cache: committed state only).
    pub fn get(&self, key: &ObjectKey) -> Result<Option<Value>, StorageError> {
        Ok(self.get_shared(key)?.map(|object| Value::clone(&object)))
    }

    /// [`Store::get`] without copying the object.
    pub fn get_shared(&self, key: &ObjectKey) -> Result<Option<Arc<Stored>>, StorageError> {
        Ok(self.lock()?.committed_object(key))
    }

    /// Every object of `resource` (optionally in one namespace), from the cache, at the
    /// newest durable resourceVersion.
    pub fn list(&self, resource: &str, namespace: Option<&str>) -> Result<Page, StorageError> {
        self.page(resource, namespace, &PageStart::First, None, |_| true)
    }

    /// One page of a list: up to `limit` objects of `resource` (optionally in one
    /// namespace) that `keep` accepts, in (namespace, name) order, from `start`.
    ///
    /// # Guarantees
    ///
    /// Every page of a list shows the collection at the first page's resourceVersion: a
    /// first page that leaves objects for later keeps them (module `snapshots`), and a
    /// [`PageStart::After`] reads them. When they are no longer kept and the store has
    /// changed since, the page fails with [`StorageError::ContinueExpired`] (410 for the
    /// client, which may continue inconsistently with [`PageStart::Latest`] or relist).
    pub fn page(
        &self,
        resource: &str,
        namespace: Option<&str>,
        start: &PageStart,
        limit: Option<usize>,
        keep: impl Fn(&Value) -> bool,
    ) -> Result<Page, StorageError> {
        let state = self.lock()?;
        let limit = limit.filter(|l| *l > 0).unwrap_or(usize::MAX);
        let rv = state.committed;
        let after = match start {
            PageStart::First => None,
            PageStart::Latest { namespace, name } => Some((namespace.as_str(), name.as_str())),
            PageStart::After { rv: at, namespace: ns, name } if *at != rv => {
                let of =
                    Of { resource: resource.to_owned(), namespace: namespace.map(str::to_owned), rv: *at };
                let rest = self.snapshots().get(&of).ok_or(StorageError::ContinueExpired { rv: *at })?;
                let from = rest.partition_point(|object| key_of(object) <= (ns.as_str(), name.as_str()));
                let mut source = rest[from..].iter();
                let (items, last) = fill(source.by_ref(), limit, &keep);
                let remaining = source.len() as u64;
                let next = (remaining > 0).then(|| last.map(owned_key)).flatten();
                return Ok(Page { items, rv: *at, next, remaining });
            }
            PageStart::After { namespace, name, .. } => Some((namespace.as_str(), name.as_str())),
        };
        let mut page = Page { items: Vec::new(), rv, next: None, remaining: 0 };
        let Some(objects) = state.objects.get(resource) else { return Ok(page) };
        let from = match (after, namespace) {
            (Some((ns, name)), _) => Bound::Excluded((ns.to_owned(), name.to_owned())),
            (None, Some(ns)) => Bound::Included((ns.to_owned(), String::new())),
            (None, None) => Bound::Unbounded,
        };
        let mut source = objects
            .range((from, Bound::Unbounded))
            .take_while(|(key, _)| namespace.is_none_or(|ns| key.0 == ns));
        let (items, last) = fill(source.by_ref().map(|(_, object)| object), limit, &keep);
        page.items = items;
        // Of the live source, what follows this page is kept for the next pages.
        let rest: Rest = source.map(|(_, object)| object.clone()).collect();
        if !rest.is_empty() {
            page.remaining = rest.len() as u64;
            page.next = last.map(owned_key);
            let of = Of { resource: resource.to_owned(), namespace: namespace.map(str::to_owned), rv };
            self.snapshots().keep(of, || rest);
        }
        Ok(page)
    }

    fn snapshots(&self) -> MutexGuard<'_, Snapshots> {
        self.snapshots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reads the object at `key`, lets `decide` choose a [`Write`], and commits it atomically.
    ///
    /// With `dry_run` nothing is written, no resourceVersion is used, and the returned
    /// object is what would have been stored.
    pub fn mutate<E>(
        &self,
        key: &ObjectKey,
        dry_run: bool,
        decide: impl FnOnce(Option<&Value>) -> Result<Write, E>,
    ) -> Result<Outcome, E>
    where
        E: From<StorageError>,
    {
        self.mutate_reading(key, dry_run, |current, _| decide(current))
    }

    /// Like [`Store::mutate`], but `decide` may also read other objects, consistently with
    /// the write (allocators use it to find free cluster IPs and node ports).
    ///
    /// # Guarantees
    ///
    /// `decide` runs under the state lock and sees the object as the writes queued before
    /// this one leave it, so read-modify-write never loses an update. A write is returned
    /// only once durable (module `commit`). Whatever else returns (a `Keep`, a dry run, an
    /// error `decide` chose) also waits until the queued write it was decided on, if any,
    /// is durable, so no answer ever rests on a write that could still be lost.
    ///
    /// # Caveats
    ///
    /// It blocks until the commit's fsync: call it from a blocking thread, or use
    /// [`Store::write`] from a task.
    pub fn mutate_reading<E>(
        &self,
        key: &ObjectKey,
        dry_run: bool,
        decide: impl FnOnce(Option<&Value>, &Snapshot<'_>) -> Result<Write, E>,
    ) -> Result<Outcome, E>
    where
        E: From<StorageError>,
    {
        let (answer, durable) = self.decide(key, dry_run, decide)?;
        if let Some(durable) = durable {
            commit::wait_blocking(durable)?;
        }
        answer
    }

    /// [`Store::mutate_reading`] for tasks: waits for the commit without blocking a thread.
    pub async fn write<E>(
        &self,
        key: &ObjectKey,
        dry_run: bool,
        decide: impl FnOnce(Option<&Value>, &Snapshot<'_>) -> Result<Write, E>,
    ) -> Result<Outcome, E>
    where
        E: From<StorageError>,
    {
        let (answer, durable) = self.decide(key, dry_run, decide)?;
        if let Some(durable) = durable {
            commit::wait(durable).await?;
        }
        answer
    }

    /// Runs `decide` under the state lock and queues the write it chose; returns the answer
    /// and, when that answer rests on a write not yet durable, what to wait for first.
    fn decide<E>(
        &self,
        key: &ObjectKey,
        dry_run: bool,
        decide: impl FnOnce(Option<&Value>, &Snapshot<'_>) -> Result<Write, E>,
    ) -> Result<Decided<E>, StorageError> {
        let mut state = self.lock()?;
        let current = state.current(key);
        // What `decide` saw may include queued writes (this key's, or others' through the
        // snapshot): an answer that commits nothing still waits for them.
        let seen = (state.assigned > state.committed).then_some(state.assigned);
        let decided = decide(current.as_deref().map(Deref::deref), &Snapshot(&state));
        let done = |object, event| Outcome { object, event };
        let settle = |state: &mut State| seen.map(|rv| state.durable(rv));
        let write = match decided {
            Ok(write) => write,
            Err(error) => return Ok((Err(error), settle(&mut state))),
        };
        let (event, mut body) = match (write, &current) {
            (Write::Keep, _) => {
                let object = current.clone().unwrap_or_else(|| Arc::new(Stored::new(Value::Null)));
                return Ok((Ok(done(object, None)), settle(&mut state)));
            }
            (Write::Delete | Write::DeleteAs(_), None) => {
                return Ok((Ok(done(Arc::new(Stored::new(Value::Null)), None)), settle(&mut state)));
            }
            (Write::DeleteAs(last), Some(_)) => (EventType::Deleted, last),
            (Write::Put(body), None) => (EventType::Added, body),
            (Write::Put(body), Some(_)) => (EventType::Modified, body),
            (Write::Delete, Some(current)) => (EventType::Deleted, (**current).clone()),
        };
        if dry_run {
            return Ok((Ok(done(Arc::new(Stored::new(body)), None)), settle(&mut state)));
        }
        state.assigned += 1;
        let rv = state.assigned;
        if let Some(meta) = body.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert("resourceVersion".to_owned(), Value::String(rv.to_string()));
        }
        let object = Arc::new(Stored::new(body));
        let stays = (event != EventType::Deleted).then(|| object.clone());
        state.overlay.insert(key.clone(), (rv, stays));
        state.queue.push_back(Pending { rv, event, key: key.clone(), object: object.clone(), prev: current });
        let durable = state.durable(rv);
        drop(state);
        self.shared.queued.notify_one();
        Ok((Ok(done(object, Some(event))), Some(durable)))
    }

    /// Removes every object of `resource` (used when a CRD goes away), one change each.
    pub fn delete_all(&self, resource: &str) -> Result<usize, StorageError> {
        let mut count = 0;
        loop {
            let page = self.list(resource, None)?;
            if page.items.is_empty() {
                return Ok(count);
            }
            for item in page.items {
                let key = ObjectKey {
                    resource: resource.to_owned(),
                    namespace: str_at(&item, "namespace").to_owned(),
                    name: str_at(&item, "name").to_owned(),
                };
                self.mutate::<StorageError>(&key, false, |_| Ok(Write::Delete))?;
                count += 1;
            }
        }
    }

    /// The changes of `resource` committed after `rv`, oldest first (from SQLite).
    ///
    /// Fails with [`StorageError::Gone`] when changes after `rv` have been compacted away.
    pub fn changes_since(&self, resource: &str, rv: u64) -> Result<Vec<Arc<Change>>, StorageError> {
        let conn = self.shared.conn.lock().map_err(|_| StorageError::Poisoned)?;
        // Read under the connection lock, with the rows: a commit cannot compact in between.
        let compacted = read_meta(&conn, "compacted")?;
        if rv < compacted {
            return Err(StorageError::Gone { requested: rv, oldest: compacted });
        }
        let mut stmt = conn.prepare_cached(
            "SELECT rv, namespace, name, event, body FROM changes WHERE resource = ?1 AND rv > ?2 ORDER BY rv",
        )?;
        let rows = stmt.query_map(params![resource, rv as i64], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, String>(4)?,
            ))
        })?;
        let mut changes = Vec::new();
        for row in rows {
            let (rv, namespace, name, event, body) = row?;
            let object = parse(resource, &namespace, &name, &body)?;
            let Some(event) = EventType::parse(&event) else { continue };
            let key = ObjectKey { resource: resource.to_owned(), namespace, name };
            changes.push(Arc::new(Change {
                rv: u64::try_from(rv).unwrap_or(0),
                event,
                key,
                object: Arc::new(Stored::with_json(object, body)),
                prev: None,
                encoded: Encodings::default(),
            }));
        }
        Ok(changes)
    }
}

/// Read access to the other objects while a [`Store::mutate_reading`] write is decided:
/// the committed objects plus the writes queued before it.
pub struct Snapshot<'a>(&'a State);

impl std::fmt::Debug for Snapshot<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Snapshot")
    }
}

impl Snapshot<'_> {
    /// Every object of `resource`, in all namespaces.
    pub fn list(&self, resource: &str) -> Result<Vec<Value>, StorageError> {
        let state = self.0;
        let mut items: BTreeMap<(&str, &str), &Value> = state
            .objects
            .get(resource)
            .into_iter()
            .flatten()
            .map(|((ns, name), object)| ((ns.as_str(), name.as_str()), &***object))
            .collect();
        for (key, (_, queued)) in state.overlay.iter().filter(|(key, _)| key.resource == resource) {
            let slot = (key.namespace.as_str(), key.name.as_str());
            match queued {
                Some(object) => items.insert(slot, &***object),
                None => items.remove(&slot),
            };
        }
        Ok(items.into_values().cloned().collect())
    }
}

fn read_meta(conn: &Connection, key: &str) -> Result<u64, StorageError> {
    let value = conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |row| row.get::<_, i64>(0))?;
    Ok(u64::try_from(value).unwrap_or(0))
}

/// Every stored object, for the cache.
fn load_objects(conn: &Connection) -> Result<HashMap<String, Objects>, StorageError> {
    let mut stmt = conn.prepare("SELECT resource, namespace, name, body FROM objects")?;
    let rows = stmt.query_map([], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, String>(2)?,
            row.get::<_, String>(3)?,
        ))
    })?;
    let mut objects: HashMap<String, Objects> = HashMap::new();
    for row in rows {
        let (resource, namespace, name, body) = row?;
        let object = parse(&resource, &namespace, &name, &body)?;
        objects
            .entry(resource)
            .or_default()
            .insert((namespace, name), Arc::new(Stored::with_json(object, body)));
    }
    Ok(objects)
}

fn parse(resource: &str, namespace: &str, name: &str, body: &str) -> Result<Value, StorageError> {
    serde_json::from_str(body).map_err(|source| StorageError::Corrupt {
        resource: resource.to_owned(),
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        source,
    })
}

/// Takes the objects `keep` accepts from `source` until there are `limit`; returns them and
/// the last object looked at when the limit was reached.
fn fill<'a>(
    source: impl Iterator<Item = &'a Arc<Stored>>,
    limit: usize,
    keep: &impl Fn(&Value) -> bool,
) -> (Vec<Arc<Stored>>, Option<&'a Arc<Stored>>) {
    let mut items = Vec::new();
    for object in source {
        if keep(object) {
            items.push(object.clone());
            if items.len() == limit {
                return (items, Some(object));
            }
        }
    }
    (items, None)
}

/// The cache key of a stored object: its (namespace, name).
fn key_of(object: &Value) -> (&str, &str) {
    (str_at(object, "namespace"), str_at(object, "name"))
}

fn owned_key(object: &Arc<Stored>) -> (String, String) {
    let (namespace, name) = key_of(object);
    (namespace.to_owned(), name.to_owned())
}

fn str_at<'a>(object: &'a Value, field: &str) -> &'a str {
    object.get("metadata").and_then(|m| m.get(field)).and_then(Value::as_str).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(name: &str) -> ObjectKey {
        ObjectKey { resource: "/configmaps".into(), namespace: "default".into(), name: name.into() }
    }

    fn put(store: &Store, name: &str, data: &str) -> Outcome {
        let body = json!({"metadata": {"name": name, "namespace": "default"}, "data": {"k": data}});
        store.mutate::<StorageError>(&key(name), false, |_| Ok(Write::Put(body))).unwrap()
    }

    #[test]
    fn the_committer_checkpoints_the_wal_so_it_stays_small() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let store = Store::open(&path, 100).unwrap();
        // Each write stores its 6 KB body twice (object and change log): several pages, so
        // 800 of them would leave some 5,000 pages in a WAL never checkpointed.
        let data = "x".repeat(6000);
        for i in 0..800 {
            put(&store, &format!("cm-{i}"), &data);
        }
        let wal_pages = std::fs::metadata(dir.path().join("db-wal")).unwrap().len() / 4096;
        assert!(
            wal_pages < u64::from(checkpoint::DUE) * 3 / 2,
            "the WAL holds {wal_pages} pages: no checkpoint ran between commits"
        );
        drop(store);
        assert_eq!(Store::open(&path, 100).unwrap().list("/configmaps", None).unwrap().items.len(), 800);
    }

    #[test]
    fn writes_bump_one_global_resource_version() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db"), 100).unwrap();
        let a = put(&store, "a", "1");
        let b = put(&store, "b", "1");
        assert_eq!(a.event, Some(EventType::Added));
        assert_eq!(a.object["metadata"]["resourceVersion"], "1");
        assert_eq!(b.object["metadata"]["resourceVersion"], "2");
        let a2 = put(&store, "a", "2");
        assert_eq!(a2.event, Some(EventType::Modified));
        assert_eq!(store.current_rv().unwrap(), 3);
        let page = store.list("/configmaps", Some("default")).unwrap();
        assert_eq!(page.items.len(), 2);
        assert_eq!(page.rv, 3);
    }

    #[test]
    fn resource_version_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        {
            let store = Store::open(&path, 100).unwrap();
            put(&store, "a", "1");
            put(&store, "a", "2");
        }
        let store = Store::open(&path, 100).unwrap();
        assert_eq!(store.current_rv().unwrap(), 2);
        assert_eq!(store.get(&key("a")).unwrap().unwrap()["data"]["k"], "2");
        assert_eq!(put(&store, "b", "1").object["metadata"]["resourceVersion"], "3");
    }

    #[test]
    fn a_second_store_on_the_same_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let first = Store::open(&path, 100).unwrap();
        assert!(Store::open(&path, 100).is_err());
        drop(first);
        Store::open(&path, 100).unwrap();
    }

    #[test]
    fn a_write_can_read_the_other_objects() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db"), 100).unwrap();
        put(&store, "a", "1");
        put(&store, "b", "2");
        let seen = store
            .mutate_reading::<StorageError>(&key("c"), false, |_, snapshot| {
                let count = snapshot.list("/configmaps")?.len();
                Ok(Write::Put(json!({"metadata": {"name": "c"}, "count": count})))
            })
            .unwrap();
        assert_eq!(seen.object["count"], 2);
    }

    #[test]
    fn keep_and_dry_run_write_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db"), 100).unwrap();
        put(&store, "a", "1");
        let kept = store.mutate::<StorageError>(&key("a"), false, |_| Ok(Write::Keep)).unwrap();
        assert_eq!(kept.event, None);
        let dry = store
            .mutate::<StorageError>(&key("b"), true, |_| Ok(Write::Put(json!({"metadata": {"name": "b"}}))))
            .unwrap();
        assert_eq!(dry.event, None);
        assert_eq!(store.current_rv().unwrap(), 1);
        assert!(store.get(&key("b")).unwrap().is_none());
    }

    fn names(items: &[Arc<Stored>]) -> Vec<&str> {
        items.iter().map(|o| o["metadata"]["name"].as_str().unwrap()).collect()
    }

    fn after(page: &Page) -> PageStart {
        let (namespace, name) = page.next.clone().unwrap();
        PageStart::After { rv: page.rv, namespace, name }
    }

    #[test]
    fn later_pages_show_the_first_pages_resource_version() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db"), 100).unwrap();
        for name in ["a", "b", "c", "d", "e"] {
            put(&store, name, "x");
        }
        let all = |_: &Value| true;
        let first = store.page("/configmaps", None, &PageStart::First, Some(2), all).unwrap();
        assert_eq!((names(&first.items), first.remaining), (vec!["a", "b"], 3));
        // Writes after the first page: a new object, a deleted one and a changed one.
        put(&store, "bb", "x");
        store.mutate::<StorageError>(&key("d"), false, |_| Ok(Write::Delete)).unwrap();
        put(&store, "e", "changed");
        let second = store.page("/configmaps", None, &after(&first), Some(2), all).unwrap();
        let third = store.page("/configmaps", None, &after(&second), Some(2), all).unwrap();
        assert_eq!((names(&second.items), names(&third.items)), (vec!["c", "d"], vec!["e"]));
        assert_eq!((second.rv, third.rv), (5, 5), "every page is at the first page's resourceVersion");
        assert_eq!(third.items[0]["data"]["k"], "x");
        assert!(third.next.is_none());
    }

    #[test]
    fn a_continue_whose_snapshot_is_gone_expires_unless_nothing_changed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db"), 1000).unwrap();
        for name in ["a", "b", "c"] {
            put(&store, name, "x");
        }
        let all = |_: &Value| true;
        let first = store.page("/configmaps", None, &PageStart::First, Some(1), all).unwrap();
        // As many other paged lists, each at a newer resourceVersion, push it out.
        for i in 0..snapshots::MAX_SNAPSHOTS {
            put(&store, &format!("z{i}"), "x");
            store.page("/configmaps", None, &PageStart::First, Some(1), all).unwrap();
        }
        let expired = store.page("/configmaps", None, &after(&first), Some(1), all);
        assert!(matches!(expired, Err(StorageError::ContinueExpired { rv: 3 })), "{expired:?}");
        let latest = PageStart::Latest { namespace: "default".into(), name: "a".into() };
        let inconsistent = store.page("/configmaps", None, &latest, Some(1), all).unwrap();
        assert_eq!(names(&inconsistent.items), ["b"]);
        // With no write since the first page, the live objects are that page's version.
        let quiet = store.page("/configmaps", None, &PageStart::First, Some(1), all).unwrap();
        store.snapshots().kept_clear();
        let next = store.page("/configmaps", None, &after(&quiet), Some(1), all).unwrap();
        assert_eq!(names(&next.items), ["b"]);
    }

    #[test]
    fn pages_of_a_selection_are_full_and_of_one_namespace() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db"), 100).unwrap();
        for name in ["a", "b", "c", "d", "e", "f"] {
            put(&store, name, if name < "d" { "x" } else { "y" });
        }
        let other = ObjectKey { resource: "/configmaps".into(), namespace: "other".into(), name: "a".into() };
        let body = json!({"metadata": {"name": "a", "namespace": "other"}, "data": {"k": "y"}});
        store.mutate::<StorageError>(&other, false, |_| Ok(Write::Put(body))).unwrap();
        let ys = |o: &Value| o["data"]["k"] == "y";
        let first = store.page("/configmaps", Some("default"), &PageStart::First, Some(2), ys).unwrap();
        assert_eq!((names(&first.items), first.remaining), (vec!["d", "e"], 1));
        let second = store.page("/configmaps", Some("default"), &after(&first), Some(2), ys).unwrap();
        assert_eq!((names(&second.items), second.next), (vec!["f"], None));
    }

    #[test]
    fn change_log_replays_and_expires() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db"), 10).unwrap();
        put(&store, "a", "1");
        store.mutate::<StorageError>(&key("a"), false, |_| Ok(Write::Delete)).unwrap();
        let changes = store.changes_since("/configmaps", 0).unwrap();
        let kinds: Vec<EventType> = changes.iter().map(|c| c.event).collect();
        assert_eq!(kinds, [EventType::Added, EventType::Deleted]);
        assert_eq!(changes[1].object["metadata"]["resourceVersion"], "2");
        for i in 0..100 {
            put(&store, "b", &i.to_string());
        }
        assert!(matches!(store.changes_since("/configmaps", 1), Err(StorageError::Gone { .. })));
        let oldest = store.oldest_watchable_rv().unwrap();
        assert!(oldest > 1);
        assert!(!store.changes_since("/configmaps", oldest).unwrap().is_empty());
    }

    /// Waits (with a deadline) until `count` writes have been handed a resourceVersion.
    fn wait_assigned(store: &Store, count: u64) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while store.lock().unwrap().assigned < count {
            assert!(std::time::Instant::now() < deadline, "writers never queued");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    #[test]
    fn writes_queued_during_a_commit_share_the_next_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db"), 100).unwrap();
        let mut rx = store.subscribe();
        std::thread::scope(|scope| {
            // Holding the connection stands for a slow fsync: the committer takes the first
            // write and waits for the disk, the other nine queue behind.
            let conn = store.shared.conn.lock().unwrap();
            let spawn = |i: usize| {
                scope.spawn({
                    let store = &store;
                    move || put(store, &format!("cm-{i}"), "x")
                })
            };
            let mut writers = vec![spawn(0)];
            wait_assigned(&store, 1);
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while !store.lock().unwrap().queue.is_empty() {
                assert!(std::time::Instant::now() < deadline, "the committer never took the write");
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            writers.extend((1..10).map(spawn));
            wait_assigned(&store, 10);
            assert_eq!(store.current_rv().unwrap(), 0, "nothing is durable yet");
            assert!(
                store.get(&key("cm-0")).unwrap().is_none()
                    && store.list("/configmaps", None).unwrap().items.is_empty(),
                "readers see queued writes"
            );
            drop(conn);
            let mut rvs: Vec<u64> = writers
                .into_iter()
                .map(|w| {
                    w.join().unwrap().object["metadata"]["resourceVersion"].as_str().unwrap().parse().unwrap()
                })
                .collect();
            rvs.sort();
            assert_eq!(rvs, (1..=10).collect::<Vec<u64>>());
        });
        assert_eq!(store.commits(), 2, "one commit for the first write, one for the nine queued behind it");
        let order: Vec<u64> = (0..10).map(|_| rx.try_recv().unwrap().rv).collect();
        assert_eq!(order, (1..=10).collect::<Vec<u64>>(), "watch order is commit order");
        assert_eq!(store.list("/configmaps", None).unwrap().items.len(), 10);
    }

    #[test]
    fn a_failed_commit_fails_every_queued_write_and_reuses_no_version() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db"), 100).unwrap();
        put(&store, "a", "1");
        store.shared.conn.lock().unwrap().execute_batch("ALTER TABLE objects RENAME TO hidden").unwrap();
        std::thread::scope(|scope| {
            let conn = store.shared.conn.lock().unwrap();
            let writers: Vec<_> = (0..5)
                .map(|i| {
                    let store = &store;
                    scope.spawn(move || {
                        let body = json!({"metadata": {"name": "a"}, "data": {"k": i}});
                        store.mutate::<StorageError>(&key("a"), false, |_| Ok(Write::Put(body)))
                    })
                })
                .collect();
            wait_assigned(&store, 6);
            drop(conn);
            for writer in writers {
                assert!(matches!(writer.join().unwrap(), Err(StorageError::Commit { .. })));
            }
        });
        assert_eq!(store.current_rv().unwrap(), 1);
        assert_eq!(store.get(&key("a")).unwrap().unwrap()["data"]["k"], "1");
        store.shared.conn.lock().unwrap().execute_batch("ALTER TABLE hidden RENAME TO objects").unwrap();
        assert_eq!(put(&store, "a", "2").object["metadata"]["resourceVersion"], "2");
        drop(store);
        let store = Store::open(&dir.path().join("db"), 100).unwrap();
        assert_eq!(store.get(&key("a")).unwrap().unwrap()["data"]["k"], "2");
    }

    #[test]
    fn a_no_op_decided_on_a_queued_write_waits_for_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db"), 100).unwrap();
        std::thread::scope(|scope| {
            let conn = store.shared.conn.lock().unwrap();
            let writer = scope.spawn(|| put(&store, "a", "1"));
            wait_assigned(&store, 1);
            let keeper = scope.spawn(|| store.mutate::<StorageError>(&key("a"), false, |_| Ok(Write::Keep)));
            std::thread::sleep(std::time::Duration::from_millis(50));
            assert!(!keeper.is_finished(), "a Keep of a queued object answered before it was durable");
            drop(conn);
            writer.join().unwrap();
            assert_eq!(keeper.join().unwrap().unwrap().object["data"]["k"], "1");
        });
    }

    #[tokio::test]
    async fn subscribers_see_changes_in_order_with_previous_state() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db"), 100).unwrap();
        let mut rx = store.subscribe();
        put(&store, "a", "1");
        put(&store, "a", "2");
        let first = rx.recv().await.unwrap();
        let second = rx.recv().await.unwrap();
        assert_eq!((first.rv, second.rv), (1, 2));
        assert_eq!(second.prev.as_ref().unwrap()["data"]["k"], "1");
    }
}
