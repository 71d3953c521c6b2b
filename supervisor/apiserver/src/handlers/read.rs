//! The read verbs: get and list (with selectors, paging and Table output).
//!
//! After routing and authorization. Invariant: what is returned is in the served shape of
//! the requested version ([`crate::pipeline::to_served`]); a list reads pages until `limit`
//! objects match, so a selector never yields short pages with a continue token to spare.

use std::sync::Arc;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{Req, continue_token, json_response};
use crate::pipeline::{Served, served_text, subject, to_served};
use crate::status::ApiError;
use crate::storage::{PageStart, StorageError, Stored};
use crate::table::table as table_of;

impl Req {
    pub(super) async fn get(self) -> Result<Response, ApiError> {
        let key = self.key(self.name());
        let found = self.ctx.store.get_shared(&key)?;
        let object = found.ok_or_else(|| ApiError::not_found(subject(&self.resource, self.name())))?;
        Ok(self.respond_object(StatusCode::OK, &object, &[]))
    }

    pub(super) async fn list(self) -> Result<Response, ApiError> {
        let start = match &self.params.continue_token {
            Some(token) => continue_token::decode(token)?,
            None => PageStart::First,
        };
        let limit = (self.params.limit > 0).then_some(self.params.limit);
        let selector = &self.params.selector;
        let resource = self.resource.storage_resource();
        let namespace = self.path.namespace.as_deref();
        let page = match self.ctx.store.page(&resource, namespace, &start, limit, |o| selector.matches(o)) {
            Err(StorageError::ContinueExpired { .. }) => {
                let (PageStart::After { namespace, name, .. } | PageStart::Latest { namespace, name }) =
                    &start
                else {
                    return Err(ApiError::expired_continue(None));
                };
                return Err(ApiError::expired_continue(Some(continue_token::encode_latest(namespace, name))));
            }
            page => page?,
        };
        let (items, rv, next, remaining) = (page.items, page.rv, page.next, page.remaining);
        let mut meta = json!({"resourceVersion": rv.to_string()});
        if let Some((ns, name)) = next {
            meta["continue"] = json!(continue_token::encode(rv, &ns, &name));
            if self.params.selector.is_empty() {
                meta["remainingItemCount"] = json!(remaining);
            }
        }
        let api_version = self.resource.api_version();
        let kind = format!("{}List", self.resource.kind);
        let table = self.table();
        if table.is_none() {
            let body =
                self.list_body(&kind, &api_version, &meta, &items).map_err(|e| ApiError::internal(&e))?;
            return Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response());
        }
        let items: Vec<Value> = items
            .iter()
            .map(|item| {
                let mut item = Value::clone(item);
                to_served(&self.resource, &mut item);
                item
            })
            .collect();
        let body = match table {
            Some(include) => table_of(&self.resource, &items, include, meta),
            None => json!({"kind": kind, "apiVersion": api_version, "metadata": meta, "items": items}),
        };
        Ok(json_response(StatusCode::OK, &body, &[]))
    }

    /// A list response written from the cache: each item's stored JSON text as it is when
    /// that is its served shape (the common case), else the object serialised as served.
    fn list_body(
        &self,
        kind: &str,
        api_version: &str,
        meta: &Value,
        items: &[Arc<Stored>],
    ) -> Result<Vec<u8>, serde_json::Error> {
        let mut body =
            Vec::with_capacity(items.iter().map(|item| item.json().len() + 1).sum::<usize>() + 256);
        body.extend_from_slice(b"{\"kind\":");
        serde_json::to_writer(&mut body, kind)?;
        body.extend_from_slice(b",\"apiVersion\":");
        serde_json::to_writer(&mut body, api_version)?;
        body.extend_from_slice(b",\"metadata\":");
        serde_json::to_writer(&mut body, meta)?;
        body.extend_from_slice(b",\"items\":[");
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            if let Some(text) = served_text(&self.resource, api_version, item) {
                body.extend_from_slice(text.as_bytes());
                continue;
            }
            match Served::of(&self.resource, api_version, item) {
                Some(served) => serde_json::to_writer(&mut body, &served)?,
                None => {
                    let mut object = Value::clone(item);
                    to_served(&self.resource, &mut object);
                    serde_json::to_writer(&mut body, &object)?;
                }
            }
        }
        body.extend_from_slice(b"]}");
        Ok(body)
    }
}
