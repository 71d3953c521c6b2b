//! Shared watches: one kube-runtime watcher and reflector store per
//! (cluster, apiVersion, kind), however many plugins watch or own the kind.
//!
//! In: a [`KindRef`]. Out: an [`Informer`] whose store is the cache that
//! plugin reads and the reconcile path use, and whose [`Change`] broadcast
//! feeds every plugin's queue. Invariant: a subscriber sees every change the
//! API server reports, or is told it lagged ([`broadcast::error::RecvError::Lagged`])
//! and resyncs from the store — nothing is lost silently. A change is
//! published only once the store holds it, so a reconcile that starts on a
//! change reads that object (or, after a deletion, its absence). After a relist
//! (410 Gone, a reconnect) the objects missing from the new list are
//! reported as deleted, so owners of vanished objects still hear of it.
//!
//! Why not kube-runtime's shared streams (`Writer::new_shared`): they sit
//! behind the unstable `unstable-runtime-subscribe` feature, hold the writer
//! back while the slowest subscriber catches up, and forward applied objects
//! only; owner mapping and finalizers need deletions too. The watcher
//! (list + watch, resourceVersion resume, relist on 410, backoff) and the
//! store are kube-runtime's.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, Weak};

use futures::StreamExt as _;
use kube::api::DynamicObject;
use kube::discovery::Scope;
use kube::runtime::reflector::{self, ObjectRef as StoreRef, Store};
use kube::runtime::{WatchStreamExt as _, watcher};
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::{broadcast, watch};
use wasmvisor_manifest::KindRef;

use super::metrics::{CacheLabels, ControllerMetrics};
use crate::capability::kube::KubeError;
use crate::cluster::Clusters;

/// Changes a subscriber may fall behind by before it must resync.
const CHANGE_BUFFER: usize = 4096;

/// One change of one object.
#[derive(Debug, Clone)]
pub enum Change {
    /// Created, updated, or listed (initially or after a relist).
    Applied(Arc<DynamicObject>),
    /// Gone from the API server.
    Deleted(Arc<DynamicObject>),
}

impl Change {
    /// The object changed.
    pub fn object(&self) -> &DynamicObject {
        match self {
            Change::Applied(o) | Change::Deleted(o) => o,
        }
    }
}

/// The shared watch and cache of one kind.
pub struct Informer {
    kind: KindRef,
    namespaced: bool,
    store: Store<DynamicObject>,
    resource: kube::discovery::ApiResource,
    changes: broadcast::Sender<Change>,
    synced: watch::Receiver<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Informer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Informer {
    /// The kind watched.
    pub fn kind(&self) -> &KindRef {
        &self.kind
    }

    /// Whether objects of this kind live in namespaces.
    pub fn namespaced(&self) -> bool {
        self.namespaced
    }

    /// Changes from now on. Subscribe first, then read [`Informer::list`],
    /// so no change falls between the two.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    /// The cached object, if the cache has it.
    pub fn get(&self, namespace: Option<&str>, name: &str) -> Option<Arc<DynamicObject>> {
        let mut key = StoreRef::new_with(name, self.resource.clone());
        if self.namespaced {
            key = key.within(namespace.unwrap_or_default());
        }
        self.store.get(&key)
    }

    /// Every cached object.
    pub fn list(&self) -> Vec<Arc<DynamicObject>> {
        self.store.state()
    }

    /// Whether the first list has completed (the cache is complete).
    pub fn is_synced(&self) -> bool {
        *self.synced.borrow()
    }

    /// Waits until the first list has completed.
    pub async fn synced(&self) {
        let mut synced = self.synced.clone();
        // Err means the task ended, which only happens when the informer is dropped.
        let _ = synced.wait_for(|s| *s).await;
    }
}

/// The shared watches of a host, created on first use and stopped when the
/// last plugin that needs one lets go.
pub struct Informers {
    clusters: Arc<Clusters>,
    metrics: ControllerMetrics,
    live: Mutex<HashMap<KindRef, Weak<Informer>>>,
}

impl Informers {
    /// No watches yet.
    pub fn new(clusters: Arc<Clusters>, metrics: ControllerMetrics) -> Self {
        Self { clusters, metrics, live: Mutex::new(HashMap::new()) }
    }

    /// The running informer of `kind`, if a plugin holds one.
    pub fn existing(&self, kind: &KindRef) -> Option<Arc<Informer>> {
        self.lock().get(kind).and_then(Weak::upgrade)
    }

