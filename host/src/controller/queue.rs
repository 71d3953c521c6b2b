//! The work queue between watch events and the dispatcher.
//!
//! In: keys (one per object) with the [`Reason`] they were queued for, ready
//! now ([`WorkQueue::add`]) or after a delay ([`WorkQueue::add_after`]). Out:
//! [`Work`] for the dispatcher ([`WorkQueue::next`]); the outcome comes back
//! through [`WorkQueue::done`] and decides when the key runs again.
//!
//! The invariants are those of client-go's workqueue, which controller-runtime
//! users rely on:
//! - a key is queued at most once: adds while it waits merge their reasons,
//!   so 100 updates to one object give one reconcile, not 100;
//! - never two reconciles of one key at once: a key added while in flight is
//!   marked dirty and queued again as soon as it is done;
//! - at most `concurrency` keys in flight (the plugin's concurrency limit);
//! - ready keys come out in the order they became ready;
//! - a failure backs off exponentially with jitter, a success resets the
//!   count, and the plugin's requeue-after is honoured; when another deadline
//!   is already pending, the earlier one wins.
//!
//! Each key's state is idle (not stored at all), queued (ready, or waiting
//! for its time) or in flight (possibly dirty, possibly with a pending
//! deadline). Ready and waiting keys share one timeline ordered by the time
//! they are due, so a waiting key that came due before a fresh add still
//! leaves first.
//!
//! Why our own and not kube-runtime's: its `scheduler` delays and dedups but
//! keeps one message per key, and per-key exclusion with re-run of changed
//! keys lives in the private runner inside `Controller`, which wants typed
//! `Resource`s and leaves the failure count to the error policy. The plugin
//! model needs the merged reasons (for the reconcile span, never for the
//! plugin), a failure count kept per key by the queue, `forget` when an
//! object goes or a plugin is removed, and the depth and in-flight figures
//! as metrics.
//!
//! Implementation: one mutex over the state, never held across an `.await`,
//! and a [`Notify`] that wakes every waiting `next` when something it waits
//! for may have changed; a waiter whose earliest key is not yet due sleeps
//! until then on tokio's clock, so `tokio::time::pause()` drives it in tests.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// Settings of one [`WorkQueue`].
#[derive(Debug, Clone)]
pub struct QueueConfig {
    /// How many keys may be in flight at once; 0 is taken as 1.
    pub concurrency: usize,
    /// Retry delays after a failed reconcile.
    pub backoff: Backoff,
    /// Seed of the jitter RNG, so a test sees the same delays on every run;
    /// `None` seeds it from entropy.
    pub seed: Option<u64>,
}

impl Default for QueueConfig {
    /// One key at a time, as controller-runtime's `MaxConcurrentReconciles`.
    fn default() -> Self {
        QueueConfig { concurrency: 1, backoff: Backoff::default(), seed: None }
    }
}

/// Exponential backoff: the n-th consecutive failure waits up to
/// `base·2^(n−1)`, never more than `max`.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// The ceiling after the first failure.
    pub base: Duration,
    /// The ceiling however many failures there were.
    pub max: Duration,
}

impl Default for Backoff {
    /// 200 ms doubling up to 5 minutes: a transient error is retried almost at
    /// once, a broken object costs one attempt every few minutes.
    fn default() -> Self {
        Backoff { base: Duration::from_millis(200), max: Duration::from_secs(300) }
    }
}

impl Backoff {
    /// The longest delay after `failures` consecutive failures (counting from
    /// 1): `min(max, base·2^(failures−1))`, without overflow.
    pub fn ceiling(&self, failures: u32) -> Duration {
        1u32.checked_shl(failures.saturating_sub(1))
            .and_then(|factor| self.base.checked_mul(factor))
            .map_or(self.max, |d| d.min(self.max))
    }

    /// A delay between half the ceiling and the ceiling, uniformly, so keys
    /// that failed together (an API server outage) do not retry together.
    fn delay(&self, failures: u32, rng: &mut fastrand::Rng) -> Duration {
        let ceiling = self.ceiling(failures);
        let half = ceiling / 2;
        let spread = u64::try_from((ceiling - half).as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(rng.u64(0..=spread))
    }
}

/// Why a key was queued. Logged on the reconcile's span and kept by the
/// flight recorder, never given to the plugin: reconcilers stay level-based.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case", tag = "trigger")]
pub enum Reason {
    /// The plugin's controller started and listed what it watches (host
    /// start, a new plugin, or a watch set that changed).
    Started,
    /// This replica became the leader and started its controllers.
    LeaderElected,
    /// The watched object was created, updated or deleted.
    ObjectChanged,
    /// An object it owns changed.
    OwnedChanged {
        /// The owned object's reference, as displayed.
        owned: String,
    },
    /// A related object changed (a `[[related]]` entry of the manifest).
    RelatedChanged {
        /// The related object's reference, as displayed.
        related: String,
    },
    /// The plugin asked to be called again after a delay.
    Requeue {
        /// The delay it asked for.
        #[serde(with = "wasmvisor_manifest::limits::duration")]
        after: Duration,
    },
    /// A retry after an error.
    Backoff {
        /// Consecutive failures so far.
        failures: u32,
    },
    /// The periodic resync.
    Resync,
    /// A plugin version was loaded.
    PluginChanged {
        /// `name@version`.
        plugin: String,
    },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Started => f.write_str("controller started"),
            Reason::LeaderElected => f.write_str("leader elected"),
            Reason::ObjectChanged => f.write_str("object changed"),
            Reason::OwnedChanged { owned } => write!(f, "owned {owned} changed"),
            Reason::RelatedChanged { related } => write!(f, "related {related} changed"),
            Reason::Requeue { after } => write!(f, "requeue after {}", humantime::format_duration(*after)),
            Reason::Backoff { failures: 1 } => f.write_str("retry after 1 failure"),
            Reason::Backoff { failures } => write!(f, "retry after {failures} failures"),
            Reason::Resync => f.write_str("resync"),
            Reason::PluginChanged { plugin } => write!(f, "plugin {plugin} loaded"),
        }
    }
}

