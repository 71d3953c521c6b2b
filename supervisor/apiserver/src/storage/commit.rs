//! Group commit: one thread per store commits whatever writers have queued, in one SQLite
//! transaction and one fsync, then makes it visible and tells the writers.
//!
//! The batching window is the previous commit: writes queued while one fsync runs go into
//! the next, at most [`MAX_BATCH`] at a time. A writer never commits itself; it queues its
//! decided write, wakes the committer and waits on its [`Durable`] (a task awaits it, a
//! blocking caller blocks on it), so no thread is handed a request just to wait on a disk.
//!
//! After a commit, under the state lock and in resourceVersion order: the cache takes the
//! objects, the changes are broadcast (watch order is commit order), then the writers of
//! the batch are answered. A failed commit fails every queued write (later ones may have
//! been decided on top of it) and the resourceVersion counter goes back to the last durable
//! one, so no version is handed out twice.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use rusqlite::{Connection, params};
// futures' one-shot, not tokio's: tokio's counts against the task budget of whatever
// runtime the thread is in, so a blocking wait inside one would spin once it ran out.
use futures::channel::oneshot;
use tokio::sync::broadcast;

use super::checkpoint::WalPages;
use super::{Change, Encodings, EventType, ObjectKey, Objects, StorageError, Stored};

/// The most writes one commit holds; more wait for the next one.
pub const MAX_BATCH: usize = 256;

/// Whether a write became durable, or the error of the commit that dropped it.
type Committed = Result<(), Arc<StorageError>>;

/// Resolved once the write (or the queued write an answer rests on) is durable, or with the
/// error of the commit that dropped it.
pub(super) type Durable = oneshot::Receiver<Committed>;

/// A write decided and numbered but not yet durable.
pub(super) struct Pending {
    pub rv: u64,
    pub event: EventType,
    pub key: ObjectKey,
    pub object: Arc<Stored>,
    pub prev: Option<Arc<Stored>>,
}

/// Everything behind the state lock: the cache and the group-commit queue.
pub(super) struct State {
    /// Committed objects per resource: the cache every read is served from.
    pub objects: std::collections::HashMap<String, Objects>,
    /// The newest state of each key written by a queued (not yet durable) write, with its
    /// resourceVersion; `None` for a queued delete. Writers read through it, readers do not.
    pub overlay: std::collections::HashMap<ObjectKey, (u64, Option<Arc<Stored>>)>,
    /// Decided writes no commit has taken yet, in resourceVersion order.
    pub queue: VecDeque<Pending>,
    /// Who waits for which resourceVersion to be durable, in resourceVersion order.
    pub waiters: VecDeque<(u64, oneshot::Sender<Committed>)>,
    /// The last resourceVersion handed out (queued or committed).
    pub assigned: u64,
    /// The last durable resourceVersion; the cache is at this version.
    pub committed: u64,
    /// The oldest resourceVersion a watch may resume from.
    pub compacted: u64,
    /// Set when the store is dropped: the committer commits what is queued and ends.
    pub closing: bool,
}

impl State {
    /// A [`Durable`] for the write at `rv` (already queued).
    pub(super) fn durable(&mut self, rv: u64) -> Durable {
        let (tx, rx) = oneshot::channel();
        self.waiters.push_back((rv, tx));
        rx
    }
}

/// What writers, readers and the committer thread share.
pub(super) struct Shared {
    pub state: Mutex<State>,
    /// Signalled when a write is queued or the store closes: wakes the committer.
    pub queued: Condvar,
    /// The connection; only the committer, a change-log read and `open` use it.
    pub conn: Mutex<Connection>,
    /// How full the WAL is: the committer checkpoints it between commits.
    pub wal: WalPages,
    pub events: broadcast::Sender<Arc<Change>>,
    /// How many changes the log keeps.
    pub window: u64,
    /// Commits made since open (each one fsync).
    pub commits: AtomicU64,
    /// Extra time (ns) a commit holds the connection after its fsync (a slow disk, in tests).
    pub commit_delay_ns: AtomicU64,
}

impl Shared {
    /// The committer thread: commits queued writes until the store closes, and checkpoints
    /// the WAL between commits.
    pub(super) fn run_committer(&self) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if self.wal.due(!state.queue.is_empty()) {
                drop(state);
                self.wal.checkpoint(&self.conn.lock().unwrap_or_else(PoisonError::into_inner));
                state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            } else if !state.queue.is_empty() {
                state = self.commit_queued(state);
            } else if state.closing {
                return;
            } else {
                state = self.queued.wait(state).unwrap_or_else(PoisonError::into_inner);
            }
        }
    }

    /// Commits up to [`MAX_BATCH`] queued writes in one transaction (one fsync), without
    /// holding the state lock meanwhile; then updates the cache, broadcasts the changes in
    /// order and answers the writers.
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
        drop(state);
        let written = match self.conn.lock() {
            Ok(mut conn) => {
                let written = write_batch(&mut conn, &batch, last, compact_to);
                let delay = self.commit_delay_ns.load(Ordering::Relaxed);
                if delay > 0 {
                    std::thread::sleep(std::time::Duration::from_nanos(delay));
                }
                written
            }
            Err(_) => Err(StorageError::Poisoned),
        };
        // The commit protocol must go on even if a decide closure panicked meanwhile.
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
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
                while state.waiters.front().is_some_and(|(rv, _)| *rv <= state.committed) {
                    if let Some((_, waiter)) = state.waiters.pop_front() {
                        // A writer that stopped waiting (its client went away) is fine.
                        let _ = waiter.send(Ok(()));
                    }
                }
            }
            Err(error) => {
                tracing::error!(%error, first, last, "committing a batch of writes failed");
                let error = Arc::new(error);
                state.queue.clear();
                state.overlay.clear();
                state.assigned = state.committed;
                for (_, waiter) in state.waiters.drain(..) {
                    let _ = waiter.send(Err(error.clone()));
                }
            }
        }
        state
    }
}

/// Waits for `durable` on this thread (blocking callers: the collector, start-up).
pub(super) fn wait_blocking(durable: Durable) -> Result<(), StorageError> {
    settled(futures::executor::block_on(durable))
}

/// Waits for `durable` (request handlers).
pub(super) async fn wait(durable: Durable) -> Result<(), StorageError> {
    settled(durable.await)
}

fn settled(received: Result<Committed, oneshot::Canceled>) -> Result<(), StorageError> {
    match received {
        Ok(Ok(())) => Ok(()),
        Ok(Err(source)) => Err(StorageError::Commit { source }),
        // The committer is gone without answering: the store was dropped mid-write.
        Err(_) => Err(StorageError::Poisoned),
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
                .execute(params![key.resource, key.namespace, key.name, db_rv(write.rv), write.object.json()])?;
            }
        }
        tx.prepare_cached(
            "INSERT INTO changes (rv, resource, namespace, name, event, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![db_rv(write.rv), key.resource, key.namespace, key.name, write.event.as_str(), write.object.json()])?;
    }
    tx.prepare_cached("UPDATE meta SET value = ?1 WHERE key = 'rv'")?.execute([db_rv(last)])?;
    if let Some(to) = compact_to {
        tx.execute("DELETE FROM changes WHERE rv <= ?1", [db_rv(to)])?;
        tx.execute("UPDATE meta SET value = ?1 WHERE key = 'compacted'", [db_rv(to)])?;
    }
    tx.commit()?;
    Ok(())
}
