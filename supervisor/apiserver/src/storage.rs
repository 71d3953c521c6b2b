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
//!   before it), gets the next resourceVersion and joins the queue; then its thread waits
//!   until a commit holding it is durable, or leads that commit itself when none is running
//!   (see [`Store::mutate_reading`]). The batching window is the previous commit: whatever
//!   queued while one fsync ran goes into the next, at most [`MAX_BATCH`] writes.
//!   Each transaction bumps the stored global resourceVersion, writes the object rows and
//!   appends to the change log, so the log and the objects never disagree, and
//!   resourceVersions are strictly increasing across restarts. A failed commit fails every
//!   write queued at that moment (later ones may have been decided on top of them) and the
//!   resourceVersion counter goes back to the last durable one.
//! - The cache holds committed objects only, each once (`Arc`), and is updated before any
//!   write of the commit is acknowledged; so a read served from it never shows a write
//!   that could still be lost, and always shows every acknowledged one (as a consistent
//!   read from etcd would). It is rebuilt from SQLite at open.
//! - Changes are broadcast after commit, under the state lock, in resourceVersion order:
//!   watch order is commit order.
//! - The change log keeps the last `window` changes. A watch from an older resourceVersion
//!   gets [`StorageError::Gone`] (410 for the client, which relists).
//!
//! Read-modify-write goes through [`Store::mutate`]: the closure sees the current object
//! and decides what to write, under the lock, so preconditions, finalizers and server-side
//! apply never race with another writer.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::Bound;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use rusqlite::{Connection, params};
use serde_json::Value;
use tokio::sync::broadcast;

/// How many changes a lagging subscriber may fall behind before it must catch up from SQLite.
const BROADCAST_CAPACITY: usize = 8192;

/// The most writes one commit holds; more wait for the next one.
pub const MAX_BATCH: usize = 256;

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
    pub object: Arc<Value>,
    /// The object before the change, when known (live changes only, not replayed ones).
    pub prev: Option<Arc<Value>>,
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
    /// The object as stored (or as it would be, for dry-run), or as it was before a delete.
    pub object: Value,
    /// What was written; `None` when nothing was (a `Keep`, or dry-run).
    pub event: Option<EventType>,
}

/// One page of a list.
#[derive(Debug)]
pub struct Page {
    /// Objects in (namespace, name) order, shared with the cache.
    pub items: Vec<Arc<Value>>,
    /// The global resourceVersion the page was read at.
    pub rv: u64,
    /// The `namespace/name` after which the next page starts, if there are more.
    pub next: Option<(String, String)>,
    /// How many objects follow this page.
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
    /// The storage lock was poisoned by a panic in another request.
    #[error("storage lock poisoned")]
    Poisoned,
}

/// Committed objects of one resource, in (namespace, name) order.
type Objects = BTreeMap<(String, String), Arc<Value>>;

/// A write decided and numbered but not yet durable.
struct Pending {
    rv: u64,
    event: EventType,
    key: ObjectKey,
    object: Arc<Value>,
    prev: Option<Arc<Value>>,
    text: String,
}

/// Everything behind the state lock: the cache and the group-commit queue.
struct State {
    /// Committed objects per resource: the cache every read is served from.
    objects: HashMap<String, Objects>,
    /// The newest state of each key written by a queued (not yet durable) write, with its
    /// resourceVersion; `None` for a queued delete. Writers read through it, readers do not.
    overlay: HashMap<ObjectKey, (u64, Option<Arc<Value>>)>,
    /// Decided writes no commit has taken yet, in resourceVersion order.
    queue: VecDeque<Pending>,
    /// The last resourceVersion handed out (queued or committed).
    assigned: u64,
    /// The last durable resourceVersion; the cache is at this version.
    committed: u64,
    /// The oldest resourceVersion a watch may resume from.
    compacted: u64,
    /// Whether a thread is committing a batch right now.
    committing: bool,
    /// Bumped when a commit fails and the queue is dropped; a write decided in an older
    /// epoch that is not committed has failed.
    epoch: u64,
    /// Why the last failed commit failed.
    failure: Option<Arc<StorageError>>,
}

