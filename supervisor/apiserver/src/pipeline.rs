//! The object side of a write: from a decoded body to the [`Write`] storage commits.
//!
//! In: the resource, the decoded body and (for updates, patches, deletes) the stored object.
//! Out: the object to store, or an [`ApiError`]. The steps, in order, for every kind:
//! identity checks (apiVersion, kind, namespace, name) → server-owned metadata (uid,
//! creationTimestamp, generation, deletionTimestamp) → status subresource split (the main
//! endpoint keeps the stored status, `/status` keeps everything else) → per-kind strategy
//! (built-in defaulting, or CRD pruning and defaulting) → validation (422 with causes) →
//! lifecycle (finalizers hold a deleted object until they are cleared).
//!
//! These functions run inside [`crate::storage::Store::mutate`], under the write lock, so
//! they must stay synchronous and quick. Part 2 (server-side apply, managedFields) plugs in
//! at the same place: it is another way to compute the new object from the stored one.

use serde_json::{Value, json};

use crate::propagation::Propagation;
use crate::request::{FieldValidation, ResourcePath};
use crate::resource::{BuiltinKind, Resource, Strategy};
use crate::status::{ApiError, Cause, Subject};
use crate::storage::{Snapshot, Stored, Write};
use crate::validation::{NameRule, check_metadata};

/// The `Subject` of errors about `name` of `resource`.
pub fn subject<'a>(resource: &'a Resource, name: &'a str) -> Subject<'a> {
    Subject { group: &resource.group, resource: &resource.plural, name }
}

fn meta(object: &Value, field: &str) -> Option<String> {
    object.get("metadata").and_then(|m| m.get(field)).and_then(Value::as_str).map(str::to_owned)
}

fn meta_mut(object: &mut Value) -> Result<&mut serde_json::Map<String, Value>, ApiError> {
    crate::meta::object_field(object, "metadata")
        .ok_or_else(|| ApiError::bad_request("the request body must be a JSON object"))
}

/// Checks that the body is an object of the URL's kind and version, in the URL's namespace
/// (filled in when absent), and, when the URL names an object, with that name.
pub fn check_identity(resource: &Resource, path: &ResourcePath, body: &mut Value) -> Result<(), ApiError> {
    if !body.is_object() {
        return Err(ApiError::bad_request("the request body must be a JSON object"));
    }
    let expected = resource.api_version();
    match body.get("apiVersion").and_then(Value::as_str) {
        Some(v) if v == expected => {}
        None => body["apiVersion"] = json!(expected),
        Some(v) => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({v}) does not match the expected API version ({expected})"
            )));
        }
    }
    match body.get("kind").and_then(Value::as_str) {
        Some(k) if k == resource.kind => {}
        None => body["kind"] = json!(resource.kind),
        Some(k) => {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                resource.kind
            )));
        }
    }
    if !body.get("metadata").is_none_or(Value::is_object) {
        return Err(ApiError::bad_request("metadata must be an object"));
    }
    let meta = meta_mut(body)?;
    if resource.namespaced {
        let url_ns = path.namespace.clone().unwrap_or_default();
        match meta.get("namespace").and_then(Value::as_str) {
            Some(ns) if !ns.is_empty() && ns != url_ns => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            _ => {
                meta.insert("namespace".into(), json!(url_ns));
            }
        }
    } else {
        meta.remove("namespace");
    }
    if let Some(url_name) = &path.name {
        match meta.get("name").and_then(Value::as_str) {
            Some(n) if n != url_name => {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({n}) does not match the name on the URL ({url_name})"
                )));
            }
            Some(_) => {}
            None => {
                meta.insert("name".into(), json!(url_name));
            }
        }
    }
    Ok(())
}

/// Converts an object to its stored shape before a write: the storage version of a CRD,
/// the core/v1 shape of an events.k8s.io Event.
pub fn to_storage(resource: &Resource, object: &mut Value) {
    if let Strategy::Builtin(kind) = &resource.strategy {
        kind.to_storage(object);
    }
    if resource.version != resource.storage_version {
        let gv = if resource.group.is_empty() {
            resource.storage_version.clone()
        } else {
            format!("{}/{}", resource.group, resource.storage_version)
        };
        object["apiVersion"] = json!(gv);
    }
}

/// Converts a stored object to the version and shape the client asked for (CRD
/// conversion strategy None: only `apiVersion` changes).
pub fn to_served(resource: &Resource, object: &mut Value) {
    if object.is_object() {
        if let Strategy::Builtin(kind) = &resource.strategy {
            kind.from_storage(object);
        }
        object["apiVersion"] = json!(resource.api_version());
        object["kind"] = json!(resource.kind);
    }
}

