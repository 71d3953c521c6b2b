//! SQLite storage: objects, one global resourceVersion and a change log for watches.
//!
//! In: keys (`resource` = `group/plural`, namespace, name) and JSON objects. Out: stored
//! objects carrying `metadata.resourceVersion`, and a stream of [`Change`]s.
//!
//! Invariants:
//! - Every write (create, update, delete) happens in one SQLite transaction that bumps the
//!   global resourceVersion, writes the object row and appends a row to the change log, so
//!   the log and the objects never disagree, and resourceVersions are strictly increasing
//!   across restarts (the counter lives in the database, not in memory).
//! - A write is acknowledged only after its transaction commits. The database runs in WAL
//!   mode with `synchronous=FULL`: the WAL is fsynced at every commit, so an acknowledged
//!   write survives `kill -9` and also power loss. (`NORMAL` would survive `kill -9` too,
//!   since the WAL is in the OS page cache at commit, but can lose the last commits on power
//!   loss; the embedded server is small enough to pay the fsync.)
//! - Changes are broadcast after commit and while the write lock is held, so subscribers
//!   see them in resourceVersion order.
//! - The change log keeps the last `window` changes. A watch from an older resourceVersion
//!   gets [`StorageError::Gone`] (410 for the client, which relists).
//!
//! Read-modify-write goes through [`Store::mutate`]: the closure sees the current object
//! and decides what to write, under the lock, so preconditions, finalizers and (later)
//! server-side apply never race with another writer.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;
use tokio::sync::broadcast;

/// How many changes a lagging subscriber may fall behind before it must catch up from SQLite.
const BROADCAST_CAPACITY: usize = 8192;

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
    /// Objects in (namespace, name) order.
    pub items: Vec<Value>,
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

struct Inner {
    conn: Connection,
    rv: u64,
    compacted: u64,
}

/// The SQLite-backed object store. Cheap to share behind an `Arc`.
pub struct Store {
    inner: Mutex<Inner>,
    events: broadcast::Sender<Arc<Change>>,
    window: u64,
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
    /// Opens (or creates) the database at `path`, keeping the last `window` changes for watches.
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
        let meta = |key: &str| -> Result<u64, rusqlite::Error> {
            conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |row| row.get::<_, i64>(0))
                .map(|v| u64::try_from(v).unwrap_or(0))
        };
        let rv = meta("rv")?;
        let compacted = meta("compacted")?;
        let (events, _) = broadcast::channel(buffer.max(1));
        Ok(Store { inner: Mutex::new(Inner { conn, rv, compacted }), events, window: window.max(1) })
    }

    fn lock(&self) -> Result<MutexGuard<'_, Inner>, StorageError> {
        self.inner.lock().map_err(|_| StorageError::Poisoned)
    }

    /// The newest committed resourceVersion.
    pub fn current_rv(&self) -> Result<u64, StorageError> {
        Ok(self.lock()?.rv)
    }

    /// The oldest resourceVersion a watch may resume from.
    pub fn oldest_watchable_rv(&self) -> Result<u64, StorageError> {
        Ok(self.lock()?.compacted)
    }

    /// Subscribes to changes committed from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Change>> {
        self.events.subscribe()
    }

    /// Reads one object.
    pub fn get(&self, key: &ObjectKey) -> Result<Option<Value>, StorageError> {
        let inner = self.lock()?;
        read_object(&inner.conn, key)
    }

    /// Lists objects of `resource` (optionally in one namespace), `limit` at a time after `after`.
    pub fn list(
        &self,
        resource: &str,
        namespace: Option<&str>,
        after: Option<(&str, &str)>,
        limit: Option<usize>,
    ) -> Result<Page, StorageError> {
        let inner = self.lock()?;
        let (after_ns, after_name) = after.unwrap_or(("", ""));
        let has_after = after.is_some();
        let ns_filter = namespace.unwrap_or("");
        let sql = "SELECT namespace, name, body FROM objects
             WHERE resource = ?1 AND (?2 = '' OR namespace = ?2)
               AND (?3 = 0 OR namespace > ?4 OR (namespace = ?4 AND name > ?5))
             ORDER BY namespace, name";
        let mut stmt = inner.conn.prepare_cached(sql)?;
        let rows = stmt.query_map(params![resource, ns_filter, has_after, after_ns, after_name], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get::<_, String>(2)?))
        })?;
        let mut items = Vec::new();
        let mut next = None;
        let mut remaining = 0u64;
        let limit = limit.filter(|l| *l > 0).unwrap_or(usize::MAX);
        for row in rows {
            let (ns, name, body) = row?;
            if items.len() >= limit {
                remaining += 1;
                continue;
            }
            let object = parse(resource, &ns, &name, &body)?;
            if items.len() + 1 == limit {
                next = Some((ns, name));
            }
            items.push(object);
        }
        if remaining == 0 {
            next = None;
        }
        Ok(Page { items, rv: inner.rv, next, remaining })
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
    pub fn mutate_reading<E>(
        &self,
        key: &ObjectKey,
        dry_run: bool,
        decide: impl FnOnce(Option<&Value>, &Snapshot<'_>) -> Result<Write, E>,
    ) -> Result<Outcome, E>
    where
        E: From<StorageError>,
    {
        let mut inner = self.lock()?;
        let current = read_object(&inner.conn, key)?;
        let write = decide(current.as_ref(), &Snapshot(&inner.conn))?;
        let (event, body) = match (write, &current) {
            (Write::Keep, _) => return Ok(Outcome { object: current.unwrap_or(Value::Null), event: None }),
            (Write::Delete | Write::DeleteAs(_), None) => {
                return Ok(Outcome { object: Value::Null, event: None });
            }
            (Write::DeleteAs(last), Some(_)) => (EventType::Deleted, last),
            (Write::Put(body), None) => (EventType::Added, body),
            (Write::Put(body), Some(_)) => (EventType::Modified, body),
            (Write::Delete, Some(current)) => (EventType::Deleted, current.clone()),
        };
        if dry_run {
            return Ok(Outcome { object: body, event: None });
        }
        let prev = current.map(Arc::new);
        let change = commit(&mut inner, self.window, key, event, body)?;
        let object = (*change.object).clone();
        let change = Change { prev, ..change };
        // No receivers is fine: nobody is watching.
        let _ = self.events.send(Arc::new(change));
        Ok(Outcome { object, event: Some(event) })
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

    /// The changes of `resource` committed after `rv`, oldest first.
    ///
    /// Fails with [`StorageError::Gone`] when changes after `rv` have been compacted away.
    pub fn changes_since(&self, resource: &str, rv: u64) -> Result<Vec<Arc<Change>>, StorageError> {
        let inner = self.lock()?;
        if rv < inner.compacted {
            return Err(StorageError::Gone { requested: rv, oldest: inner.compacted });
        }
        let mut stmt = inner.conn.prepare_cached(
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
            }));
        }
        Ok(changes)
    }
}

