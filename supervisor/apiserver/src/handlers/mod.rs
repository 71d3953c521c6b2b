//! HTTP handlers: request → authentication (and impersonation) → path and parameters → body
//! decoding → verb.
//!
//! In: an axum request. Out: a JSON object, list, Table, watch stream, or a `Status` error.
//! The object logic lives in [`crate::pipeline`]; storage calls run on the blocking pool
//! because SQLite commits fsync. Every error becomes a Status (see [`crate::status`]); no
//! input makes a handler panic, so one bad request never takes the server down.
//!
//! One module per step: `authn` ([`authenticate`], the middleware), then [`dispatch`]
//! here (path, parameters, authorization, routing), body decoding in `body`, and the verbs
//! in `read`, `watch`, `write`, `delete`, `reviews` and `service_accounts`.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::apply::{Manager, Operation};
use crate::auth::User;
use crate::context::Context;
use crate::pipeline::{served_text, to_served};
use crate::request::{Params, ResourcePath, Target, Verb, parse_path, verb};
use crate::resource::{Resource, Strategy};
use crate::status::ApiError;
use crate::storage::{ObjectKey, Stored};
use crate::table::{Include, table, wants_table};

mod authn;
mod body;
mod continue_token;
mod delete;
mod read;
mod reviews;
mod service_accounts;
mod watch;
mod write;

pub use authn::authenticate;

use body::{BodyKind, decode_object, read_body};

/// Serves every path under `/api` and `/apis` that is not a fixed discovery route.
pub async fn dispatch(State(ctx): State<Arc<Context>>, request: Request) -> Response {
    match serve(ctx, request).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

fn verb_name(verb: Verb) -> &'static str {
    match verb {
        Verb::Get => "get",
        Verb::List => "list",
        Verb::Watch => "watch",
        Verb::Create => "create",
        Verb::Update => "update",
        Verb::Patch => "patch",
        Verb::Delete => "delete",
        Verb::DeleteCollection => "deletecollection",
    }
}

/// Refuses the request with 403 unless RBAC allows it.
async fn authorize(ctx: &Context, user: &User, path: &ResourcePath, verb: &str) -> Result<(), ApiError> {
    let mut attrs = crate::rbac::Attributes {
        verb: verb.to_owned(),
        group: path.group.clone(),
        resource: path.plural.clone(),
        subresource: path.subresource.clone().unwrap_or_default(),
        namespace: path.namespace.clone().unwrap_or_default(),
        name: path.name.clone().unwrap_or_default(),
        path: String::new(),
    };
    // A Namespace is in its own namespace, so a RoleBinding there can grant reading it.
    if path.group.is_empty() && path.plural == "namespaces" {
        attrs.namespace = attrs.name.clone();
    }
    // In memory (the cache), so no blocking thread: most requests pass here.
    let decision = crate::rbac::authorize(&ctx.store, user, &attrs)?;
    if decision.allowed { Ok(()) } else { Err(crate::rbac::forbidden(user, &attrs)) }
}

async fn serve(ctx: Arc<Context>, request: Request) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let user = parts.extensions.get::<User>().cloned().ok_or_else(ApiError::unauthorized)?;
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
        Strategy::Builtin(kind) => kind.field_labels(),
        Strategy::Custom(_) => &[],
    };
    params.selector = params.selector.resolve_fields(field_labels).map_err(ApiError::bad_request)?;
    if path.subresource.as_deref() == Some("token")
        && resource.group.is_empty()
        && resource.plural == "serviceaccounts"
    {
        if parts.method != Method::POST || path.namespace.is_none() || path.name.is_none() {
            return Err(ApiError::method_not_allowed(parts.method.as_str()));
        }
        authorize(&ctx, &user, &path, "create").await?;
        let bytes = read_body(&ctx, &parts.headers, body, BodyKind::Optional).await?;
        let body = if bytes.is_empty() { json!({}) } else { decode_object(&parts.headers, &bytes)? };
        return service_accounts::token_request(&ctx, &path, &body).await;
    }
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
    authorize(&ctx, &user, &path, verb_name(verb)).await?;
    if resource.group == "authentication.k8s.io" || resource.group == "authorization.k8s.io" {
        let review = reviews::Review {
            ctx: &ctx,
            user,
            resource: &resource,
            path: &path,
            method: &parts.method,
            headers: &parts.headers,
            verb,
        };
        return if resource.group == "authentication.k8s.io" {
            review.self_subject(body).await
        } else {
            review.access(body).await
        };
    }
    let request = Req { ctx, resource, path, params, headers: parts.headers, status_only };
    let body_kind = match verb {
        Verb::Get | Verb::List | Verb::Watch => None,
        Verb::Create | Verb::Update => Some(BodyKind::Object),
        Verb::Patch => Some(BodyKind::Patch),
        Verb::Delete | Verb::DeleteCollection => Some(BodyKind::Optional),
    };
    let bytes = match body_kind {
        Some(kind) => read_body(&request.ctx, &request.headers, body, kind).await?,
        None => bytes::Bytes::new(),
    };
    match verb {
        Verb::Get => request.get().await,
        Verb::List => request.list().await,
        Verb::Watch => request.watch(),
        Verb::Create => request.create(&bytes).await,
        Verb::Update => request.update(&bytes).await,
        Verb::Patch => request.patch(&bytes).await,
        Verb::Delete => request.delete(&bytes).await,
        Verb::DeleteCollection => request.delete_collection(&bytes).await,
    }
}

pub(super) fn json_response(code: StatusCode, body: &Value, warnings: &[String]) -> Response {
    text_response(code, body.to_string(), warnings)
}

/// A response whose body is `json`, already JSON text.
fn text_response(code: StatusCode, json: String, warnings: &[String]) -> Response {
    let mut response = (code, [(header::CONTENT_TYPE, "application/json")], json).into_response();
    for warning in warnings {
        let text = format!("299 - \"{}\"", warning.replace('"', "\\\""));
        if let Ok(value) = HeaderValue::from_str(&text) {
            response.headers_mut().append(header::WARNING, value);
        }
    }
    response
}

pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ApiError::internal(&e))?
}

/// One routed, authorized request for an object verb; the verbs are its methods, one
/// module per verb group.
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

    /// The field manager of this request for `operation`.
    fn manager(&self, operation: Operation) -> Result<Manager, ApiError> {
        let user_agent = self.headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok());
        let name = crate::apply::manager_name(self.params.field_manager.as_deref(), user_agent)?;
        let subresource = if self.status_only { "status".to_owned() } else { String::new() };
        Ok(Manager { name, operation, subresource })
    }

    fn table(&self) -> Option<Include> {
        let accept = self.headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
        wants_table(accept).then(|| Include::parse(self.params.include_object.as_deref()))
    }

    /// Answers with `stored` as this request's version serves it: its stored text when that
    /// is the served shape (no copy, no serialisation), else a served copy, or a Table.
    fn respond_object(&self, code: StatusCode, stored: &Stored, warnings: &[String]) -> Response {
        let as_table = self.table();
        if as_table.is_none()
            && let Some(text) = served_text(&self.resource, &self.resource.api_version(), stored)
        {
            return text_response(code, text.to_owned(), warnings);
        }
        let mut object = Value::clone(stored);
        to_served(&self.resource, &mut object);
        if let Some(include) = as_table {
            let rv = object.pointer("/metadata/resourceVersion").cloned().unwrap_or(Value::Null);
            object = table(&self.resource, &[object], include, json!({"resourceVersion": rv}));
        }
        json_response(code, &object, warnings)
    }
}
