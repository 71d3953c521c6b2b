//! Create-or-update by id (PATCH merges, PUT replaces and checks `_revision`), GET, list
//! and DELETE with dependency checks, for every managed kind.
//!
//! In: a parsed [`Target`] and a request body. Out: the stored object or an
//! [`NsxError`]. Invariants kept here for every kind: the id in the body matches the URL,
//! server-owned fields (`path`, `_revision`, `unique_id`, times, …) come only from
//! [`stamp`], `_revision` goes up by one on every change, every managed `*_path` /
//! `*_paths` reference names an existing object, and an object that is referenced or has
//! children cannot be deleted. Kind-specific rules live in `segments`, `ipam` and `lb`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::NsxState;
use super::error::{NsxError, SEGMENT_HAS_PORTS, STALE_REVISION};
use super::kinds::{self, Kind, ObjectPath, Target};
use super::paging::{ListParams, page};
use super::stamp::{Author, INTERNAL_PREFIX, public_fields, server_owned, stamp};
use super::{deletion, ipam, lb, realized, segments, tags};
use crate::store::Tx;

/// How a write treats an existing object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WriteMode {
    /// Merge the given top-level fields into the existing object.
    Patch,
    /// Replace the object; the body must carry the current `_revision`.
    Put,
}

/// Handles every request under `/policy/api/v1/infra/` except realized state.
pub(crate) async fn handle(
    State(state): State<NsxState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().strip_prefix("/policy/api/v1").unwrap_or(uri.path()).to_owned();
    let query = uri.query().map(str::to_owned);
    let author = Author {
        user: crate::auth::basic(&headers).map_or_else(|| "admin".to_owned(), |(user, _)| user),
        now_ms: state.ctx.clock.now_ms(),
    };
    let result =
        match (kinds::parse(&path), method) {
            (None, _) => Err(NsxError::not_found(&path)),
            (Some(Target::Object(object)), Method::GET) => state
                .transact(move |tx| {
                    let stored = tx.get(&object.collection, &object.id)?;
                    stored.map(|v| render(&v)).ok_or_else(|| NsxError::not_found(&object.path))
                })
                .await
                .map(|v| axum::Json(v).into_response()),
            (Some(Target::Object(object)), method @ (Method::PATCH | Method::PUT)) => {
                let mode = if method == Method::PUT { WriteMode::Put } else { WriteMode::Patch };
                match serde_json::from_slice::<Value>(&body) {
                    Err(e) => Err(NsxError::invalid(format!("The request body is not valid JSON: {e}."))),
                    Ok(body) => state.transact(move |tx| write(tx, &author, &object, body, mode)).await.map(
                        |stored| match mode {
                            WriteMode::Put => axum::Json(render(&stored)).into_response(),
                            WriteMode::Patch => StatusCode::OK.into_response(),
                        },
                    ),
                }
            }
            (Some(Target::Object(object)), Method::DELETE) => {
                let delay_ms = crate::clock::millis(state.settings.realization_delay);
                state
                    .transact(move |tx| delete(tx, &author, &object, delay_ms))
                    .await
                    .map(|()| StatusCode::OK.into_response())
            }
            (Some(Target::Collection { collection, .. }), Method::GET) => {
                match ListParams::parse(query.as_deref()) {
                    Err(e) => Err(e),
                    Ok(params) => state
                        .transact(move |tx| {
                            let items = tx.list(&collection)?.into_iter().map(|(_, v)| render(&v)).collect();
                            Ok::<_, NsxError>(page(items, &params))
                        })
                        .await
                        .map(|v| axum::Json(v).into_response()),
                }
            }
            (Some(Target::View(object, view)), Method::GET) => state
                .transact(move |tx| {
                    let stored = tx.get(&object.collection, &object.id)?;
                    Ok::<_, NsxError>((stored.ok_or_else(|| NsxError::not_found(&object.path))?, object))
                })
                .await
                .map(|(stored, object)| {
                    let realization = state.realization(&stored);
                    axum::Json(realized::view(&object, &stored, view, realization)).into_response()
                }),
            (Some(_), method) => Err(NsxError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                u32::from(StatusCode::METHOD_NOT_ALLOWED.as_u16()),
                format!("{method} is not supported on {path}."),
            )),
        };
    result.unwrap_or_else(IntoResponse::into_response)
}

