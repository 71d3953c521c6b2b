//! Asynchronous deletes, as NSX does them: with a realization delay, a deleted object
//! stays readable with `marked_for_delete: true` until the delay has passed; meanwhile it
//! still counts as a referrer (so its Tier-1 cannot go yet), is not a valid reference
//! target, and re-creating its id fails with 400/500045 (NsxPendingDelete).
//!
//! Marked objects are listed in [`MARKED`] (id = path) and purged at the start of the
//! next NSX transaction after their delay; with no delay objects go at once.

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::error::{NsxError, PENDING_DELETE};
use super::kinds::{ObjectPath, parse_object};
use crate::store::Tx;

/// Collection of objects marked for delete: id = path, body `{"deleted_at": ms}`.
const MARKED: &str = "nsx/marked-for-delete";

/// Whether a stored object is marked for delete.
pub(crate) fn is_marked(stored: &Value) -> bool {
    stored.get("marked_for_delete").and_then(Value::as_bool).unwrap_or(false)
}

/// 400/500045 for writing `object` while it is marked for delete.
pub(crate) fn pending(object: &ObjectPath) -> NsxError {
    NsxError::new(
        StatusCode::BAD_REQUEST,
        PENDING_DELETE,
        format!("Object {} is marked for delete; retry once its deletion is realized.", object.path),
    )
}

/// Removes `object` now (`delay_ms` 0) or marks it for delete.
pub(crate) fn remove(
    tx: &Tx<'_>,
    object: &ObjectPath,
    mut stored: Value,
    now_ms: u64,
    delay_ms: u64,
) -> Result<(), NsxError> {
    if delay_ms == 0 {
        tx.delete(&object.collection, &object.id)?;
        return Ok(());
    }
    stored["marked_for_delete"] = json!(true);
    stored["_last_modified_time"] = json!(now_ms);
    tx.put(&object.collection, &object.id, &stored)?;
    tx.put(MARKED, &object.path, &json!({"deleted_at": now_ms}))?;
    Ok(())
}

/// Deletes every marked object whose delay has passed.
pub(crate) fn purge(tx: &Tx<'_>, now_ms: u64, delay_ms: u64) -> Result<(), NsxError> {
    for (path, mark) in tx.list(MARKED)? {
        let deleted_at = mark.get("deleted_at").and_then(Value::as_u64).unwrap_or(0);
        if now_ms.saturating_sub(deleted_at) < delay_ms {
            continue;
        }
        if let Some(object) = parse_object(&path) {
            tx.delete(&object.collection, &object.id)?;
        }
        tx.delete(MARKED, &path)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[tokio::test]
    async fn marked_objects_are_purged_after_the_delay() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let left = store
            .transact::<_, NsxError, _>(|tx| {
                let Some(object) = parse_object("/infra/segments/s") else { panic!() };
                tx.put(&object.collection, &object.id, &json!({"id": "s"}))?;
                remove(tx, &object, json!({"id": "s"}), 1_000, 500)?;
                let marked = tx.get(&object.collection, &object.id)?;
                assert!(marked.as_ref().is_some_and(is_marked), "{marked:?}");
                purge(tx, 1_499, 500)?;
                assert!(tx.get(&object.collection, &object.id)?.is_some(), "kept within the delay");
                purge(tx, 1_500, 500)?;
                Ok((tx.get(&object.collection, &object.id)?, tx.list(MARKED)?.len()))
            })
            .await
            .unwrap();
        assert_eq!(left, (None, 0));
    }
}
