//! The watch verb: a streaming response of watch events for a collection or one object.
//!
//! After routing and authorization; the events come from [`crate::watch`]. Invariant: the
//! stream ends when the server shuts down or the watch times out, never holding the server.

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use futures::StreamExt;

use super::Req;
use crate::status::ApiError;

impl Req {
    pub(super) fn watch(self) -> Result<Response, ApiError> {
        let mut selector = self.params.selector.clone();
        if let Some(name) = &self.path.name {
            selector = crate::selectors::Selector::parse(None, Some(&format!("metadata.name={name}")))
                .map_err(ApiError::bad_request)?;
        }
        let spec = crate::watch::WatchSpec {
            resource: self.resource.clone(),
            namespace: self.path.namespace.clone(),
            selector,
            from: self.params.resource_version,
            bookmarks: self.params.bookmarks,
            timeout: self.params.timeout,
            table: self.table(),
            initial_events: self.params.send_initial_events,
        };
        let events = crate::watch::start(self.ctx.store.clone(), spec, self.ctx.shutdown.clone());
        let stream = events.map(Ok::<_, std::convert::Infallible>);
        let mut response = Response::new(Body::from_stream(stream));
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache, private"));
        Ok(response)
    }
}
