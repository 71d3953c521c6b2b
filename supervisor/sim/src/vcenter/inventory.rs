//! Inventory look-ups: one datacenter with one cluster, host, datastore, resource pool and
//! the usual folders, plus the networks (the standard one and one per NSX segment).
//!
//! The fixed part is the smallest inventory a VM can be placed in; the ids are vCenter
//! style (`group-v3`, `resgroup-8`, …) so clients handle them as opaque strings.

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::VcState;
use super::error::VcError;
use super::filters::Filters;
use crate::world;

/// The datacenter.
pub(crate) const DATACENTER: (&str, &str) = ("datacenter-1", "Datacenter");
/// The cluster.
pub(crate) const CLUSTER: (&str, &str) = ("domain-c7", "Cluster");
/// The host.
pub(crate) const HOST: (&str, &str) = ("host-10", "esx-01.sim.local");
/// The datastore.
pub(crate) const DATASTORE: (&str, &str) = ("datastore-11", "datastore1");
/// The cluster's root resource pool.
pub(crate) const RESOURCE_POOL: (&str, &str) = ("resgroup-8", "Resources");
/// The root VM folder.
pub(crate) const VM_FOLDER: (&str, &str) = ("group-v3", "vm");

/// `(id, name, type)` of every folder.
const FOLDERS: &[(&str, &str, &str)] = &[
    ("group-d1", "Datacenters", "DATACENTER"),
    (VM_FOLDER.0, VM_FOLDER.1, "VIRTUAL_MACHINE"),
    ("group-h4", "host", "HOST"),
    ("group-s5", "datastore", "DATASTORE"),
    ("group-n6", "network", "NETWORK"),
];

/// Whether `id` is a folder that can hold VMs.
pub(crate) fn is_vm_folder(id: &str) -> bool {
    FOLDERS.iter().any(|(f, _, t)| *f == id && *t == "VIRTUAL_MACHINE")
}

/// One listed item and the `(filter name, value)` pairs it is matched on.
type Item = (Value, Vec<(&'static str, String)>);

/// Which inventory list a route serves.
#[derive(Clone, Copy, Debug)]
pub(crate) enum List {
    Datacenter,
    Folder,
    ResourcePool,
    Cluster,
    Host,
    Datastore,
    Network,
}

/// `GET /api/vcenter/{datacenter,folder,resource-pool,cluster,host,datastore,network}`.
pub(crate) async fn list(State(state): State<VcState>, RawQuery(query): RawQuery, which: List) -> Response {
    let filters = Filters::parse(query.as_deref());
    match items(&state, which, &filters).await {
        Ok(items) => axum::Json(items).into_response(),
        Err(e) => e.into_response(),
    }
}

/// The summaries of inventory list `which` that pass `filters`.
pub(crate) async fn items(state: &VcState, which: List, filters: &Filters) -> Result<Vec<Value>, VcError> {
    let items: Result<Vec<Item>, VcError> = match which {
        List::Datacenter => Ok(vec![(
            json!({"datacenter": DATACENTER.0, "name": DATACENTER.1}),
            vec![("datacenters", DATACENTER.0.into()), ("names", DATACENTER.1.into())],
        )]),
        List::Folder => Ok(FOLDERS
            .iter()
            .map(|(id, name, kind)| {
                (
                    json!({"folder": id, "name": name, "type": kind}),
                    vec![("folders", (*id).into()), ("names", (*name).into()), ("type", (*kind).into())],
                )
            })
            .collect()),
        List::ResourcePool => Ok(vec![(
            json!({"resource_pool": RESOURCE_POOL.0, "name": RESOURCE_POOL.1}),
            vec![("resource_pools", RESOURCE_POOL.0.into()), ("names", RESOURCE_POOL.1.into())],
        )]),
        List::Cluster => Ok(vec![(
            json!({"cluster": CLUSTER.0, "name": CLUSTER.1, "ha_enabled": false, "drs_enabled": true}),
            vec![("clusters", CLUSTER.0.into()), ("names", CLUSTER.1.into())],
        )]),
        List::Host => Ok(vec![(
            json!({"host": HOST.0, "name": HOST.1,
                   "connection_state": "CONNECTED", "power_state": "POWERED_ON"}),
            vec![("hosts", HOST.0.into()), ("names", HOST.1.into())],
        )]),
        List::Datastore => Ok(vec![(
            json!({"datastore": DATASTORE.0, "name": DATASTORE.1, "type": "VMFS",
                   "free_space": 2_000_000_000_000_u64, "capacity": 4_000_000_000_000_u64}),
            vec![("datastores", DATASTORE.0.into()), ("names", DATASTORE.1.into())],
        )]),
        List::Network => {
            state.ctx.store.transact(|tx| Ok::<_, VcError>(world::networks(tx)?)).await.map(|networks| {
                networks
                    .into_iter()
                    .map(|n| {
                        let filter = vec![
                            ("networks", n.id.clone()),
                            ("names", n.name.clone()),
                            ("types", n.network_type.into()),
                        ];
                        (json!({"network": n.id, "name": n.name, "type": n.network_type}), filter)
                    })
                    .collect()
            })
        }
    };
    Ok(items?
        .into_iter()
        .filter(|(_, keys)| keys.iter().all(|(name, value)| filters.allows(name, value)))
        .map(|(item, _)| item)
        .collect())
}
