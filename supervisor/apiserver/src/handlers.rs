//! HTTP handlers: request → authentication → path and parameters → body decoding → verb.
//!
//! In: an axum request. Out: a JSON object, list, Table, watch stream, or a `Status` error.
//! The object logic lives in [`crate::pipeline`]; storage calls run on the blocking pool
//! because SQLite commits fsync. Every error becomes a Status (see [`crate::status`]); no
//! input makes a handler panic, so one bad request never takes the server down.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::auth::Authenticator;
use crate::pipeline::{self, Preconditions, subject, to_served};
use crate::registry::{Registry, Resource};
use crate::request::{Params, ResourcePath, Target, Verb, parse_path, verb};
use crate::status::ApiError;
use crate::storage::{EventType, ObjectKey, Outcome, Store, Write};
use crate::table::{Include, table, wants_table};

/// Everything a request handler needs; one per server instance.
#[derive(Debug)]
pub struct Context {
    /// Object storage.
    pub store: Arc<Store>,
    /// Served resources.
    pub registry: Arc<Registry>,
    /// Token → user.
    pub auth: Authenticator,
    /// Largest accepted request body, in bytes.
    pub max_body: usize,
    /// Flips to true when the server shuts down (ends watches).
    pub shutdown: watch::Receiver<bool>,
    /// The address the server listens on (for `/api`'s serverAddressByClientCIDRs).
    pub addr: SocketAddr,
}

/// Refuses requests without a valid bearer token (401), except health checks, and logs
/// each request at debug level.
pub async fn authenticate(State(ctx): State<Arc<Context>>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if matches!(path, "/healthz" | "/livez" | "/readyz") {
        return next.run(request).await;
    }
    let (method, path) = (request.method().clone(), path.to_owned());
    let started = std::time::Instant::now();
    let response = match ctx.auth.authenticate(request.headers()) {
        Some(_user) => next.run(request).await,
        None => ApiError::unauthorized().into_response(),
    };
    // Refusals are answered, not logged as errors; this line is for following traffic.
    tracing::debug!(%method, %path, status = response.status().as_u16(), elapsed_ms = started.elapsed().as_millis() as u64, "request");
    response
}

