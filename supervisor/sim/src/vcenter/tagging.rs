//! Tagging (`/api/cis/tagging`): categories, tags, and tag associations with objects, so
//! a plugin can mark the VMs it owns.
//!
//! Rules kept: category names are unique, tag names are unique within a category
//! (400 `ALREADY_EXISTS`); a tag's category must exist (404); an object may be attached
//! only to tags whose category allows its type (`associable_types`, empty = any), and to
//! at most one tag of a `SINGLE`-cardinality category; deleting a category deletes its
//! tags; deleting a VM detaches it everywhere.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::VcState;
use super::error::{ErrorType, VcError};
use super::filters::Filters;
use super::model::VM_COLLECTION;
use crate::store::Tx;

const CATEGORIES: &str = "vcenter/tag-categories";
const TAGS: &str = "vcenter/tags";

/// A stored category.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Category {
    id: String,
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default = "multiple")]
    cardinality: String,
    #[serde(default)]
    associable_types: Vec<String>,
}

fn multiple() -> String {
    "MULTIPLE".into()
}

/// A stored tag with the objects attached to it.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Tag {
    id: String,
    name: String,
    #[serde(default)]
    description: String,
    category_id: String,
    #[serde(default)]
    attached: Vec<ObjectId>,
}

/// A `{type, id}` object reference.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct ObjectId {
    #[serde(rename = "type")]
    object_type: String,
    id: String,
}

/// What a collection route works on.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Collection {
    Category,
    Tag,
}

impl Collection {
    fn store(self) -> &'static str {
        match self {
            Collection::Category => CATEGORIES,
            Collection::Tag => TAGS,
        }
    }

    fn what(self) -> &'static str {
        match self {
            Collection::Category => "Category",
            Collection::Tag => "Tag",
        }
    }
}

/// `POST /api/cis/tagging/{category,tag}`: 201 with the new id.
pub(crate) async fn create(State(state): State<VcState>, body: Bytes, which: Collection) -> Response {
    let spec: Value = match serde_json::from_slice(&body) {
        Ok(Value::Object(map)) => Value::Object(map),
        _ => return VcError::invalid("The create spec must be a JSON object.").into_response(),
    };
    // `/rest`-style clients wrap the spec in `create_spec`; accept both.
    let spec = spec.get("create_spec").cloned().unwrap_or(spec);
    respond(state.ctx.store.transact(move |tx| create_in(tx, which, &spec)).await, StatusCode::CREATED)
}

fn create_in(tx: &Tx<'_>, which: Collection, spec: &Value) -> Result<Value, VcError> {
    let text = |k: &str| spec.get(k).and_then(Value::as_str).map(str::to_owned);
    let name = text("name").filter(|n| !n.is_empty()).ok_or_else(|| VcError::invalid("name is required."))?;
    let description = text("description").unwrap_or_default();
    let uuid = uuid::Uuid::new_v4();
    match which {
        Collection::Category => {
            if categories(tx)?.iter().any(|c| c.name == name) {
                return Err(exists(format!("A category named {name} already exists.")));
            }
            let cardinality = text("cardinality").unwrap_or_else(multiple);
            if cardinality != "SINGLE" && cardinality != "MULTIPLE" {
                return Err(VcError::invalid(format!(
                    "cardinality {cardinality} must be SINGLE or MULTIPLE."
                )));
            }
            let associable_types = spec
                .get("associable_types")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                .unwrap_or_default();
            let id = text("category_id")
                .unwrap_or_else(|| format!("urn:vmomi:InventoryServiceCategory:{uuid}:GLOBAL"));
            put(
                tx,
                CATEGORIES,
                &id,
                &Category { id: id.clone(), name, description, cardinality, associable_types },
            )?;
            Ok(json!(id))
        }
        Collection::Tag => {
            let category_id =
                text("category_id").ok_or_else(|| VcError::invalid("category_id is required."))?;
            if tx.get(CATEGORIES, &category_id)?.is_none() {
                return Err(VcError::not_found("Category", &category_id));
            }
            if tags(tx)?.iter().any(|t| t.category_id == category_id && t.name == name) {
                return Err(exists(format!("A tag named {name} already exists in category {category_id}.")));
            }
            let id = text("tag_id").unwrap_or_else(|| format!("urn:vmomi:InventoryServiceTag:{uuid}:GLOBAL"));
            put(
                tx,
                TAGS,
                &id,
                &Tag { id: id.clone(), name, description, category_id, attached: Vec::new() },
            )?;
            Ok(json!(id))
        }
    }
}

