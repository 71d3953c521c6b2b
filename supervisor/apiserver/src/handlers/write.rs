//! The write verbs: create, update, patch and server-side apply, and what a committed write
//! sets off (CRDs change what is served, ServiceAccount token Secrets get filled).
//!
//! After routing, authorization and body decoding; the object rules are in
//! [`crate::pipeline`], field ownership in [`crate::apply`]. Invariant: every write is one
//! atomic read-modify-write in storage, so a concurrent writer sees a conflict, not a lost
//! update.

use axum::http::{StatusCode, header};
use axum::response::Response;
use serde_json::Value;

use super::body::decode_object;
use super::{Req, blocking, service_accounts};
use crate::apply::{Applied, Apply, Manager, Operation, Ownership};
use crate::pipeline::{self, subject, to_served};
use crate::status::ApiError;
use crate::storage::{EventType, ObjectKey, Outcome, Write};

impl Req {
    pub(super) async fn namespace_ready(&self) -> Result<(), ApiError> {
        let Some(ns) = self.path.namespace.clone() else { return Ok(()) };
        let key = ObjectKey { resource: "/namespaces".into(), namespace: String::new(), name: ns.clone() };
        let found = self.ctx.store.get_shared(&key)?;
        let subject = crate::status::Subject { group: "", resource: "namespaces", name: &ns };
        match found {
            None => Err(ApiError::not_found(subject)),
            Some(n) if n.pointer("/metadata/deletionTimestamp").is_some() => Err(ApiError::forbidden(
                subject,
                &format!("unable to create new content in namespace {ns} because it is being terminated"),
            )),
            Some(_) => Ok(()),
        }
    }

    pub(super) async fn create(self, bytes: &[u8]) -> Result<Response, ApiError> {
        let mut body = decode_object(&self.headers, bytes)?;
        pipeline::check_identity(&self.resource, &self.path, &mut body)?;
        self.namespace_ready().await?;
        let manager = self.manager(Operation::Update)?;
        let warnings = pipeline::prepare_create(&self.resource, &mut body, self.params.field_validation)?;
        let name = body.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_owned();
        let key = self.key(&name);
        let resource = &self.resource;
        let outcome = (self.ctx.store)
            .write(&key, self.params.dry_run, |current, snapshot| match current {
                Some(_) => Err(ApiError::already_exists(subject(resource, &name))),
                None => {
                    pipeline::allocate(resource, &mut body, snapshot)?;
                    let ownership = Ownership::update(resource, false, None, &body, manager);
                    Ok(ownership.finish(None, Write::Put(body)))
                }
            })
            .await?;
        self.after_write(&outcome).await?;
        Ok(self.respond_object(StatusCode::CREATED, &outcome.object, &warnings))
    }

    /// The field manager of an update or a non-apply patch; `force` is refused, as it
    /// means something only to server-side apply.
    fn update_manager(&self) -> Result<Manager, ApiError> {
        if self.params.force.is_some() {
            return Err(crate::apply::invalid_options(
                "force",
                "Forbidden: may not be specified for non-apply patch",
                "FieldValueForbidden",
            ));
        }
        self.manager(Operation::Update)
    }

    pub(super) async fn update(self, bytes: &[u8]) -> Result<Response, ApiError> {
        let mut body = decode_object(&self.headers, bytes)?;
        pipeline::check_identity(&self.resource, &self.path, &mut body)?;
        let manager = self.update_manager()?;
        self.write_with(manager, move |_current| Ok(body)).await
    }

    pub(super) async fn patch(self, bytes: &[u8]) -> Result<Response, ApiError> {
        let content_type = self.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let kind = crate::patch::PatchType::from_content_type(content_type)
            .ok_or_else(|| ApiError::unsupported_media_type(content_type))?;
        if kind == crate::patch::PatchType::Apply {
            return self.apply(bytes).await;
        }
        if kind == crate::patch::PatchType::Strategic && self.resource.is_custom() {
            return Err(ApiError::unsupported_patch_type(&[
                "application/json-patch+json",
                "application/merge-patch+json",
                "application/apply-patch+yaml",
            ]));
        }
        let manager = self.update_manager()?;
        let patch = bytes.to_vec();
        let resource = self.resource.clone();
        let path = self.path.clone();
        self.write_with(manager, move |current| {
            let mut served = current.clone();
            to_served(&resource, &mut served);
            let shape = crate::apply::Shape::of(&resource);
            let mut patched = crate::patch::apply(kind, &served, &patch, &shape).map_err(|e| match e {
                crate::patch::PatchError::Malformed(m) => ApiError::bad_request(m),
                crate::patch::PatchError::Failed(m) => ApiError::invalid(
                    &resource.kind,
                    subject(&resource, path.name.as_deref().unwrap_or("")),
                    &[crate::status::Cause { reason: "FieldValueInvalid", field: String::new(), message: m }],
                ),
            })?;
            pipeline::check_identity(&resource, &path, &mut patched)?;
            Ok(patched)
        })
        .await
    }

