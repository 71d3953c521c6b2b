//! The read verbs: get and list (with selectors, paging and Table output).
//!
//! After routing and authorization. Invariant: what is returned is in the served shape of
//! the requested version ([`crate::pipeline::to_served`]); a list reads pages until `limit`
//! objects match, so a selector never yields short pages with a continue token to spare.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::{Req, blocking, continue_token, json_response};
use crate::pipeline::{subject, to_served};
use crate::status::ApiError;
use crate::table::table;

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
        let mut items = items;
        for item in &mut items {
            to_served(&self.resource, item);
        }
        let body = match self.table() {
            Some(include) => table(&self.resource, &items, include, meta),
            None => {
                json!({"kind": format!("{}List", self.resource.kind), "apiVersion": self.resource.api_version(),
                "metadata": meta, "items": items})
            }
        };
        Ok(json_response(StatusCode::OK, &body, &[]))
    }
}
