//! The watch loop: caches of the Supervisor's VirtualMachines, Clusters and
//! VSphereClusters, and after every change the guests brought in line with
//! [`topology::plan`].
//!
//! In: watch events (kube-rs reflectors, over HTTPS like any client). Out: one
//! [`GuestHandle`] per running guest, started, updated, moved or stopped; stores of clusters
//! that are gone removed from disk. Invariant: nothing is decided before all three caches
//! have listed once, so a restart never mistakes "not listed yet" for "gone" and removes a
//! store that is still wanted.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use futures::stream::BoxStream;
use futures::{FutureExt as _, StreamExt as _};
use kube::api::{ApiResource, DynamicObject};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt as _, watcher};
use kube::{Api, Client};
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use wasmvisor_chain_api::labels::CAPV_CLUSTER_NAME;
use wasmvisor_chain_api::{Resource, capi, capv, vmop};

use crate::guest::{Ending, GuestHandle};
use crate::topology::{self, ClusterKey, Fate};

/// How the guests reach the Supervisor and where they keep their stores.
#[derive(Clone)]
pub struct Config {
    /// A client of the Supervisor's API server.
    pub supervisor: Client,
    /// Guest stores live in `DATA_DIR/<namespace>/<cluster>/` (`up` passes `DIR/guests`).
    pub data_dir: PathBuf,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config").field("data_dir", &self.data_dir).finish_non_exhaustive()
    }
}

/// The running guests component. Dropping it does not stop it; call [`Guests::shutdown`].
#[derive(Debug)]
pub struct Guests {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Guests {
    /// Starts watching. Returns at once; guests start as their VMs come up. Nothing here
    /// fails: a Supervisor that does not answer (or lacks the chain's CRDs) is retried
    /// with kube-rs' default backoff.
    pub fn start(config: Config) -> Guests {
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(run(config, stop_rx));
        Guests { stop, task }
    }

    /// Stops every guest API server and node agent, keeping their stores (a later start
    /// comes back with the guests whose VMs still run).
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// The watch events of the three kinds, merged: which kind (its index), and whether the
/// event ended an initial list (`InitDone`), or the watch error.
type Events = BoxStream<'static, (usize, Result<bool, watcher::Error>)>;

/// A watched kind: its API resource and cache.
struct Watched {
    resource: ApiResource,
    store: Store<DynamicObject>,
}

impl Watched {
    fn new<K: Resource>(client: &Client, index: usize, labels: Option<&str>) -> (Watched, Events) {
        let (group, version) = K::API_VERSION.split_once('/').unwrap_or(("", K::API_VERSION));
        let resource = ApiResource {
            group: group.to_owned(),
            version: version.to_owned(),
            api_version: K::API_VERSION.to_owned(),
            kind: K::KIND.to_owned(),
            plural: K::PLURAL.to_owned(),
        };
        let writer = reflector::store::Writer::new(resource.clone());
        let store = writer.as_reader();
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
        let mut config = watcher::Config::default();
        if let Some(labels) = labels {
            config = config.labels(labels);
        }
        let events = watcher(api, config)
            .default_backoff()
            .reflect(writer)
            .map(move |event| (index, event.map(|e| matches!(e, watcher::Event::InitDone))))
            .boxed();
        (Watched { resource, store }, events)
    }

    /// The cached objects as the chain's typed objects (ones that do not parse are skipped:
    /// the CRD schema makes that a server bug, not something to stop for).
    fn typed<T: DeserializeOwned>(&self) -> Vec<T> {
        self.store
            .state()
            .iter()
            .filter_map(|object| {
                let mut value = serde_json::to_value(object.as_ref()).ok()?;
                value["apiVersion"] = self.resource.api_version.clone().into();
                value["kind"] = self.resource.kind.clone().into();
                serde_json::from_value(value)
                    .inspect_err(|error| {
                        tracing::warn!(kind = %self.resource.kind, name = ?object.metadata.name, %error,
                            "skipping an object that does not parse");
                    })
                    .ok()
            })
            .collect()
    }
}

async fn run(config: Config, mut stop: watch::Receiver<bool>) {
    let client = &config.supervisor;
    let (vms, vm_events) = Watched::new::<vmop::VirtualMachine>(client, 0, Some(CAPV_CLUSTER_NAME));
    let (clusters, cluster_events) = Watched::new::<capi::Cluster>(client, 1, None);
    let (vsphere_clusters, vsphere_events) = Watched::new::<capv::VSphereCluster>(client, 2, None);
    let mut events = futures::stream::select_all([vm_events, cluster_events, vsphere_events]);
    let mut listed = [false; 3];
    let mut guests: BTreeMap<ClusterKey, GuestHandle> = BTreeMap::new();
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            event = events.next() => match event {
                Some((index, Ok(init_done))) => listed[index] |= init_done,
                Some((index, Err(error))) => {
                    // The watcher backs off and retries by itself.
                    tracing::warn!(kind = index_kind(index), %error, "watching the Supervisor");
                    continue;
                }
                None => break,
            },
        }
        // Take in whatever else has arrived before acting once for all of it.
        while let Some(Some((index, event))) = events.next().now_or_never() {
            if let Ok(init_done) = event {
                listed[index] |= init_done;
            }
        }
        if !listed.iter().all(|l| *l) {
            continue;
        }
        let fates = topology::plan(&vms.typed(), &clusters.typed(), &vsphere_clusters.typed());
        reconcile(&config, &mut guests, &fates).await;
    }
    for (_, guest) in guests {
        guest.stop(Ending::Keep).await;
    }
}

