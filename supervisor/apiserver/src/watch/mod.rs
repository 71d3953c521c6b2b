//! Watch streams: replay from the change log, then follow live changes.
//!
//! In: a [`WatchSpec`] (resource, namespace, selector, starting resourceVersion, bookmarks,
//! timeout). Out: a stream of newline-delimited JSON watch events (`{"type": ...,
//! "object": ...}`), several lines to a chunk when several are waiting ([`batch`]).
//!
//! Order of operations, which is what makes resume exact: subscribe to live changes first,
//! then send the initial state (no resourceVersion: synthetic `ADDED` for every object) or
//! replay the log after the given resourceVersion, then forward live changes newer than the
//! last one sent. A subscriber that falls behind the broadcast buffer catches up from
//! SQLite. A resourceVersion older than the log keeps yields one `ERROR` event with a 410
//! `Expired` Status, and the stream ends: clients relist, as against a real server.
//!
//! The stream is the watcher: there is no task per watch and no channel between it and the
//! connection. The connection polls the stream when it can send, and only then does the
//! watcher read the broadcast, filter and encode; a change reaches a client with one task
//! wake-up (the connection's), not two.
//!
//! Fan-out: each change is encoded once per format (served version and event type) and
//! the bytes are shared by every watcher that wants that format ([`Change::encoded`]).
//! Buffers are bounded: a watcher holds at most one batch ([`batch::MAX_BATCH_BYTES`],
//! beyond which only a single large object goes) besides what its connection buffers
//! (hyper takes no more body while its write buffer is full). When the client does not
//! read, the stream is not polled, the watcher falls out of the shared broadcast buffer
//! and later catches up from the change log, one page of the log at most; a client so
//! slow that the log has moved past it gets the 410 `Expired` error above and relists.
//! Memory never grows with a slow client.
//!
//! Label selectors see transitions: an object that stops matching is sent as `DELETED`, one
//! that starts matching as `ADDED` (for live changes, where the previous state is known;
//! a replayed change that no longer matches is sent as `DELETED`).

mod batch;

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use serde_json::{Value, json};
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};
use tokio::sync::watch;
use tokio::time::Sleep;

use self::batch::Batch;
use crate::pipeline::{served_text, to_served};
use crate::resource::Resource;
use crate::selectors::Selector;
use crate::status::ApiError;
use crate::storage::{Change, EventType, StorageError, Store, Stored};
use crate::table::{Include, table};

/// How often a watch with `allowWatchBookmarks` gets a BOOKMARK.
const BOOKMARK_EVERY: Duration = Duration::from_secs(5);
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

/// A watch's events: chunks of whole JSON lines; the stream ends when the watch does.
pub type Events = BoxStream<'static, Bytes>;

/// Starts a watch. Nothing is read or sent until the stream is first polled, but the
/// subscription to live changes is taken now, so no change is missed in between.
pub fn start(store: Arc<Store>, spec: WatchSpec, shutdown: watch::Receiver<bool>) -> Events {
    // Subscribe before anything is read, so no change falls between the snapshot and the stream.
    let live = store.subscribe();
    let format = format!("{} {}", spec.resource.api_version(), spec.resource.kind);
    let storage_resource = spec.resource.storage_resource();
    let stopping = shutdown.clone();
    let mut shutdown = shutdown;
    let watcher = Watcher {
        store,
        spec,
        format,
        storage_resource,
        live,
        backlog: VecDeque::new(),
        last: 0,
        started: false,
        lagged: false,
        ended: false,
        timers: None,
        stopping,
        // Made once and kept, so waiting for shutdown does not register anew for each event.
        shutdown: Box::pin(async move {
            let _ = shutdown.wait_for(|stopped| *stopped).await;
        }),
    };
    futures::stream::unfold(watcher, |mut watcher| async move {
        let chunk = watcher.next_chunk().await?;
        Some((chunk, watcher))
    })
    .boxed()
}

/// Something read from the store and not yet sent.
enum Backlog {
    /// An object of the initial state, to send as `ADDED` if it matches.
    Object(Arc<Stored>),
    /// A change replayed from the log.
    Change(Arc<Change>),
    /// An event already encoded (the BOOKMARK closing the initial events).
    Line(Bytes),
}