/// A stored object in its served shape, serialised without copying it: the served
/// `apiVersion` and `kind`, then the stored fields. Only for resources whose stored shape
/// is their served shape but for those two fields ([`Served::of`] says which).
///
/// Lists of thousands of objects are written straight from the cache this way.
#[derive(Debug, Clone, Copy)]
pub struct Served<'a> {
    api_version: &'a str,
    kind: &'a str,
    object: &'a Value,
}

impl<'a> Served<'a> {
    /// `object` as `resource` serves it, or `None` when serving it needs a conversion
    /// beyond `apiVersion` and `kind` (then use [`to_served`] on a copy).
    pub fn of(resource: &'a Resource, api_version: &'a str, object: &'a Value) -> Option<Served<'a>> {
        let converts = matches!(&resource.strategy, Strategy::Builtin(kind) if kind.converts_from_storage());
        (!converts && object.is_object()).then_some(Served { api_version, kind: &resource.kind, object })
    }
}

impl serde::Serialize for Served<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let Some(fields) = self.object.as_object() else { return self.object.serialize(serializer) };
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("apiVersion", self.api_version)?;
        map.serialize_entry("kind", self.kind)?;
        for (key, value) in fields.iter().filter(|(key, _)| !matches!(key.as_str(), "apiVersion" | "kind")) {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// The stored JSON text of `stored` when it is already the object as `resource` serves it
/// at `api_version` (no conversion, same `apiVersion` and `kind`): then responses and watch
/// events send that text instead of serialising the object again.
pub fn served_text<'a>(resource: &Resource, api_version: &str, stored: &'a Stored) -> Option<&'a str> {
    let converts = matches!(&resource.strategy, Strategy::Builtin(kind) if kind.converts_from_storage());
    (!converts && stored.served_as(api_version, &resource.kind)).then(|| stored.json())
}

/// Drops unknown top-level fields of a built-in kind and unknown `metadata` fields of any
/// kind; returns their paths. (Nested fields of built-in kinds are not checked.)
fn prune_known_shape(resource: &Resource, object: &mut Value) -> Vec<String> {
    let mut unknown = Vec::new();
    if let Strategy::Builtin(kind) = &resource.strategy
        && let Some(map) = object.as_object_mut()
    {
        let allowed = kind.top_level_fields();
        map.retain(|key, _| {
            let known =
                matches!(key.as_str(), "apiVersion" | "kind" | "metadata") || allowed.contains(&key.as_str());
            if !known {
                unknown.push(key.clone());
            }
            known
        });
    }
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.retain(|key, _| {
            let known = crate::meta::is_metadata_field(key);
            if !known {
                unknown.push(format!("metadata.{key}"));
            }
            known
        });
    }
    unknown
}

/// Applies the kind's strategy: unknown fields dropped (refused with `Strict`, reported
/// with `Warn`), then built-in defaults or CRD pruning and defaulting. Returns warnings.
fn apply_strategy(
    resource: &Resource,
    object: &mut Value,
    old: Option<&Value>,
    validation: FieldValidation,
) -> Result<Vec<String>, ApiError> {
    let mut unknown = prune_known_shape(resource, object);
    match &resource.strategy {
        Strategy::Builtin(kind) => kind.default_fields(object, old),
        Strategy::Custom(version) => {
            if let Some(schema) = &version.schema {
                unknown.extend(crate::crd::prune_and_default(schema, object));
            }
        }
    }
    let messages: Vec<String> = unknown.iter().map(|f| format!("unknown field \"{f}\"")).collect();
    match validation {
        FieldValidation::Strict if !messages.is_empty() => {
            Err(ApiError::bad_request(format!("strict decoding error: {}", messages.join(", "))))
        }
        FieldValidation::Warn => Ok(messages),
        _ => Ok(Vec::new()),
    }
}

fn validate(resource: &Resource, object: &Value, old: Option<&Value>) -> Result<(), ApiError> {
    let mut causes: Vec<Cause> = Vec::new();
    let rule = match &resource.strategy {
        Strategy::Builtin(kind) => kind.name_rule(),
        Strategy::Custom(_) => NameRule::Subdomain,
    };
    check_metadata(object, rule, &mut causes);
    match &resource.strategy {
        Strategy::Builtin(kind) => causes.extend(kind.validate(object, old)),
        Strategy::Custom(version) => {
            if let Some(schema) = &version.schema {
                causes.extend(crate::crd::validate_against(schema, object));
            }
        }
    }
    if causes.is_empty() {
        return Ok(());
    }
    let name = meta(object, "name").unwrap_or_default();
    Err(ApiError::invalid(&resource.kind, subject(resource, &name), &causes))
}