    /// Runs an update whose new object `make` computes from the stored one, atomically.
    async fn write_with(
        self,
        manager: Manager,
        make: impl FnOnce(&Value) -> Result<Value, ApiError> + Send + 'static,
    ) -> Result<Response, ApiError> {
        let key = self.key(self.name());
        let (resource, name) = (&self.resource, self.name());
        let (status_only, validation) = (self.status_only, self.params.field_validation);
        let mut warnings = Vec::new();
        let outcome = (self.ctx.store)
            .write(&key, self.params.dry_run, |current, snapshot| {
                let current = current.ok_or_else(|| ApiError::not_found(subject(resource, name)))?;
                let new = make(current)?;
                let (mut write, w) =
                    pipeline::prepare_update(resource, status_only, current, new, validation)?;
                warnings = w;
                if let Write::Put(object) = &mut write {
                    pipeline::allocate(resource, object, snapshot)?;
                    let ownership = Ownership::update(resource, status_only, Some(current), object, manager);
                    return Ok(ownership.finish(Some(current), write));
                }
                Ok::<_, ApiError>(write)
            })
            .await?;
        self.after_write(&outcome).await?;
        Ok(self.respond_object(StatusCode::OK, &outcome.object, &warnings))
    }

    /// Server-side apply (`application/apply-patch+yaml`): merges the configuration into the
    /// object, or creates it, recording field ownership (see [`crate::apply`]).
    pub(super) async fn apply(self, bytes: &[u8]) -> Result<Response, ApiError> {
        if self.params.field_manager.is_none() {
            return Err(crate::apply::invalid_options(
                "fieldManager",
                "Required value: is required for apply patch",
                "FieldValueRequired",
            ));
        }
        let manager = self.manager(Operation::Apply)?;
        // kubectl and the client libraries send JSON (which is YAML); people with curl send YAML.
        let mut applied: Value = match serde_json::from_slice(bytes) {
            Ok(value) => value,
            Err(_) => serde_yaml::from_slice(bytes)
                .map_err(|e| ApiError::bad_request(format!("error decoding YAML apply patch: {e}")))?,
        };
        if !applied.is_object() {
            return Err(ApiError::bad_request("the apply patch must be an object"));
        }
        pipeline::check_identity(&self.resource, &self.path, &mut applied)?;
        let key = self.key(self.name());
        let exists = self.ctx.store.get_shared(&key)?.is_some();
        if !exists {
            if self.status_only {
                return Err(ApiError::not_found(subject(&self.resource, self.name())));
            }
            self.namespace_ready().await?;
        }
        let (resource, path, name) = (&self.resource, &self.path, self.name());
        let (status_only, validation) = (self.status_only, self.params.field_validation);
        let force = self.params.force.unwrap_or(false);
        let mut warnings = Vec::new();
        let apply = Apply { resource, status_only, manager, force };
        let outcome = (self.ctx.store)
            .write(&key, self.params.dry_run, |current, snapshot| {
                let Some(current) = current else {
                    if status_only {
                        return Err(ApiError::not_found(subject(resource, name)));
                    }
                    let Applied { mut object, ownership } = apply.merge(None, &applied, name)?;
                    warnings = pipeline::prepare_create(resource, &mut object, validation)?;
                    pipeline::allocate(resource, &mut object, snapshot)?;
                    return Ok(ownership.finish(None, Write::Put(object)));
                };
                let mut served = current.clone();
                to_served(resource, &mut served);
                let Applied { mut object, ownership } = apply.merge(Some(&served), &applied, name)?;
                pipeline::check_identity(resource, path, &mut object)?;
                let (mut write, w) =
                    pipeline::prepare_update(resource, status_only, current, object, validation)?;
                warnings = w;
                if let Write::Put(object) = &mut write {
                    pipeline::allocate(resource, object, snapshot)?;
                }
                Ok::<_, ApiError>(ownership.finish(Some(current), write))
            })
            .await?;
        self.after_write(&outcome).await?;
        let code = if outcome.event == Some(EventType::Added) { StatusCode::CREATED } else { StatusCode::OK };
        Ok(self.respond_object(code, &outcome.object, &warnings))
    }

    /// Side effects of a committed write: a CRD change changes what the server serves.
    ///
    /// Deleting a CRD stops serving its kind, then removes its objects before the DELETE is
    /// answered, so a CRD created again right after starts empty.
    pub(super) async fn after_write(&self, outcome: &Outcome) -> Result<(), ApiError> {
        if self.resource.kind == "Secret"
            && self.resource.group.is_empty()
            && matches!(outcome.event, Some(EventType::Added | EventType::Modified))
        {
            return service_accounts::fill_service_account_secret(&self.ctx, &outcome.object).await;
        }
        if self.resource.kind != "CustomResourceDefinition" || self.resource.group != "apiextensions.k8s.io" {
            return Ok(());
        }
        let Some(event) = outcome.event else { return Ok(()) };
        let name = outcome.object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_owned();
        match event {
            EventType::Added | EventType::Modified => {
                self.ctx.registry.set_crd(&name, crate::crd::resources_for(&outcome.object));
            }
            EventType::Deleted => {
                let served = crate::crd::resources_for(&outcome.object);
                self.ctx.registry.set_crd(&name, Vec::new());
                if let Some(resource) = served.first() {
                    let storage = resource.storage_resource();
                    let store = self.ctx.store.clone();
                    blocking(move || Ok(store.delete_all(&storage)?)).await?;
                }
            }
        }
        Ok(())
    }
}