/// The timers of a watch that has sent its initial state or replay.
struct Timers {
    timeout: Pin<Box<Sleep>>,
    bookmark: Pin<Box<Sleep>>,
}

struct Watcher {
    store: Arc<Store>,
    spec: WatchSpec,
    /// The served version and kind: which shared encoding of a change this watcher sends.
    format: String,
    storage_resource: String,
    live: broadcast::Receiver<Arc<Change>>,
    /// Read from the store, not yet sent, oldest first.
    backlog: VecDeque<Backlog>,
    /// The newest resourceVersion this watcher has accounted for (sent, queued in the
    /// backlog, or filtered out).
    last: u64,
    started: bool,
    /// The broadcast dropped changes for this watcher: catch up from the log next.
    lagged: bool,
    /// An ERROR was sent: nothing follows.
    ended: bool,
    timers: Option<Timers>,
    /// The shutdown flag, read without waiting.
    stopping: watch::Receiver<bool>,
    /// Completes when the server shuts down.
    shutdown: Pin<Box<dyn Future<Output = ()> + Send>>,
}

/// What woke a waiting watcher.
enum Woken {
    Live(Result<Arc<Change>, RecvError>),
    Bookmark,
    End,
}

impl Watcher {
    /// The next chunk to send, waiting for one; `None` when the watch is over.
    async fn next_chunk(&mut self) -> Option<Bytes> {
        if self.ended {
            return None;
        }
        if !self.started {
            self.started = true;
            if let Err(error) = self.read_start().await {
                return Some(self.fail(error));
            }
        }
        loop {
            let mut batch = Batch::default();
            self.drain_backlog(&mut batch);
            if let Some(chunk) = batch.into_bytes() {
                return Some(chunk);
            }
            if self.lagged {
                self.lagged = false;
                if let Err(error) = self.catch_up().await {
                    return Some(self.fail(error));
                }
                continue;
            }
            let bookmarks = self.spec.bookmarks;
            let timers = self.timers.get_or_insert_with(|| Timers {
                timeout: Box::pin(tokio::time::sleep(self.spec.timeout.unwrap_or(DEFAULT_TIMEOUT))),
                bookmark: Box::pin(tokio::time::sleep(BOOKMARK_EVERY)),
            });
            // Checked without waiting too: the wait below looks at live changes first, and
            // a store that never stops changing must not keep a watch past its end.
            if timers.timeout.is_elapsed() || *self.stopping.borrow() {
                return None;
            }
            let woken = if bookmarks && timers.bookmark.is_elapsed() {
                Woken::Bookmark
            } else {
                tokio::select! {
                    biased;
                    received = self.live.recv() => Woken::Live(received),
                    () = &mut timers.bookmark, if bookmarks => Woken::Bookmark,
                    () = &mut timers.timeout => Woken::End,
                    () = &mut self.shutdown => Woken::End,
                }
            };
            match woken {
                Woken::Live(Ok(change)) => {
                    let mut batch = Batch::default();
                    self.take_live(&change, &mut batch);
                    self.take_waiting(&mut batch);
                    if let Some(chunk) = batch.into_bytes() {
                        return Some(chunk);
                    }
                }
                Woken::Live(Err(RecvError::Lagged(_))) => self.lagged = true,
                Woken::Live(Err(RecvError::Closed)) | Woken::End => return None,
                Woken::Bookmark => {
                    let deadline = tokio::time::Instant::now() + BOOKMARK_EVERY;
                    if let Some(timers) = &mut self.timers {
                        timers.bookmark.as_mut().reset(deadline);
                    }
                    return Some(self.bookmark(false));
                }
            }
        }
    }

    /// A BOOKMARK at the newest resourceVersion this watcher has accounted for; with
    /// `initial_events_end`, the one that closes the initial events of `sendInitialEvents`.
    fn bookmark(&self, initial_events_end: bool) -> Bytes {
        let mut metadata = json!({"resourceVersion": self.last.to_string()});
        if initial_events_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let resource = &self.spec.resource;
        encode(
            "BOOKMARK",
            json!({"kind": resource.kind, "apiVersion": resource.api_version(), "metadata": metadata}),
        )
    }