fn index_kind(index: usize) -> &'static str {
    [vmop::VirtualMachine::KIND, capi::Cluster::KIND, capv::VSphereCluster::KIND]
        .get(index)
        .copied()
        .unwrap_or("")
}

/// Brings the running guests in line with `fates`.
async fn reconcile(
    config: &Config,
    guests: &mut BTreeMap<ClusterKey, GuestHandle>,
    fates: &BTreeMap<ClusterKey, Fate>,
) {
    let stopping: Vec<ClusterKey> = guests
        .iter()
        .filter(|(key, guest)| match fates.get(*key) {
            Some(Fate::Run(plan)) => !same_place(plan, &guest.plan()),
            _ => true,
        })
        .map(|(key, _)| key.clone())
        .collect();
    for key in stopping {
        let Some(guest) = guests.remove(&key) else { continue };
        let ending = match fates.get(&key) {
            None => Ending::Remove,
            Some(Fate::Wait(why)) => {
                tracing::info!(cluster = %key, %why, "stopping the guest");
                Ending::Keep
            }
            Some(Fate::Run(plan)) => {
                tracing::info!(cluster = %key, ip = %plan.control_plane_ip, endpoint = %plan.endpoint,
                    "the guest's control plane moved; restarting it there");
                Ending::Keep
            }
        };
        guest.stop(ending).await;
    }
    for (key, fate) in fates {
        match (fate, guests.get(key)) {
            (Fate::Run(plan), Some(guest)) => guest.update(plan.clone()),
            (Fate::Run(plan), None) => {
                tracing::info!(cluster = %key, ip = %plan.control_plane_ip, endpoint = %plan.endpoint,
                    "starting the guest");
                let store = store_of(&config.data_dir, key);
                guests
                    .insert(key.clone(), GuestHandle::spawn(plan.clone(), store, config.supervisor.clone()));
            }
            (Fate::Wait(why), None) => tracing::debug!(cluster = %key, %why, "guest not started"),
            (Fate::Wait(_), Some(_)) => {}
        }
    }
    remove_gone_stores(&config.data_dir, fates);
}

/// Whether two plans put the API server at the same address with the same certificate.
fn same_place(a: &topology::GuestPlan, b: &topology::GuestPlan) -> bool {
    a.control_plane_ip == b.control_plane_ip && a.endpoint == b.endpoint && a.cluster_uid == b.cluster_uid
}

/// `DATA_DIR/<namespace>/<cluster>`.
pub fn store_of(data_dir: &Path, key: &ClusterKey) -> PathBuf {
    data_dir.join(&key.namespace).join(&key.name)
}

/// Removes the store of every cluster on disk that `fates` no longer has (deleted while
/// its guest was not running, or while it waited), and namespace directories left empty.
fn remove_gone_stores(data_dir: &Path, fates: &BTreeMap<ClusterKey, Fate>) {
    let Ok(namespaces) = std::fs::read_dir(data_dir) else { return };
    for namespace in namespaces.flatten().filter(|e| e.path().is_dir()) {
        let namespace_name = namespace.file_name().to_string_lossy().into_owned();
        let Ok(clusters) = std::fs::read_dir(namespace.path()) else { continue };
        for cluster in clusters.flatten().filter(|e| e.path().is_dir()) {
            let key = ClusterKey::new(namespace_name.clone(), cluster.file_name().to_string_lossy());
            if fates.contains_key(&key) {
                continue;
            }
            match std::fs::remove_dir_all(cluster.path()) {
                Ok(()) => tracing::info!(cluster = %key, "guest store removed (the cluster is gone)"),
                Err(error) => tracing::warn!(cluster = %key, %error, "removing the guest store"),
            }
        }
        // Fails (and is left) while it still holds a cluster.
        let _ = std::fs::remove_dir(namespace.path());
    }
}