impl State {
    /// The object at `key` as a writer sees it: queued writes included.
    fn current(&self, key: &ObjectKey) -> Option<Arc<Value>> {
        match self.overlay.get(key) {
            Some((_, queued)) => queued.clone(),
            None => self.committed_object(key),
        }
    }

    /// The object at `key` as readers see it: committed writes only.
    fn committed_object(&self, key: &ObjectKey) -> Option<Arc<Value>> {
        self.objects.get(&key.resource)?.get(&(key.namespace.clone(), key.name.clone())).cloned()
    }
}

/// The storage: SQLite behind an in-memory cache. Cheap to share behind an `Arc`.
pub struct Store {
    state: Mutex<State>,
    /// Signalled whenever a commit ends (durable or failed).
    commit_ended: Condvar,
    /// The connection; only a committing thread, a change-log read and `open` use it.
    conn: Mutex<Connection>,
    events: broadcast::Sender<Arc<Change>>,
    window: u64,
    /// Commits made since open (each one fsync).
    commits: AtomicU64,
    /// Extra time a commit holds the connection after its fsync (a slow disk, in tests).
    commit_delay: std::time::Duration,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("window", &self.window).finish_non_exhaustive()
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
        let conn = Connection::open(path)?;
        // One server per database: the first write takes an exclusive lock held until the
        // connection closes (or the process dies), so a second server on the same data
        // directory fails with "database is locked" instead of forking the resourceVersion.
        conn.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(std::time::Duration::from_secs(2))?;
        conn.execute_batch(SCHEMA)?;
        let rv = read_meta(&conn, "rv")?;
        let compacted = read_meta(&conn, "compacted")?;
        let objects = load_objects(&conn)?;
        let (events, _) = broadcast::channel(buffer.max(1));
        let state = State {
            objects,
            overlay: HashMap::new(),
            queue: VecDeque::new(),
            assigned: rv,
            committed: rv,
            compacted,
            committing: false,
            epoch: 0,
            failure: None,
        };
        Ok(Store {
            state: Mutex::new(state),
            commit_ended: Condvar::new(),
            conn: Mutex::new(conn),
            events,
            window: window.max(1),
            commits: AtomicU64::new(0),
            commit_delay: std::time::Duration::ZERO,
        })
    }

    /// The same store, each commit holding the database `delay` longer after its fsync,
    /// as on a slow disk: more writes queue behind each commit. For tests.
    pub fn with_commit_delay(mut self, delay: std::time::Duration) -> Store {
        self.commit_delay = delay;
        self
    }

    fn lock(&self) -> Result<MutexGuard<'_, State>, StorageError> {
        self.state.lock().map_err(|_| StorageError::Poisoned)
    }

    /// The newest durable resourceVersion.
    pub fn current_rv(&self) -> Result<u64, StorageError> {
        Ok(self.lock()?.committed)
    }

    /// How many commits (each one fsync) this store has made since it was opened; with
    /// concurrent writers it is less than the number of writes.
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// The oldest resourceVersion a watch may resume from.
    pub fn oldest_watchable_rv(&self) -> Result<u64, StorageError> {
        Ok(self.lock()?.compacted)
    }

    /// Subscribes to changes committed from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Change>> {
        self.events.subscribe()
    }

    /// Reads one object (from the cache: committed state only).
    pub fn get(&self, key: &ObjectKey) -> Result<Option<Value>, StorageError> {
        Ok(self.get_shared(key)?.map(|object| (*object).clone()))
    }

    /// [`Store::get`] without copying the object.
    pub fn get_shared(&self, key: &ObjectKey) -> Result<Option<Arc<Value>>, StorageError> {
        Ok(self.lock()?.committed_object(key))
    }

    /// Lists objects of `resource` (optionally in one namespace), `limit` at a time after
    /// `after`, from the cache, at the newest durable resourceVersion.
    pub fn list(
        &self,
        resource: &str,
        namespace: Option<&str>,
        after: Option<(&str, &str)>,
        limit: Option<usize>,
    ) -> Result<Page, StorageError> {
        let state = self.lock()?;
        let limit = limit.filter(|l| *l > 0).unwrap_or(usize::MAX);
        let mut page = Page { items: Vec::new(), rv: state.committed, next: None, remaining: 0 };
        let Some(objects) = state.objects.get(resource) else { return Ok(page) };
        let start = match (after, namespace) {
            (Some((ns, name)), _) => Bound::Excluded((ns.to_owned(), name.to_owned())),
            (None, Some(ns)) => Bound::Included((ns.to_owned(), String::new())),
            (None, None) => Bound::Unbounded,
        };
        let in_namespace = |(ns, _): &(String, String)| namespace.is_none_or(|wanted| ns == wanted);
        let mut range = objects.range((start, Bound::Unbounded)).filter(|(key, _)| in_namespace(key));
        let mut last = None;
        for (key, object) in range.by_ref() {
            page.items.push(object.clone());
            if page.items.len() == limit {
                last = Some(key);
                break;
            }
        }
        page.remaining = range.count() as u64;
        if page.remaining > 0 {
            page.next = last.cloned();
        }
        Ok(page)
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
    /// only once durable: the calling thread blocks until a commit holding it has been
    /// fsynced, leading that commit itself when no other thread is committing. Whatever
    /// else returns (a `Keep`, a dry run, an error `decide` chose) also waits until the
    /// queued write it was decided on, if any, is durable, so no answer ever rests on a
    /// write that could still be lost.
    ///
    /// # Caveats
    ///
    /// It blocks (on the fsync of a commit): call it from a blocking thread.
    pub fn mutate_reading<E>(
        &self,
        key: &ObjectKey,
        dry_run: bool,
        decide: impl FnOnce(Option<&Value>, &Snapshot<'_>) -> Result<Write, E>,
    ) -> Result<Outcome, E>
    where
        E: From<StorageError>,
    {
        let mut state = self.lock()?;
        let current = state.current(key);
        let epoch = state.epoch;
        // What `decide` saw may include queued writes (this key's, or others' through the
        // snapshot): an answer that commits nothing still waits for them.
        let seen = (state.assigned > state.committed).then_some(state.assigned);
        let decided = decide(current.as_deref(), &Snapshot(&state));
        let write = match decided {
            Ok(write) => write,
            Err(error) => {
                if let Some(rv) = seen {
                    self.wait_durable(state, rv, epoch)?;
                }
                return Err(error);
            }
        };
        let done = |object: Value, event| Outcome { object, event };
        let (event, mut body) = match (write, &current) {
            (Write::Keep, _) => {
                let object = current.as_deref().cloned().unwrap_or(Value::Null);
                self.settle(state, seen, epoch)?;
                return Ok(done(object, None));
            }
            (Write::Delete | Write::DeleteAs(_), None) => {
                self.settle(state, seen, epoch)?;
                return Ok(done(Value::Null, None));
            }
            (Write::DeleteAs(last), Some(_)) => (EventType::Deleted, last),
            (Write::Put(body), None) => (EventType::Added, body),
            (Write::Put(body), Some(_)) => (EventType::Modified, body),
            (Write::Delete, Some(current)) => (EventType::Deleted, (**current).clone()),
        };
        if dry_run {
            self.settle(state, seen, epoch)?;
            return Ok(done(body, None));
        }
        state.assigned += 1;
        let rv = state.assigned;
        if let Some(meta) = body.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert("resourceVersion".to_owned(), Value::String(rv.to_string()));
        }
        let text = body.to_string();
        let object = Arc::new(body);
        let stays = (event != EventType::Deleted).then(|| object.clone());
        state.overlay.insert(key.clone(), (rv, stays));
        state.queue.push_back(Pending {
            rv,
            event,
            key: key.clone(),
            object: object.clone(),
            prev: current,
            text,
        });
        self.wait_durable(state, rv, epoch)?;
        Ok(done(Arc::unwrap_or_clone(object), Some(event)))
    }

    /// Waits until `seen` (a queued write something was decided on), if any, is durable.
    fn settle<'a>(
        &'a self,
        state: MutexGuard<'a, State>,
        seen: Option<u64>,
        epoch: u64,
    ) -> Result<(), StorageError> {
        match seen {
            Some(rv) => self.wait_durable(state, rv, epoch),
            None => Ok(()),
        }
    }

    /// Blocks until the write at `rv` (queued in `epoch`) is durable, committing queued
    /// writes itself whenever no other thread is; fails if a commit dropped it.
    fn wait_durable<'a>(
        &'a self,
        mut state: MutexGuard<'a, State>,
        rv: u64,
        epoch: u64,
    ) -> Result<(), StorageError> {
        loop {
            if state.epoch != epoch {
                let source = state.failure.clone().ok_or(StorageError::Poisoned)?;
                return Err(StorageError::Commit { source });
            }
            if state.committed >= rv {
                return Ok(());
            }
            state = if state.committing || state.queue.is_empty() {
                self.commit_ended.wait(state).map_err(|_| StorageError::Poisoned)?
            } else {
                self.commit_queued(state)
            };
        }
    }

    /// Commits up to [`MAX_BATCH`] queued writes in one transaction (one fsync), without
    /// holding the state lock meanwhile; then updates the cache, broadcasts the changes
    /// in order and wakes the waiting writers.
    fn commit_queued<'a>(&'a self, mut state: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        let take = state.queue.len().min(MAX_BATCH);
        let batch: Vec<Pending> = state.queue.drain(..take).collect();
        let (first, last) = match (batch.first(), batch.last()) {
            (Some(first), Some(last)) => (first.rv, last.rv),
            _ => return state,
        };
        // Compact in steps rather than on every write; the window is a lower bound.
        let compact_to = (first..=last)
            .any(|rv| rv.is_multiple_of(64))
            .then(|| last.saturating_sub(self.window))
            .filter(|to| *to > state.compacted);
        state.committing = true;
        drop(state);
        let written = match self.conn.lock() {
            Ok(mut conn) => {
                let written = write_batch(&mut conn, &batch, last, compact_to);
                if !self.commit_delay.is_zero() {
                    std::thread::sleep(self.commit_delay);
                }
                written
            }
            Err(_) => Err(StorageError::Poisoned),
        };
        // The commit protocol must go on even if a decide closure panicked meanwhile.
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.committing = false;
        match written {
            Ok(()) => {
                self.commits.fetch_add(1, Ordering::Relaxed);
                let state = &mut *state;
                for Pending { rv, event, key, object, prev, .. } in batch {
                    let objects = state.objects.entry(key.resource.clone()).or_default();
                    let slot = (key.namespace.clone(), key.name.clone());
                    match event {
                        EventType::Deleted => objects.remove(&slot),
                        EventType::Added | EventType::Modified => objects.insert(slot, object.clone()),
                    };
                    if state.overlay.get(&key).is_some_and(|(queued, _)| *queued == rv) {
                        state.overlay.remove(&key);
                    }
                    state.committed = rv;
                    // No receivers is fine: nobody is watching.
                    let _ = self.events.send(Arc::new(Change {
                        rv,
                        event,
                        key,
                        object,
                        prev,
                        encoded: Encodings::default(),
                    }));
                }
                if let Some(to) = compact_to {
                    state.compacted = to;
                }
            }
            Err(error) => {
                tracing::error!(%error, first, last, "committing a batch of writes failed");
                state.epoch += 1;
                state.failure = Some(Arc::new(error));
                state.queue.clear();
                state.overlay.clear();
                state.assigned = state.committed;
            }
        }
        self.commit_ended.notify_all();
        state
    }

    /// Removes every object of `resource` (used when a CRD goes away), one change each.
    pub fn delete_all(&self, resource: &str) -> Result<usize, StorageError> {
        let mut count = 0;
        loop {
            let page = self.list(resource, None, None, Some(500))?;
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
        let conn = self.conn.lock().map_err(|_| StorageError::Poisoned)?;
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
                object: Arc::new(object),
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
            .map(|((ns, name), object)| ((ns.as_str(), name.as_str()), &**object))
            .collect();
        for (key, (_, queued)) in state.overlay.iter().filter(|(key, _)| key.resource == resource) {
            let slot = (key.namespace.as_str(), key.name.as_str());
            match queued {
                Some(object) => items.insert(slot, object),
                None => items.remove(&slot),
            };
        }
        Ok(items.into_values().cloned().collect())
    }
}

