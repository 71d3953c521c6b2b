//! Watch streams: replay from the change log, then follow live changes.
//!
//! In: a [`WatchSpec`] (resource, namespace, selector, starting resourceVersion, bookmarks,
//! timeout). Out: newline-delimited JSON watch events (`{"type": ..., "object": ...}`).
//!
//! Order of operations, which is what makes resume exact: subscribe to live changes first,
//! then send the initial state (no resourceVersion: synthetic `ADDED` for every object) or
//! replay the log after the given resourceVersion, then forward live changes newer than the
//! last one sent. A subscriber that falls behind the broadcast buffer catches up from
//! SQLite. A resourceVersion older than the log keeps yields one `ERROR` event with a 410
//! `Expired` Status, and the stream ends: clients relist, as against a real server.
//!
//! Fan-out: each change is encoded once per format (served version and event type) and
//! the bytes are shared by every watcher that wants that format ([`Change::encoded`]).
//! Buffers are bounded: a watcher holds at most [`WATCHER_BUFFER`] encoded events for its
//! client; when the client does not read, the watcher stops taking live changes, falls
//! out of the shared broadcast buffer and later catches up from the change log, one page
//! of the log at most; a client so slow that the log has moved past it gets the 410
//! `Expired` error above and relists. Memory never grows with a slow client.
//!
//! Label selectors see transitions: an object that stops matching is sent as `DELETED`, one
//! that starts matching as `ADDED` (for live changes, where the previous state is known;
//! a replayed change that no longer matches is sent as `DELETED`).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc, watch};

use crate::pipeline::{served_text, to_served};
use crate::resource::Resource;
use crate::selectors::Selector;
use crate::status::ApiError;
use crate::storage::{Change, EventType, StorageError, Store};
use crate::table::{Include, table};

/// How often a watch with `allowWatchBookmarks` gets a BOOKMARK.
const BOOKMARK_EVERY: Duration = Duration::from_secs(5);
/// How many encoded events a watcher buffers for its client before it stops reading.
pub const WATCHER_BUFFER: usize = 256;
/// How long a watch lasts without `timeoutSeconds`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// What to watch.
#[derive(Debug, Clone)]
pub struct WatchSpec {
    /// The resource at the version the client asked for.
    pub resource: Arc<Resource>,
    /// Namespace to restrict to, if any.
    pub namespace: Option<String>,
    /// Label and field selector.
    pub selector: Selector,
    /// Start after this resourceVersion; `None` or `Some(0)` sends the current state first.
    pub from: Option<u64>,
    /// Send BOOKMARK events.
    pub bookmarks: bool,
    /// End the stream after this long.
    pub timeout: Option<Duration>,
    /// Send each object as a one-row Table (kubectl `get -w`).
    pub table: Option<Include>,
    /// `sendInitialEvents`: send the current state whatever `from` is, then a BOOKMARK
    /// annotated `k8s.io/initial-events-end` (kube-rs streaming lists).
    pub initial_events: bool,
}

/// Starts a watch; the receiver yields encoded events and closes when the watch ends.
pub fn start(store: Arc<Store>, spec: WatchSpec, shutdown: watch::Receiver<bool>) -> mpsc::Receiver<Bytes> {
    let (tx, rx) = mpsc::channel(WATCHER_BUFFER);
    // Subscribe before anything is read, so no change falls between the snapshot and the stream.
    let live = store.subscribe();
    tokio::spawn(async move {
        let format = format!("{} {}", spec.resource.api_version(), spec.resource.kind);
        let mut watcher = Watcher { store, spec, format, tx, last: 0 };
        if let Err(error) = watcher.run(live, shutdown).await {
            let status = match error {
                StorageError::Gone { requested, oldest } => {
                    ApiError::gone(format!("too old resource version: {requested} ({oldest})"))
                }
                other => ApiError::internal(&other),
            };
            watcher.send_raw("ERROR", status.to_status()).await;
        }
    });
    rx
}

struct Watcher {
    store: Arc<Store>,
    spec: WatchSpec,
    /// The served version and kind: which shared encoding of a change this watcher sends.
    format: String,
    tx: mpsc::Sender<Bytes>,
    /// The newest resourceVersion this watcher has accounted for (sent or filtered out).
    last: u64,
}

