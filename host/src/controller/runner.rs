//! One plugin's controller: its watched and owned kinds feed its work queue,
//! and workers take keys off the queue and run one attempt each.
//!
//! In: a loaded plugin's manifest and the shared
//! [`Informers`](super::watch::Informers). Out:
//! attempts ([`super::reconcile`]) for every object the plugin watches, on
//! every change to it or to an object it owns, on every resync and after
//! each hot reload. Invariants: the queue holds at most one entry per
//! object and hands out at most one attempt per object at a time; at most
//! `concurrency` attempts of this plugin run at once; a change is never
//! dropped (a subscriber that lags behind its watch re-queues everything
//! from the cache, which is level-based and therefore safe).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use kube::api::DynamicObject;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinSet;
use wasmvisor_manifest::{KindRef, Manifest};

use super::queue::{QueueConfig, Reason, WorkQueue};
use super::shard::Sharding;
use super::sources::Sources;
use super::watch::Change;
use super::{Shared, finalizer, owners, reconcile, related};
use crate::object::ObjectRef;

/// The key of a watched object.
fn key_of(kind: &KindRef, object: &DynamicObject) -> ObjectRef {
    ObjectRef {
        cluster: kind.cluster.clone(),
        api_version: kind.api_version.clone(),
        kind: kind.kind.clone(),
        namespace: object.metadata.namespace.clone(),
        name: object.metadata.name.clone().unwrap_or_default(),
    }
}

/// A running plugin controller.
pub(crate) struct PluginController {
    /// The manifest it was started for: a reload that keeps watches and
    /// owned kinds keeps the controller (and its queue) running.
    pub(crate) manifest: Arc<Manifest>,
    intake: Intake,
    sources: watch::Receiver<Option<Arc<Sources>>>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl PluginController {
    /// Starts the controller of `manifest`'s plugin; `cause` is the reason
    /// every object it lists first is queued for.
    pub(crate) fn start(shared: Arc<Shared>, manifest: Arc<Manifest>, cause: Reason) -> Self {
        let settings = &shared.settings;
        let queue = WorkQueue::new(QueueConfig {
            concurrency: settings.concurrency,
            backoff: settings.backoff(),
            seed: None,
        });
        let (sources_tx, sources) = watch::channel(None);
        let (stop, stopped) = watch::channel(false);
        let intake = Intake { queue, sharding: settings.sharding };
        let task = tokio::spawn(run(shared, manifest.clone(), intake.clone(), sources_tx, stopped, cause));
        Self { manifest, intake, sources, stop, task }
    }

    /// Queues every watched object again (a new version was loaded).
    pub(crate) fn requeue_all(&self, reason: &Reason) {
        if let Some(sources) = self.sources.borrow().as_ref() {
            enqueue_all(&self.intake, sources, reason);
        }
    }

    /// Stops taking work and waits for attempts in flight (up to the
    /// settings' shutdown timeout, after which they are abandoned: every
    /// effect is idempotent, the next leader or start redoes the work).
    pub(crate) async fn stop(self) {
        self.stop.send_replace(true);
        if let Err(error) = self.task.await
            && error.is_panic()
        {
            tracing::error!(plugin = self.manifest.name, %error, "plugin controller panicked");
        }
    }
}

/// The queue of one plugin controller, behind the shard filter: keys of
/// other replicas' shards never enter it.
#[derive(Clone)]
pub(crate) struct Intake {
    pub(crate) queue: WorkQueue<ObjectRef>,
    sharding: Option<Sharding>,
}

impl Intake {
    fn add(&self, key: ObjectRef, reason: Reason) {
        if self.sharding.is_none_or(|s| s.owns(&key)) {
            self.queue.add(key, reason);
        }
    }
}

fn enqueue_all(intake: &Intake, sources: &Sources, reason: &Reason) {
    for watched in &sources.watched {
        for object in watched.informer.list() {
            if watched.wants(&object) {
                intake.add(key_of(&watched.watch.kind_ref(), &object), reason.clone());
            }
        }
    }
}

async fn run(
    shared: Arc<Shared>,
    manifest: Arc<Manifest>,
    intake: Intake,
    sources_tx: watch::Sender<Option<Arc<Sources>>>,
    mut stopped: watch::Receiver<bool>,
    cause: Reason,
) {
    let plugin = manifest.name.clone();
    let queue = intake.queue.clone();
    let Some(sources) = connect(&shared, &manifest, &mut stopped).await else { return };
    sources_tx.send_replace(Some(sources.clone()));
    let mut feeders = JoinSet::new();
    for (index, watched) in sources.watched.iter().enumerate() {
        let rx = watched.informer.subscribe();
        let first = cause.clone();
        feeders.spawn(feed_watched(intake.clone(), sources.clone(), index, rx, plugin.clone(), first));
    }
    for (kind, informer) in &sources.owned {
        let rx = informer.subscribe();
        feeders.spawn(feed_owned(intake.clone(), sources.clone(), kind.clone(), rx));
    }
    for (index, (_, informer)) in sources.related.iter().enumerate() {
        let rx = informer.subscribe();
        feeders.spawn(feed_related(intake.clone(), sources.clone(), index, rx));
    }
    feeders.spawn(resync(intake.clone(), sources.clone(), shared.settings.resync));

    let label = super::metrics::PluginLabel { plugin: plugin.clone() };
    let depth = shared.metrics.queue_depth.get_or_create(&label).clone();
    let attempts = Arc::new(reconcile::Attempts {
        effects: super::effects::Effects::new(
            &plugin,
            &shared.clusters,
            sources.watched.iter().map(|w| w.watch.cluster.as_str()),
            shared.metrics.terminal_errors.get_or_create(&label).clone(),
            shared.settings.requeue_floor,
        ),
        workers: shared.metrics.active_workers.get_or_create(&label).clone(),
        latency: shared.metrics.reconcile_time.get_or_create(&label).clone(),
        shared: shared.clone(),
        sources: sources.clone(),
        queue: queue.clone(),
        plugin: plugin.clone(),
    });
    let mut running = JoinSet::new();
    loop {
        tokio::select! {
            work = queue.next() => match work {
                Some(work) => {
                    depth.set(i64::try_from(queue.depth()).unwrap_or(i64::MAX));
                    running.spawn(attempts.clone().run(work));
                }
                None => break,
            },
            _ = stopped.changed() => queue.shutdown(),
            Some(_) = running.join_next(), if !running.is_empty() => {
                depth.set(i64::try_from(queue.depth()).unwrap_or(i64::MAX));
            }
        }
    }
    feeders.abort_all();
    drain(&plugin, &mut running, shared.settings.shutdown_timeout).await;
}

/// Connects the plugin's watches, retrying while a kind is not served yet
/// (its CRD may be applied after the plugin was loaded).
async fn connect(
    shared: &Shared,
    manifest: &Manifest,
    stopped: &mut watch::Receiver<bool>,
) -> Option<Arc<Sources>> {
    let mut delay = Duration::from_millis(500);
    loop {
        match Sources::connect(&shared.informers, manifest).await {
            Ok(sources) => return Some(Arc::new(sources)),
            Err(error) => tracing::warn!(
                plugin = manifest.id(),
                %error,
                retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                "cannot watch what the plugin declares; retrying"
            ),
        }
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            _ = stopped.changed() => return None,
        }
        delay = (delay * 2).min(Duration::from_secs(30));
    }
}

