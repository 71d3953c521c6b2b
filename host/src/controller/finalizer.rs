//! The host-managed finalizer of each plugin: added before the plugin's
//! first reconcile of an object, removed only after its `finalize` export
//! succeeded, so an object never goes before its plugin cleaned up.
//!
//! Expected flow, per object and plugin:
//! 1. The object has no deletionTimestamp and lacks the finalizer: the host
//!    adds it (a JSON patch guarded by a `test` of the current list, so a
//!    concurrent edit makes the patch fail instead of being overwritten), then
//!    reconciles.
//! 2. deletionTimestamp is set and the finalizer is present: the host calls
//!    `finalize`; on success it removes the finalizer the same guarded way,
//!    on failure it backs off and calls `finalize` again later.
//! 3. deletionTimestamp is set and the finalizer is absent: nothing to do.
//!
//! The finalizer is `wasmvisor.dev/<plugin>`: plugin names are DNS labels, so
//! it is a valid qualified name.

use kube::api::{DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};

use crate::capability::kube::KubeError;
use crate::capability::kube::backend::classify;
use crate::cluster::Clusters;
use crate::object::ObjectRef;

/// The finalizer of `plugin`.
pub fn name(plugin: &str) -> String {
    format!("wasmvisor.dev/{plugin}")
}

/// Whether `object` carries `finalizer`.
pub fn has(object: &DynamicObject, finalizer: &str) -> bool {
    object.metadata.finalizers.as_deref().unwrap_or_default().iter().any(|f| f == finalizer)
}

/// Whether `object` is being deleted.
pub fn deleting(object: &DynamicObject) -> bool {
    object.metadata.deletion_timestamp.is_some()
}

/// The JSON patch that adds `finalizer` to `current`'s list.
fn add_patch(current: &DynamicObject, finalizer: &str) -> Value {
    match current.metadata.finalizers.as_deref() {
        // An absent list cannot be tested; the resourceVersion guards instead.
        None | Some([]) => json!([
            {"op": "test", "path": "/metadata/resourceVersion", "value": current.metadata.resource_version},
            {"op": "add", "path": "/metadata/finalizers", "value": [finalizer]},
        ]),
        Some(list) => json!([
            {"op": "test", "path": "/metadata/finalizers", "value": list},
            {"op": "add", "path": "/metadata/finalizers/-", "value": finalizer},
        ]),
    }
}

/// The JSON patch that removes `finalizer` from `current`'s list, if it is there.
fn remove_patch(current: &DynamicObject, finalizer: &str) -> Option<Value> {
    let list = current.metadata.finalizers.as_deref()?;
    let index = list.iter().position(|f| f == finalizer)?;
    Some(json!([
        {"op": "test", "path": "/metadata/finalizers", "value": list},
        {"op": "remove", "path": format!("/metadata/finalizers/{index}")},
    ]))
}

/// Adds `finalizer` to the object; returns the object as stored.
pub async fn add(
    clusters: &Clusters,
    target: &ObjectRef,
    current: &DynamicObject,
    finalizer: &str,
) -> Result<DynamicObject, KubeError> {
    patch(clusters, target, add_patch(current, finalizer)).await
}

/// Removes `finalizer` from the object (a no-op when it is not there).
pub async fn remove(
    clusters: &Clusters,
    target: &ObjectRef,
    current: &DynamicObject,
    finalizer: &str,
) -> Result<(), KubeError> {
    let Some(ops) = remove_patch(current, finalizer) else { return Ok(()) };
    match patch(clusters, target, ops).await {
        // The object went as soon as its last finalizer did.
        Ok(_) | Err(KubeError::NotFound(_)) => Ok(()),
        Err(other) => Err(other),
    }
}

async fn patch(clusters: &Clusters, target: &ObjectRef, ops: Value) -> Result<DynamicObject, KubeError> {
    let api =
        clusters.api(&target.cluster, &target.api_version, &target.kind, target.namespace.as_deref()).await?;
    let ops: json_patch::Patch =
        serde_json::from_value(ops).map_err(|e| KubeError::Internal(format!("finalizer patch: {e}")))?;
    api.patch(&target.name, &PatchParams::default(), &Patch::<()>::Json(ops)).await.map_err(classify)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(finalizers: Option<Vec<&str>>) -> DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "a", "finalizers": finalizers}
        }))
        .unwrap()
    }

    #[test]
    fn add_guards_the_current_list() {
        let mut fresh = object(None);
        fresh.metadata.resource_version = Some("7".into());
        let empty = add_patch(&fresh, "wasmvisor.dev/p");
        assert_eq!(empty[0], json!({"op": "test", "path": "/metadata/resourceVersion", "value": "7"}));
        assert_eq!(empty[1]["value"], json!(["wasmvisor.dev/p"]));
        let other = add_patch(&object(Some(vec!["x"])), "wasmvisor.dev/p");
        assert_eq!(other[0]["value"], json!(["x"]));
        assert_eq!(
            other[1],
            json!({"op": "add", "path": "/metadata/finalizers/-", "value": "wasmvisor.dev/p"})
        );
    }

    #[test]
    fn remove_targets_our_index_only() {
        let ours = object(Some(vec!["x", "wasmvisor.dev/p"]));
        assert!(has(&ours, "wasmvisor.dev/p"));
        let ops = remove_patch(&ours, "wasmvisor.dev/p").unwrap();
        assert_eq!(ops[1], json!({"op": "remove", "path": "/metadata/finalizers/1"}));
        assert_eq!(remove_patch(&object(Some(vec!["x"])), "wasmvisor.dev/p"), None);
        assert_eq!(remove_patch(&object(None), "wasmvisor.dev/p"), None);
    }

    #[test]
    fn finalizer_names_are_qualified() {
        assert_eq!(name("ncp"), "wasmvisor.dev/ncp");
    }
}