/// The object as clients see it: without simulator-internal fields.
pub(crate) fn render(stored: &Value) -> Value {
    match stored {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !k.starts_with(INTERNAL_PREFIX))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Creates or updates `object` from a request body and returns what was stored.
pub(crate) fn write(
    tx: &Tx<'_>,
    author: &Author,
    object: &ObjectPath,
    body: Value,
    mode: WriteMode,
) -> Result<Value, NsxError> {
    let Value::Object(mut body) = body else {
        return Err(NsxError::invalid("The request body must be a JSON object."));
    };
    if let Some(id) = body.get("id")
        && id.as_str() != Some(object.id.as_str())
    {
        return Err(NsxError::invalid(format!(
            "The id {id} in the body does not match the path {}.",
            object.path
        )));
    }
    let revision = body.get("_revision").cloned();
    body.retain(|k, _| !server_owned(k));
    let existing = tx.get(&object.collection, &object.id)?;
    if existing.as_ref().is_some_and(deletion::is_marked) {
        return Err(deletion::pending(object));
    }
    if existing.is_none() && object.parent_path() != "/infra" && !exists(tx, object.parent_path())? {
        return Err(NsxError::invalid_path("parent_path", object.parent_path()));
    }
    match (&existing, &revision, mode) {
        (Some(old), Some(given), _) => check_revision(object, old, Some(given))?,
        (Some(old), None, WriteMode::Put) => check_revision(object, old, None)?,
        _ => {}
    }
    let mut fields = match (mode, &existing) {
        (WriteMode::Patch, Some(old)) => {
            let mut merged = public_fields(old);
            merged.extend(body);
            merged
        }
        _ => body,
    };
    let resource_type = match fields.get("resource_type") {
        None => object.kind.resource_types()[0].to_owned(),
        Some(Value::String(t)) if object.kind.resource_types().contains(&t.as_str()) => t.clone(),
        Some(other) => {
            return Err(NsxError::invalid(format!(
                "resource_type {other} is not valid at {}; expected one of {:?}.",
                object.path,
                object.kind.resource_types()
            )));
        }
    };
    fields.insert("resource_type".into(), json!(resource_type));
    let tags = tags::normalize(fields.get("tags"))?;
    fields.insert("tags".into(), tags);
    if !fields.get("display_name").is_some_and(Value::is_string) {
        fields.insert("display_name".into(), json!(object.id));
    }
    for (field, target) in references(&Value::Object(fields.clone())) {
        if target == object.path || !exists(tx, &target)? {
            return Err(NsxError::invalid_path(&field, &target));
        }
    }
    match object.kind {
        Kind::Segment => segments::normalize(tx, object, &mut fields)?,
        Kind::IpBlock | Kind::IpPoolSubnet | Kind::IpAllocation => ipam::normalize(tx, object, &mut fields)?,
        Kind::LbService => lb::normalize_service(tx, &fields)?,
        Kind::LbVirtualServer => lb::normalize_virtual_server(&fields)?,
        _ => {}
    }
    let stored = stamp(existing.as_ref(), object, fields, author);
    tx.put(&object.collection, &object.id, &stored)?;
    if object.kind == Kind::Segment && existing.is_none() {
        crate::world::ensure_network(tx, &object.path)?;
    }
    Ok(stored)
}

/// Deletes `object` unless something depends on it (at once, or after `delay_ms` as
/// `deletion` describes); deleting a missing or already marked object succeeds.
pub(crate) fn delete(
    tx: &Tx<'_>,
    author: &Author,
    object: &ObjectPath,
    delay_ms: u64,
) -> Result<(), NsxError> {
    let Some(stored) = tx.get(&object.collection, &object.id)? else { return Ok(()) };
    if deletion::is_marked(&stored) {
        return Ok(());
    }
    if let Some((collection, id, _)) = tx.list_under(&format!("{}/", object.path))?.into_iter().next() {
        let child = format!("{collection}/{id}");
        if object.kind == Kind::Segment && collection.ends_with("/ports") {
            return Err(NsxError::new(
                StatusCode::BAD_REQUEST,
                SEGMENT_HAS_PORTS,
                format!(
                    "Segment {} cannot be deleted as it still has connected ports, e.g. {child}.",
                    object.path
                ),
            ));
        }
        return Err(NsxError::in_use(&object.path, &child));
    }
    for (collection, id, body) in tx.list_under("/infra/")? {
        if references(&body).iter().any(|(_, target)| *target == object.path) {
            return Err(NsxError::in_use(&object.path, &format!("{collection}/{id}")));
        }
    }
    if object.kind == Kind::Segment {
        crate::world::forget_network(tx, &object.path)?;
    }
    deletion::remove(tx, object, stored, author.now_ms, delay_ms)
}

/// Whether a managed object exists at `path`.
pub(crate) fn exists(tx: &Tx<'_>, path: &str) -> Result<bool, NsxError> {
    match kinds::parse_object(path) {
        Some(target) => Ok(tx.get(&target.collection, &target.id)?.is_some_and(|o| !deletion::is_marked(&o))),
        None => Ok(false),
    }
}

/// Every `(field, path)` in `value` where a `*_path` / `*_paths` field names a managed
/// object. Paths of kinds we do not manage (tier-0s, edge clusters, app profiles, …)
/// are not references: the simulator accepts them as given.
pub(crate) fn references(value: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    collect_references(value, &mut out);
    out
}

fn collect_references(value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                let is_ref = (key.ends_with("_path") && key != "parent_path") || key.ends_with("_paths");
                if !is_ref {
                    collect_references(v, out);
                    continue;
                }
                let candidates: Vec<&str> = match v {
                    Value::String(s) => vec![s.as_str()],
                    Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
                    _ => Vec::new(),
                };
                out.extend(
                    candidates
                        .into_iter()
                        .filter(|p| kinds::parse_object(p).is_some())
                        .map(|p| (key.clone(), p.to_owned())),
                );
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_references(v, out)),
        _ => {}
    }
}