/// Writes `batch` in one transaction and commits it (one fsync).
fn write_batch(
    conn: &mut Connection,
    batch: &[Pending],
    last: u64,
    compact_to: Option<u64>,
) -> Result<(), StorageError> {
    let db_rv = |rv: u64| i64::try_from(rv).unwrap_or(i64::MAX);
    let tx = conn.transaction()?;
    for write in batch {
        let key = &write.key;
        match write.event {
            EventType::Deleted => {
                tx.prepare_cached(
                    "DELETE FROM objects WHERE resource = ?1 AND namespace = ?2 AND name = ?3",
                )?
                .execute(params![key.resource, key.namespace, key.name])?;
            }
            EventType::Added | EventType::Modified => {
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO objects (resource, namespace, name, rv, body) VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![key.resource, key.namespace, key.name, db_rv(write.rv), write.text])?;
            }
        }
        tx.prepare_cached(
            "INSERT INTO changes (rv, resource, namespace, name, event, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![db_rv(write.rv), key.resource, key.namespace, key.name, write.event.as_str(), write.text])?;
    }
    tx.execute("UPDATE meta SET value = ?1 WHERE key = 'rv'", [db_rv(last)])?;
    if let Some(to) = compact_to {
        tx.execute("DELETE FROM changes WHERE rv <= ?1", [db_rv(to)])?;
        tx.execute("UPDATE meta SET value = ?1 WHERE key = 'compacted'", [db_rv(to)])?;
    }
    tx.commit()?;
    Ok(())
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
        objects.entry(resource).or_default().insert((namespace, name), Arc::new(object));
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
        let page = store.list("/configmaps", Some("default"), None, None).unwrap();
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

    #[test]
    fn pages_follow_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db"), 100).unwrap();
        for name in ["a", "b", "c", "d", "e"] {
            put(&store, name, "x");
        }
        let first = store.list("/configmaps", None, None, Some(2)).unwrap();
        assert_eq!(first.remaining, 3);
        let (ns, name) = first.next.clone().unwrap();
        let second = store.list("/configmaps", None, Some((&ns, &name)), Some(2)).unwrap();
        let third = store
            .list("/configmaps", None, second.next.as_ref().map(|(a, b)| (a.as_str(), b.as_str())), Some(2))
            .unwrap();
        let names: Vec<&str> = first
            .items
            .iter()
            .chain(&second.items)
            .chain(&third.items)
            .map(|o| o["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["a", "b", "c", "d", "e"]);
        assert!(third.next.is_none());
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
            // Holding the connection stands for a slow fsync: the first writer leads a
            // commit and waits for it, the other nine queue behind.
            let conn = store.conn.lock().unwrap();
            let writers: Vec<_> = (0..10)
                .map(|i| {
                    scope.spawn({
                        let store = &store;
                        move || put(store, &format!("cm-{i}"), "x")
                    })
                })
                .collect();
            wait_assigned(&store, 10);
            assert_eq!(store.current_rv().unwrap(), 0, "nothing is durable yet");
            assert!(
                store.get(&key("cm-0")).unwrap().is_none()
                    && store.list("/configmaps", None, None, None).unwrap().items.is_empty(),
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
        assert_eq!(store.commits(), 2, "one commit for the leader, one for the nine queued behind it");
        let order: Vec<u64> = (0..10).map(|_| rx.try_recv().unwrap().rv).collect();
        assert_eq!(order, (1..=10).collect::<Vec<u64>>(), "watch order is commit order");
        assert_eq!(store.list("/configmaps", None, None, None).unwrap().items.len(), 10);
    }

    #[test]
    fn a_failed_commit_fails_every_queued_write_and_reuses_no_version() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db"), 100).unwrap();
        put(&store, "a", "1");
        store.conn.lock().unwrap().execute_batch("ALTER TABLE objects RENAME TO hidden").unwrap();
        std::thread::scope(|scope| {
            let conn = store.conn.lock().unwrap();
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
        store.conn.lock().unwrap().execute_batch("ALTER TABLE hidden RENAME TO objects").unwrap();
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
            let conn = store.conn.lock().unwrap();
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