/// The merged reasons of one key: deduplicated, in first-seen order, the
/// first [`Reasons::CAP`] kept and the rest only counted.
///
/// The count of the rest includes repeats: remembering the reasons that did
/// not fit, to deduplicate them, is the memory the cap is there to save (a
/// key that owns 10k objects would otherwise carry 10k reasons).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reasons {
    kept: Vec<Reason>,
    more: usize,
}

impl Reasons {
    /// How many reasons are kept.
    pub const CAP: usize = 8;

    /// Adds `reason` unless it is already there.
    pub fn push(&mut self, reason: Reason) {
        if self.kept.contains(&reason) {
            return;
        }
        if self.kept.len() < Self::CAP {
            self.kept.push(reason);
        } else {
            self.more += 1;
        }
    }

    /// The kept reasons, first seen first.
    pub fn iter(&self) -> std::slice::Iter<'_, Reason> {
        self.kept.iter()
    }

    /// How many reasons arrived after the cap was reached.
    pub fn more(&self) -> usize {
        self.more
    }

    /// Whether there is no reason at all.
    pub fn is_empty(&self) -> bool {
        self.kept.is_empty()
    }
}

impl fmt::Display for Reasons {
    /// `object changed, requeue after 30s (+3 more)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, reason) in self.kept.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{reason}")?;
        }
        if self.more > 0 {
            write!(f, " (+{} more)", self.more)?;
        }
        Ok(())
    }
}

/// One key handed to the dispatcher. Give it back with [`WorkQueue::done`].
#[derive(Debug, Clone)]
pub struct Work<K> {
    /// The key to reconcile.
    pub key: K,
    /// Why it was queued, merged since it last ran.
    pub reasons: Reasons,
    /// Consecutive failures so far (0 after a success).
    pub failures: u32,
}

/// How a reconcile ended, as far as the queue cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    /// Done; run again only when something changes.
    Success,
    /// Done; the plugin wants to run again after this delay.
    RequeueAfter(Duration),
    /// Failed; retry with backoff.
    Failed,
    /// Failed in a way retrying cannot fix (the plugin said the request is
    /// invalid or forbidden): no backoff, failures reset, the key runs again
    /// when something changes — controller-runtime's `TerminalError`.
    Terminal,
}

/// What [`WorkQueue::done`] scheduled, for the reconcile's log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Nothing: the key runs again when something changes.
    Idle,
    /// The key is ready again now (it changed while in flight).
    Immediately,
    /// The key runs again after this delay.
    After(Duration),
}

impl fmt::Display for Next {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Next::Idle => f.write_str("idle"),
            Next::Immediately => f.write_str("now"),
            Next::After(d) => write!(f, "after {}", humantime::format_duration(*d)),
        }
    }
}

/// The controller engine's work queue; see the module doc for its rules.
///
/// Cheap to clone (the clones share one queue); all methods take `&self`.
pub struct WorkQueue<K> {
    shared: Arc<Shared<K>>,
}

impl<K> Clone for WorkQueue<K> {
    fn clone(&self) -> Self {
        WorkQueue { shared: Arc::clone(&self.shared) }
    }
}

impl<K: Clone + Eq + Hash + Send + Sync + 'static> fmt::Debug for WorkQueue<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkQueue")
            .field("depth", &self.depth())
            .field("in_flight", &self.in_flight())
            .finish_non_exhaustive()
    }
}

struct Shared<K> {
    concurrency: usize,
    backoff: Backoff,
    state: Mutex<State<K>>,
    /// Woken whenever a waiting `next` might now succeed or should sleep to
    /// an earlier deadline.
    changed: Notify,
}

struct State<K> {
    entries: HashMap<K, Entry>,
    timeline: Timeline<K>,
    in_flight: usize,
    shut_down: bool,
    rng: fastrand::Rng,
}

