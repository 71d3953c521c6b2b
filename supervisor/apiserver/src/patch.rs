//! Patch formats: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and the directive
//! subset of strategic merge patch.
//!
//! In: the stored object and a patch body with its Content-Type. Out: the patched object
//! (which then goes through the same update path as a PUT), or a 400/422 message.
//!
//! Strategic merge patch here merges maps like a merge patch, understands the patch
//! directives (`$patch: replace|delete`, `$retainKeys`, `$deleteFromPrimitiveList/…`,
//! `$setElementOrder/…`) and merges lists as the kind's [`Shape`] says: a keyed list by its
//! first key (the patch merge key: Service ports by `port`, conditions by `type`,
//! ownerReferences by `uid`), a set (finalizers) by value; other lists are replaced.

use serde_json::{Map, Value};

use crate::apply::Shape;

/// The patch formats the server accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// `application/merge-patch+json`.
    Merge,
    /// `application/json-patch+json`.
    Json,
    /// `application/strategic-merge-patch+json`.
    Strategic,
    /// `application/apply-patch+yaml`: server-side apply (see [`crate::apply`]), not a patch
    /// of the stored object; [`apply`] refuses it.
    Apply,
}

impl PatchType {
    /// Maps a Content-Type (parameters ignored) to a patch type.
    pub fn from_content_type(content_type: &str) -> Option<PatchType> {
        match content_type.split(';').next().unwrap_or("").trim() {
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/json-patch+json" => Some(PatchType::Json),
            "application/strategic-merge-patch+json" => Some(PatchType::Strategic),
            "application/apply-patch+yaml" => Some(PatchType::Apply),
            _ => None,
        }
    }
}

/// Why a patch could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    /// The body is not JSON of the right shape (400).
    #[error("{0}")]
    Malformed(String),
    /// A JSON patch operation failed, e.g. a `test` or a missing path (422).
    #[error("{0}")]
    Failed(String),
}

/// Applies `patch` of type `kind` to `target`, an object of shape `shape` (which only
/// strategic merge patch reads).
pub fn apply(kind: PatchType, target: &Value, patch: &[u8], shape: &Shape) -> Result<Value, PatchError> {
    match kind {
        PatchType::Apply => {
            Err(PatchError::Malformed("an apply patch is merged by server-side apply".into()))
        }
        PatchType::Json => {
            let ops: json_patch::Patch = serde_json::from_slice(patch).map_err(|e| {
                PatchError::Malformed(format!(
                    "the server rejected our request due to an error in our request: {e}"
                ))
            })?;
            let mut doc = target.clone();
            for op in &ops.0 {
                // As in the Go library the real server uses, testing a missing path against
                // null succeeds (kube-runtime's finalizer helper relies on it).
                if let json_patch::PatchOperation::Test(test) = op
                    && test.value.is_null()
                    && doc.pointer(test.path.as_str()).is_none()
                {
                    continue;
                }
                json_patch::patch(&mut doc, std::slice::from_ref(op))
                    .map_err(|e| PatchError::Failed(e.to_string()))?;
            }
            Ok(doc)
        }
        PatchType::Merge | PatchType::Strategic => {
            let patch: Value = serde_json::from_slice(patch)
                .map_err(|e| PatchError::Malformed(format!("error decoding patch: {e}")))?;
            if !patch.is_object() {
                return Err(PatchError::Malformed("patch body must be a JSON object".to_owned()));
            }
            let mut doc = target.clone();
            if kind == PatchType::Merge {
                merge(&mut doc, &patch);
            } else {
                strategic(&mut doc, &patch, shape)?;
            }
            Ok(doc)
        }
    }
}