impl Watcher {
    async fn run(
        &mut self,
        mut live: broadcast::Receiver<Arc<Change>>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(), StorageError> {
        let storage_resource = self.spec.resource.storage_resource();
        match self.spec.from {
            _ if self.spec.initial_events => {
                self.send_state(&storage_resource).await?;
                let bookmark = json!({"kind": self.spec.resource.kind, "apiVersion": self.spec.resource.api_version(),
                    "metadata": {"resourceVersion": self.last.to_string(),
                        "annotations": {"k8s.io/initial-events-end": "true"}}});
                if !self.send_raw("BOOKMARK", bookmark).await {
                    return Ok(());
                }
            }
            None | Some(0) => self.send_state(&storage_resource).await?,
            Some(rv) => {
                self.last = rv;
                self.catch_up(&storage_resource).await?;
            }
        }
        let timeout = tokio::time::sleep(self.spec.timeout.unwrap_or(DEFAULT_TIMEOUT));
        tokio::pin!(timeout);
        let mut bookmarks =
            tokio::time::interval_at(tokio::time::Instant::now() + BOOKMARK_EVERY, BOOKMARK_EVERY);
        loop {
            tokio::select! {
                received = live.recv() => match received {
                    Ok(change) => {
                        if change.rv <= self.last {
                            continue;
                        }
                        if change.key.resource == storage_resource && !self.forward(&change).await {
                            return Ok(());
                        }
                        self.last = change.rv;
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => self.catch_up(&storage_resource).await?,
                    Err(broadcast::error::RecvError::Closed) => return Ok(()),
                },
                _ = bookmarks.tick(), if self.spec.bookmarks => {
                    let bookmark = json!({"kind": self.spec.resource.kind, "apiVersion": self.spec.resource.api_version(),
                        "metadata": {"resourceVersion": self.last.to_string()}});
                    if !self.send_raw("BOOKMARK", bookmark).await {
                        return Ok(());
                    }
                }
                () = &mut timeout => return Ok(()),
                _ = shutdown.changed() => return Ok(()),
                () = self.tx.closed() => return Ok(()),
            }
        }
    }

    /// Sends the current state as ADDED events; `self.last` becomes the snapshot's version.
    async fn send_state(&mut self, storage_resource: &str) -> Result<(), StorageError> {
        let page = self.store.list(storage_resource, self.spec.namespace.as_deref())?;
        self.last = page.rv;
        for object in page.items {
            if self.spec.selector.matches(&object) && !self.send("ADDED", (*object).clone()).await {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Replays the change log after `self.last`.
    async fn catch_up(&mut self, storage_resource: &str) -> Result<(), StorageError> {
        let store = self.store.clone();
        let (resource, after) = (storage_resource.to_owned(), self.last);
        let changes = tokio::task::spawn_blocking(move || store.changes_since(&resource, after))
            .await
            .map_err(|_| StorageError::Poisoned)??;
        for change in changes {
            if !self.forward(&change).await {
                return Ok(());
            }
            self.last = change.rv;
        }
        Ok(())
    }

    /// Sends `change` if it concerns this watch; false when the client has gone.
    async fn forward(&self, change: &Change) -> bool {
        if let Some(ns) = &self.spec.namespace
            && change.key.namespace != *ns
        {
            return true;
        }
        let selector = &self.spec.selector;
        let now = selector.matches(&change.object);
        let before = change.prev.as_deref().is_some_and(|p| selector.matches(p));
        let event = match change.event {
            EventType::Added if now => "ADDED",
            EventType::Modified if now && (before || change.prev.is_none() || selector.is_empty()) => {
                "MODIFIED"
            }
            EventType::Modified if now => "ADDED",
            EventType::Modified if before => "DELETED",
            // Replayed from the log, the previous state is unknown: the object may have
            // matched before, so tell the client it is gone (deleting an unknown object is a
            // no-op for caches).
            EventType::Modified if change.prev.is_none() && !selector.is_empty() => "DELETED",
            EventType::Deleted if now => "DELETED",
            _ => return true,
        };
        if self.spec.table.is_some() {
            return self.send(event, (*change.object).clone()).await;
        }
        let resource = &self.spec.resource;
        let line = change.encoded.get_or_encode(&self.format, event, || {
            if let Some(text) = served_text(resource, &resource.api_version(), &change.object) {
                return encode_stored(event, text);
            }
            let mut object = Value::clone(&change.object);
            to_served(resource, &mut object);
            encode(event, object)
        });
        self.tx.send(line).await.is_ok()
    }

    async fn send(&self, event: &str, mut object: Value) -> bool {
        to_served(&self.spec.resource, &mut object);
        if let Some(include) = self.spec.table {
            let rv = object.pointer("/metadata/resourceVersion").cloned().unwrap_or(Value::Null);
            object = table(&self.spec.resource, &[object], include, json!({"resourceVersion": rv}));
        }
        self.send_raw(event, object).await
    }

    async fn send_raw(&self, event: &str, object: Value) -> bool {
        self.tx.send(encode(event, object)).await.is_ok()
    }
}

/// One watch event as a line of JSON, around an object's stored JSON text.
fn encode_stored(event: &str, json: &str) -> Bytes {
    let mut line = String::with_capacity(json.len() + 32);
    line.push_str("{\"type\":\"");
    line.push_str(event);
    line.push_str("\",\"object\":");
    line.push_str(json);
    line.push_str("}\n");
    Bytes::from(line)
}

/// One watch event as a line of JSON.
fn encode(event: &str, object: Value) -> Bytes {
    let mut line = json!({"type": event, "object": object}).to_string();
    line.push('\n');
    Bytes::from(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;
    use crate::storage::{ObjectKey, Write};

    fn setup() -> (tempfile::TempDir, Arc<Store>, Arc<Resource>) {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("db"), 1000).unwrap());
        let resource = Registry::with_builtins().get("", "v1", "configmaps").unwrap();
        (dir, store, resource)
    }

    fn put(store: &Store, name: &str, labels: Value) {
        let key =
            ObjectKey { resource: "/configmaps".into(), namespace: "default".into(), name: name.into() };
        let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default", "labels": labels}});
        store.mutate::<StorageError>(&key, false, |_| Ok(Write::Put(body))).unwrap();
    }

    fn spec(resource: Arc<Resource>, from: Option<u64>, labels: Option<&str>) -> WatchSpec {
        WatchSpec {
            resource,
            namespace: Some("default".into()),
            selector: Selector::parse(labels, None).unwrap(),
            from,
            bookmarks: false,
            timeout: Some(Duration::from_secs(5)),
            table: None,
            initial_events: false,
        }
    }

    async fn next(rx: &mut mpsc::Receiver<Bytes>) -> (String, Value) {
        let line = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.unwrap().unwrap();
        let event: Value = serde_json::from_slice(&line).unwrap();
        (event["type"].as_str().unwrap().to_owned(), event["object"].clone())
    }

    #[tokio::test]
    async fn initial_state_then_live_changes() {
        let (_dir, store, resource) = setup();
        put(&store, "a", json!({}));
        let (_stop, stop_rx) = watch::channel(false);
        let mut rx = start(store.clone(), spec(resource, None, None), stop_rx);
        assert_eq!(next(&mut rx).await.0, "ADDED");
        put(&store, "a", json!({"x": "1"}));
        let (kind, object) = next(&mut rx).await;
        assert_eq!((kind.as_str(), object["metadata"]["resourceVersion"].as_str()), ("MODIFIED", Some("2")));
    }

    #[tokio::test]
    async fn watchers_of_one_format_share_one_encoding() {
        let (_dir, store, resource) = setup();
        put(&store, "z", json!({}));
        let (_stop, stop_rx) = watch::channel(false);
        let mut first = start(store.clone(), spec(resource.clone(), Some(1), None), stop_rx.clone());
        let mut second = start(store.clone(), spec(resource, Some(1), None), stop_rx);
        // Once both have sent "m", both have read the log: what follows comes live.
        put(&store, "m", json!({}));
        assert_eq!(next(&mut first).await.1["metadata"]["name"], "m");
        assert_eq!(next(&mut second).await.1["metadata"]["name"], "m");
        put(&store, "a", json!({}));
        let wait = Duration::from_secs(5);
        let a = tokio::time::timeout(wait, first.recv()).await.unwrap().unwrap();
        let b = tokio::time::timeout(wait, second.recv()).await.unwrap().unwrap();
        assert_eq!(a, b);
        assert_eq!(a.as_ptr(), b.as_ptr(), "the event was encoded once per watcher, not once");
    }

    #[tokio::test]
    async fn resumes_after_a_resource_version() {
        let (_dir, store, resource) = setup();
        put(&store, "a", json!({}));
        put(&store, "b", json!({}));
        put(&store, "c", json!({}));
        let (_stop, stop_rx) = watch::channel(false);
        let mut rx = start(store.clone(), spec(resource, Some(1), None), stop_rx);
        assert_eq!(next(&mut rx).await.1["metadata"]["name"], "b");
        assert_eq!(next(&mut rx).await.1["metadata"]["name"], "c");
    }

    #[tokio::test]
    async fn selector_transitions_become_added_and_deleted() {
        let (_dir, store, resource) = setup();
        put(&store, "a", json!({"app": "web"}));
        let (_stop, stop_rx) = watch::channel(false);
        let mut rx = start(store.clone(), spec(resource, Some(1), Some("app=web")), stop_rx);
        put(&store, "a", json!({"app": "db"}));
        assert_eq!(next(&mut rx).await.0, "DELETED");
        put(&store, "a", json!({"app": "web"}));
        assert_eq!(next(&mut rx).await.0, "ADDED");
    }

    #[tokio::test]
    async fn a_lagging_watcher_catches_up_from_sqlite_without_gaps() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open_with_buffer(&dir.path().join("db"), 10_000, 4).unwrap());
        let resource = Registry::with_builtins().get("", "v1", "configmaps").unwrap();
        put(&store, "first", json!({}));
        let (_stop, stop_rx) = watch::channel(false);
        let mut rx = start(store.clone(), spec(resource, Some(1), None), stop_rx);
        // Nobody reads: the 256-event channel fills, then the 4-slot broadcast overflows.
        for i in 0..400 {
            put(&store, &format!("cm-{i}"), json!({}));
        }
        for expected in 2..=401u64 {
            let (kind, object) = next(&mut rx).await;
            assert_eq!(kind, "ADDED");
            assert_eq!(object["metadata"]["resourceVersion"], expected.to_string());
        }
    }

    #[tokio::test]
    async fn bookmarks_carry_the_latest_version_and_timeouts_end_the_stream() {
        let (_dir, store, resource) = setup();
        put(&store, "a", json!({}));
        let (_stop, stop_rx) = watch::channel(false);
        let mut with_bookmarks = spec(resource.clone(), Some(1), None);
        with_bookmarks.bookmarks = true;
        with_bookmarks.timeout = Some(Duration::from_secs(8));
        let mut rx = start(store.clone(), with_bookmarks, stop_rx.clone());
        put(&store, "b", json!({}));
        assert_eq!(next(&mut rx).await.0, "ADDED");
        let (kind, object) = tokio::time::timeout(Duration::from_secs(7), async {
            loop {
                let line = rx.recv().await.unwrap();
                let event: Value = serde_json::from_slice(&line).unwrap();
                if event["type"] == "BOOKMARK" {
                    return ("BOOKMARK".to_owned(), event["object"].clone());
                }
            }
        })
        .await
        .unwrap();
        assert_eq!((kind.as_str(), object["metadata"]["resourceVersion"].as_str()), ("BOOKMARK", Some("2")));

        let mut short = spec(resource, Some(2), None);
        short.timeout = Some(Duration::from_millis(300));
        let mut rx = start(store, short, stop_rx);
        assert!(tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn expired_resource_version_is_410() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("db"), 10).unwrap());
        let resource = Registry::with_builtins().get("", "v1", "configmaps").unwrap();
        for _ in 0..200 {
            put(&store, "a", json!({}));
        }
        let (_stop, stop_rx) = watch::channel(false);
        let mut rx = start(store.clone(), spec(resource, Some(1), None), stop_rx);
        let (kind, status) = next(&mut rx).await;
        assert_eq!(
            (kind.as_str(), status["code"].as_i64(), status["reason"].as_str()),
            ("ERROR", Some(410), Some("Expired"))
        );
        assert!(rx.recv().await.is_none());
    }
}
