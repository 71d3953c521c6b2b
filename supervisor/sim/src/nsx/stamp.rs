//! The server-owned fields of every NSX object: identity (`id`, `path`, `unique_id`, …),
//! `_revision` and the `_create_*` / `_last_modified_*` stamps, and the simulator's own
//! `_sim_*` fields.
//!
//! Used by every writer of NSX objects: the Policy API handlers ([`super::objects`]) and
//! the vCenter side when it creates segment ports for VM NICs ([`crate::world`]).
//! Invariant: server-owned fields come only from [`stamp`], never from a request body, and
//! `_revision` goes up by one on every stamp.

use serde_json::{Map, Value, json};

use super::kinds::ObjectPath;

/// Prefix of simulator-internal fields kept in stored documents but never shown.
pub(crate) const INTERNAL_PREFIX: &str = "_sim_";

/// Who writes and when, for the `_create_*` / `_last_modified_*` fields.
#[derive(Clone, Debug)]
pub(crate) struct Author {
    pub(crate) user: String,
    pub(crate) now_ms: u64,
}

/// Sets the server-owned fields of `fields` for `object`, keeping the identity and
/// creation fields of `existing` and bumping its `_revision`.
pub(crate) fn stamp(
    existing: Option<&Value>,
    object: &ObjectPath,
    mut fields: Map<String, Value>,
    author: &Author,
) -> Value {
    let old = |k: &str| existing.and_then(|e| e.get(k)).filter(|v| !v.is_null()).cloned();
    let revision = old("_revision").and_then(|r| r.as_u64()).map_or(0, |r| r + 1);
    fields.insert("id".into(), json!(object.id));
    fields.insert("path".into(), json!(object.path));
    fields.insert("relative_path".into(), json!(object.id));
    fields.insert("parent_path".into(), json!(object.parent_path()));
    fields.insert(
        "unique_id".into(),
        old("unique_id").unwrap_or_else(|| json!(uuid::Uuid::new_v4().to_string())),
    );
    fields.insert("marked_for_delete".into(), json!(false));
    fields.insert("overridden".into(), json!(false));
    fields.insert("_revision".into(), json!(revision));
    fields.insert("_create_time".into(), old("_create_time").unwrap_or_else(|| json!(author.now_ms)));
    fields.insert("_create_user".into(), old("_create_user").unwrap_or_else(|| json!(author.user)));
    fields.insert("_last_modified_time".into(), json!(author.now_ms));
    fields.insert("_last_modified_user".into(), json!(author.user));
    fields.insert("_system_owned".into(), json!(false));
    fields.insert("_protection".into(), json!("NOT_PROTECTED"));
    Value::Object(fields)
}

/// The client-settable fields of a stored object (for merging or re-stamping it).
pub(crate) fn public_fields(stored: &Value) -> Map<String, Value> {
    stored
        .as_object()
        .map(|m| m.iter().filter(|(k, _)| !server_owned(k)).map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

/// Fields a client may not set: identity, metadata and anything starting with `_`.
pub(crate) fn server_owned(key: &str) -> bool {
    key.starts_with('_')
        || matches!(
            key,
            "id" | "path"
                | "relative_path"
                | "parent_path"
                | "unique_id"
                | "marked_for_delete"
                | "overridden"
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nsx::kinds;

    #[test]
    fn stamp_bumps_revision_and_keeps_identity() {
        let Some(object) = kinds::parse_object("/infra/segments/s") else { panic!() };
        let author = Author { user: "admin".into(), now_ms: 5 };
        let first = stamp(None, &object, Map::new(), &author);
        assert_eq!(first["_revision"], 0);
        assert_eq!(first["path"], "/infra/segments/s");
        let later = Author { user: "other".into(), now_ms: 9 };
        let second = stamp(Some(&first), &object, Map::new(), &later);
        assert_eq!(second["_revision"], 1);
        assert_eq!(second["unique_id"], first["unique_id"]);
        assert_eq!(second["_create_time"], 5);
        assert_eq!(second["_last_modified_user"], "other");
    }
}