/// `GET /api/cis/tagging/{category,tag}`: all ids.
pub(crate) async fn list(State(state): State<VcState>, which: Collection) -> Response {
    let result = state
        .ctx
        .store
        .transact(move |tx| {
            Ok::<_, VcError>(json!(tx.list(which.store())?.into_iter().map(|(id, _)| id).collect::<Vec<_>>()))
        })
        .await;
    respond(result, StatusCode::OK)
}

/// `GET /api/cis/tagging/{category,tag}/{id}`.
pub(crate) async fn get(State(state): State<VcState>, Path(id): Path<String>, which: Collection) -> Response {
    let result = state
        .ctx
        .store
        .transact(move |tx| {
            let stored = tx.get(which.store(), &id)?.ok_or_else(|| VcError::not_found(which.what(), &id))?;
            let mut out = stored.clone();
            if let Some(map) = out.as_object_mut() {
                map.remove("attached");
                map.insert("used_by".into(), json!([]));
            }
            Ok(out)
        })
        .await;
    respond(result, StatusCode::OK)
}

/// `PATCH /api/cis/tagging/{category,tag}/{id}`: merges name/description (and for
/// categories cardinality/associable_types); 204.
pub(crate) async fn update(
    State(state): State<VcState>,
    Path(id): Path<String>,
    body: Bytes,
    which: Collection,
) -> Response {
    let Ok(Value::Object(patch)) = serde_json::from_slice::<Value>(&body) else {
        return VcError::invalid("The update spec must be a JSON object.").into_response();
    };
    let patch = patch.get("update_spec").and_then(Value::as_object).cloned().unwrap_or(patch);
    let result = state
        .ctx
        .store
        .transact(move |tx| {
            let mut stored =
                tx.get(which.store(), &id)?.ok_or_else(|| VcError::not_found(which.what(), &id))?;
            let allowed: &[&str] = match which {
                Collection::Category => &["name", "description", "cardinality", "associable_types"],
                Collection::Tag => &["name", "description"],
            };
            for (k, v) in patch.into_iter().filter(|(k, _)| allowed.contains(&k.as_str())) {
                stored[k] = v;
            }
            tx.put(which.store(), &id, &stored)?;
            Ok(Value::Null)
        })
        .await;
    respond(result, StatusCode::NO_CONTENT)
}

/// `DELETE /api/cis/tagging/{category,tag}/{id}`: 204; a category takes its tags along.
pub(crate) async fn delete(
    State(state): State<VcState>,
    Path(id): Path<String>,
    which: Collection,
) -> Response {
    let result = state
        .ctx
        .store
        .transact(move |tx| {
            if !tx.delete(which.store(), &id)? {
                return Err(VcError::not_found(which.what(), &id));
            }
            if let Collection::Category = which {
                for tag in tags(tx)?.into_iter().filter(|t| t.category_id == id) {
                    tx.delete(TAGS, &tag.id)?;
                }
            }
            Ok(Value::Null)
        })
        .await;
    respond(result, StatusCode::NO_CONTENT)
}

/// `POST /api/cis/tagging/tag-association/{tag}?action=attach|detach|list-attached-objects`.
pub(crate) async fn tag_action(
    State(state): State<VcState>,
    Path(tag_id): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let action = Filters::parse(query.as_deref()).one("action").unwrap_or("").to_owned();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let result = state
        .ctx
        .store
        .transact(move |tx| {
            let mut tag = load_tag(tx, &tag_id)?;
            match action.as_str() {
                "attach" => {
                    let object = object_id(&body)?;
                    attach(tx, &mut tag, object)?;
                    Ok((StatusCode::NO_CONTENT, Value::Null))
                }
                "detach" => {
                    let object = object_id(&body)?;
                    tag.attached.retain(|o| *o != object);
                    put(tx, TAGS, &tag.id, &tag)?;
                    Ok((StatusCode::NO_CONTENT, Value::Null))
                }
                "list-attached-objects" => Ok((StatusCode::OK, json!(tag.attached))),
                other => Err(VcError::invalid(format!("Unknown tag-association action {other:?}."))),
            }
        })
        .await;
    match result {
        Ok((status, body)) => with_status(status, body),
        Err(e) => e.into_response(),
    }
}

