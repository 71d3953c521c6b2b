//! Garbage collection and namespace termination, as kube-controller-manager's garbage
//! collector and namespace controller do them.
//!
//! In: the storage change stream. Out: deletions and patches written back to storage.
//!
//! The collector keeps an index of every object's uid and ownerReferences, built from
//! storage at start and kept current from the change stream (rebuilt if it lags), and acts
//! on each change:
//! - An object is gone: each dependent whose owners are now all gone is deleted in the
//!   background (a dependent with a live owner left only loses the dangling reference).
//! - An object is being deleted with the `foregroundDeletion` finalizer: its dependents
//!   are deleted (in the foreground too), and the finalizer is removed once no dependent
//!   with `blockOwnerDeletion: true` is left, which lets the object go.
//! - An object is being deleted with the `orphan` finalizer: the ownerReference to it is
//!   removed from each dependent, then the finalizer.
//! - A Namespace is being deleted (Terminating): everything in it is deleted; once nothing
//!   is left, its `kubernetes` finalizer goes and so does the namespace.
//!
//! The collector runs as one task per server, is stopped with the server, and works
//! through [`Store::mutate`] like any writer, so its writes are ordinary changes (watchers
//! see them; resourceVersions move on).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use crate::pipeline::{Preconditions, prepare_delete_with};
use crate::propagation::{FOREGROUND, ORPHAN, Propagation};
use crate::registry::Registry;
use crate::resource::Resource;
use crate::status::ApiError;
use crate::storage::{Change, EventType, ObjectKey, Store, Write};

/// The `spec.finalizers` entry that holds a Namespace until it is empty.
pub const NAMESPACE_FINALIZER: &str = "kubernetes";

#[derive(Debug, Clone)]
struct OwnerRef {
    uid: String,
    block: bool,
}

#[derive(Debug, Clone)]
struct Node {
    key: ObjectKey,
    owners: Vec<OwnerRef>,
    deleting: bool,
    finalizers: Vec<String>,
}

impl Node {
    fn of(key: &ObjectKey, object: &Value) -> Node {
        let owners = metadata(object, "ownerReferences")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|r| {
                Some(OwnerRef {
                    uid: r.get("uid")?.as_str()?.to_owned(),
                    block: r.get("blockOwnerDeletion").and_then(Value::as_bool).unwrap_or(false),
                })
            })
            .collect();
        let finalizers = metadata(object, "finalizers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|f| f.as_str().map(str::to_owned))
            .collect();
        Node {
            key: key.clone(),
            owners,
            deleting: metadata(object, "deletionTimestamp").is_some(),
            finalizers,
        }
    }

    fn holds(&self, finalizer: &str) -> bool {
        self.deleting && self.finalizers.iter().any(|f| f == finalizer)
    }
}

fn uid_of(object: &Value) -> Option<String> {
    metadata(object, "uid").and_then(Value::as_str).map(str::to_owned)
}

/// `metadata.<field>` of `object`: the collector reads these for every change, and
/// `Value::pointer` allocates each path segment it walks.
fn metadata<'a>(object: &'a Value, field: &str) -> Option<&'a Value> {
    object.get("metadata")?.get(field)
}

/// The collector's state: who owns whom.
#[derive(Debug)]
struct Collector {
    store: Arc<Store>,
    registry: Arc<Registry>,
    nodes: HashMap<String, Node>,
    dependents: HashMap<String, BTreeSet<String>>,
    terminating: HashSet<String>,
}

/// Starts the collector for a server; it stops when `stop` turns true.
pub fn spawn(store: Arc<Store>, registry: Arc<Registry>, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut changes = store.subscribe();
        let collector = Arc::new(Mutex::new(Collector {
            store,
            registry,
            nodes: HashMap::new(),
            dependents: HashMap::new(),
            terminating: HashSet::new(),
        }));
        let mut rebuild = true;
        loop {
            let mut batch = Vec::new();
            if !rebuild {
                tokio::select! {
                    _ = stop.wait_for(|s| *s) => return,
                    received = changes.recv() => match received {
                        Ok(change) => batch.push(change),
                        Err(broadcast::error::RecvError::Lagged(_)) => rebuild = true,
                        Err(broadcast::error::RecvError::Closed) => return,
                    },
                }
                loop {
                    match changes.try_recv() {
                        Ok(change) => batch.push(change),
                        Err(broadcast::error::TryRecvError::Lagged(_)) => rebuild = true,
                        Err(_) => break,
                    }
                }
            }
            if *stop.borrow() {
                return;
            }
            let collector = collector.clone();
            let full = std::mem::take(&mut rebuild);
            let done = tokio::task::spawn_blocking(move || {
                let Ok(mut collector) = collector.lock() else { return };
                if full {
                    collector.rebuild();
                } else {
                    collector.handle(&batch);
                }
            })
            .await;
            if done.is_err() {
                tracing::error!("garbage collector pass panicked; rebuilding");
                rebuild = true;
            }
        }
    })
}