/// RFC 7386: objects merge, `null` deletes, everything else replaces.
pub fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(map) = target {
        for (key, value) in patch {
            if value.is_null() {
                map.remove(key);
            } else {
                merge(map.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

/// How a list field merges: `Some(Some(key))` by that merge key, `Some(None)` as a set of
/// scalars, `None` replaced.
fn merge_key(shape: &Shape) -> Option<Option<&str>> {
    match shape {
        Shape::Keyed { keys, .. } => keys.first().map(|k| Some(k.as_str())),
        Shape::Set => Some(None),
        _ => None,
    }
}

fn merge_list(
    target: &mut Value,
    patch: &[Value],
    key: Option<&str>,
    order: Option<&Value>,
    item_shape: &Shape,
) -> Result<(), PatchError> {
    let mut list = match target.take() {
        Value::Array(list) => list,
        _ => Vec::new(),
    };
    let same = |a: &Value, b: &Value| match key {
        Some(k) => a.get(k).is_some() && a.get(k) == b.get(k),
        None => a == b,
    };
    for item in patch {
        if item.get("$patch").and_then(Value::as_str) == Some("delete") {
            list.retain(|existing| !same(existing, item));
            continue;
        }
        match list.iter_mut().find(|existing| same(existing, item)) {
            Some(existing) if key.is_some() => strategic(existing, item, item_shape)?,
            Some(_) => {}
            None => {
                let mut fresh = Value::Null;
                strategic(&mut fresh, item, item_shape)?;
                list.push(fresh);
            }
        }
    }
    if let Some(Value::Array(order)) = order {
        let position = |v: &Value| order.iter().position(|o| same(o, v) || same(v, o)).unwrap_or(usize::MAX);
        list.sort_by_key(position);
    }
    *target = Value::Array(list);
    Ok(())
}

fn strategic(target: &mut Value, patch: &Value, shape: &Shape) -> Result<(), PatchError> {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return Ok(());
    };
    let mut patch = patch.clone();
    match patch.remove("$patch").as_ref().and_then(Value::as_str) {
        Some("replace") => {
            *target = Value::Object(strip_directives(patch));
            return Ok(());
        }
        Some("delete") => {
            *target = Value::Null;
            return Ok(());
        }
        Some("merge") | None => {}
        Some(other) => return Err(PatchError::Malformed(format!("unknown patch type: {other}"))),
    }
    let retain = patch.remove("$retainKeys");
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(map) = target else { return Ok(()) };
    let orders: Map<String, Value> = patch
        .iter()
        .filter_map(|(k, v)| k.strip_prefix("$setElementOrder/").map(|f| (f.to_owned(), v.clone())))
        .collect();
    for (key, value) in patch {
        if key.starts_with("$setElementOrder/") {
            continue;
        }
        let field_shape = shape.field(&key);
        if let (Value::Array(items), Some(merge)) = (&value, merge_key(field_shape)) {
            let item_shape = match field_shape {
                Shape::Keyed { item, .. } => item.as_ref(),
                _ => &crate::apply::schema::ANY,
            };
            let slot = map.entry(key.clone()).or_insert(Value::Null);
            merge_list(slot, items, merge, orders.get(&key), item_shape)?;
            continue;
        }
        if let Some(field) = key.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(list)), Value::Array(remove)) = (map.get_mut(field), &value) {
                list.retain(|item| !remove.contains(item));
            }
            continue;
        }
        if key.starts_with('$') {
            return Err(PatchError::Malformed(format!("unknown patch directive {key}")));
        }
        if value.is_null() {
            map.remove(&key);
            continue;
        }
        let slot = map.entry(key.clone()).or_insert(Value::Null);
        strategic(slot, &value, field_shape)?;
        if slot.is_null() {
            map.remove(&key);
        }
    }
    if let Some(Value::Array(keep)) = retain {
        map.retain(|k, _| keep.iter().any(|r| r.as_str() == Some(k)));
    }
    Ok(())
}

