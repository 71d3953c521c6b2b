//! Server-side apply and field ownership (`metadata.managedFields`).
//!
//! In: the stored object, and either an applied configuration (`application/apply-patch+yaml`
//! with `fieldManager` and `force`) or the object an ordinary create, update or patch
//! produced. Out: the object to store, with `managedFields` recording which manager owns
//! which fields, or a 409 naming the conflicting fields and their managers.
//!
//! The rules, as structured-merge-diff applies them in kube-apiserver:
//! - An apply declares a set of fields (every scalar, set item, keyed-list item and atomic
//!   value in the configuration; see [`merge::collect`]). The configuration is merged into
//!   the live object by the kind's [`Shape`]: objects by field, keyed lists by key, sets by
//!   value, everything else replaced.
//! - A field the apply would change that another manager owns is a conflict: 409, unless
//!   `force=true`, which moves the field to the applier. Setting a field to the value it
//!   already has is not a conflict; the managers then share it.
//! - A field the same manager applied before and no longer declares is removed from the
//!   object, unless another manager still owns it (or something below it).
//! - An ordinary write (create, update, patch) is an `Update` operation: the writer takes
//!   every field it changed, without conflicts, from whoever owned it.
//! - Server-owned fields (apiVersion, kind, metadata name/namespace/uid/resourceVersion/…)
//!   are never owned. For kinds with a status subresource, the main endpoint owns no status
//!   fields and `/status` owns nothing else; its entries carry `subresource: status`.
//! - A write whose only change would be a managedFields timestamp is a no-op.
//! - Manager `kubectl` (`kubectl apply --server-side`) may take, without a conflict, the
//!   fields a client-side `kubectl apply` set and nobody changed since (read from the
//!   last-applied annotation), and keeps that annotation in step with what it applies.
//! - A client may replace managedFields in an update; `[{}]` clears them.

pub mod fieldset;
pub mod managed;
pub mod merge;
pub mod schema;

use serde_json::{Value, json};

use crate::resource::Resource;
use crate::status::{ApiError, Subject};
use crate::storage::Write;
use fieldset::{FieldSet, Path, PathElement, display};
pub use managed::{ManagedFields, Manager, Operation};
pub use schema::Shape;

/// The longest field manager name accepted.
pub const MAX_MANAGER_LEN: usize = 128;

/// Whether a path can be owned, for a write through the main endpoint or `/status`.
fn tracked(resource: &Resource, status_only: bool, path: &Path) -> bool {
    let field = |i: usize| match path.get(i) {
        Some(PathElement::Field(name)) => Some(name.as_str()),
        _ => None,
    };
    match (field(0), field(1)) {
        (Some("apiVersion" | "kind"), _) => false,
        (Some("metadata"), Some(name)) if crate::meta::SERVER_METADATA.contains(&name) => false,
        (first, _) if status_only => first == Some("status"),
        (Some("status"), _) => !resource.status_subresource,
        _ => true,
    }
}

/// Whether `path` is `metadata.managedFields` or below it.
fn is_managed_fields(path: &Path) -> bool {
    matches!(path.as_slice(), [PathElement::Field(m), PathElement::Field(f), ..] if m == "metadata" && f == "managedFields")
}

/// Whether `a` and `b` are equal but for `metadata.managedFields`, compared in place.
fn same_but_managed_fields(a: &Value, b: &Value) -> bool {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else { return a == b };
    let metadata = match (a.get("metadata"), b.get("metadata")) {
        (Some(Value::Object(ma)), Some(Value::Object(mb))) => same_but(ma, mb, "managedFields"),
        (ma, mb) => ma == mb,
    };
    metadata && same_but(a, b, "metadata")
}

/// Whether maps `a` and `b` are equal but for the field `skip`.
fn same_but(a: &serde_json::Map<String, Value>, b: &serde_json::Map<String, Value>, skip: &str) -> bool {
    let rest = |m: &serde_json::Map<String, Value>| m.len() - usize::from(m.contains_key(skip));
    rest(a) == rest(b) && a.iter().filter(|(k, _)| *k != skip).all(|(k, v)| b.get(k) == Some(v))
}

fn without_managed_fields(object: &Value) -> Value {
    let mut copy = object.clone();
    if let Some(meta) = copy.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
    copy
}

