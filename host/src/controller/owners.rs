//! Owner mapping: a change to an owned object re-queues its controller
//! owner, as controller-runtime's `Owns` (`EnqueueRequestForOwner` with
//! `OnlyControllerOwner`) does.
//!
//! In: an owned object and the kind a plugin reconciles. Out: the owner's
//! [`ObjectRef`], if the object's controller reference points at that kind.
//! Only the reference marked `controller: true` counts, so an object with
//! several owners re-queues the one that manages it.

use kube::api::DynamicObject;

use crate::object::ObjectRef;

/// The controller owner of `owned` when it is of `owner_api_version`/`owner_kind`.
///
/// Owner references carry no namespace: a namespaced owner lives in the
/// owned object's namespace, a cluster-scoped one (`owner_namespaced ==
/// false`, e.g. a Namespace owning a ConfigMap) in none.
pub fn controller_owner(
    owned: &DynamicObject,
    cluster: &str,
    owner_api_version: &str,
    owner_kind: &str,
    owner_namespaced: bool,
) -> Option<ObjectRef> {
    let reference =
        owned.metadata.owner_references.as_deref()?.iter().find(|r| r.controller == Some(true))?;
    if reference.api_version != owner_api_version || reference.kind != owner_kind {
        return None;
    }
    Some(ObjectRef {
        cluster: cluster.to_owned(),
        api_version: reference.api_version.clone(),
        kind: reference.kind.clone(),
        namespace: if owner_namespaced { owned.metadata.namespace.clone() } else { None },
        name: reference.name.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn owned(references: serde_json::Value) -> DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "namespace": "team", "ownerReferences": references}
        }))
        .unwrap()
    }

    #[test]
    fn the_controller_reference_of_the_watched_kind_maps_to_its_owner() {
        let cm = owned(json!([
            {"apiVersion": "v1", "kind": "Namespace", "name": "team", "uid": "u1", "controller": true}
        ]));
        let owner = controller_owner(&cm, "default", "v1", "Namespace", false).unwrap();
        assert_eq!(owner.to_string(), "default/v1/Namespace/team");
        let namespaced = controller_owner(&cm, "default", "v1", "Namespace", true).unwrap();
        assert_eq!(namespaced.namespace.as_deref(), Some("team"));
    }

    #[test]
    fn other_kinds_and_non_controller_references_map_to_nothing() {
        let cm = owned(json!([
            {"apiVersion": "v1", "kind": "Namespace", "name": "team", "uid": "u1", "controller": true}
        ]));
        assert_eq!(controller_owner(&cm, "default", "example.com/v1", "Widget", true), None);
        let plain = owned(json!([{"apiVersion": "v1", "kind": "Namespace", "name": "team", "uid": "u1"}]));
        assert_eq!(controller_owner(&plain, "default", "v1", "Namespace", false), None);
        assert_eq!(controller_owner(&owned(json!([])), "default", "v1", "Namespace", false), None);
    }
}