struct Entry {
    phase: Phase,
    /// Queued: why it is queued. In flight: what arrived since it was handed out.
    reasons: Reasons,
    failures: u32,
}

enum Phase {
    /// In the timeline at this slot: ready once the slot's time has come.
    Queued(Slot),
    /// Handed out by `next`, `done` not called yet.
    InFlight {
        /// Added since it was handed out: ready again right after `done`.
        dirty: bool,
        /// The earliest `add_after` deadline that arrived since.
        pending: Option<Instant>,
        /// `forget` was called since: the completion no longer counts.
        forgotten: bool,
    },
}

/// A place in the timeline: due time, then arrival order to break ties.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Slot {
    at: Instant,
    seq: u64,
}

/// Queued keys in the order they are (or were) due.
struct Timeline<K> {
    slots: BTreeMap<Slot, K>,
    next_seq: u64,
}

impl<K> Timeline<K> {
    fn insert(&mut self, key: K, at: Instant) -> Slot {
        let slot = Slot { at, seq: self.next_seq };
        self.next_seq += 1;
        self.slots.insert(slot, key);
        slot
    }

    fn remove(&mut self, slot: Slot) {
        self.slots.remove(&slot);
    }

    /// The key that has been due longest, if one is due at `now`.
    fn pop_due(&mut self, now: Instant) -> Option<K> {
        let entry = self.slots.first_entry()?;
        (entry.key().at <= now).then(|| entry.remove())
    }

    fn first_due(&self) -> Option<Instant> {
        self.slots.first_key_value().map(|(slot, _)| slot.at)
    }
}

/// `now + delay`, or about 30 years on if that does not fit in an `Instant`
/// (a plugin asking for an absurd requeue-after).
fn deadline(now: Instant, delay: Duration) -> Instant {
    now.checked_add(delay).unwrap_or_else(|| now + Duration::from_secs(30 * 365 * 24 * 3600))
}

impl<K: Clone + Eq + Hash> State<K> {
    /// Asks for `key` to run no later than `at`, for `reason`. Returns
    /// whether the timeline gained or moved a slot, so waiters must look again.
    fn request(&mut self, key: K, reason: Reason, at: Instant, now: Instant) -> bool {
        let Some(entry) = self.entries.get_mut(&key) else {
            let slot = self.timeline.insert(key.clone(), at);
            let mut reasons = Reasons::default();
            reasons.push(reason);
            self.entries.insert(key, Entry { phase: Phase::Queued(slot), reasons, failures: 0 });
            return true;
        };
        entry.reasons.push(reason);
        match &mut entry.phase {
            Phase::Queued(slot) if at < slot.at => {
                self.timeline.remove(*slot);
                *slot = self.timeline.insert(key, at);
                true
            }
            Phase::Queued(_) => false,
            Phase::InFlight { dirty, pending, .. } => {
                if at <= now {
                    *dirty = true;
                } else {
                    *pending = Some(pending.map_or(at, |p| p.min(at)));
                }
                false
            }
        }
    }
}