/// The field manager of a request: `fieldManager`, else the User-Agent up to its first `/`.
pub fn manager_name(field_manager: Option<&str>, user_agent: Option<&str>) -> Result<String, ApiError> {
    let name = match field_manager {
        Some(name) => name.to_owned(),
        // As kube-apiserver: the User-Agent up to its first `/`, unprintable characters dropped.
        None => user_agent
            .and_then(|ua| ua.split('/').next())
            .unwrap_or("")
            .chars()
            .filter(|c| !c.is_control())
            .collect(),
    };
    if field_manager.is_some() && name.chars().count() > MAX_MANAGER_LEN {
        return Err(invalid_options(
            "fieldManager",
            &format!("must be less than {MAX_MANAGER_LEN} characters"),
            "FieldValueTooLong",
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid_options(
            "fieldManager",
            "must only contain printable characters",
            "FieldValueInvalid",
        ));
    }
    Ok(name.chars().take(MAX_MANAGER_LEN).collect())
}

/// 422 about a PatchOptions field, as the real server words it.
pub fn invalid_options(field: &str, detail: &str, reason: &'static str) -> ApiError {
    let message = format!("PatchOptions.meta.k8s.io \"\" is invalid: {field}: {detail}");
    ApiError {
        code: 422,
        reason: "Invalid",
        message,
        details: Some(json!({"group": "meta.k8s.io", "kind": "PatchOptions",
            "causes": [{"reason": reason, "message": detail, "field": field}]})),
        continue_token: None,
    }
}

/// A server-side apply of `applied` by `manager`.
#[derive(Debug)]
pub struct Apply<'a> {
    /// The resource written.
    pub resource: &'a Resource,
    /// Whether the request went to `/status`.
    pub status_only: bool,
    /// The applying manager (operation [`Operation::Apply`]).
    pub manager: Manager,
    /// `force=true`: take conflicting fields instead of failing.
    pub force: bool,
}

/// The result of merging an applied configuration: the object to validate and store, and
/// the ownership to record once it is final (see [`Ownership::finish`]).
#[derive(Debug)]
pub struct Applied {
    /// The merged object.
    pub object: Value,
    /// Ownership after the apply.
    pub ownership: Ownership,
}

/// Ownership computed for a write, recorded into the final object by [`Ownership::finish`].
#[derive(Debug)]
pub struct Ownership {
    managed: ManagedFields,
    manager: Manager,
    fields: FieldSet,
    api_version: String,
}

impl Apply<'_> {
    /// Merges `applied` (already checked for identity) into `live` (served shape, `None` when
    /// the apply creates the object). 409 on conflicts unless forced; 400 if the
    /// configuration carries managedFields.
    pub fn merge(&self, live: Option<&Value>, applied: &Value, name: &str) -> Result<Applied, ApiError> {
        if applied.pointer("/metadata/managedFields").is_some_and(|m| !m.is_null()) {
            return Err(ApiError::bad_request("metadata.managedFields must be nil"));
        }
        let shape = Shape::of(self.resource);
        let mut applied_set = FieldSet::new();
        merge::collect(applied, &shape, &[], &mut applied_set);
        applied_set.retain(|p| tracked(self.resource, self.status_only, p));

        let mut managed = live.map(ManagedFields::of).unwrap_or_default();
        let previous = managed.get(&self.manager).map(|e| e.fields.clone()).unwrap_or_default();
        let live_plain = live.map(without_managed_fields);
        let mut merged = merge::merge(live_plain.as_ref(), applied, &shape);

        let (mut changed, mut removed) = (FieldSet::new(), FieldSet::new());
        merge::diff(live_plain.as_ref(), Some(&merged), &shape, &[], &mut changed, &mut removed);
        let mut conflicts: Vec<(Manager, Path)> = Vec::new();
        for entry in managed.0.iter().filter(|e| e.manager != self.manager) {
            for path in applied_set.iter() {
                if entry.fields.contains(path) && (changed.contains(path) || removed.covers(path)) {
                    conflicts.push((entry.manager.clone(), path.clone()));
                }
            }
        }
        if !conflicts.is_empty() {
            let upgrade = self.manager.name == KUBECTL
                && live_plain.as_ref().is_some_and(|live| {
                    let allowed = unchanged_since_last_applied(self.resource, live, &shape);
                    conflicts.iter().all(|(_, path)| allowed.contains(path))
                });
            if !self.force && !upgrade {
                return Err(conflict_error(self.resource, name, &conflicts));
            }
            let taken: FieldSet = conflicts.iter().map(|(_, p)| p.clone()).collect();
            managed.release(&self.manager, &taken);
        }

        // Fields this manager applied before and dropped now go, unless someone else holds them.
        let mut others = FieldSet::new();
        for entry in managed.0.iter().filter(|e| e.manager != self.manager) {
            others.extend(&entry.fields);
        }
        for path in previous.difference(&applied_set).iter() {
            if !others.has_at_or_below(path) && !applied_set.has_at_or_below(path) {
                merge::remove(&mut merged, path, &shape);
            }
        }

        let (mut changed, mut removed) = (FieldSet::new(), FieldSet::new());
        merge::diff(live_plain.as_ref(), Some(&merged), &shape, &[], &mut changed, &mut removed);
        managed.forget(&removed);
        if let Some(meta) = merged.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("managedFields");
        }
        if self.manager.name == KUBECTL {
            sync_last_applied(&mut merged, applied);
        }
        Ok(Applied {
            object: merged,
            ownership: Ownership {
                managed,
                manager: self.manager.clone(),
                fields: applied_set,
                api_version: self.resource.api_version(),
            },
        })
    }
}