fn strip_directives(mut map: Map<String, Value>) -> Map<String, Value> {
    map.retain(|k, _| !k.starts_with('$'));
    map
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn shape(plural: &str) -> std::sync::Arc<Shape> {
        Shape::of(&crate::registry::Registry::with_builtins().get("", "v1", plural).unwrap())
    }

    /// Patches an object of the Service kind.
    fn apply(kind: PatchType, target: &Value, patch: &[u8]) -> Result<Value, PatchError> {
        super::apply(kind, target, patch, &shape("services"))
    }

    #[test]
    fn merge_keys_come_from_the_kind_not_the_field_name() {
        let doc = json!({"spec": {"ports": [{"port": 80, "name": "a"}]}});
        let patch = br#"{"spec": {"ports": [{"port": 81}]}}"#;
        let endpoints = super::apply(PatchType::Strategic, &doc, patch, &shape("endpoints")).unwrap();
        assert_eq!(endpoints["spec"]["ports"], json!([{"port": 81}]));
        let service = apply(PatchType::Strategic, &doc, patch).unwrap();
        assert_eq!(service["spec"]["ports"], json!([{"port": 80, "name": "a"}, {"port": 81}]));
    }

    #[test]
    fn merge_patch_follows_rfc_7386() {
        let doc = json!({"a": 1, "b": {"c": 2, "d": 3}, "l": [1, 2]});
        let out = apply(PatchType::Merge, &doc, br#"{"a": null, "b": {"c": 5}, "l": [3]}"#).unwrap();
        assert_eq!(out, json!({"b": {"c": 5, "d": 3}, "l": [3]}));
    }

    #[test]
    fn json_patch_applies_and_fails_cleanly() {
        let doc = json!({"metadata": {"labels": {"a": "1"}}});
        let out =
            apply(PatchType::Json, &doc, br#"[{"op": "add", "path": "/metadata/labels/b", "value": "2"}]"#)
                .unwrap();
        assert_eq!(out["metadata"]["labels"]["b"], "2");
        let failed =
            apply(PatchType::Json, &doc, br#"[{"op": "test", "path": "/metadata/labels/a", "value": "9"}]"#);
        assert!(matches!(failed, Err(PatchError::Failed(_))));
        assert!(matches!(apply(PatchType::Json, &doc, b"{"), Err(PatchError::Malformed(_))));
        let missing_is_null = br#"[{"op": "test", "path": "/metadata/finalizers", "value": null},
            {"op": "add", "path": "/metadata/finalizers", "value": ["f"]}]"#;
        let out = apply(PatchType::Json, &doc, missing_is_null).unwrap();
        assert_eq!(out["metadata"]["finalizers"], json!(["f"]));
    }

    #[test]
    fn strategic_directives() {
        let doc = json!({"spec": {"a": 1, "b": 2, "m": {"x": 1}, "l": ["p", "q"]}});
        let patch = br#"{"spec": {"$retainKeys": ["a", "m", "l"], "m": {"$patch": "replace", "y": 2}, "$deleteFromPrimitiveList/l": ["p"], "$setElementOrder/l": ["q"]}}"#;
        let out = apply(PatchType::Strategic, &doc, patch).unwrap();
        assert_eq!(out, json!({"spec": {"a": 1, "m": {"y": 2}, "l": ["q"]}}));
        let deleted = apply(PatchType::Strategic, &doc, br#"{"spec": {"m": {"$patch": "delete"}}}"#).unwrap();
        assert!(deleted["spec"].get("m").is_none());
    }

    #[test]
    fn keyed_lists_merge_by_key() {
        let svc = json!({"spec": {"ports": [{"name": "http", "port": 80}, {"name": "admin", "port": 9000}]},
            "metadata": {"finalizers": ["a"]}});
        // What kubectl apply sends when port 80 becomes 8080.
        let patch = br#"{"spec": {"$setElementOrder/ports": [{"port": 8080}, {"port": 9000}],
            "ports": [{"name": "http", "port": 8080}, {"$patch": "delete", "port": 80}]},
            "metadata": {"finalizers": ["b"]}}"#;
        let out = apply(PatchType::Strategic, &svc, patch).unwrap();
        assert_eq!(
            out["spec"]["ports"],
            json!([{"name": "http", "port": 8080}, {"name": "admin", "port": 9000}])
        );
        assert_eq!(out["metadata"]["finalizers"], json!(["a", "b"]));
        let relabel =
            apply(PatchType::Strategic, &svc, br#"{"spec": {"ports": [{"port": 9000, "name": "ops"}]}}"#)
                .unwrap();
        assert_eq!(relabel["spec"]["ports"][1], json!({"name": "ops", "port": 9000}));
    }

    #[test]
    fn content_types() {
        assert_eq!(
            PatchType::from_content_type("application/merge-patch+json; charset=utf-8"),
            Some(PatchType::Merge)
        );
        assert_eq!(PatchType::from_content_type("application/apply-patch+yaml"), Some(PatchType::Apply));
        assert_eq!(PatchType::from_content_type("application/apply-patch+cbor"), None);
    }
}
