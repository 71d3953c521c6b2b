//! The delete verbs: DELETE of one object and of a collection, with preconditions and
//! propagation policies.
//!
//! After routing and authorization; what a delete does to the object (finalizers,
//! deletionTimestamp) is [`crate::pipeline::prepare_delete_with`], what happens to its
//! dependents is [`crate::gc`]. Invariant: a collection delete deletes each object as a
//! single DELETE of it would.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::body::decode;
use super::{Req, blocking, json_response};
use crate::pipeline::{self, Preconditions, subject, to_served};
use crate::propagation::Propagation;
use crate::status::ApiError;
use crate::storage::{ObjectKey, Write};

/// What a DELETE body (DeleteOptions) and the query ask for.
struct DeleteOptions {
    preconditions: Preconditions,
    propagation: Propagation,
    dry_run: bool,
}

impl Req {
    /// Reads DeleteOptions from the body (optional) and the query parameters.
    fn delete_options(&self, bytes: &[u8]) -> Result<DeleteOptions, ApiError> {
        let options = if bytes.is_empty() { json!({}) } else { decode(bytes)? };
        let preconditions = Preconditions::from_delete_options(&options);
        let propagation = Propagation::from_options(&options, self.params.propagation_policy.as_deref())?;
        let dry_run = self.params.dry_run
            || options.get("dryRun").and_then(Value::as_array).is_some_and(|d| d.iter().any(|v| v == "All"));
        Ok(DeleteOptions { preconditions, propagation, dry_run })
    }

    pub(super) async fn delete(self, bytes: &[u8]) -> Result<Response, ApiError> {
        let DeleteOptions { preconditions, propagation, dry_run } = self.delete_options(bytes)?;
        let key = self.key(self.name());
        let (resource, name) = (&self.resource, self.name());
        let outcome = (self.ctx.store)
            .write(&key, dry_run, |current, _| {
                let current = current.ok_or_else(|| ApiError::not_found(subject(resource, name)))?;
                pipeline::prepare_delete_with(resource, current, &preconditions, propagation)
            })
            .await?;
        self.after_write(&outcome).await?;
        Ok(self.respond_object(StatusCode::OK, &outcome.object, &[]))
    }

    /// DELETE of a collection: every object the selectors match is deleted as a DELETE of
    /// it would be (same propagation policy); answers with the list of deleted objects.
    pub(super) async fn delete_collection(self, bytes: &[u8]) -> Result<Response, ApiError> {
        // Preconditions name one object; a collection delete ignores them, as the real server.
        let DeleteOptions { preconditions: _, propagation, dry_run } = self.delete_options(bytes)?;
        let store = self.ctx.store.clone();
        let resource = self.resource.clone();
        let namespace = self.path.namespace.clone();
        let selector = self.params.selector.clone();
        let deleted = blocking(move || {
            let page = store.list(&resource.storage_resource(), namespace.as_deref())?;
            let mut deleted = Vec::new();
            for object in page.items.into_iter().filter(|o| selector.matches(o)) {
                let text = |p: &str| object.pointer(p).and_then(Value::as_str).unwrap_or("").to_owned();
                let key = ObjectKey {
                    resource: resource.storage_resource(),
                    namespace: text("/metadata/namespace"),
                    name: text("/metadata/name"),
                };
                let outcome = store.mutate(&key, dry_run, |current| match current {
                    // Gone meanwhile: nothing to do.
                    None => Ok(Write::Keep),
                    Some(current) => pipeline::prepare_delete_with(
                        &resource,
                        current,
                        &Preconditions::default(),
                        propagation,
                    ),
                })?;
                if !outcome.object.is_null() {
                    deleted.push(Value::clone(&outcome.object));
                }
            }
            Ok(deleted)
        })
        .await?;
        let mut items = deleted;
        for item in &mut items {
            to_served(&self.resource, item);
        }
        let rv = self.ctx.store.current_rv()?;
        let body = json!({"kind": format!("{}List", self.resource.kind), "apiVersion": self.resource.api_version(),
            "metadata": {"resourceVersion": rv.to_string()}, "items": items});
        Ok(json_response(StatusCode::OK, &body, &[]))
    }
}