async fn drain(plugin: &str, running: &mut JoinSet<()>, timeout: Duration) {
    let in_flight = running.len();
    if in_flight == 0 {
        return;
    }
    tracing::info!(plugin, in_flight, "waiting for reconciles in flight");
    let finished =
        tokio::time::timeout(timeout, async { while running.join_next().await.is_some() {} }).await;
    if finished.is_err() {
        tracing::warn!(
            plugin,
            abandoned = running.len(),
            "reconciles still running at the shutdown deadline were abandoned"
        );
        running.abort_all();
    }
}

/// Watched-kind changes into the queue.
async fn feed_watched(
    intake: Intake,
    sources: Arc<Sources>,
    index: usize,
    mut changes: broadcast::Receiver<Change>,
    plugin: String,
    first: Reason,
) {
    let watched = &sources.watched[index];
    let kind = watched.watch.kind_ref();
    // Subscribed first, listed second: nothing falls between the two.
    watched.informer.synced().await;
    for object in watched.informer.list() {
        if watched.wants(&object) {
            intake.add(key_of(&kind, &object), first.clone());
        }
    }
    let mut generations: HashMap<ObjectRef, Option<i64>> = HashMap::new();
    loop {
        match changes.recv().await {
            Ok(Change::Applied(object)) => {
                if !watched.wants(&object) {
                    continue;
                }
                let key = key_of(&kind, &object);
                if watched.watch.generation_changed_only && !finalizer::deleting(&object) {
                    let generation = object.metadata.generation;
                    if generations.insert(key.clone(), generation) == Some(generation) {
                        continue;
                    }
                }
                intake.add(key, Reason::ObjectChanged);
            }
            Ok(Change::Deleted(object)) => {
                let key = key_of(&kind, &object);
                generations.remove(&key);
                intake.queue.forget(&key);
            }
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(plugin, kind = %kind, missed, "fell behind the watch; re-queueing everything");
                enqueue_all(&intake, &sources, &Reason::Resync);
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// Owned-kind changes into the queue, as their controller owners.
async fn feed_owned(
    intake: Intake,
    sources: Arc<Sources>,
    kind: KindRef,
    mut changes: broadcast::Receiver<Change>,
) {
    let owners_of = |object: &DynamicObject| -> Vec<ObjectRef> {
        sources
            .watched
            .iter()
            .filter(|w| w.watch.cluster == kind.cluster)
            .filter_map(|w| {
                owners::controller_owner(
                    object,
                    &kind.cluster,
                    &w.watch.api_version,
                    &w.watch.kind,
                    w.informer.namespaced(),
                )
            })
            .collect()
    };
    loop {
        let change = match changes.recv().await {
            Ok(change) => change,
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(kind = %kind, missed, "fell behind an owned kind's watch; re-queueing every owner");
                for object in sources.owned.iter().filter(|(k, _)| *k == kind).flat_map(|(_, i)| i.list()) {
                    for owner in owners_of(&object) {
                        intake.add(owner, Reason::Resync);
                    }
                }
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let object = change.object();
        let owned = key_of(&kind, object).to_string();
        for owner in owners_of(object) {
            intake.add(owner, Reason::OwnedChanged { owned: owned.clone() });
        }
    }
}

/// Related-kind changes into the queue, as the reconciled objects they
/// relate to (see [`related`]).
async fn feed_related(
    intake: Intake,
    sources: Arc<Sources>,
    index: usize,
    mut changes: broadcast::Receiver<Change>,
) {
    let (entry, informer) = &sources.related[index];
    let Some(reconciled) = sources.reconciled_by(entry) else { return };
    let kind = entry.kind_ref();
    // Watch the related kind's cache to its first sync before mapping: the
    // reconciled kind's own feeder queues everything once it is synced.
    informer.synced().await;
    loop {
        let change = match changes.recv().await {
            Ok(change) => change,
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(kind = %kind, missed, "fell behind a related kind's watch; re-queueing every object it relates to");
                for object in reconciled.informer.list() {
                    if reconciled.wants(&object) {
                        intake.add(key_of(&reconciled.watch.kind_ref(), &object), Reason::Resync);
                    }
                }
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let object = change.object();
        let related = key_of(&kind, object).to_string();
        for target in related::targets(object, entry, &reconciled.informer) {
            intake.add(target, Reason::RelatedChanged { related: related.clone() });
        }
    }
}

/// Every `period`, every watched object again (level-based safety net).
async fn resync(intake: Intake, sources: Arc<Sources>, period: Duration) {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    loop {
        ticks.tick().await;
        enqueue_all(&intake, &sources, &Reason::Resync);
    }
}

#[cfg(test)]
mod tests {
    use kube::runtime::watcher::Event;

    use super::super::queue::{QueueConfig, WorkQueue};
    use super::super::sources::{Sources, Watched};
    use super::super::watch::{detached, tests::config_map};
    use super::*;

    /// Lets the spawned feeder run until `done` holds (the test runtime has
    /// one thread, so nothing runs while the test does not yield).
    async fn yield_until(done: impl Fn() -> bool) {
        for _ in 0..1000 {
            if done() {
                return;
            }
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn a_feeder_that_falls_behind_its_watch_requeues_everything_from_the_cache() {
        let kind = KindRef { cluster: "default".into(), api_version: "v1".into(), kind: "ConfigMap".into() };
        let (informer, mut feed) = detached(kind, 4);
        feed(Event::Init);
        feed(Event::InitDone);
        let intake = Intake { queue: WorkQueue::new(QueueConfig::default()), sharding: None };
        let sources = Arc::new(Sources {
            watched: vec![Watched::everything("p", informer.clone())],
            owned: vec![],
            related: vec![],
        });
        let changes = informer.subscribe();
        let feeder =
            tokio::spawn(feed_watched(intake.clone(), sources, 0, changes, "p".into(), Reason::Started));
        tokio::task::yield_now().await;
        assert_eq!(intake.queue.depth(), 0, "the cache was empty when the feeder listed it");

        // 20 creates into a buffer of 4 while the feeder does not run: it
        // misses 16 of them and must learn of them from the cache.
        for i in 0..20 {
            feed(Event::Apply(config_map(&format!("cm-{i}"), &i.to_string())));
        }
        yield_until(|| intake.queue.depth() == 20).await;
        assert_eq!(intake.queue.depth(), 20, "every object in the cache is queued after the lag");
        feeder.abort();
    }
}