impl Ownership {
    /// Ownership for an ordinary write (create when `old` is `None`, update or patch) of
    /// `new` by `manager`: it takes every field it changed.
    pub fn update(
        resource: &Resource,
        status_only: bool,
        old: Option<&Value>,
        new: &Value,
        manager: Manager,
    ) -> Ownership {
        let shape = Shape::of(resource);
        let old_managed = old.map(ManagedFields::of).unwrap_or_default();
        let sent = new.pointer("/metadata/managedFields");
        let old_sent = old.and_then(|o| o.pointer("/metadata/managedFields"));
        // A client may replace managedFields; an empty list or leaving them out keeps them.
        let mut managed = match sent {
            Some(Value::Array(list)) if !list.is_empty() && sent != old_sent => ManagedFields::of(new),
            _ => old_managed,
        };
        let (mut changed, mut removed) = (FieldSet::new(), FieldSet::new());
        // managedFields differ from write to write; what they become is decided below, so
        // their own changes are dropped here (no copies of the objects without them).
        merge::diff(old, Some(new), &shape, &[], &mut changed, &mut removed);
        changed.retain(|p| tracked(resource, status_only, p));
        removed.retain(|p| !is_managed_fields(p));
        managed.forget(&removed);
        managed.release(&manager, &changed);
        let mut fields = managed.get(&manager).map(|e| e.fields.clone()).unwrap_or_default();
        fields.extend(&changed);
        Ownership { managed, manager, fields, api_version: resource.api_version() }
    }

    /// Records the ownership into the object about to be written; a write that changes
    /// nothing but managedFields timestamps becomes [`Write::Keep`].
    pub fn finish(mut self, old: Option<&Value>, write: Write) -> Write {
        let mut object = match write {
            Write::Put(object) => object,
            Write::Keep => match old {
                Some(old) => old.clone(),
                None => return Write::Keep,
            },
            other => return other,
        };
        let content_changed = old.is_none_or(|old| !same_but_managed_fields(old, &object));
        if !self.fields.is_empty() || self.managed.get(&self.manager).is_some() {
            self.managed.set(&self.manager, &self.api_version, self.fields, content_changed);
        }
        self.managed.prune();
        self.managed.store(&mut object);
        match old {
            Some(old) if *old == object => Write::Keep,
            _ => Write::Put(object),
        }
    }
}

/// The field manager `kubectl apply --server-side` uses by default.
const KUBECTL: &str = "kubectl";
/// Where client-side `kubectl apply` keeps what it applied.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

fn last_applied(object: &Value) -> Option<&str> {
    object.get("metadata")?.get("annotations")?.get(LAST_APPLIED)?.as_str()
}