/// `POST /api/cis/tagging/tag-association?action=list-attached-tags|attach-multiple-tags-to-object`.
pub(crate) async fn object_action(
    State(state): State<VcState>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let action = Filters::parse(query.as_deref()).one("action").unwrap_or("").to_owned();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let result = state
        .ctx
        .store
        .transact(move |tx| {
            let object = object_id(&body)?;
            match action.as_str() {
                "list-attached-tags" => {
                    let ids: Vec<String> = tags(tx)?
                        .into_iter()
                        .filter(|t| t.attached.contains(&object))
                        .map(|t| t.id)
                        .collect();
                    Ok(json!(ids))
                }
                "attach-multiple-tags-to-object" => {
                    let ids: Vec<String> = body
                        .get("tag_ids")
                        .and_then(Value::as_array)
                        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                        .unwrap_or_default();
                    let mut errors = Vec::new();
                    for id in ids {
                        let attached =
                            load_tag(tx, &id).and_then(|mut tag| attach(tx, &mut tag, object.clone()));
                        if let Err(e) = attached {
                            errors.push(json!({
                                "id": "com.vmware.cis.tagging.attach",
                                "default_message": e.to_string(),
                                "args": [id],
                            }));
                        }
                    }
                    Ok(json!({"success": errors.is_empty(), "error_messages": errors}))
                }
                other => Err(VcError::invalid(format!("Unknown tag-association action {other:?}."))),
            }
        })
        .await;
    respond(result, StatusCode::OK)
}

/// Detaches `object` from every tag (its VM was deleted).
pub(crate) fn forget_object(tx: &Tx<'_>, object_type: &str, id: &str) -> Result<(), VcError> {
    let object = ObjectId { object_type: object_type.to_owned(), id: id.to_owned() };
    for mut tag in tags(tx)?.into_iter().filter(|t| t.attached.contains(&object)) {
        tag.attached.retain(|o| *o != object);
        put(tx, TAGS, &tag.id, &tag)?;
    }
    Ok(())
}

fn attach(tx: &Tx<'_>, tag: &mut Tag, object: ObjectId) -> Result<(), VcError> {
    if object.object_type == "VirtualMachine" && tx.get(VM_COLLECTION, &object.id)?.is_none() {
        return Err(VcError::not_found("Virtual machine", &object.id));
    }
    let category: Category = decode(
        tx.get(CATEGORIES, &tag.category_id)?
            .ok_or_else(|| VcError::not_found("Category", &tag.category_id))?,
    )?;
    if !category.associable_types.is_empty() && !category.associable_types.contains(&object.object_type) {
        return Err(VcError::invalid(format!(
            "Category {} does not allow objects of type {}.",
            category.name, object.object_type
        )));
    }
    if category.cardinality == "SINGLE"
        && tags(tx)?
            .iter()
            .any(|t| t.id != tag.id && t.category_id == category.id && t.attached.contains(&object))
    {
        return Err(VcError::invalid(format!(
            "Category {} has cardinality SINGLE and {} already carries one of its tags.",
            category.name, object.id
        )));
    }
    if !tag.attached.contains(&object) {
        tag.attached.push(object);
        put(tx, TAGS, &tag.id, tag)?;
    }
    Ok(())
}

fn object_id(body: &Value) -> Result<ObjectId, VcError> {
    body.get("object_id")
        .cloned()
        .and_then(|v| serde_json::from_value(v).ok())
        .ok_or_else(|| VcError::invalid("object_id {type, id} is required."))
}

fn load_tag(tx: &Tx<'_>, id: &str) -> Result<Tag, VcError> {
    decode(tx.get(TAGS, id)?.ok_or_else(|| VcError::not_found("Tag", id))?)
}

fn tags(tx: &Tx<'_>) -> Result<Vec<Tag>, VcError> {
    tx.list(TAGS)?.into_iter().map(|(_, v)| decode(v)).collect()
}

fn categories(tx: &Tx<'_>) -> Result<Vec<Category>, VcError> {
    tx.list(CATEGORIES)?.into_iter().map(|(_, v)| decode(v)).collect()
}

fn decode<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, VcError> {
    serde_json::from_value(value).map_err(|e| {
        VcError::new(
            ErrorType::Error,
            "com.vmware.api.vcenter.internal",
            format!("Unreadable tagging record: {e}."),
        )
    })
}

fn put<T: Serialize>(tx: &Tx<'_>, collection: &str, id: &str, record: &T) -> Result<(), VcError> {
    let value = serde_json::to_value(record)
        .map_err(|e| VcError::new(ErrorType::Error, "com.vmware.api.vcenter.internal", e.to_string()))?;
    Ok(tx.put(collection, id, &value)?)
}

fn exists(message: String) -> VcError {
    VcError::new(ErrorType::AlreadyExists, "com.vmware.cis.tagging.already_exists", message)
}

fn respond(result: Result<Value, VcError>, status: StatusCode) -> Response {
    match result {
        Ok(body) => with_status(status, body),
        Err(e) => e.into_response(),
    }
}

fn with_status(status: StatusCode, body: Value) -> Response {
    if status == StatusCode::NO_CONTENT {
        status.into_response()
    } else {
        (status, axum::Json(body)).into_response()
    }
}