impl Collector {
    fn storage_resources(&self) -> Vec<Arc<Resource>> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for group in self.registry.groups() {
            for version in &group.versions {
                for resource in self.registry.resources_of(&group.name, version) {
                    if resource.verbs().contains(&"list") && seen.insert(resource.storage_resource()) {
                        out.push(resource);
                    }
                }
            }
        }
        out
    }

    fn resource_for(&self, storage: &str) -> Option<Arc<Resource>> {
        self.storage_resources().into_iter().find(|r| r.storage_resource() == storage)
    }

    fn index(&mut self, key: &ObjectKey, object: &Value) -> Option<(String, Node)> {
        let uid = uid_of(object)?;
        let node = Node::of(key, object);
        if let Some(old) = self.nodes.get(&uid) {
            for owner in &old.owners {
                if let Some(set) = self.dependents.get_mut(&owner.uid) {
                    set.remove(&uid);
                }
            }
        }
        for owner in &node.owners {
            self.dependents.entry(owner.uid.clone()).or_default().insert(uid.clone());
        }
        self.nodes.insert(uid.clone(), node.clone());
        Some((uid, node))
    }

    fn unindex(&mut self, uid: &str) -> Option<Node> {
        let node = self.nodes.remove(uid)?;
        for owner in &node.owners {
            if let Some(set) = self.dependents.get_mut(&owner.uid) {
                set.remove(uid);
            }
        }
        Some(node)
    }

    /// Reads everything, then does whatever work is pending (e.g. after a restart mid-cascade).
    fn rebuild(&mut self) {
        self.nodes.clear();
        self.dependents.clear();
        self.terminating.clear();
        let mut objects = Vec::new();
        for resource in self.storage_resources() {
            match self.store.list(&resource.storage_resource(), None) {
                Ok(page) => objects.extend(page.items.into_iter().map(|o| (resource.storage_resource(), o))),
                Err(error) => {
                    tracing::warn!(%error, resource = %resource.storage_resource(), "garbage collector could not list")
                }
            }
        }
        let mut keys = Vec::new();
        for (resource, object) in &objects {
            let key = ObjectKey {
                resource: resource.clone(),
                namespace: object
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
                name: object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_owned(),
            };
            self.index(&key, object);
            keys.push((key, object));
        }
        for (key, object) in keys {
            self.react(&key, object, None);
        }
    }

    fn handle(&mut self, changes: &[Arc<Change>]) {
        for change in changes {
            match change.event {
                EventType::Deleted => {
                    let Some(uid) = uid_of(&change.object) else { continue };
                    let Some(node) = self.unindex(&uid) else { continue };
                    let dependents: Vec<String> =
                        self.dependents.remove(&uid).map(|d| d.into_iter().collect()).unwrap_or_default();
                    for dependent in dependents {
                        self.attempt_to_delete(&dependent);
                    }
                    for owner in &node.owners {
                        self.check_foreground(&owner.uid);
                    }
                    if !node.key.namespace.is_empty() && self.terminating.contains(&node.key.namespace) {
                        self.check_namespace(&node.key.namespace.clone());
                    }
                }
                EventType::Added | EventType::Modified => {
                    let before = uid_of(&change.object).and_then(|uid| self.nodes.get(&uid).cloned());
                    self.index(&change.key, &change.object);
                    self.react(&change.key, &change.object, before.as_ref());
                }
            }
        }
    }

    /// What an object's current state asks of the collector.
    fn react(&mut self, key: &ObjectKey, object: &Value, before: Option<&Node>) {
        let Some(uid) = uid_of(object) else { return };
        let Some(node) = self.nodes.get(&uid).cloned() else { return };
        if node.holds(FOREGROUND) {
            self.foreground(&uid);
        }
        if node.holds(ORPHAN) {
            self.orphan(&uid);
        }
        if node.deleting && key.resource == "/namespaces" && key.namespace.is_empty() {
            self.terminating.insert(key.name.clone());
            self.drain_namespace(&key.name);
        }
        if !node.owners.is_empty() && !node.deleting {
            self.attempt_to_delete(&uid);
        }
        // References dropped from a dependent may unblock a foreground owner.
        if let Some(before) = before {
            for owner in
                before.owners.iter().filter(|o| !node.owners.iter().any(|n| n.uid == o.uid && n.block))
            {
                self.check_foreground(&owner.uid);
            }
        }
    }

    fn delete(&self, key: &ObjectKey, propagation: Propagation) {
        let resource = self.resource_for(&key.resource);
        let result = self.store.mutate(key, false, |current| {
            let Some(current) = current else { return Ok::<_, ApiError>(Write::Keep) };
            match &resource {
                Some(resource) => {
                    prepare_delete_with(resource, current, &Preconditions::default(), propagation)
                }
                None => Ok(Write::Delete),
            }
        });
        if let Err(error) = result {
            tracing::warn!(%error, resource = %key.resource, namespace = %key.namespace, name = %key.name, "garbage collector could not delete");
        }
    }

    fn update(&self, key: &ObjectKey, change: impl FnOnce(&mut Value)) {
        let result = self.store.mutate(key, false, |current| {
            let Some(current) = current else { return Ok::<_, ApiError>(Write::Keep) };
            let mut new = current.clone();
            change(&mut new);
            if new == *current {
                return Ok(Write::Keep);
            }
            let deleting = new.pointer("/metadata/deletionTimestamp").is_some();
            let held =
                new.pointer("/metadata/finalizers").and_then(Value::as_array).is_some_and(|f| !f.is_empty());
            let namespace_held = key.resource == "/namespaces"
                && new.pointer("/spec/finalizers").and_then(Value::as_array).is_some_and(|f| !f.is_empty());
            if deleting && !held && !namespace_held {
                return Ok(Write::DeleteAs(new));
            }
            Ok(Write::Put(new))
        });
        if let Err(error) = result {
            tracing::warn!(%error, resource = %key.resource, name = %key.name, "garbage collector could not update");
        }
    }

    /// Deletes a dependent whose owners are all gone; drops references to gone owners from
    /// one that still has a live owner; deletes in the foreground under a foreground owner.
    fn attempt_to_delete(&mut self, uid: &str) {
        let Some(node) = self.nodes.get(uid).cloned() else { return };
        if node.deleting || node.owners.is_empty() {
            return;
        }
        let (mut gone, mut waiting, mut solid) = (Vec::new(), 0, 0);
        for owner in &node.owners {
            match self.nodes.get(&owner.uid) {
                None => gone.push(owner.uid.clone()),
                Some(o) if o.holds(FOREGROUND) => waiting += 1,
                Some(_) => solid += 1,
            }
        }
        if solid > 0 {
            if !gone.is_empty() {
                self.update(&node.key, |object| remove_owner_refs(object, &gone));
            }
            return;
        }
        if waiting > 0 {
            self.delete(&node.key, Propagation::Foreground);
        } else if !gone.is_empty() {
            self.delete(&node.key, Propagation::Background);
        }
    }

    fn foreground(&mut self, uid: &str) {
        let dependents: Vec<String> =
            self.dependents.get(uid).map(|d| d.iter().cloned().collect()).unwrap_or_default();
        for dependent in dependents {
            if let Some(node) = self.nodes.get(&dependent).cloned()
                && !node.deleting
            {
                self.delete(&node.key, Propagation::Foreground);
            }
        }
        self.check_foreground(uid);
    }

    /// Lets a foreground-deleted owner go once no dependent blocks it.
    fn check_foreground(&mut self, uid: &str) {
        let Some(owner) = self.nodes.get(uid).cloned() else { return };
        if !owner.holds(FOREGROUND) {
            return;
        }
        let blocked = self
            .dependents
            .get(uid)
            .into_iter()
            .flatten()
            .any(|d| self.nodes.get(d).is_some_and(|n| n.owners.iter().any(|o| o.uid == uid && o.block)));
        if !blocked {
            self.update(&owner.key, |object| remove_finalizer(object, FOREGROUND));
        }
    }

    fn orphan(&mut self, uid: &str) {
        let dependents: Vec<String> =
            self.dependents.get(uid).map(|d| d.iter().cloned().collect()).unwrap_or_default();
        let owner = [uid.to_owned()];
        for dependent in dependents {
            if let Some(node) = self.nodes.get(&dependent).cloned() {
                self.update(&node.key, |object| remove_owner_refs(object, &owner));
            }
        }
        if let Some(node) = self.nodes.get(uid).cloned() {
            self.update(&node.key, |object| remove_finalizer(object, ORPHAN));
        }
    }

    fn namespaced_contents(&self, namespace: &str) -> Vec<(ObjectKey, bool)> {
        let mut out = Vec::new();
        for resource in self.storage_resources().into_iter().filter(|r| r.namespaced) {
            let Ok(page) = self.store.list(&resource.storage_resource(), Some(namespace)) else {
                continue;
            };
            for object in page.items {
                let name = object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_owned();
                let deleting = object.pointer("/metadata/deletionTimestamp").is_some();
                let key = ObjectKey {
                    resource: resource.storage_resource(),
                    namespace: namespace.to_owned(),
                    name,
                };
                out.push((key, deleting));
            }
        }
        out
    }

    fn drain_namespace(&mut self, namespace: &str) {
        for (key, deleting) in self.namespaced_contents(namespace) {
            if !deleting {
                self.delete(&key, Propagation::Background);
            }
        }
        self.check_namespace(namespace);
    }

    fn check_namespace(&mut self, namespace: &str) {
        if !self.namespaced_contents(namespace).is_empty() {
            return;
        }
        let key = ObjectKey {
            resource: "/namespaces".into(),
            namespace: String::new(),
            name: namespace.to_owned(),
        };
        self.update(&key, |object| {
            if let Some(list) = object.pointer_mut("/spec/finalizers").and_then(Value::as_array_mut) {
                list.retain(|f| f != NAMESPACE_FINALIZER);
            }
        });
        self.terminating.remove(namespace);
    }
}