/// The fields of `live`'s last-applied configuration that still hold the values client-side
/// `kubectl apply` set. kube-apiserver lets manager `kubectl` take these without a
/// conflict, so moving from `kubectl apply` to `kubectl apply --server-side` needs no
/// `--force-conflicts` (a field someone changed since is still a conflict).
fn unchanged_since_last_applied(resource: &Resource, live: &Value, shape: &Shape) -> FieldSet {
    let Some(config) = last_applied(live).and_then(|text| serde_json::from_str::<Value>(text).ok()) else {
        return FieldSet::new();
    };
    let mut applied = FieldSet::new();
    merge::collect(&config, shape, &[], &mut applied);
    let (mut changed, mut removed) = (FieldSet::new(), FieldSet::new());
    merge::diff(Some(&config), Some(live), shape, &[], &mut changed, &mut removed);
    applied.retain(|p| tracked(resource, false, p) && !changed.contains(p) && !removed.covers(p));
    applied
}

/// Keeps the last-applied annotation, when there is one, equal to what manager `kubectl`
/// just applied, as kube-apiserver does, so a later client-side `kubectl apply` diffs
/// against the current configuration.
fn sync_last_applied(merged: &mut Value, applied: &Value) {
    if last_applied(merged).is_none() {
        return;
    }
    let mut config = applied.clone();
    if let Some(annotations) = config.pointer_mut("/metadata/annotations").and_then(Value::as_object_mut) {
        annotations.remove(LAST_APPLIED);
        if annotations.is_empty()
            && let Some(meta) = config.get_mut("metadata").and_then(Value::as_object_mut)
        {
            meta.remove("annotations");
        }
    }
    if let Some(annotations) = merged.pointer_mut("/metadata/annotations").and_then(Value::as_object_mut) {
        annotations.insert(LAST_APPLIED.to_owned(), json!(config.to_string()));
    }
}

fn print_manager(manager: &Manager, api_version: &str) -> String {
    let mut text = format!("{:?}", manager.name);
    if !manager.subresource.is_empty() {
        text.push_str(&format!(" with subresource {:?}", manager.subresource));
    }
    if manager.operation == Operation::Update {
        text.push_str(&format!(" using {api_version}"));
    }
    text
}