    /// Reads what goes before live changes: the current state, or the log after `from`.
    async fn read_start(&mut self) -> Result<(), StorageError> {
        match self.spec.from {
            _ if self.spec.initial_events => {
                self.read_state()?;
                self.backlog.push_back(Backlog::Line(self.bookmark(true)));
                Ok(())
            }
            None | Some(0) => self.read_state(),
            Some(rv) => {
                self.last = rv;
                self.catch_up().await
            }
        }
    }

    /// Queues the current state as ADDED events; `self.last` becomes the snapshot's version.
    fn read_state(&mut self) -> Result<(), StorageError> {
        let page = self.store.list(&self.storage_resource, self.spec.namespace.as_deref())?;
        self.last = page.rv;
        self.backlog.extend(page.items.into_iter().map(Backlog::Object));
        Ok(())
    }

    /// Queues the change log after `self.last`; `self.last` becomes the newest change's version.
    async fn catch_up(&mut self) -> Result<(), StorageError> {
        let store = self.store.clone();
        let (resource, after) = (self.storage_resource.clone(), self.last);
        let changes = tokio::task::spawn_blocking(move || store.changes_since(&resource, after))
            .await
            .map_err(|_| StorageError::Poisoned)??;
        if let Some(newest) = changes.last() {
            self.last = newest.rv;
        }
        self.backlog.extend(changes.into_iter().map(Backlog::Change));
        Ok(())
    }

    /// Moves backlog events into `batch` until it is full or the backlog is empty.
    fn drain_backlog(&mut self, batch: &mut Batch) {
        while !batch.is_full() {
            let Some(next) = self.backlog.pop_front() else { return };
            let line = match next {
                Backlog::Object(object) if self.spec.selector.matches(&object) => {
                    Some(self.encode_object("ADDED", &object))
                }
                Backlog::Object(_) => None,
                Backlog::Change(change) => self.forward(&change),
                Backlog::Line(line) => Some(line),
            };
            if let Some(line) = line {
                batch.push(line);
            }
        }
    }

    /// Adds the live changes already waiting in the broadcast to `batch`, until it is full.
    fn take_waiting(&mut self, batch: &mut Batch) {
        while !batch.is_full() {
            match self.live.try_recv() {
                Ok(change) => self.take_live(&change, batch),
                Err(TryRecvError::Lagged(_)) => {
                    self.lagged = true;
                    return;
                }
                // Closed: the next wait sees it and ends the stream.
                Err(TryRecvError::Empty | TryRecvError::Closed) => return,
            }
        }
    }

    /// Adds a live change to `batch` if it is new to this watcher and concerns it.
    fn take_live(&mut self, change: &Change, batch: &mut Batch) {
        if change.rv <= self.last {
            return;
        }
        if change.key.resource == self.storage_resource
            && let Some(line) = self.forward(change)
        {
            batch.push(line);
        }
        self.last = change.rv;
    }

    /// The event `change` makes for this watch, if it concerns it.
    fn forward(&self, change: &Change) -> Option<Bytes> {
        if let Some(ns) = &self.spec.namespace
            && change.key.namespace != *ns
        {
            return None;
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
            _ => return None,
        };
        if self.spec.table.is_some() {
            return Some(self.encode_object(event, &change.object));
        }
        Some(change.encoded.get_or_encode(&self.format, event, || self.encode_object(event, &change.object)))
    }

    /// One event for `object` in this watch's format (served version, Table or not).
    fn encode_object(&self, event: &str, object: &Stored) -> Bytes {
        let resource = &self.spec.resource;
        if self.spec.table.is_none()
            && let Some(text) = served_text(resource, &resource.api_version(), object)
        {
            return encode_stored(event, text);
        }
        let mut object = Value::clone(object);
        to_served(resource, &mut object);
        if let Some(include) = self.spec.table {
            let rv = object.pointer("/metadata/resourceVersion").cloned().unwrap_or(Value::Null);
            object = table(resource, &[object], include, json!({"resourceVersion": rv}));
        }
        encode(event, object)
    }

    /// The ERROR event for `error`; the watch ends after it.
    fn fail(&mut self, error: StorageError) -> Bytes {
        self.ended = true;
        let status = match error {
            StorageError::Gone { requested, oldest } => {
                ApiError::gone(format!("too old resource version: {requested} ({oldest})"))
            }
            other => ApiError::internal(&other),
        };
        encode("ERROR", status.to_status())
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
        setup_with(1000, crate::storage::BROADCAST_CAPACITY)
    }

