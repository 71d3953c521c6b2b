//! The read verbs: get and list (with selectors, paging and Table output).
//!
//! After routing and authorization. Invariant: what is returned is in the served shape of
//! the requested version ([`crate::pipeline::to_served`]); a list reads pages until `limit`
//! objects match, so a selector never yields short pages with a continue token to spare.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{Req, blocking, continue_token, json_response};
use crate::pipeline::{Served, subject, to_served};
use crate::status::ApiError;
use crate::table::table as table_of;

/// A list response whose items are written from the cache ([`Served`]).
#[derive(serde::Serialize)]
struct ListBody<'a> {
    kind: String,
    #[serde(rename = "apiVersion")]
    api_version: &'a str,
    metadata: Value,
    items: Vec<Served<'a>>,
}

impl Req {
    pub(super) async fn get(self) -> Result<Response, ApiError> {
        let key = self.key(self.name());
        let store = self.ctx.store.clone();
        let found = blocking(move || Ok(store.get(&key)?)).await?;
        let object = found.ok_or_else(|| ApiError::not_found(subject(&self.resource, self.name())))?;
        Ok(self.respond_object(StatusCode::OK, object, &[]))
    }

    pub(super) async fn list(self) -> Result<Response, ApiError> {
        let (first_rv, mut after) = match &self.params.continue_token {
            Some(token) => {
                let (rv, ns, name) = continue_token::decode(token)?;
                (Some(rv), Some((ns, name)))
            }
            None => (None, None),
        };
        let limit = self.params.limit;
        let store = self.ctx.store.clone();
        let resource = self.resource.storage_resource();
        let namespace = self.path.namespace.clone();
        let selector = self.params.selector.clone();
        let (items, rv, next, remaining) = blocking(move || {
            // Read pages until `limit` objects match the selector (or the end is reached).
            let mut items = Vec::new();
            loop {
                let want = if limit == 0 { None } else { Some(limit - items.len()) };
                let cursor = after.as_ref().map(|(a, b): &(String, String)| (a.as_str(), b.as_str()));
                let page = store.list(&resource, namespace.as_deref(), cursor, want)?;
                items.extend(page.items.into_iter().filter(|o| selector.matches(o)));
                match page.next {
                    Some(next) if limit > 0 && items.len() < limit => after = Some(next),
                    next => return Ok((items, page.rv, next, page.remaining)),
                }
            }
        })
        .await?;
        let rv = first_rv.unwrap_or(rv);
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
        // The common case, written straight from the cache without copying an object.
        let shared: Option<Vec<Served<'_>>> = match table {
            Some(_) => None,
            None => items.iter().map(|item| Served::of(&self.resource, &api_version, item)).collect(),
        };
        if let Some(items) = shared {
            let body = ListBody { kind, api_version: &api_version, metadata: meta, items };
            let bytes = serde_json::to_vec(&body).map_err(|e| ApiError::internal(&e))?;
            return Ok(([(header::CONTENT_TYPE, "application/json")], bytes).into_response());
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
}