/// The 409 for apply conflicts, worded as kube-apiserver words it, with one
/// `FieldManagerConflict` cause per field.
fn conflict_error(resource: &Resource, name: &str, conflicts: &[(Manager, Path)]) -> ApiError {
    let api_version = resource.api_version();
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|(m, p)| {
            json!({"reason": "FieldManagerConflict", "message": format!("conflict with {}", print_manager(m, &api_version)),
                "field": display(p)})
        })
        .collect();
    let message = if let [(manager, path)] = conflicts {
        format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            print_manager(manager, &api_version),
            display(path)
        )
    } else {
        let mut managers: Vec<String> =
            conflicts.iter().map(|(m, _)| print_manager(m, &api_version)).collect();
        managers.sort();
        managers.dedup();
        let mut lines = Vec::new();
        for printed in &managers {
            lines.push(format!("conflicts with {printed}:"));
            for (_, path) in conflicts.iter().filter(|(m, _)| print_manager(m, &api_version) == *printed) {
                lines.push(format!("- {}", display(path)));
            }
        }
        format!("Apply failed with {} conflicts: {}", conflicts.len(), lines.join("\n"))
    };
    let subject = Subject { group: &resource.group, resource: &resource.plural, name };
    ApiError {
        code: 409,
        reason: "Conflict",
        message,
        details: Some(
            json!({"name": subject.name, "group": subject.group, "kind": subject.resource, "causes": causes}),
        ),
        continue_token: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;
    use std::sync::Arc;

    fn configmaps() -> Arc<Resource> {
        Registry::with_builtins().get("", "v1", "configmaps").unwrap()
    }

    fn applier(name: &str) -> Manager {
        Manager { name: name.into(), operation: Operation::Apply, subresource: String::new() }
    }

    #[test]
    fn content_comparison_ignores_managed_fields_only() {
        let a = json!({"metadata": {"name": "a", "managedFields": [{"manager": "x"}]}, "data": {"k": "v"}});
        let plain = json!({"metadata": {"name": "a"}, "data": {"k": "v"}});
        assert!(same_but_managed_fields(&a, &plain) && same_but_managed_fields(&plain, &a));
        let other = json!({"metadata": {"name": "a"}, "data": {"k": "w"}});
        let renamed = json!({"metadata": {"name": "b", "managedFields": []}, "data": {"k": "v"}});
        let extra = json!({"metadata": {"name": "a"}, "data": {"k": "v"}, "binaryData": {}});
        for different in [other, renamed, extra] {
            assert!(!same_but_managed_fields(&a, &different), "{different}");
            assert!(!same_but_managed_fields(&different, &a), "{different}");
        }
    }

    fn cm(data: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "default"}, "data": data})
    }

    /// Applies `data` as `manager` to `live` and returns the object as it would be stored.
    fn apply(live: Option<&Value>, manager: &str, data: Value, force: bool) -> Result<Value, ApiError> {
        let resource = configmaps();
        let apply = Apply { resource: &resource, status_only: false, manager: applier(manager), force };
        let Applied { object, ownership } = apply.merge(live, &cm(data), "c")?;
        match ownership.finish(live, Write::Put(object)) {
            Write::Put(object) => Ok(object),
            Write::Keep => Ok(live.cloned().unwrap()),
            other => panic!("{other:?}"),
        }
    }

    fn owners(object: &Value) -> Vec<(String, Vec<String>)> {
        ManagedFields::of(object)
            .0
            .iter()
            .map(|e| (e.manager.name.clone(), e.fields.iter().map(|p| display(p)).collect()))
            .collect()
    }

    #[test]
    fn two_appliers_share_equal_values_and_conflict_on_different_ones() {
        let a = apply(None, "a", json!({"x": "1", "y": "2"}), false).unwrap();
        assert_eq!(owners(&a), [("a".to_owned(), vec![".data.x".to_owned(), ".data.y".to_owned()])]);
        let b = apply(Some(&a), "b", json!({"x": "1", "z": "3"}), false).unwrap();
        assert_eq!(b["data"], json!({"x": "1", "y": "2", "z": "3"}));
        assert_eq!(owners(&b)[1], ("b".to_owned(), vec![".data.x".to_owned(), ".data.z".to_owned()]));
        let error = apply(Some(&b), "b", json!({"x": "9", "y": "8"}), false).unwrap_err();
        assert_eq!((error.code, error.reason), (409, "Conflict"));
        assert_eq!(
            error.message,
            "Apply failed with 2 conflicts: conflicts with \"a\":\n- .data.x\n- .data.y"
        );
        let causes = &error.details.as_ref().unwrap()["causes"];
        assert_eq!(
            causes[0],
            json!({"reason": "FieldManagerConflict", "message": "conflict with \"a\"", "field": ".data.x"})
        );
        let forced = apply(Some(&b), "b", json!({"x": "9", "y": "8"}), true).unwrap();
        assert_eq!(forced["data"], json!({"x": "9", "y": "8"}));
        // b dropped z (nobody else held it): it is gone; a lost x and y, so a owns nothing.
        assert_eq!(owners(&forced), [("b".to_owned(), vec![".data.x".to_owned(), ".data.y".to_owned()])]);
    }

    #[test]
    fn a_dropped_field_stays_while_another_manager_owns_it() {
        let a = apply(None, "a", json!({"x": "1", "y": "2"}), false).unwrap();
        let b = apply(Some(&a), "b", json!({"y": "2"}), false).unwrap();
        let a2 = apply(Some(&b), "a", json!({"x": "1"}), false).unwrap();
        assert_eq!(a2["data"], json!({"x": "1", "y": "2"}));
        let b2 = apply(Some(&a2), "b", json!({}), false).unwrap();
        assert_eq!(b2["data"], json!({"x": "1"}));
        assert_eq!(owners(&b2), [("a".to_owned(), vec![".data.x".to_owned()])]);
    }

    #[test]
    fn reapplying_the_same_configuration_changes_nothing() {
        let a = apply(None, "a", json!({"x": "1"}), false).unwrap();
        let resource = configmaps();
        let apply = Apply { resource: &resource, status_only: false, manager: applier("a"), force: false };
        let Applied { object, ownership } = apply.merge(Some(&a), &cm(json!({"x": "1"})), "c").unwrap();
        assert!(matches!(ownership.finish(Some(&a), Write::Put(object)), Write::Keep));
    }

    #[test]
    fn updates_take_what_they_change_and_conflict_with_appliers() {
        let resource = configmaps();
        let a = apply(None, "a", json!({"x": "1", "y": "2"}), false).unwrap();
        let mut edited = a.clone();
        edited["data"]["x"] = json!("5");
        edited["data"]["w"] = json!("6");
        let editor =
            Manager { name: "kubectl-edit".into(), operation: Operation::Update, subresource: String::new() };
        let Write::Put(updated) = Ownership::update(&resource, false, Some(&a), &edited, editor)
            .finish(Some(&a), Write::Put(edited))
        else {
            panic!()
        };
        assert_eq!(
            owners(&updated),
            [
                ("a".to_owned(), vec![".data.y".to_owned()]),
                ("kubectl-edit".to_owned(), vec![".data.w".to_owned(), ".data.x".to_owned()])
            ]
        );
        let error = apply(Some(&updated), "a", json!({"x": "1", "y": "2"}), false).unwrap_err();
        assert_eq!(
            error.message,
            "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using v1: .data.x"
        );
        let mut reset = updated.clone();
        reset["metadata"]["managedFields"] = json!([{}]);
        let clearer = Manager { name: "c".into(), operation: Operation::Update, subresource: String::new() };
        let Write::Put(cleared) = Ownership::update(&resource, false, Some(&updated), &reset, clearer)
            .finish(Some(&updated), Write::Put(reset))
        else {
            panic!()
        };
        assert!(cleared["metadata"].get("managedFields").is_none());
    }

    /// A ConfigMap as client-side `kubectl apply` of `data` leaves it: the last-applied
    /// annotation, and the fields owned by an Update of kubectl-client-side-apply.
    fn client_side_applied(data: Value) -> Value {
        let resource = configmaps();
        let mut object = cm(data.clone());
        let config = cm(data).to_string();
        object["metadata"]["annotations"] = json!({LAST_APPLIED: config});
        let csa = Manager {
            name: "kubectl-client-side-apply".into(),
            operation: Operation::Update,
            subresource: String::new(),
        };
        match Ownership::update(&resource, false, None, &object, csa).finish(None, Write::Put(object.clone()))
        {
            Write::Put(object) => object,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn kubectl_server_side_apply_takes_over_from_client_side_apply() {
        let live = client_side_applied(json!({"x": "1", "y": "2"}));
        // Another manager conflicts on what client-side apply set.
        let error = apply(Some(&live), "other", json!({"x": "9"}), false).unwrap_err();
        assert_eq!(
            error.message,
            "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using v1: .data.x"
        );
        // Manager kubectl takes it without force and keeps the annotation in step.
        let upgraded = apply(Some(&live), KUBECTL, json!({"x": "9", "y": "2"}), false).unwrap();
        assert_eq!(upgraded["data"], json!({"x": "9", "y": "2"}));
        assert_eq!(
            owners(&upgraded)[1],
            ("kubectl".to_owned(), vec![".data.x".to_owned(), ".data.y".to_owned()])
        );
        let annotation: Value = serde_json::from_str(last_applied(&upgraded).unwrap()).unwrap();
        assert_eq!(annotation["data"], json!({"x": "9", "y": "2"}));
        assert!(annotation["metadata"].get("annotations").is_none());
        // A field changed since the last client-side apply is still a conflict.
        let mut edited = live.clone();
        edited["data"]["x"] = json!("5");
        let error = apply(Some(&edited), KUBECTL, json!({"x": "9"}), false).unwrap_err();
        assert_eq!(error.code, 409);
    }

    #[test]
    fn server_fields_and_status_are_not_owned_through_the_main_endpoint() {
        let mut widgets = (*configmaps()).clone();
        widgets.status_subresource = true;
        let path =
            |fields: &[&str]| fields.iter().map(|f| PathElement::Field((*f).to_owned())).collect::<Path>();
        assert!(!tracked(&widgets, false, &path(&["metadata", "name"])));
        assert!(!tracked(&widgets, false, &path(&["status", "ready"])));
        assert!(tracked(&widgets, true, &path(&["status", "ready"])));
        assert!(!tracked(&widgets, true, &path(&["spec", "size"])));
        assert!(tracked(&widgets, false, &path(&["metadata", "labels", "a"])));
    }

    #[test]
    fn manager_names() {
        assert_eq!(manager_name(None, Some("kubectl/v1.32.0 (linux/amd64)")).unwrap(), "kubectl");
        assert_eq!(manager_name(Some("plugin-tkc"), Some("kube-rs")).unwrap(), "plugin-tkc");
        assert_eq!(manager_name(Some(&"m".repeat(129)), None).unwrap_err().code, 422);
        assert_eq!(manager_name(Some("a\u{7}b"), None).unwrap_err().code, 422);
        assert_eq!(manager_name(None, Some("odd\u{7}agent/1.0")).unwrap(), "oddagent");
    }
}