fn remove_owner_refs(object: &mut Value, uids: &[String]) {
    let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) else { return };
    if let Some(refs) = meta.get_mut("ownerReferences").and_then(Value::as_array_mut) {
        refs.retain(|r| !r.get("uid").and_then(Value::as_str).is_some_and(|u| uids.iter().any(|g| g == u)));
        if refs.is_empty() {
            meta.remove("ownerReferences");
        }
    }
}

fn remove_finalizer(object: &mut Value, finalizer: &str) {
    let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) else { return };
    if let Some(list) = meta.get_mut("finalizers").and_then(Value::as_array_mut) {
        list.retain(|f| f != finalizer);
        if list.is_empty() {
            meta.remove("finalizers");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn marked(mut object: Value, finalizers: &[&str]) -> Value {
        object["metadata"]["deletionTimestamp"] = json!("2024-01-01T00:00:00Z");
        object["metadata"]["finalizers"] = json!(finalizers);
        object
    }

    #[test]
    fn nodes_read_owners_and_finalizers() {
        let key = ObjectKey { resource: "/configmaps".into(), namespace: "ns".into(), name: "c".into() };
        let object = marked(
            json!({"metadata": {"uid": "u", "ownerReferences": [{"uid": "o", "blockOwnerDeletion": true}, {"uid": "p"}]}}),
            &[FOREGROUND],
        );
        let node = Node::of(&key, &object);
        assert_eq!(
            node.owners.iter().map(|o| (o.uid.as_str(), o.block)).collect::<Vec<_>>(),
            [("o", true), ("p", false)]
        );
        assert!(node.holds(FOREGROUND) && !node.holds(ORPHAN));
        let mut object = object;
        remove_owner_refs(&mut object, &["o".to_owned(), "p".to_owned()]);
        assert!(object["metadata"].get("ownerReferences").is_none());
        remove_finalizer(&mut object, FOREGROUND);
        assert!(object["metadata"].get("finalizers").is_none());
    }
}