    /// The informer of `kind`, started if none runs. Fails when the cluster
    /// is unknown or does not serve the kind.
    pub async fn informer(&self, kind: &KindRef) -> Result<Arc<Informer>, KubeError> {
        if let Some(running) = self.existing(kind) {
            return Ok(running);
        }
        let (api, resource, scope) =
            self.clusters.kind_api(&kind.cluster, &kind.api_version, &kind.kind).await?;
        let mut live = self.lock();
        // Another caller may have started it while discovery ran.
        if let Some(running) = live.get(kind).and_then(Weak::upgrade) {
            return Ok(running);
        }
        let informer = Arc::new(start(kind.clone(), api, resource, scope, &self.metrics));
        live.retain(|_, weak| weak.strong_count() > 0);
        live.insert(kind.clone(), Arc::downgrade(&informer));
        Ok(informer)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<KindRef, Weak<Informer>>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn start(
    kind: KindRef,
    api: kube::Api<DynamicObject>,
    resource: kube::discovery::ApiResource,
    scope: Scope,
    metrics: &ControllerMetrics,
) -> Informer {
    let labels = CacheLabels {
        cluster: kind.cluster.clone(),
        api_version: kind.api_version.clone(),
        kind: kind.kind.clone(),
    };
    let gauges = (
        metrics.cache_objects.get_or_create(&labels).clone(),
        metrics.cache_bytes.get_or_create(&labels).clone(),
    );
    let (feed, parts) = Feed::new(kind, resource, CHANGE_BUFFER, gauges);
    parts.informer(matches!(scope, Scope::Namespaced), tokio::spawn(feed.run(api)))
}

/// The reading side of a new [`Feed`], before its task is started.
struct Parts {
    kind: KindRef,
    store: Store<DynamicObject>,
    resource: kube::discovery::ApiResource,
    changes: broadcast::Sender<Change>,
    synced: watch::Receiver<bool>,
}

impl Parts {
    fn informer(self, namespaced: bool, task: tokio::task::JoinHandle<()>) -> Informer {
        let Parts { kind, store, resource, changes, synced } = self;
        Informer { kind, namespaced, store, resource, changes, synced, task }
    }
}

/// An informer with no watch behind it and a change buffer of `capacity`,
/// and the function that feeds it watcher events as its task would (store
/// first, then the broadcast): tests of subscribers decide when each
/// change arrives, and can make one fall behind.
#[cfg(test)]
pub(crate) fn detached(
    kind: KindRef,
    capacity: usize,
) -> (Arc<Informer>, impl FnMut(watcher::Event<DynamicObject>)) {
    let resource = kube::discovery::ApiResource::from_gvk(&kube::core::GroupVersionKind::gvk(
        "",
        &kind.api_version,
        &kind.kind,
    ));
    let (mut feed, parts) = Feed::new(kind, resource, capacity, Default::default());
    let informer = parts.informer(true, tokio::spawn(std::future::pending()));
    (Arc::new(informer), move |event| feed.apply(event))
}

/// Where a feed's changes go: the informer's broadcast (tests look at the
/// store at the moment of each publish instead).
type Publish = Box<dyn Fn(Change) + Send>;

fn publish_to(changes: broadcast::Sender<Change>) -> Publish {
    // No subscriber is fine: the store still has the object.
    Box::new(move |change| drop(changes.send(change)))
}

/// (namespace, name) of a cached object.
type Key = (Option<String>, String);

fn key_of(object: &DynamicObject) -> Key {
    (object.metadata.namespace.clone(), object.metadata.name.clone().unwrap_or_default())
}

/// The task behind one informer: watcher events into the store, the
/// broadcast and the size gauges.
struct Feed {
    kind: KindRef,
    writer: reflector::store::Writer<DynamicObject>,
    /// Called after the store holds the change, never before.
    publish: Publish,
    synced: watch::Sender<bool>,
    /// JSON size of each cached object, for the byte gauge.
    sizes: HashMap<Key, i64>,
    /// The sum of `sizes`, kept as they change (summing per event would
    /// cost O(objects) on every watch event).
    total_bytes: i64,
    /// Keys seen since the current (re)list began.
    listed: Option<HashSet<Key>>,
    objects: Gauge,
    bytes: Gauge,
}

impl Feed {
    /// A feed of `kind` whose broadcast holds `capacity` changes, reporting
    /// its size to the (objects, bytes) gauges, and the informer's side of it.
    fn new(
        kind: KindRef,
        resource: kube::discovery::ApiResource,
        capacity: usize,
        gauges: (Gauge, Gauge),
    ) -> (Feed, Parts) {
        let writer = reflector::store::Writer::new(resource.clone());
        let store = writer.as_reader();
        let (changes, _) = broadcast::channel(capacity);
        let (synced_tx, synced) = watch::channel(false);
        let (objects, bytes) = gauges;
        let feed = Feed {
            kind: kind.clone(),
            writer,
            publish: publish_to(changes.clone()),
            synced: synced_tx,
            sizes: HashMap::new(),
            total_bytes: 0,
            listed: None,
            objects,
            bytes,
        };
        (feed, Parts { kind, store, resource, changes, synced })
    }

    async fn run(mut self, api: kube::Api<DynamicObject>) {
        let events = watcher(api, watcher::Config::default()).default_backoff();
        futures::pin_mut!(events);
        while let Some(event) = events.next().await {
            match event {
                Ok(event) => self.apply(event),
                // The watcher retries with backoff; say so once per failure.
                Err(error) => tracing::warn!(kind = %self.kind, %error, "watch failed; retrying"),
            }
        }
    }

    /// Writes `event` to the store, then publishes what changed. Store
    /// first: a subscriber that reacts at once must find the object (or its
    /// absence) in the cache, or it takes the key for gone and drops it.
    /// Objects of a (re)list reach the store only when the list is done
    /// (kube-runtime buffers them), so they are published then.
    fn apply(&mut self, event: watcher::Event<DynamicObject>) {
        match &event {
            watcher::Event::Init => {
                self.listed = Some(HashSet::new());
                self.writer.apply_watcher_event(&event);
            }
            watcher::Event::InitApply(object) => {
                if let Some(listed) = &mut self.listed {
                    listed.insert(key_of(object));
                }
                self.record(object, false);
                self.writer.apply_watcher_event(&event);
            }
            watcher::Event::InitDone => {
                let vanished = self.vanished();
                self.writer.apply_watcher_event(&event);
                for object in self.writer.as_reader().state() {
                    self.send(Change::Applied(object));
                }
                for object in vanished {
                    self.send(Change::Deleted(object));
                }
                self.synced.send_replace(true);
            }
            watcher::Event::Apply(object) => {
                self.record(object, false);
                self.writer.apply_watcher_event(&event);
                self.send(Change::Applied(Arc::new(object.clone())));
            }
            watcher::Event::Delete(object) => {
                self.record(object, true);
                self.writer.apply_watcher_event(&event);
                self.send(Change::Deleted(Arc::new(object.clone())));
            }
        }
    }

    /// Objects cached before the relist but absent from it were deleted
    /// while the watch was down: taken from the store before it forgets
    /// them, published as deleted once the new list is in.
    fn vanished(&mut self) -> Vec<Arc<DynamicObject>> {
        let Some(listed) = self.listed.take() else { return Vec::new() };
        let vanished: Vec<Key> = self.sizes.keys().filter(|k| !listed.contains(*k)).cloned().collect();
        if vanished.is_empty() {
            return Vec::new();
        }
        let mut cached: HashMap<Key, Arc<DynamicObject>> =
            self.writer.as_reader().state().into_iter().map(|o| (key_of(&o), o)).collect();
        let mut gone = Vec::with_capacity(vanished.len());
        for key in vanished {
            self.forget_size(&key);
            gone.extend(cached.remove(&key));
        }
        self.update_gauges();
        gone
    }

    fn record(&mut self, object: &DynamicObject, deleted: bool) {
        let key = key_of(object);
        if deleted {
            self.forget_size(&key);
        } else {
            let size = serde_json::to_vec(object).map_or(0, |b| b.len());
            let size = i64::try_from(size).unwrap_or(i64::MAX);
            self.total_bytes += size - self.sizes.insert(key, size).unwrap_or(0);
        }
        self.update_gauges();
    }

    fn forget_size(&mut self, key: &Key) {
        self.total_bytes -= self.sizes.remove(key).unwrap_or(0);
    }

    fn update_gauges(&self) {
        self.objects.set(i64::try_from(self.sizes.len()).unwrap_or(i64::MAX));
        self.bytes.set(self.total_bytes);
    }

    fn send(&self, change: Change) {
        (self.publish)(change);
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::sync::Mutex;

    use kube::api::ObjectMeta;
    use kube::discovery::ApiResource;

    use super::*;

    /// ConfigMap `default/<name>` at resourceVersion `version`.
    pub(crate) fn config_map(name: &str, version: &str) -> DynamicObject {
        let resource = ApiResource::from_gvk(&kube::core::GroupVersionKind::gvk("", "v1", "ConfigMap"));
        let mut object = DynamicObject::new(name, &resource).within("default");
        object.metadata = ObjectMeta {
            name: Some(name.into()),
            namespace: Some("default".into()),
            resource_version: Some(version.into()),
            ..ObjectMeta::default()
        };
        object
    }

    /// What the store held for the object of each change at the moment it
    /// was published: (applied?, name, resourceVersion in the store).
    type Seen = Arc<Mutex<Vec<(bool, String, Option<String>)>>>;

    fn feed() -> (Feed, Seen) {
        let resource = ApiResource::from_gvk(&kube::core::GroupVersionKind::gvk("", "v1", "ConfigMap"));
        let kind = KindRef { cluster: "default".into(), api_version: "v1".into(), kind: "ConfigMap".into() };
        let (mut feed, parts) = Feed::new(kind, resource.clone(), 1, Default::default());
        let seen: Seen = Arc::default();
        let log = seen.clone();
        feed.publish = Box::new(move |change| {
            let object = change.object();
            let name = object.metadata.name.clone().unwrap_or_default();
            let key = StoreRef::new_with(&name, resource.clone()).within("default");
            let stored =
                parts.store.get(&key).map(|o| o.metadata.resource_version.clone().unwrap_or_default());
            let applied = matches!(change, Change::Applied(_));
            log.lock().unwrap().push((applied, name, stored));
        });
        (feed, seen)
    }

    #[test]
    fn the_cache_gauges_follow_creates_updates_deletes_and_a_relist() {
        let (mut feed, _) = feed();
        let (objects, bytes) = (feed.objects.clone(), feed.bytes.clone());
        let size = |o: &DynamicObject| i64::try_from(serde_json::to_vec(o).unwrap().len()).unwrap();
        let (a, b) = (config_map("a", "1"), config_map("b", "1"));
        feed.apply(watcher::Event::Init);
        feed.apply(watcher::Event::InitApply(a.clone()));
        feed.apply(watcher::Event::InitApply(b.clone()));
        feed.apply(watcher::Event::InitDone);
        assert_eq!((objects.get(), bytes.get()), (2, size(&a) + size(&b)), "after the list");

        let mut bigger = config_map("a", "2");
        bigger.data = serde_json::json!({"data": {"k": "a longer value than before"}});
        feed.apply(watcher::Event::Apply(bigger.clone()));
        assert_eq!((objects.get(), bytes.get()), (2, size(&bigger) + size(&b)), "after an update");

        feed.apply(watcher::Event::Delete(b));
        assert_eq!((objects.get(), bytes.get()), (1, size(&bigger)), "after a delete");

        // A relist that holds only `c`: `a` vanished while the watch was down.
        let c = config_map("c", "3");
        feed.apply(watcher::Event::Init);
        feed.apply(watcher::Event::InitApply(c.clone()));
        feed.apply(watcher::Event::InitDone);
        assert_eq!((objects.get(), bytes.get()), (1, size(&c)), "after a relist");
    }

    #[test]
    fn a_change_is_published_only_once_the_store_holds_it() {
        let (mut feed, seen) = feed();
        feed.apply(watcher::Event::Init);
        feed.apply(watcher::Event::InitApply(config_map("listed", "1")));
        feed.apply(watcher::Event::InitApply(config_map("vanishes", "1")));
        feed.apply(watcher::Event::InitDone);
        feed.apply(watcher::Event::Apply(config_map("created", "2")));
        feed.apply(watcher::Event::Apply(config_map("listed", "3")));
        feed.apply(watcher::Event::Delete(config_map("created", "4")));
        // A relist that no longer holds `vanishes`.
        feed.apply(watcher::Event::Init);
        feed.apply(watcher::Event::InitApply(config_map("listed", "5")));
        feed.apply(watcher::Event::InitDone);

        let mut seen = seen.lock().unwrap().clone();
        // A list is published as one batch, in the store's order.
        seen[..2].sort();
        let some = |v: &str| Some(v.to_owned());
        assert_eq!(
            seen,
            vec![
                (true, "listed".into(), some("1")),
                (true, "vanishes".into(), some("1")),
                (true, "created".into(), some("2")),
                (true, "listed".into(), some("3")),
                (false, "created".into(), None),
                (true, "listed".into(), some("5")),
                (false, "vanishes".into(), None),
            ],
            "each applied change finds its own version in the store, each deletion finds it gone"
        );
    }
}