fn check_revision(object: &ObjectPath, old: &Value, given: Option<&Value>) -> Result<(), NsxError> {
    let current = old.get("_revision").and_then(Value::as_u64).unwrap_or(0);
    match given.and_then(Value::as_u64) {
        Some(given) if given == current => Ok(()),
        Some(given) => Err(NsxError::new(
            StatusCode::PRECONDITION_FAILED,
            STALE_REVISION,
            format!(
                "The object {} was modified by somebody else: \
                 _revision {given} is stale, current is {current}.",
                object.path
            ),
        )),
        None => Err(NsxError::new(
            StatusCode::PRECONDITION_FAILED,
            STALE_REVISION,
            format!(
                "PUT of the existing object {} must carry its current _revision ({current}).",
                object.path
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_managed_references_only() {
        let body = json!({
            "lb_service_path": "/infra/lb-services/l",
            "pool_path": "/infra/lb-pools/p",
            "application_profile_path": "/infra/lb-app-profiles/default-tcp-lb-app-profile",
            "parent_path": "/infra",
            "advanced_config": {"address_pool_paths": ["/infra/ip-pools/x"]},
        });
        let mut refs = references(&body);
        refs.sort();
        assert_eq!(
            refs,
            [
                ("address_pool_paths".to_owned(), "/infra/ip-pools/x".to_owned()),
                ("lb_service_path".to_owned(), "/infra/lb-services/l".to_owned()),
                ("pool_path".to_owned(), "/infra/lb-pools/p".to_owned()),
            ]
        );
    }

    #[test]
    fn render_hides_internal_fields() {
        assert_eq!(
            render(&json!({"id": "a", "_sim_x": 1, "_revision": 2})),
            json!({"id": "a", "_revision": 2})
        );
    }

    #[test]
    fn revision_checks() {
        let Some(object) = kinds::parse_object("/infra/segments/s") else { panic!() };
        let old = json!({"_revision": 3});
        assert!(check_revision(&object, &old, Some(&json!(3))).is_ok());
        let stale = check_revision(&object, &old, Some(&json!(2))).unwrap_err();
        assert_eq!((stale.status(), stale.code()), (StatusCode::PRECONDITION_FAILED, STALE_REVISION));
        assert!(check_revision(&object, &old, None).is_err());
    }
}