/// Serves every path under `/api` and `/apis` that is not a fixed discovery route.
pub async fn dispatch(State(ctx): State<Arc<Context>>, request: Request) -> Response {
    match serve(ctx, request).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn serve(ctx: Arc<Context>, request: Request) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let target = parse_path(parts.uri.path()).ok_or_else(ApiError::unknown_path)?;
    let path = match target {
        Target::Group { group } => return crate::discovery::group(&ctx.registry, &group),
        Target::ResourceList { group, version } => {
            return crate::discovery::resource_list(&ctx.registry, &group, &version);
        }
        Target::Resource(path) => path,
    };
    let mut params = Params::parse(parts.uri.query())?;
    let resource =
        ctx.registry.get(&path.group, &path.version, &path.plural).ok_or_else(ApiError::unknown_path)?;
    let field_labels = match &resource.strategy {
        crate::registry::Strategy::Builtin(kind) => kind.field_labels(),
        crate::registry::Strategy::Custom(_) => &[],
    };
    params.selector = params.selector.resolve_fields(field_labels).map_err(ApiError::bad_request)?;
    let status_only = match path.subresource.as_deref() {
        None => false,
        Some("status") if resource.status_subresource => true,
        Some(_) => return Err(ApiError::unknown_path()),
    };
    if resource.namespaced != path.namespace.is_some() && path.name.is_some() {
        return Err(ApiError::unknown_path());
    }
    if !resource.namespaced && path.namespace.is_some() {
        return Err(ApiError::unknown_path());
    }
    let verb = verb(&parts.method, path.name.is_some(), params.watch)
        .ok_or_else(|| ApiError::method_not_allowed(parts.method.as_str()))?;
    // A namespaced resource without a namespace in the path is the all-namespaces
    // collection: it can be listed and watched, nothing else.
    if resource.namespaced && path.namespace.is_none() && !matches!(verb, Verb::List | Verb::Watch) {
        return Err(ApiError::method_not_allowed(parts.method.as_str()));
    }
    if status_only && !matches!(verb, Verb::Get | Verb::Update | Verb::Patch) {
        return Err(ApiError::method_not_allowed(parts.method.as_str()));
    }
    let request = Req { ctx, resource, path, params, headers: parts.headers, status_only };
    match verb {
        Verb::Get => request.get().await,
        Verb::List => request.list().await,
        Verb::Watch => request.watch(),
        Verb::Create => {
            let bytes = read_body(&request.ctx, &request.headers, body, BodyKind::Object).await?;
            request.create(&bytes).await
        }
        Verb::Update => {
            let bytes = read_body(&request.ctx, &request.headers, body, BodyKind::Object).await?;
            request.update(&bytes).await
        }
        Verb::Patch => {
            let bytes = read_body(&request.ctx, &request.headers, body, BodyKind::Patch).await?;
            request.patch(&bytes).await
        }
        Verb::Delete => {
            let bytes = read_body(&request.ctx, &request.headers, body, BodyKind::Optional).await?;
            request.delete(&bytes).await
        }
        // deletecollection cascades like garbage collection, which part 2 adds.
        Verb::DeleteCollection => Err(ApiError::method_not_allowed(Method::DELETE.as_str())),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyKind {
    Object,
    Patch,
    Optional,
}

async fn read_body(
    ctx: &Context,
    headers: &HeaderMap,
    body: Body,
    kind: BodyKind,
) -> Result<bytes::Bytes, ApiError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let media = content_type.split(';').next().unwrap_or("").trim();
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > ctx.max_body) {
        return Err(ApiError::too_large(ctx.max_body));
    }
    let bytes =
        axum::body::to_bytes(body, ctx.max_body).await.map_err(|_| ApiError::too_large(ctx.max_body))?;
    match kind {
        BodyKind::Optional if bytes.is_empty() => {}
        BodyKind::Object | BodyKind::Optional if media.is_empty() || media == "application/json" => {}
        BodyKind::Object if media == crate::protobuf::MEDIA_TYPE => {}
        BodyKind::Patch if crate::patch::PatchType::from_content_type(media).is_some() => {}
        _ => return Err(ApiError::unsupported_media_type(content_type)),
    }
    if kind != BodyKind::Optional && bytes.is_empty() {
        return Err(ApiError::bad_request("the request body is empty"));
    }
    Ok(bytes)
}

/// Decodes an object body: JSON, or protobuf for the kinds kubectl's typed commands send.
fn decode_object(headers: &HeaderMap, bytes: &[u8]) -> Result<Value, ApiError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if content_type.split(';').next().unwrap_or("").trim() == crate::protobuf::MEDIA_TYPE {
        return crate::protobuf::decode(bytes).map_err(|e| match e {
            crate::protobuf::ProtobufError::Malformed(_) => ApiError::bad_request(e.to_string()),
            _ => ApiError::unsupported_media_type(&e.to_string()),
        });
    }
    decode(bytes)
}

fn decode(bytes: &[u8]) -> Result<Value, ApiError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::bad_request(format!("the object provided is unrecognized or not valid JSON: {e}"))
    })?;
    if !value.is_object() {
        return Err(ApiError::bad_request("the request body must be a JSON object"));
    }
    Ok(value)
}