fn tracks_generation(resource: &Resource) -> bool {
    resource.is_custom() || resource.kind == "CustomResourceDefinition"
}

/// Prepares a new object for creation. The name must already be set (or generated).
pub fn prepare_create(
    resource: &Resource,
    body: &mut Value,
    validation: FieldValidation,
) -> Result<Vec<String>, ApiError> {
    let meta = meta_mut(body)?;
    if meta.get("name").and_then(Value::as_str).is_none_or(str::is_empty)
        && let Some(prefix) = meta.get("generateName").and_then(Value::as_str).filter(|p| !p.is_empty())
    {
        let name = crate::meta::generate_name(prefix);
        meta.insert("name".into(), json!(name));
    }
    meta.insert("uid".into(), json!(crate::meta::new_uid()));
    meta.insert("creationTimestamp".into(), json!(crate::meta::now()));
    for field in ["resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"] {
        meta.remove(field);
    }
    if tracks_generation(resource) {
        meta.insert("generation".into(), json!(1));
    } else {
        meta.remove("generation");
    }
    if resource.status_subresource
        && let Some(o) = body.as_object_mut()
    {
        o.remove("status");
    }
    let warnings = apply_strategy(resource, body, None, validation)?;
    validate(resource, body, None)?;
    to_storage(resource, body);
    Ok(warnings)
}

/// The parts of an object that count as its spec for `metadata.generation`.
fn spec_part(resource: &Resource, object: &Value) -> Value {
    let mut copy = object.clone();
    if let Some(o) = copy.as_object_mut() {
        o.remove("metadata");
        o.remove("apiVersion");
        o.remove("kind");
        if resource.status_subresource {
            o.remove("status");
        }
    }
    copy
}

/// Prepares an update of `old` to `new` through the main endpoint or `/status`.
///
/// Returns what to write (a no-op update is [`Write::Keep`]; clearing the last finalizer of
/// a deleted object is a delete) and the warnings.
pub fn prepare_update(
    resource: &Resource,
    status_only: bool,
    old: &Value,
    mut new: Value,
    validation: FieldValidation,
) -> Result<(Write, Vec<String>), ApiError> {
    let name = meta(old, "name").unwrap_or_default();
    let old_rv = meta(old, "resourceVersion").unwrap_or_default();
    match meta(&new, "resourceVersion") {
        Some(rv) if !rv.is_empty() && rv != old_rv => return Err(ApiError::stale(subject(resource, &name))),
        Some(rv) if !rv.is_empty() => {}
        _ if resource.is_custom() => {
            let cause =
                Cause::invalid("metadata.resourceVersion", &json!(0), "must be specified for an update");
            return Err(ApiError::invalid(&resource.kind, subject(resource, &name), &[cause]));
        }
        _ => {}
    }
    if status_only {
        let status = new.get("status").cloned();
        new = old.clone();
        match status {
            Some(status) => new["status"] = status,
            None => {
                if let Some(o) = new.as_object_mut() {
                    o.remove("status");
                }
            }
        }
    } else if resource.status_subresource {
        match old.get("status") {
            Some(status) => new["status"] = status.clone(),
            None => {
                if let Some(o) = new.as_object_mut() {
                    o.remove("status");
                }
            }
        }
    }
    let old_meta = old.get("metadata").cloned().unwrap_or_default();
    let being_deleted = old_meta.get("deletionTimestamp").is_some();
    if being_deleted {
        let old_finalizers =
            old_meta.get("finalizers").and_then(Value::as_array).cloned().unwrap_or_default();
        let added = new
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| f.iter().any(|x| !old_finalizers.contains(x)));
        if added {
            let cause = Cause::forbidden(
                "metadata.finalizers",
                "no new finalizers can be added if the object is being deleted",
            );
            return Err(ApiError::invalid(&resource.kind, subject(resource, &name), &[cause]));
        }
    }
    let meta = meta_mut(&mut new)?;
    for field in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
        "name",
        "namespace",
    ] {
        match old_meta.get(field) {
            Some(v) => meta.insert(field.into(), v.clone()),
            None => meta.remove(field),
        };
    }
    meta.insert("resourceVersion".into(), json!(old_rv));
    let warnings = apply_strategy(resource, &mut new, Some(old), validation)?;
    validate(resource, &new, Some(old))?;
    to_storage(resource, &mut new);
    if tracks_generation(resource) && spec_part(resource, &new) != spec_part(resource, old) {
        let generation = old_meta.get("generation").and_then(Value::as_i64).unwrap_or(0) + 1;
        meta_mut(&mut new)?.insert("generation".into(), json!(generation));
    }
    if new == *old {
        return Ok((Write::Keep, warnings));
    }
    if being_deleted && !finalizers_left(resource, &new) {
        return Ok((Write::DeleteAs(new), warnings));
    }
    Ok((Write::Put(new), warnings))
}