/// Read access to the other objects while a [`Store::mutate_reading`] write is decided.
pub struct Snapshot<'a>(&'a Connection);

impl std::fmt::Debug for Snapshot<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Snapshot")
    }
}

impl Snapshot<'_> {
    /// Every object of `resource`, in all namespaces.
    pub fn list(&self, resource: &str) -> Result<Vec<Value>, StorageError> {
        let mut stmt =
            self.0.prepare_cached("SELECT namespace, name, body FROM objects WHERE resource = ?1")?;
        let rows = stmt.query_map([resource], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get::<_, String>(2)?))
        })?;
        let mut items = Vec::new();
        for row in rows {
            let (ns, name, body) = row?;
            items.push(parse(resource, &ns, &name, &body)?);
        }
        Ok(items)
    }
}

fn commit(
    inner: &mut Inner,
    window: u64,
    key: &ObjectKey,
    event: EventType,
    mut body: Value,
) -> Result<Change, StorageError> {
    let rv = inner.rv + 1;
    if let Some(meta) = body.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("resourceVersion".to_owned(), Value::String(rv.to_string()));
    }
    let text = body.to_string();
    let irv = i64::try_from(rv).unwrap_or(i64::MAX);
    let tx = inner.conn.transaction()?;
    match event {
        EventType::Deleted => {
            tx.execute(
                "DELETE FROM objects WHERE resource = ?1 AND namespace = ?2 AND name = ?3",
                params![key.resource, key.namespace, key.name],
            )?;
        }
        EventType::Added | EventType::Modified => {
            tx.execute(
                "INSERT OR REPLACE INTO objects (resource, namespace, name, rv, body) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![key.resource, key.namespace, key.name, irv, text],
            )?;
        }
    }
    tx.execute(
        "INSERT INTO changes (rv, resource, namespace, name, event, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![irv, key.resource, key.namespace, key.name, event.as_str(), text],
    )?;
    tx.execute("UPDATE meta SET value = ?1 WHERE key = 'rv'", [irv])?;
    // Compact in steps rather than on every write; the window is a lower bound.
    let mut compacted = inner.compacted;
    if rv.is_multiple_of(64) && rv > window {
        compacted = rv - window;
        let icompacted = i64::try_from(compacted).unwrap_or(i64::MAX);
        tx.execute("DELETE FROM changes WHERE rv <= ?1", [icompacted])?;
        tx.execute("UPDATE meta SET value = ?1 WHERE key = 'compacted'", [icompacted])?;
    }
    tx.commit()?;
    inner.rv = rv;
    inner.compacted = compacted;
    Ok(Change { rv, event, key: key.clone(), object: Arc::new(body), prev: None })
}

fn read_object(conn: &Connection, key: &ObjectKey) -> Result<Option<Value>, StorageError> {
    let body: Option<String> = conn
        .prepare_cached("SELECT body FROM objects WHERE resource = ?1 AND namespace = ?2 AND name = ?3")?
        .query_row(params![key.resource, key.namespace, key.name], |row| row.get(0))
        .optional()?;
    body.map(|b| parse(&key.resource, &key.namespace, &key.name, &b)).transpose()
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