impl<K: Clone + Eq + Hash + Send + Sync + 'static> WorkQueue<K> {
    /// An empty, open queue.
    pub fn new(config: QueueConfig) -> Self {
        let rng = config.seed.map_or_else(fastrand::Rng::new, fastrand::Rng::with_seed);
        let state = State {
            entries: HashMap::new(),
            timeline: Timeline { slots: BTreeMap::new(), next_seq: 0 },
            in_flight: 0,
            shut_down: false,
            rng,
        };
        WorkQueue {
            shared: Arc::new(Shared {
                concurrency: config.concurrency.max(1),
                backoff: config.backoff,
                state: Mutex::new(state),
                changed: Notify::new(),
            }),
        }
    }

    /// The state; a panic elsewhere while holding the lock leaves it
    /// consistent (every change is made before anything can panic), so a
    /// poisoned lock is taken as is.
    fn lock(&self) -> MutexGuard<'_, State<K>> {
        self.shared.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `key` to run now. A queued key keeps its place and gains the
    /// reason; a key in flight runs again right after its `done`.
    pub fn add(&self, key: K, reason: Reason) {
        self.add_after(key, reason, Duration::ZERO);
    }

    /// Queues `key` to run after `delay`. A key queued earlier keeps its
    /// earlier time; a key in flight gets this deadline at its `done` unless
    /// that schedules it earlier.
    pub fn add_after(&self, key: K, reason: Reason, delay: Duration) {
        let now = Instant::now();
        let moved = self.lock().request(key, reason, deadline(now, delay), now);
        if moved {
            self.shared.changed.notify_waiters();
        }
    }

    /// The next ready key, once fewer than `concurrency` are in flight; ready
    /// keys come out in the order they became ready. `None` once the queue
    /// is shut down.
    ///
    /// Cancellation-safe: the state changes only in the step that returns
    /// the work, so a `next` dropped in a `select!` loses nothing.
    pub async fn next(&self) -> Option<Work<K>> {
        loop {
            // Registered before looking at the state, so a change made after
            // the look still wakes this waiter.
            let changed = self.shared.changed.notified();
            let mut changed = std::pin::pin!(changed);
            changed.as_mut().enable();
            let wake_at = {
                let mut state = self.lock();
                if state.shut_down {
                    return None;
                }
                if state.in_flight < self.shared.concurrency {
                    if let Some(key) = state.timeline.pop_due(Instant::now()) {
                        state.in_flight += 1;
                        let entry = state.entries.get_mut(&key).expect("a queued key has an entry");
                        entry.phase = Phase::InFlight { dirty: false, pending: None, forgotten: false };
                        let reasons = std::mem::take(&mut entry.reasons);
                        let failures = entry.failures;
                        return Some(Work { key, reasons, failures });
                    }
                    state.timeline.first_due()
                } else {
                    // Nothing can leave before a `done`, which notifies.
                    None
                }
            };
            match wake_at {
                Some(at) => {
                    tokio::select! {
                        () = &mut changed => {}
                        () = tokio::time::sleep_until(at) => {}
                    }
                }
                None => changed.await,
            }
        }
    }

    /// Hands back a key from [`WorkQueue::next`] and schedules its next run:
    /// changed while in flight → ready now (a failure still counts);
    /// `Success` and `Terminal` → idle, failures reset; `RequeueAfter(d)` →
    /// after `d`, failures reset; `Failed` → after the backoff for one more
    /// failure. A
    /// deadline from an `add_after` while in flight wins when it is earlier.
    /// A key that is not in flight schedules nothing.
    pub fn done(&self, key: &K, completion: Completion) -> Next {
        let now = Instant::now();
        let mut guard = self.lock();
        let state = &mut *guard;
        let Some(entry) = state.entries.get_mut(key) else {
            return Next::Idle;
        };
        let Phase::InFlight { dirty, pending, forgotten } = entry.phase else {
            return Next::Idle;
        };
        state.in_flight -= 1;
        let at = if forgotten {
            // The run belonged to what `forget` dropped; only what came after counts.
            if dirty { Some(now) } else { pending }
        } else {
            let earliest = |at: Instant| Some(pending.map_or(at, |p| p.min(at)));
            match completion {
                Completion::Success | Completion::Terminal | Completion::RequeueAfter(_) => {
                    entry.failures = 0;
                }
                Completion::Failed => {
                    entry.failures = entry.failures.saturating_add(1);
                    entry.reasons.push(Reason::Backoff { failures: entry.failures });
                }
            }
            match completion {
                _ if dirty => Some(now),
                Completion::Success | Completion::Terminal => pending,
                Completion::RequeueAfter(d) => {
                    entry.reasons.push(Reason::Requeue { after: d });
                    earliest(deadline(now, d))
                }
                Completion::Failed => {
                    let delay = self.shared.backoff.delay(entry.failures, &mut state.rng);
                    earliest(deadline(now, delay))
                }
            }
        };
        let next = match at {
            None => {
                state.entries.remove(key);
                Next::Idle
            }
            Some(at) => {
                entry.phase = Phase::Queued(state.timeline.insert(key.clone(), at));
                if at <= now { Next::Immediately } else { Next::After(at - now) }
            }
        };
        drop(guard);
        self.shared.changed.notify_waiters();
        next
    }

    /// Drops everything the queue knows about `key`: its place, its reasons
    /// and its failure count (the object is gone, or its plugin removed). If
    /// it is in flight, its `done` schedules nothing unless the key is added
    /// again in between.
    pub fn forget(&self, key: &K) {
        let mut guard = self.lock();
        let state = &mut *guard;
        let Some(entry) = state.entries.get_mut(key) else {
            return;
        };
        match entry.phase {
            Phase::Queued(slot) => {
                state.timeline.remove(slot);
                state.entries.remove(key);
            }
            Phase::InFlight { .. } => {
                *entry = Entry {
                    phase: Phase::InFlight { dirty: false, pending: None, forgotten: true },
                    reasons: Reasons::default(),
                    failures: 0,
                };
            }
        }
    }

    /// Keys queued, ready or waiting (the queue-depth metric).
    pub fn depth(&self) -> usize {
        self.lock().timeline.slots.len()
    }

    /// Keys handed out and not yet done.
    pub fn in_flight(&self) -> usize {
        self.lock().in_flight
    }

    /// Stops handing out work: every `next`, waiting or to come, returns
    /// `None`. Keys in flight may still be handed back with `done`.
    pub fn shutdown(&self) {
        self.lock().shut_down = true;
        self.shared.changed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::{advance, timeout};

    type Queue = WorkQueue<&'static str>;

    const BASE: Duration = Duration::from_secs(1);

    fn queue(concurrency: usize) -> Queue {
        WorkQueue::new(QueueConfig {
            concurrency,
            backoff: Backoff { base: BASE, max: Duration::from_secs(60) },
            seed: Some(7),
        })
    }

    /// What `next` gives without waiting: `None` if it would wait.
    async fn poll_now(q: &Queue) -> Option<Option<Work<&'static str>>> {
        timeout(Duration::ZERO, q.next()).await.ok()
    }

    async fn take(q: &Queue) -> Work<&'static str> {
        poll_now(q).await.expect("a key is ready now").expect("the queue is open")
    }

    async fn assert_nothing_ready(q: &Queue) {
        if let Some(work) = poll_now(q).await {
            panic!("expected nothing ready, got {:?}", work.map(|w| w.key));
        }
    }

    fn owned(name: &str) -> Reason {
        Reason::OwnedChanged { owned: format!("default/v1/ConfigMap/ns/{name}") }
    }

    #[tokio::test(start_paused = true)]
    async fn adds_while_queued_give_one_run() {
        let q = queue(4);
        for _ in 0..100 {
            q.add("a", Reason::ObjectChanged);
        }
        assert_eq!(q.depth(), 1);
        let work = take(&q).await;
        assert_eq!((work.key, work.reasons.to_string()), ("a", "object changed".to_owned()));
        assert_nothing_ready(&q).await;
    }

    #[tokio::test(start_paused = true)]
    async fn distinct_keys_are_not_merged() {
        let q = queue(4);
        q.add("a", Reason::ObjectChanged);
        q.add("b", Reason::ObjectChanged);
        assert_eq!(q.depth(), 2);
        assert_eq!(take(&q).await.key, "a");
        assert_eq!(take(&q).await.key, "b");
    }

    #[tokio::test(start_paused = true)]
    async fn a_key_changed_in_flight_runs_again_after_done_with_merged_reasons() {
        let q = queue(4);
        q.add("a", Reason::ObjectChanged);
        take(&q).await;
        q.add("a", Reason::ObjectChanged);
        q.add("a", owned("x"));
        q.add("a", Reason::ObjectChanged);
        assert_eq!(q.depth(), 0);
        assert_nothing_ready(&q).await;
        assert_eq!(q.done(&"a", Completion::Success), Next::Immediately);
        let work = take(&q).await;
        assert_eq!(work.reasons.to_string(), "object changed, owned default/v1/ConfigMap/ns/x changed");
        assert_eq!(work.failures, 0);
        assert_eq!(q.done(&"a", Completion::Success), Next::Idle);
        assert_nothing_ready(&q).await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_dirty_key_that_failed_runs_now_and_counts_the_failure() {
        let q = queue(1);
        q.add("a", Reason::ObjectChanged);
        take(&q).await;
        q.add("a", Reason::Resync);
        assert_eq!(q.done(&"a", Completion::Failed), Next::Immediately);
        let work = take(&q).await;
        assert_eq!(work.failures, 1);
        assert_eq!(work.reasons.to_string(), "resync, retry after 1 failure");
    }

    #[tokio::test(start_paused = true)]
    async fn no_more_than_concurrency_in_flight() {
        let q = queue(2);
        for key in ["a", "b", "c"] {
            q.add(key, Reason::ObjectChanged);
        }
        take(&q).await;
        take(&q).await;
        assert_eq!(q.in_flight(), 2);
        assert_nothing_ready(&q).await;
        assert_eq!(q.depth(), 1);
        q.done(&"a", Completion::Success);
        assert_eq!(take(&q).await.key, "c");
        assert_eq!(q.in_flight(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiter_at_the_limit_is_woken_by_done() {
        let q = queue(1);
        q.add("a", Reason::ObjectChanged);
        q.add("b", Reason::ObjectChanged);
        take(&q).await;
        let waiter = tokio::spawn({
            let q = q.clone();
            async move { q.next().await.map(|w| w.key) }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        q.done(&"a", Completion::Success);
        assert_eq!(waiter.await.unwrap(), Some("b"));
    }

    #[tokio::test(start_paused = true)]
    async fn ready_keys_leave_in_the_order_they_became_ready() {
        let q = queue(8);
        q.add("c", Reason::ObjectChanged);
        q.add("a", Reason::ObjectChanged);
        q.add("b", Reason::ObjectChanged);
        // Re-adding a queued key does not move it back.
        q.add("c", Reason::Resync);
        q.add_after("late", Reason::Resync, Duration::from_secs(1));
        advance(Duration::from_secs(2)).await;
        // Came due at 1 s, before this add at 2 s.
        q.add("fresh", Reason::ObjectChanged);
        let mut order = Vec::new();
        for _ in 0..5 {
            order.push(take(&q).await.key);
        }
        assert_eq!(order, ["c", "a", "b", "late", "fresh"]);
    }

    #[tokio::test(start_paused = true)]
    async fn add_makes_a_waiting_key_ready() {
        let q = queue(1);
        q.add_after("a", Reason::Resync, Duration::from_secs(30));
        assert_nothing_ready(&q).await;
        q.add("a", Reason::ObjectChanged);
        assert_eq!(take(&q).await.reasons.to_string(), "resync, object changed");
        assert_eq!(q.depth(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn requeue_after_is_honoured_not_before_and_exactly_at() {
        let q = queue(1);
        q.add("a", Reason::ObjectChanged);
        take(&q).await;
        let next = q.done(&"a", Completion::RequeueAfter(Duration::from_secs(10)));
        assert_eq!(next, Next::After(Duration::from_secs(10)));
        assert_eq!(next.to_string(), "after 10s");
        advance(Duration::from_millis(9_999)).await;
        assert_nothing_ready(&q).await;
        advance(Duration::from_millis(1)).await;
        let work = take(&q).await;
        assert_eq!((work.reasons.to_string(), work.failures), ("requeue after 10s".to_owned(), 0));
    }

    #[tokio::test(start_paused = true)]
    async fn a_parked_waiter_wakes_when_its_key_comes_due() {
        let q = queue(1);
        q.add_after("a", Reason::Resync, Duration::from_secs(5));
        let start = Instant::now();
        let work = q.next().await.unwrap();
        assert_eq!(work.key, "a");
        assert_eq!(Instant::now() - start, Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn a_parked_waiter_wakes_for_an_earlier_deadline() {
        let q = queue(1);
        q.add_after("a", Reason::Resync, Duration::from_secs(50));
        let start = Instant::now();
        let waiter = tokio::spawn({
            let q = q.clone();
            async move { q.next().await.map(|w| w.key) }
        });
        tokio::task::yield_now().await;
        q.add_after("b", Reason::Resync, Duration::from_secs(5));
        assert_eq!(waiter.await.unwrap(), Some("b"));
        assert_eq!(Instant::now() - start, Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn add_after_keeps_the_earliest_deadline() {
        let q = queue(1);
        q.add_after("a", Reason::Resync, Duration::from_secs(10));
        q.add_after("a", owned("x"), Duration::from_secs(5));
        q.add_after("b", Reason::Resync, Duration::from_secs(5));
        q.add_after("b", owned("y"), Duration::from_secs(10));
        assert_eq!(q.depth(), 2);
        advance(Duration::from_millis(4_999)).await;
        assert_nothing_ready(&q).await;
        advance(Duration::from_millis(1)).await;
        let a = take(&q).await;
        q.done(&"a", Completion::Success);
        let b = take(&q).await;
        assert_eq!(a.reasons.to_string(), "resync, owned default/v1/ConfigMap/ns/x changed");
        assert_eq!(b.reasons.to_string(), "resync, owned default/v1/ConfigMap/ns/y changed");
    }

    #[tokio::test(start_paused = true)]
    async fn add_after_on_a_ready_key_keeps_it_ready() {
        let q = queue(1);
        q.add("a", Reason::ObjectChanged);
        q.add_after("a", Reason::Resync, Duration::from_secs(10));
        assert_eq!(take(&q).await.reasons.to_string(), "object changed, resync");
        q.done(&"a", Completion::Success);
        advance(Duration::from_secs(10)).await;
        assert_nothing_ready(&q).await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_deadline_pending_in_flight_wins_when_earlier() {
        let q = queue(1);
        q.add("a", Reason::ObjectChanged);
        take(&q).await;
        q.add_after("a", Reason::Resync, Duration::from_secs(3));
        assert_eq!(
            q.done(&"a", Completion::RequeueAfter(Duration::from_secs(10))),
            Next::After(Duration::from_secs(3))
        );
        assert_eq!(
            take_at(&q, Duration::from_secs(3)).await.reasons.to_string(),
            "resync, requeue after 10s"
        );

        // The backoff is earlier this time, so it wins.
        q.add_after("a", Reason::Resync, Duration::from_secs(60));
        let Next::After(d) = q.done(&"a", Completion::Failed) else { panic!("scheduled") };
        assert!(d <= BASE, "{d:?}");

        // Success with a pending deadline waits for it.
        take_at(&q, d).await;
        q.add_after("a", Reason::Resync, Duration::from_secs(7));
        assert_eq!(q.done(&"a", Completion::Success), Next::After(Duration::from_secs(7)));
    }

    /// Advances to just before `d`, checks nothing is ready, then takes the key due at `d`.
    async fn take_at(q: &Queue, d: Duration) -> Work<&'static str> {
        let before = d.saturating_sub(Duration::from_millis(1));
        advance(before).await;
        assert_nothing_ready(q).await;
        advance(d - before).await;
        take(q).await
    }

    #[tokio::test(start_paused = true)]
    async fn failures_back_off_doubling_within_jitter() {
        let q = queue(1);
        q.add("a", Reason::ObjectChanged);
        for failures in 1..=5u32 {
            let work = take(&q).await;
            assert_eq!(work.failures, failures - 1);
            let Next::After(d) = q.done(&"a", Completion::Failed) else { panic!("scheduled") };
            let ceiling = BASE * 2u32.pow(failures - 1);
            assert!(
                ceiling / 2 <= d && d <= ceiling,
                "failure {failures}: {d:?} outside [{:?}, {ceiling:?}]",
                ceiling / 2
            );
            advance(ceiling / 2 - Duration::from_millis(1)).await;
            assert_nothing_ready(&q).await;
            advance(d - ceiling / 2 + Duration::from_millis(1)).await;
        }
        let work = take(&q).await;
        assert_eq!((work.failures, work.reasons.to_string()), (5, "retry after 5 failures".to_owned()));
    }

    #[tokio::test(start_paused = true)]
    async fn jitter_spreads_keys_that_failed_together_and_follows_the_seed() {
        let delays = |seed| async move {
            let q = WorkQueue::new(QueueConfig { seed: Some(seed), ..QueueConfig::default() });
            let mut delays = Vec::new();
            for i in 0..20 {
                q.add(i, Reason::ObjectChanged);
                let work = q.next().await.unwrap();
                delays.push(q.done(&work.key, Completion::Failed));
            }
            delays
        };
        let first = delays(1).await;
        assert_eq!(first, delays(1).await);
        assert_ne!(first, delays(2).await);
        let distinct: std::collections::HashSet<_> = first.iter().map(|n| format!("{n:?}")).collect();
        assert!(distinct.len() > 10, "{first:?}");
    }

    #[test]
    fn the_backoff_ceiling_doubles_up_to_max() {
        let backoff = Backoff::default();
        assert_eq!(backoff.ceiling(1), Duration::from_millis(200));
        assert_eq!(backoff.ceiling(3), Duration::from_millis(800));
        assert_eq!(backoff.ceiling(11), Duration::from_millis(204_800));
        assert_eq!(backoff.ceiling(12), Duration::from_secs(300));
        assert_eq!(backoff.ceiling(40), Duration::from_secs(300));
        assert_eq!(backoff.ceiling(u32::MAX), Duration::from_secs(300));
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_is_capped_at_max() {
        let q = WorkQueue::new(QueueConfig {
            concurrency: 1,
            backoff: Backoff { base: BASE, max: Duration::from_secs(10) },
            seed: Some(3),
        });
        q.add("a", Reason::ObjectChanged);
        take(&q).await;
        let mut delays = Vec::new();
        for _ in 0..30 {
            let Next::After(d) = q.done(&"a", Completion::Failed) else { panic!("scheduled") };
            delays.push(d);
            take_at(&q, d).await;
        }
        assert!(delays.iter().all(|d| *d <= Duration::from_secs(10)), "{delays:?}");
        assert!(delays[10..].iter().all(|d| *d >= Duration::from_secs(5)), "{delays:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn success_resets_the_failure_count() {
        let q = queue(1);
        q.add("a", Reason::ObjectChanged);
        for _ in 0..3 {
            let work = take(&q).await;
            let Next::After(d) = q.done(&work.key, Completion::Failed) else { panic!("scheduled") };
            advance(d).await;
        }
        assert_eq!(take(&q).await.failures, 3);
        assert_eq!(q.done(&"a", Completion::Success), Next::Idle);
        q.add("a", Reason::ObjectChanged);
        assert_eq!(take(&q).await.failures, 0);
        let Next::After(d) = q.done(&"a", Completion::Failed) else { panic!("scheduled") };
        assert!(d <= BASE, "back to the base delay, got {d:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn requeue_after_resets_the_failure_count() {
        let q = queue(1);
        q.add("a", Reason::ObjectChanged);
        take(&q).await;
        let Next::After(d) = q.done(&"a", Completion::Failed) else { panic!("scheduled") };
        assert_eq!(take_at(&q, d).await.failures, 1);
        q.done(&"a", Completion::RequeueAfter(Duration::from_secs(1)));
        assert_eq!(take_at(&q, Duration::from_secs(1)).await.failures, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_terminal_failure_waits_for_the_next_change_with_failures_reset() {
        let q = queue(1);
        q.add("a", Reason::ObjectChanged);
        take(&q).await;
        let Next::After(d) = q.done(&"a", Completion::Failed) else { panic!("scheduled") };
        assert_eq!(take_at(&q, d).await.failures, 1);
        assert_eq!(q.done(&"a", Completion::Terminal), Next::Idle);
        assert_eq!(q.depth(), 0);
        advance(Duration::from_secs(3600)).await;
        assert_nothing_ready(&q).await;

        q.add("a", Reason::ObjectChanged);
        let work = take(&q).await;
        assert_eq!((work.failures, work.reasons.to_string()), (0, "object changed".to_owned()));
        // Changed while in flight: again now, as after a success.
        q.add("a", Reason::ObjectChanged);
        assert_eq!(q.done(&"a", Completion::Terminal), Next::Immediately);
    }

    #[tokio::test(start_paused = true)]
    async fn forget_drops_a_queued_key_and_its_failures() {
        let q = queue(1);
        q.add("a", Reason::ObjectChanged);
        q.add_after("b", Reason::Resync, Duration::from_secs(1));
        q.forget(&"a");
        q.forget(&"b");
        assert_eq!(q.depth(), 0);
        advance(Duration::from_secs(1)).await;
        assert_nothing_ready(&q).await;

        q.add("a", Reason::ObjectChanged);
        take(&q).await;
        q.done(&"a", Completion::Failed);
        q.forget(&"a");
        q.add("a", Reason::ObjectChanged);
        let work = take(&q).await;
        assert_eq!((work.failures, work.reasons.to_string()), (0, "object changed".to_owned()));
    }

    #[tokio::test(start_paused = true)]
    async fn forget_in_flight_makes_done_schedule_nothing() {
        let q = queue(1);
        q.add("a", Reason::ObjectChanged);
        take(&q).await;
        q.add("a", Reason::ObjectChanged);
        q.add_after("a", Reason::Resync, Duration::from_secs(1));
        q.forget(&"a");
        assert_eq!(q.done(&"a", Completion::Failed), Next::Idle);
        assert_eq!((q.depth(), q.in_flight()), (0, 0));
        advance(Duration::from_secs(1)).await;
        assert_nothing_ready(&q).await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_key_added_after_forget_in_flight_runs_again_without_the_old_failure() {
        let q = queue(1);
        q.add("a", Reason::ObjectChanged);
        take(&q).await;
        q.forget(&"a");
        q.add("a", Reason::PluginChanged { plugin: "ncp@0.3.1".into() });
        assert_eq!(q.done(&"a", Completion::Failed), Next::Immediately);
        let work = take(&q).await;
        assert_eq!((work.failures, work.reasons.to_string()), (0, "plugin ncp@0.3.1 loaded".to_owned()));
    }

    #[tokio::test(start_paused = true)]
    async fn done_for_a_key_not_in_flight_changes_nothing() {
        let q = queue(1);
        assert_eq!(q.done(&"a", Completion::Failed), Next::Idle);
        q.add("a", Reason::ObjectChanged);
        assert_eq!(q.done(&"a", Completion::Failed), Next::Idle);
        assert_eq!((q.depth(), q.in_flight()), (1, 0));
        assert_eq!(take(&q).await.failures, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_ends_next_and_still_takes_done() {
        let q = queue(2);
        q.add("a", Reason::ObjectChanged);
        take(&q).await;
        let waiter = tokio::spawn({
            let q = q.clone();
            async move { q.next().await.map(|w| w.key) }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        q.add_after("b", Reason::Resync, Duration::from_secs(1));
        q.shutdown();
        assert_eq!(waiter.await.unwrap(), None);
        q.add("c", Reason::ObjectChanged);
        assert!(matches!(poll_now(&q).await, Some(None)));
        assert_eq!(q.done(&"a", Completion::Success), Next::Idle);
        assert_eq!(q.in_flight(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_next_dropped_in_select_loses_no_key() {
        let q = queue(1);
        q.add_after("a", Reason::Resync, Duration::from_secs(5));
        tokio::select! {
            work = q.next() => panic!("not due yet, got {:?}", work.map(|w| w.key)),
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        assert_eq!(q.depth(), 1);
        let work = q.next().await.unwrap();
        assert_eq!((work.key, work.reasons.to_string()), ("a", "resync".to_owned()));
    }

    #[test]
    fn reasons_deduplicate_and_cap_their_display() {
        let mut reasons = Reasons::default();
        assert!(reasons.is_empty());
        reasons.push(Reason::ObjectChanged);
        reasons.push(Reason::Requeue { after: Duration::from_secs(1) });
        reasons.push(Reason::ObjectChanged);
        assert_eq!(reasons.to_string(), "object changed, requeue after 1s");
        for i in 0..9 {
            reasons.push(owned(&i.to_string()));
        }
        assert_eq!(reasons.iter().count(), Reasons::CAP);
        assert_eq!(reasons.more(), 3);
        let shown = reasons.to_string();
        assert!(
            shown.starts_with("object changed, requeue after 1s, owned default/v1/ConfigMap/ns/0 changed, "),
            "{shown}"
        );
        assert!(shown.ends_with("owned default/v1/ConfigMap/ns/5 changed (+3 more)"), "{shown}");
    }

    #[test]
    fn every_reason_displays_as_a_short_phrase() {
        let shown: Vec<String> = [
            Reason::Started,
            Reason::LeaderElected,
            Reason::ObjectChanged,
            owned("a"),
            Reason::Requeue { after: Duration::from_secs(30) },
            Reason::Backoff { failures: 1 },
            Reason::Backoff { failures: 4 },
            Reason::Resync,
            Reason::PluginChanged { plugin: "ncp@0.3.1".into() },
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        assert_eq!(
            shown,
            [
                "controller started",
                "leader elected",
                "object changed",
                "owned default/v1/ConfigMap/ns/a changed",
                "requeue after 30s",
                "retry after 1 failure",
                "retry after 4 failures",
                "resync",
                "plugin ncp@0.3.1 loaded",
            ]
        );
    }

    #[test]
    fn next_displays_for_the_log_line() {
        assert_eq!(Next::Idle.to_string(), "idle");
        assert_eq!(Next::Immediately.to_string(), "now");
        assert_eq!(Next::After(Duration::from_millis(1_500)).to_string(), "after 1s 500ms");
    }
}