/// A continue token: the resourceVersion of the first page and where the next page starts.
fn encode_continue(rv: u64, namespace: &str, name: &str) -> String {
    let raw = json!({"rv": rv, "ns": namespace, "name": name}).to_string();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn decode_continue(token: &str) -> Result<(u64, String, String), ApiError> {
    let invalid = || ApiError::bad_request("continue key is not valid");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    let value: Value = serde_json::from_slice(&raw).map_err(|_| invalid())?;
    let rv = value.get("rv").and_then(Value::as_u64).ok_or_else(invalid)?;
    let ns = value.get("ns").and_then(Value::as_str).ok_or_else(invalid)?.to_owned();
    let name = value.get("name").and_then(Value::as_str).ok_or_else(invalid)?.to_owned();
    Ok((rv, ns, name))
}

fn json_response(code: StatusCode, body: &Value, warnings: &[String]) -> Response {
    let mut response = (code, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response();
    for warning in warnings {
        let text = format!("299 - \"{}\"", warning.replace('"', "\\\""));
        if let Ok(value) = HeaderValue::from_str(&text) {
            response.headers_mut().append(header::WARNING, value);
        }
    }
    response
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ApiError::internal(&e))?
}

struct Req {
    ctx: Arc<Context>,
    resource: Arc<Resource>,
    path: ResourcePath,
    params: Params,
    headers: HeaderMap,
    status_only: bool,
}

impl Req {
    fn key(&self, name: &str) -> ObjectKey {
        ObjectKey {
            resource: self.resource.storage_resource(),
            namespace: if self.resource.namespaced {
                self.path.namespace.clone().unwrap_or_default()
            } else {
                String::new()
            },
            name: name.to_owned(),
        }
    }

    fn name(&self) -> &str {
        self.path.name.as_deref().unwrap_or("")
    }

    fn table(&self) -> Option<Include> {
        let accept = self.headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
        wants_table(accept).then(|| Include::parse(self.params.include_object.as_deref()))
    }

    fn respond_object(&self, code: StatusCode, mut object: Value, warnings: &[String]) -> Response {
        to_served(&self.resource, &mut object);
        if let Some(include) = self.table() {
            let rv = object.pointer("/metadata/resourceVersion").cloned().unwrap_or(Value::Null);
            object = table(&self.resource, &[object], include, json!({"resourceVersion": rv}));
        }
        json_response(code, &object, warnings)
    }

    async fn get(self) -> Result<Response, ApiError> {
        let key = self.key(self.name());
        let store = self.ctx.store.clone();
        let found = blocking(move || Ok(store.get(&key)?)).await?;
        let object = found.ok_or_else(|| ApiError::not_found(subject(&self.resource, self.name())))?;
        Ok(self.respond_object(StatusCode::OK, object, &[]))
    }

    async fn list(self) -> Result<Response, ApiError> {
        let (first_rv, mut after) = match &self.params.continue_token {
            Some(token) => {
                let (rv, ns, name) = decode_continue(token)?;
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
            meta["continue"] = json!(encode_continue(rv, &ns, &name));
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

    fn watch(self) -> Result<Response, ApiError> {
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
        let rx = crate::watch::start(self.ctx.store.clone(), spec, self.ctx.shutdown.clone());
        let stream = futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|bytes| (Ok::<_, std::convert::Infallible>(bytes), rx))
        });
        let mut response = Response::new(Body::from_stream(stream));
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache, private"));
        Ok(response)
    }

    async fn namespace_ready(&self) -> Result<(), ApiError> {
        let Some(ns) = self.path.namespace.clone() else { return Ok(()) };
        let store = self.ctx.store.clone();
        let key = ObjectKey { resource: "/namespaces".into(), namespace: String::new(), name: ns.clone() };
        let found = blocking(move || Ok(store.get(&key)?)).await?;
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

    async fn create(self, bytes: &[u8]) -> Result<Response, ApiError> {
        let mut body = decode_object(&self.headers, bytes)?;
        pipeline::check_identity(&self.resource, &self.path, &mut body)?;
        self.namespace_ready().await?;
        let warnings = pipeline::prepare_create(&self.resource, &mut body, self.params.field_validation)?;
        let name = body.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_owned();
        let key = self.key(&name);
        let store = self.ctx.store.clone();
        let resource = self.resource.clone();
        let dry_run = self.params.dry_run;
        let outcome = blocking(move || {
            store.mutate_reading(&key, dry_run, |current, snapshot| match current {
                Some(_) => Err(ApiError::already_exists(subject(&resource, &name))),
                None => {
                    pipeline::allocate(&resource, &mut body, snapshot)?;
                    Ok(Write::Put(body))
                }
            })
        })
        .await?;
        self.after_write(&outcome).await?;
        Ok(self.respond_object(StatusCode::CREATED, outcome.object, &warnings))
    }

    async fn update(self, bytes: &[u8]) -> Result<Response, ApiError> {
        let mut body = decode_object(&self.headers, bytes)?;
        pipeline::check_identity(&self.resource, &self.path, &mut body)?;
        self.write_with(move |_current| Ok(body)).await
    }

    async fn patch(self, bytes: &[u8]) -> Result<Response, ApiError> {
        let content_type = self.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let kind = crate::patch::PatchType::from_content_type(content_type)
            .ok_or_else(|| ApiError::unsupported_media_type(content_type))?;
        let patch = bytes.to_vec();
        let resource = self.resource.clone();
        let path = self.path.clone();
        self.write_with(move |current| {
            let mut served = current.clone();
            to_served(&resource, &mut served);
            let mut patched = crate::patch::apply(kind, &served, &patch).map_err(|e| match e {
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
        make: impl FnOnce(&Value) -> Result<Value, ApiError> + Send + 'static,
    ) -> Result<Response, ApiError> {
        let key = self.key(self.name());
        let store = self.ctx.store.clone();
        let resource = self.resource.clone();
        let (dry_run, status_only, validation) =
            (self.params.dry_run, self.status_only, self.params.field_validation);
        let name = self.name().to_owned();
        let (outcome, warnings) = blocking(move || {
            let mut warnings = Vec::new();
            let outcome = store.mutate_reading(&key, dry_run, |current, snapshot| {
                let current = current.ok_or_else(|| ApiError::not_found(subject(&resource, &name)))?;
                let new = make(current)?;
                let (mut write, w) =
                    pipeline::prepare_update(&resource, status_only, current, new, validation)?;
                if let Write::Put(object) = &mut write {
                    pipeline::allocate(&resource, object, snapshot)?;
                }
                warnings = w;
                Ok::<_, ApiError>(write)
            })?;
            Ok((outcome, warnings))
        })
        .await?;
        self.after_write(&outcome).await?;
        Ok(self.respond_object(StatusCode::OK, outcome.object, &warnings))
    }

    async fn delete(self, bytes: &[u8]) -> Result<Response, ApiError> {
        let options = if bytes.is_empty() { json!({}) } else { decode(bytes)? };
        let preconditions = Preconditions::from_delete_options(&options);
        let dry_run = self.params.dry_run
            || options.get("dryRun").and_then(Value::as_array).is_some_and(|d| d.iter().any(|v| v == "All"));
        let key = self.key(self.name());
        let store = self.ctx.store.clone();
        let resource = self.resource.clone();
        let name = self.name().to_owned();
        let outcome = blocking(move || {
            store.mutate(&key, dry_run, |current| {
                let current = current.ok_or_else(|| ApiError::not_found(subject(&resource, &name)))?;
                pipeline::prepare_delete(&resource, current, &preconditions)
            })
        })
        .await?;
        self.after_write(&outcome).await?;
        Ok(self.respond_object(StatusCode::OK, outcome.object, &[]))
    }

    /// Side effects of a committed write: a CRD change changes what the server serves.
    ///
    /// Deleting a CRD stops serving its kind, then removes its objects before the DELETE is
    /// answered, so a CRD created again right after starts empty.
    async fn after_write(&self, outcome: &Outcome) -> Result<(), ApiError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip_and_reject_garbage() {
        let token = encode_continue(42, "default", "b");
        assert_eq!(decode_continue(&token).unwrap(), (42, "default".to_owned(), "b".to_owned()));
        assert_eq!(decode_continue("!!").unwrap_err().code, 400);
    }
}