    /// A store keeping `window` changes in its log and `buffer` per live subscriber, and the
    /// ConfigMap resource.
    fn setup_with(window: u64, buffer: usize) -> (tempfile::TempDir, Arc<Store>, Arc<Resource>) {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open_with_buffer(&dir.path().join("db"), window, buffer).unwrap());
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

    /// A watch's events line by line, whatever chunks they came in.
    struct Lines {
        events: Events,
        pending: VecDeque<Bytes>,
    }

    impl Lines {
        fn start(store: Arc<Store>, spec: WatchSpec, stop: watch::Receiver<bool>) -> Lines {
            Lines { events: start(store, spec, stop), pending: VecDeque::new() }
        }

        /// The next line; `None` when the stream has ended. Fails after 5 s without one.
        async fn recv(&mut self) -> Option<Bytes> {
            while self.pending.is_empty() {
                let chunk =
                    tokio::time::timeout(Duration::from_secs(5), self.events.next()).await.unwrap()?;
                self.pending.extend(split_lines(&chunk));
            }
            self.pending.pop_front()
        }

        /// The next whole chunk, unsplit (the lines of one chunk must not have been read).
        async fn chunk(&mut self) -> Bytes {
            assert!(self.pending.is_empty());
            tokio::time::timeout(Duration::from_secs(5), self.events.next()).await.unwrap().unwrap()
        }
    }

    fn split_lines(chunk: &Bytes) -> Vec<Bytes> {
        assert!(chunk.ends_with(b"\n"), "a chunk holds whole lines");
        let mut lines = Vec::new();
        let mut start = 0;
        for (at, _) in chunk.iter().enumerate().filter(|(_, b)| **b == b'\n') {
            lines.push(chunk.slice(start..=at));
            start = at + 1;
        }
        lines
    }

    async fn next(rx: &mut Lines) -> (String, Value) {
        let line = rx.recv().await.unwrap();
        let event: Value = serde_json::from_slice(&line).unwrap();
        (event["type"].as_str().unwrap().to_owned(), event["object"].clone())
    }

    /// The watch ends with one `ERROR` event carrying a 410 `Expired` Status.
    async fn expect_expired_then_end(rx: &mut Lines) {
        let (kind, status) = next(rx).await;
        assert_eq!(
            (kind.as_str(), status["code"].as_i64(), status["reason"].as_str()),
            ("ERROR", Some(410), Some("Expired"))
        );
        assert!(rx.recv().await.is_none());
    }

    #[tokio::test]
    async fn initial_state_then_live_changes() {
        let (_dir, store, resource) = setup();
        put(&store, "a", json!({}));
        let (_stop, stop_rx) = watch::channel(false);
        let mut rx = Lines::start(store.clone(), spec(resource, None, None), stop_rx);
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
        let mut first = Lines::start(store.clone(), spec(resource.clone(), Some(1), None), stop_rx.clone());
        let mut second = Lines::start(store.clone(), spec(resource, Some(1), None), stop_rx);
        // Once both have sent "m", both have read the log: what follows comes live.
        put(&store, "m", json!({}));
        assert_eq!(next(&mut first).await.1["metadata"]["name"], "m");
        assert_eq!(next(&mut second).await.1["metadata"]["name"], "m");
        put(&store, "a", json!({}));
        let a = first.chunk().await;
        let b = second.chunk().await;
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
        let mut rx = Lines::start(store.clone(), spec(resource, Some(1), None), stop_rx);
        assert_eq!(next(&mut rx).await.1["metadata"]["name"], "b");
        assert_eq!(next(&mut rx).await.1["metadata"]["name"], "c");
    }

    #[tokio::test]
    async fn selector_transitions_become_added_and_deleted() {
        let (_dir, store, resource) = setup();
        put(&store, "a", json!({"app": "web"}));
        let (_stop, stop_rx) = watch::channel(false);
        let mut rx = Lines::start(store.clone(), spec(resource, Some(1), Some("app=web")), stop_rx);
        put(&store, "a", json!({"app": "db"}));
        assert_eq!(next(&mut rx).await.0, "DELETED");
        put(&store, "a", json!({"app": "web"}));
        assert_eq!(next(&mut rx).await.0, "ADDED");
    }