/// Allocates what the kind needs from a shared pool (Services: cluster IP, node ports),
/// reading the other objects under the write lock. 422 if the pool refuses.
pub fn allocate(resource: &Resource, object: &mut Value, snapshot: &Snapshot<'_>) -> Result<(), ApiError> {
    if !matches!(resource.strategy, Strategy::Builtin(BuiltinKind::Service)) {
        return Ok(());
    }
    let others = snapshot.list(&resource.storage_resource())?;
    let causes = crate::service_addresses::allocate_service(object, &others);
    if causes.is_empty() {
        return Ok(());
    }
    let name = meta(object, "name").unwrap_or_default();
    Err(ApiError::invalid(&resource.kind, subject(resource, &name), &causes))
}

/// `DeleteOptions` preconditions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preconditions {
    /// The object must have this uid.
    pub uid: Option<String>,
    /// The object must be at this resourceVersion.
    pub resource_version: Option<String>,
}

impl Preconditions {
    /// Reads `preconditions` from a DeleteOptions body.
    pub fn from_delete_options(options: &Value) -> Preconditions {
        let get = |f: &str| {
            options.pointer(&format!("/preconditions/{f}")).and_then(Value::as_str).map(str::to_owned)
        };
        Preconditions { uid: get("uid"), resource_version: get("resourceVersion") }
    }
}

/// Decides what a DELETE does: check preconditions, then either mark the object deleted
/// (it has finalizers) or remove it. Dependents are left to garbage collection, in the
/// background.
pub fn prepare_delete(
    resource: &Resource,
    old: &Value,
    preconditions: &Preconditions,
) -> Result<Write, ApiError> {
    prepare_delete_with(resource, old, preconditions, Propagation::Background)
}

/// Whether a Namespace still waits for its contents (`spec.finalizers`) or an object for
/// its finalizers.
fn finalizers_left(resource: &Resource, object: &Value) -> bool {
    let non_empty = |p: &str| object.pointer(p).and_then(Value::as_array).is_some_and(|f| !f.is_empty());
    non_empty("/metadata/finalizers") || (is_namespace(resource) && non_empty("/spec/finalizers"))
}

fn is_namespace(resource: &Resource) -> bool {
    matches!(resource.strategy, Strategy::Builtin(BuiltinKind::Namespace))
}

/// [`prepare_delete`] with a propagation policy: `Foreground` and `Orphan` hold the object
/// with the `foregroundDeletion` or `orphan` finalizer until the garbage collector has
/// dealt with its dependents. A Namespace is never removed at once: it turns Terminating
/// (finalizer `kubernetes` in `spec.finalizers`) until the namespace controller has emptied it.
pub fn prepare_delete_with(
    resource: &Resource,
    old: &Value,
    preconditions: &Preconditions,
    propagation: Propagation,
) -> Result<Write, ApiError> {
    let name = meta(old, "name").unwrap_or_default();
    let uid = meta(old, "uid").unwrap_or_default();
    let rv = meta(old, "resourceVersion").unwrap_or_default();
    if let Some(want) = &preconditions.uid
        && *want != uid
    {
        let why = format!("Precondition failed: UID in precondition: {want}, UID in object meta: {uid}");
        return Err(ApiError::conflict(subject(resource, &name), &why));
    }
    if let Some(want) = &preconditions.resource_version
        && *want != rv
    {
        let why = format!(
            "Precondition failed: ResourceVersion in precondition: {want}, ResourceVersion in object meta: {rv}"
        );
        return Err(ApiError::conflict(subject(resource, &name), &why));
    }
    let extra = propagation.finalizer();
    if !finalizers_left(resource, old) && extra.is_none() && !is_namespace(resource) {
        return Ok(Write::Delete);
    }
    if old.pointer("/metadata/deletionTimestamp").is_some() {
        return Ok(Write::Keep);
    }
    let mut marked = old.clone();
    if is_namespace(resource) {
        if let Some(spec) = crate::meta::object_field(&mut marked, "spec") {
            let finalizers = spec.entry("finalizers").or_insert_with(|| json!([]));
            if finalizers.as_array().is_some_and(Vec::is_empty) {
                *finalizers = json!(["kubernetes"]);
            }
        }
        if let Some(status) = crate::meta::object_field(&mut marked, "status") {
            status.insert("phase".into(), json!("Terminating"));
        }
    }
    let meta = meta_mut(&mut marked)?;
    if let Some(extra) = extra {
        let finalizers = meta.entry("finalizers").or_insert_with(|| json!([]));
        if let Some(list) = finalizers.as_array_mut()
            && !list.iter().any(|f| f == extra)
        {
            list.push(json!(extra));
        }
    }
    meta.insert("deletionTimestamp".into(), json!(crate::meta::now()));
    meta.insert("deletionGracePeriodSeconds".into(), json!(0));
    Ok(Write::Put(marked))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;
    use crate::resource::CustomVersion;
    use std::sync::Arc;

    fn configmaps() -> Arc<Resource> {
        Registry::with_builtins().get("", "v1", "configmaps").unwrap()
    }

    fn widgets() -> Resource {
        let mut r = (*configmaps()).clone();
        r.group = "example.com".into();
        r.kind = "Widget".into();
        r.plural = "widgets".into();
        r.status_subresource = true;
        r.strategy = Strategy::Custom(Arc::new(CustomVersion {
            schema: Some(json!({"type": "object", "properties": {
                "spec": {"type": "object", "properties": {"size": {"type": "integer"}}},
                "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}}}})),
            columns: vec![],
        }));
        r
    }

    fn path(name: Option<&str>) -> ResourcePath {
        ResourcePath {
            group: String::new(),
            version: "v1".into(),
            namespace: Some("default".into()),
            plural: "configmaps".into(),
            name: name.map(str::to_owned),
            subresource: None,
        }
    }

    #[test]
    fn identity_is_checked_and_filled() {
        let cm = configmaps();
        let mut body = json!({"metadata": {"name": "a"}});
        check_identity(&cm, &path(None), &mut body).unwrap();
        assert_eq!((body["apiVersion"].as_str(), body["kind"].as_str()), (Some("v1"), Some("ConfigMap")));
        assert_eq!(body["metadata"]["namespace"], "default");
        let mut wrong = json!({"apiVersion": "v2", "kind": "ConfigMap"});
        assert_eq!(check_identity(&cm, &path(None), &mut wrong).unwrap_err().code, 400);
        let mut other_ns = json!({"metadata": {"namespace": "x"}});
        assert_eq!(check_identity(&cm, &path(None), &mut other_ns).unwrap_err().code, 400);
        let mut other_name = json!({"metadata": {"name": "b"}});
        assert_eq!(check_identity(&cm, &path(Some("a")), &mut other_name).unwrap_err().code, 400);
    }

    #[test]
    fn create_sets_server_fields_and_drops_status() {
        let w = widgets();
        let mut body = json!({"metadata": {"generateName": "w-", "namespace": "default", "resourceVersion": "5"},
            "spec": {"size": 1, "junk": 1}, "status": {"ready": true}});
        let warnings = prepare_create(&w, &mut body, FieldValidation::Warn).unwrap();
        assert_eq!(warnings, ["unknown field \"spec.junk\""]);
        assert!(body["metadata"]["name"].as_str().unwrap().starts_with("w-"));
        assert_eq!(body["metadata"]["generation"], 1);
        assert!(body["metadata"].get("resourceVersion").is_none());
        assert!(body.get("status").is_none());
        let mut strict = json!({"metadata": {"name": "s"}, "spec": {"junk": 1}});
        assert_eq!(prepare_create(&w, &mut strict, FieldValidation::Strict).unwrap_err().code, 400);
        let mut invalid = json!({"metadata": {"name": "s"}, "spec": {"size": "big"}});
        assert_eq!(prepare_create(&w, &mut invalid, FieldValidation::Warn).unwrap_err().code, 422);
    }

    fn stored_widget() -> Value {
        json!({"apiVersion": "v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "default", "uid": "u1",
            "resourceVersion": "7", "generation": 1, "creationTimestamp": "2024-01-01T00:00:00Z"},
            "spec": {"size": 1}, "status": {"ready": false}})
    }

    #[test]
    fn main_endpoint_ignores_status_and_bumps_generation() {
        let w = widgets();
        let old = stored_widget();
        let mut new = old.clone();
        new["spec"]["size"] = json!(2);
        new["status"]["ready"] = json!(true);
        let (write, _) = prepare_update(&w, false, &old, new, FieldValidation::Warn).unwrap();
        let Write::Put(stored) = write else { panic!("{write:?}") };
        assert_eq!(stored["status"]["ready"], false);
        assert_eq!(stored["metadata"]["generation"], 2);
        let mut labels_only = old.clone();
        labels_only["metadata"]["labels"] = json!({"a": "b"});
        let (write, _) = prepare_update(&w, false, &old, labels_only, FieldValidation::Warn).unwrap();
        let Write::Put(stored) = write else { panic!() };
        assert_eq!(stored["metadata"]["generation"], 1);
    }

    #[test]
    fn status_endpoint_ignores_the_rest() {
        let w = widgets();
        let old = stored_widget();
        let mut new = old.clone();
        new["spec"]["size"] = json!(9);
        new["status"]["ready"] = json!(true);
        let (write, _) = prepare_update(&w, true, &old, new, FieldValidation::Warn).unwrap();
        let Write::Put(stored) = write else { panic!() };
        assert_eq!(
            (stored["spec"]["size"].as_i64(), stored["status"]["ready"].as_bool()),
            (Some(1), Some(true))
        );
        assert_eq!(stored["metadata"]["generation"], 1);
    }

    #[test]
    fn stale_and_missing_resource_versions() {
        let w = widgets();
        let old = stored_widget();
        let mut stale = old.clone();
        stale["metadata"]["resourceVersion"] = json!("6");
        assert_eq!(
            prepare_update(&w, false, &old, stale, FieldValidation::Warn).unwrap_err().reason,
            "Conflict"
        );
        let mut missing = old.clone();
        missing["metadata"].as_object_mut().unwrap().remove("resourceVersion");
        assert_eq!(prepare_update(&w, false, &old, missing, FieldValidation::Warn).unwrap_err().code, 422);
        let (write, _) = prepare_update(&w, false, &old, old.clone(), FieldValidation::Warn).unwrap();
        assert!(matches!(write, Write::Keep));
    }

    #[test]
    fn finalizers_hold_deletion_until_cleared() {
        let w = widgets();
        let mut old = stored_widget();
        old["metadata"]["finalizers"] = json!(["example.com/hold"]);
        let Write::Put(marked) = prepare_delete(&w, &old, &Preconditions::default()).unwrap() else {
            panic!()
        };
        assert!(marked["metadata"]["deletionTimestamp"].is_string());
        assert!(matches!(prepare_delete(&w, &marked, &Preconditions::default()).unwrap(), Write::Keep));
        let mut add = marked.clone();
        add["metadata"]["finalizers"] = json!(["example.com/hold", "other"]);
        assert_eq!(prepare_update(&w, false, &marked, add, FieldValidation::Warn).unwrap_err().code, 422);
        let mut cleared = marked.clone();
        cleared["metadata"]["finalizers"] = json!([]);
        let (write, _) = prepare_update(&w, false, &marked, cleared, FieldValidation::Warn).unwrap();
        assert!(matches!(write, Write::DeleteAs(_)));
    }

    #[test]
    fn unknown_builtin_fields_are_dropped_or_refused() {
        let cm = configmaps();
        let mut body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "colour": 1}, "datax": {}});
        let warnings = prepare_create(&cm, &mut body, FieldValidation::Warn).unwrap();
        assert_eq!(warnings, ["unknown field \"datax\"", "unknown field \"metadata.colour\""]);
        assert!(body.get("datax").is_none());
        let mut strict = json!({"metadata": {"name": "a"}, "datax": {}});
        let error = prepare_create(&cm, &mut strict, FieldValidation::Strict).unwrap_err();
        assert_eq!(error.message, "strict decoding error: unknown field \"datax\"");
    }

    #[test]
    fn delete_preconditions() {
        let w = widgets();
        let old = stored_widget();
        let wrong_uid = Preconditions { uid: Some("other".into()), resource_version: None };
        assert_eq!(prepare_delete(&w, &old, &wrong_uid).unwrap_err().code, 409);
        let right = Preconditions { uid: Some("u1".into()), resource_version: Some("7".into()) };
        assert!(matches!(prepare_delete(&w, &old, &right).unwrap(), Write::Delete));
    }
}