    #[tokio::test]
    async fn a_lagging_watcher_catches_up_from_sqlite_without_gaps() {
        let (_dir, store, resource) = setup_with(10_000, 4);
        put(&store, "first", json!({}));
        let (_stop, stop_rx) = watch::channel(false);
        let mut rx = Lines::start(store.clone(), spec(resource, Some(1), None), stop_rx);
        // Nobody reads: the 4-slot broadcast overflows.
        for i in 0..400 {
            put(&store, &format!("cm-{i}"), json!({}));
        }
        for expected in 2..=401u64 {
            let (kind, object) = next(&mut rx).await;
            assert_eq!(kind, "ADDED");
            assert_eq!(object["metadata"]["resourceVersion"], expected.to_string());
        }
    }

    /// A watcher from resourceVersion 1 that has read the change after it, so it has read
    /// the log and takes live changes; and the sender that keeps it from shutting down.
    async fn past_the_log(store: &Arc<Store>, resource: Arc<Resource>) -> (watch::Sender<bool>, Lines) {
        put(store, "first", json!({}));
        let (stop, stop_rx) = watch::channel(false);
        let mut rx = Lines::start(store.clone(), spec(resource, Some(1), None), stop_rx);
        put(store, "second", json!({}));
        assert_eq!(next(&mut rx).await.1["metadata"]["name"], "second");
        (stop, rx)
    }

    #[tokio::test]
    async fn changes_waiting_for_a_client_go_in_one_chunk_in_commit_order() {
        let (_dir, store, resource) = setup();
        let (_stop, mut rx) = past_the_log(&store, resource).await;
        // The client reads nothing while five changes are committed: they wait in the
        // broadcast and leave together, oldest first.
        for i in 0..5 {
            put(&store, &format!("cm-{i}"), json!({"i": i.to_string()}));
        }
        let chunk = rx.chunk().await;
        let lines = split_lines(&chunk);
        assert_eq!(lines.len(), 5, "one chunk for the changes already waiting");
        let versions: Vec<String> = lines
            .iter()
            .map(|line| serde_json::from_slice::<Value>(line).unwrap())
            .map(|event| event["object"]["metadata"]["resourceVersion"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(versions, ["3", "4", "5", "6", "7"]);
    }

    #[tokio::test]
    async fn a_watcher_left_behind_by_the_log_gets_410_and_ends() {
        let (_dir, store, resource) = setup_with(10, 4);
        let (_stop, mut rx) = past_the_log(&store, resource).await;
        // The client stops reading: the broadcast overflows and the log is compacted past it.
        for _ in 0..200 {
            put(&store, "second", json!({}));
        }
        expect_expired_then_end(&mut rx).await;
    }

    #[tokio::test]
    async fn bookmarks_carry_the_latest_version_and_timeouts_end_the_stream() {
        let (_dir, store, resource) = setup();
        put(&store, "a", json!({}));
        let (_stop, stop_rx) = watch::channel(false);
        let mut with_bookmarks = spec(resource.clone(), Some(1), None);
        with_bookmarks.bookmarks = true;
        with_bookmarks.timeout = Some(Duration::from_secs(8));
        let mut rx = Lines::start(store.clone(), with_bookmarks, stop_rx.clone());
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
        // The next one is BOOKMARK_EVERY later, not at once.
        let quiet = tokio::time::timeout(Duration::from_secs(1), rx.events.next()).await;
        assert!(quiet.is_err(), "a second BOOKMARK followed at once");

        let mut short = spec(resource, Some(2), None);
        short.timeout = Some(Duration::from_millis(300));
        let mut rx = Lines::start(store, short, stop_rx);
        assert!(tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn expired_resource_version_is_410() {
        let (_dir, store, resource) = setup_with(10, crate::storage::BROADCAST_CAPACITY);
        for _ in 0..200 {
            put(&store, "a", json!({}));
        }
        let (_stop, stop_rx) = watch::channel(false);
        let mut rx = Lines::start(store.clone(), spec(resource, Some(1), None), stop_rx);
        expect_expired_then_end(&mut rx).await;
    }
}
