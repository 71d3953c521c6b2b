//! HTTP handlers: request → authentication (and impersonation) → path and parameters → body
//! decoding → verb.
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

use crate::apply::{Applied, Apply, Manager, Operation, Ownership};
use crate::auth::{Authenticator, User};
use crate::pipeline::{self, Preconditions, subject, to_served};
use crate::registry::Registry;
use crate::request::{Params, ResourcePath, Target, Verb, parse_path, verb};
use crate::resource::Resource;
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
    /// Signs and checks ServiceAccount tokens.
    pub tokens: crate::rbac::tokens::TokenIssuer,
    /// The CA certificate (PEM), put into ServiceAccount token Secrets.
    pub ca_pem: String,
    /// Largest accepted request body, in bytes.
    pub max_body: usize,
    /// Flips to true when the server shuts down (ends watches).
    pub shutdown: watch::Receiver<bool>,
    /// The address the server listens on (for `/api`'s serverAddressByClientCIDRs).
    pub addr: SocketAddr,
}

/// Refuses requests without a valid bearer token (401), except health checks, puts the
/// [`User`] into the request's extensions, and logs each request at debug level.
///
/// A ServiceAccount token counts only while its ServiceAccount (same uid) and, for a token
/// from a Secret, that Secret exist.
pub async fn authenticate(State(ctx): State<Arc<Context>>, mut request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if matches!(path, "/healthz" | "/livez" | "/readyz") {
        return next.run(request).await;
    }
    let (method, path) = (request.method().clone(), path.to_owned());
    let started = std::time::Instant::now();
    let user = match ctx.auth.authenticate(request.headers()) {
        Some(user) => Some(user),
        None => match crate::auth::bearer(request.headers())
            .and_then(|token| ctx.tokens.verify(token, crate::meta::unix_now()))
        {
            Some(claims) => service_account_user(&ctx, claims).await,
            None => None,
        },
    };
    let response = match user {
        Some(caller) => match impersonate(&ctx, caller, request.headers()).await {
            Ok(user) => {
                request.extensions_mut().insert(user);
                next.run(request).await
            }
            Err(refused) => refused.into_response(),
        },
        None => ApiError::unauthorized().into_response(),
    };
    // Refusals are answered, not logged as errors; this line is for following traffic.
    tracing::debug!(%method, %path, status = response.status().as_u16(), elapsed_ms = started.elapsed().as_millis() as u64, "request");
    response
}

async fn service_account_user(ctx: &Context, claims: crate::rbac::tokens::Claims) -> Option<User> {
    let store = ctx.store.clone();
    let key = |resource: &str, name: &str| ObjectKey {
        resource: resource.to_owned(),
        namespace: claims.namespace.clone(),
        name: name.to_owned(),
    };
    let account = key("/serviceaccounts", &claims.name);
    let secret = claims.secret.as_deref().map(|s| key("/secrets", s));
    let found = blocking(move || {
        let account = store.get(&account)?;
        let secret = match &secret {
            Some(key) => Some(store.get(key)?),
            None => None,
        };
        Ok((account, secret))
    })
    .await
    .ok()?;
    let uid = found.0?.pointer("/metadata/uid").and_then(Value::as_str).map(str::to_owned)?;
    if uid != claims.uid {
        return None;
    }
    if let Some(secret) = found.1 {
        let secret = secret?;
        let bound = secret.pointer("/metadata/annotations/kubernetes.io~1service-account.uid");
        if bound.and_then(Value::as_str) != Some(uid.as_str()) {
            return None;
        }
    }
    Some(User::service_account(&claims.namespace, &claims.name, &uid))
}

/// The user a request runs as: its caller, or the user its `Impersonate-*` headers name
/// once RBAC allows the caller every `impersonate` that takes (403 naming the first part
/// refused, as kube-apiserver words it; 400 for headers that name no user).
async fn impersonate(ctx: &Context, caller: User, headers: &HeaderMap) -> Result<User, ApiError> {
    let requested =
        crate::impersonation::requested(headers).map_err(|error| ApiError::bad_request(error.to_string()))?;
    let Some(requested) = requested else { return Ok(caller) };
    let (store, checks, who) = (ctx.store.clone(), requested.checks(), caller.clone());
    let refused = blocking(move || {
        for attrs in checks {
            if !crate::rbac::authorize(&store, &who, &attrs)?.allowed {
                return Ok(Some(attrs));
            }
        }
        Ok(None)
    })
    .await?;
    match refused {
        Some(attrs) => Err(crate::rbac::forbidden(&caller, &attrs)),
        None => Ok(requested.user()),
    }
}

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
    let store = ctx.store.clone();
    let (for_check, who) = (attrs.clone(), user.clone());
    let decision = blocking(move || Ok(crate::rbac::authorize(&store, &who, &for_check)?)).await?;
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
        crate::resource::Strategy::Builtin(kind) => kind.field_labels(),
        crate::resource::Strategy::Custom(_) => &[],
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
        return token_request(&ctx, &path, &body).await;
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
    if resource.group == "authentication.k8s.io" {
        // SelfSubjectReview (`kubectl auth whoami`): who this request runs as.
        if verb != Verb::Create {
            return Err(ApiError::method_not_allowed(parts.method.as_str()));
        }
        let bytes = read_body(&ctx, &parts.headers, body, BodyKind::Object).await?;
        let mut review = decode_object(&parts.headers, &bytes)?;
        pipeline::check_identity(&resource, &path, &mut review)?;
        review["metadata"] = json!({"creationTimestamp": null});
        review["status"] = json!({"userInfo": user.user_info()});
        return Ok(json_response(StatusCode::CREATED, &review, &[]));
    }
    if resource.group == "authorization.k8s.io" {
        if verb != Verb::Create {
            return Err(ApiError::method_not_allowed(parts.method.as_str()));
        }
        let bytes = read_body(&ctx, &parts.headers, body, BodyKind::Object).await?;
        let review = decode_object(&parts.headers, &bytes)?;
        let store = ctx.store.clone();
        let rules = resource.kind == "SelfSubjectRulesReview";
        let answered = blocking(move || {
            if rules {
                crate::rbac::rules_review(&store, &user, review)
            } else {
                crate::rbac::review(&store, &user, review)
            }
        })
        .await?;
        return Ok(json_response(StatusCode::CREATED, &answered, &[]));
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
        Verb::DeleteCollection => {
            let bytes = read_body(&request.ctx, &request.headers, body, BodyKind::Optional).await?;
            request.delete_collection(&bytes).await
        }
    }
}

/// The longest token a TokenRequest may ask for (as the real server: 2^32 seconds).
const MAX_TOKEN_SECONDS: i64 = 1 << 32;

/// `POST .../serviceaccounts/NAME/token`: a signed token for the ServiceAccount.
async fn token_request(ctx: &Context, path: &ResourcePath, body: &Value) -> Result<Response, ApiError> {
    let namespace = path.namespace.clone().unwrap_or_default();
    let name = path.name.clone().unwrap_or_default();
    let seconds = body.pointer("/spec/expirationSeconds").and_then(Value::as_i64).unwrap_or(3600);
    let subject = crate::status::Subject { group: "", resource: "serviceaccounts", name: &name };
    if !(600..=MAX_TOKEN_SECONDS).contains(&seconds) {
        let detail = if seconds < 600 {
            "may not specify a duration less than 10 minutes"
        } else {
            "may not specify a duration larger than 2^32 seconds"
        };
        let cause = crate::status::Cause::invalid("spec.expirationSeconds", &json!(seconds), detail);
        return Err(ApiError::invalid("TokenRequest", subject, &[cause]));
    }
    let store = ctx.store.clone();
    let key =
        ObjectKey { resource: "/serviceaccounts".into(), namespace: namespace.clone(), name: name.clone() };
    let account =
        blocking(move || Ok(store.get(&key)?)).await?.ok_or_else(|| ApiError::not_found(subject))?;
    let uid = account.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or("").to_owned();
    let now = crate::meta::unix_now();
    let claims = crate::rbac::tokens::Claims {
        sub: format!("system:serviceaccount:{namespace}:{name}"),
        namespace: namespace.clone(),
        name: name.clone(),
        uid,
        secret: None,
        iat: now,
        exp: Some(now + seconds),
    };
    let audiences = body
        .pointer("/spec/audiences")
        .filter(|a| a.as_array().is_some_and(|a| !a.is_empty()))
        .cloned()
        .unwrap_or_else(|| json!(["https://kubernetes.default.svc.cluster.local"]));
    let answer = json!({"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": null},
        "spec": {"audiences": audiences, "expirationSeconds": seconds, "boundObjectRef": null},
        "status": {"token": ctx.tokens.issue(&claims), "expirationTimestamp": crate::meta::format_time(now + seconds)}});
    Ok(json_response(StatusCode::CREATED, &answer, &[]))
}

/// The token controller: a `kubernetes.io/service-account-token` Secret naming an existing
/// ServiceAccount gets a non-expiring token, the CA and the namespace in its data.
async fn fill_service_account_secret(ctx: &Context, secret: &Value) -> Result<(), ApiError> {
    const TYPE: &str = "kubernetes.io/service-account-token";
    if secret.get("type").and_then(Value::as_str) != Some(TYPE) || secret.pointer("/data/token").is_some() {
        return Ok(());
    }
    let text = |p: &str| secret.pointer(p).and_then(Value::as_str).unwrap_or("").to_owned();
    let (namespace, name) = (text("/metadata/namespace"), text("/metadata/name"));
    let account_name = text("/metadata/annotations/kubernetes.io~1service-account.name");
    let store = ctx.store.clone();
    let key = ObjectKey {
        resource: "/serviceaccounts".into(),
        namespace: namespace.clone(),
        name: account_name.clone(),
    };
    let Some(account) = blocking(move || Ok(store.get(&key)?)).await? else { return Ok(()) };
    let uid = account.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or("").to_owned();
    let claims = crate::rbac::tokens::Claims {
        sub: format!("system:serviceaccount:{namespace}:{account_name}"),
        namespace: namespace.clone(),
        name: account_name,
        uid: uid.clone(),
        secret: Some(name.clone()),
        iat: crate::meta::unix_now(),
        exp: None,
    };
    let encode = |s: &str| json!(base64::engine::general_purpose::STANDARD.encode(s));
    let token = encode(&ctx.tokens.issue(&claims));
    let (ca, ns) = (encode(&ctx.ca_pem), encode(&namespace));
    let store = ctx.store.clone();
    let key = ObjectKey { resource: "/secrets".into(), namespace, name };
    blocking(move || {
        store.mutate(&key, false, |current| {
            let Some(current) = current else { return Ok::<_, ApiError>(Write::Keep) };
            if current.pointer("/data/token").is_some() {
                return Ok(Write::Keep);
            }
            let mut filled = current.clone();
            let data = crate::meta::object_field(&mut filled, "data")
                .ok_or_else(|| ApiError::bad_request("secret"))?;
            data.insert("token".into(), token);
            data.insert("ca.crt".into(), ca);
            data.insert("namespace".into(), ns);
            if let Some(meta) = filled.get_mut("metadata")
                && let Some(annotations) = crate::meta::object_field(meta, "annotations")
            {
                annotations.insert("kubernetes.io/service-account.uid".into(), json!(uid));
            }
            Ok(Write::Put(filled))
        })
    })
    .await?;
    Ok(())
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
        BodyKind::Object | BodyKind::Optional if media == crate::protobuf::MEDIA_TYPE => {}
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
        let manager = self.manager(Operation::Update)?;
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
                    let ownership = Ownership::update(&resource, false, None, &body, manager);
                    Ok(ownership.finish(None, Write::Put(body)))
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
        if self.params.force.is_some() {
            return Err(crate::apply::invalid_options(
                "force",
                "Forbidden: may not be specified for non-apply patch",
                "FieldValueForbidden",
            ));
        }
        let manager = self.manager(Operation::Update)?;
        self.write_with(manager, move |_current| Ok(body)).await
    }

    async fn patch(self, bytes: &[u8]) -> Result<Response, ApiError> {
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
        if self.params.force.is_some() {
            return Err(crate::apply::invalid_options(
                "force",
                "Forbidden: may not be specified for non-apply patch",
                "FieldValueForbidden",
            ));
        }
        let manager = self.manager(Operation::Update)?;
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
                warnings = w;
                if let Write::Put(object) = &mut write {
                    pipeline::allocate(&resource, object, snapshot)?;
                    let ownership = Ownership::update(&resource, status_only, Some(current), object, manager);
                    return Ok(ownership.finish(Some(current), write));
                }
                Ok::<_, ApiError>(write)
            })?;
            Ok((outcome, warnings))
        })
        .await?;
        self.after_write(&outcome).await?;
        Ok(self.respond_object(StatusCode::OK, outcome.object, &warnings))
    }

    /// Server-side apply (`application/apply-patch+yaml`): merges the configuration into the
    /// object, or creates it, recording field ownership (see [`crate::apply`]).
    async fn apply(self, bytes: &[u8]) -> Result<Response, ApiError> {
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
        let store = self.ctx.store.clone();
        let exists = {
            let key = key.clone();
            blocking(move || Ok(store.get(&key)?.is_some())).await?
        };
        if !exists {
            if self.status_only {
                return Err(ApiError::not_found(subject(&self.resource, self.name())));
            }
            self.namespace_ready().await?;
        }
        let store = self.ctx.store.clone();
        let resource = self.resource.clone();
        let path = self.path.clone();
        let (dry_run, status_only, validation) =
            (self.params.dry_run, self.status_only, self.params.field_validation);
        let force = self.params.force.unwrap_or(false);
        let name = self.name().to_owned();
        let (outcome, warnings) = blocking(move || {
            let mut warnings = Vec::new();
            let apply = Apply { resource: &resource, status_only, manager, force };
            let outcome = store.mutate_reading(&key, dry_run, |current, snapshot| {
                let Some(current) = current else {
                    if status_only {
                        return Err(ApiError::not_found(subject(&resource, &name)));
                    }
                    let Applied { mut object, ownership } = apply.merge(None, &applied, &name)?;
                    warnings = pipeline::prepare_create(&resource, &mut object, validation)?;
                    pipeline::allocate(&resource, &mut object, snapshot)?;
                    return Ok(ownership.finish(None, Write::Put(object)));
                };
                let mut served = current.clone();
                to_served(&resource, &mut served);
                let Applied { mut object, ownership } = apply.merge(Some(&served), &applied, &name)?;
                pipeline::check_identity(&resource, &path, &mut object)?;
                let (mut write, w) =
                    pipeline::prepare_update(&resource, status_only, current, object, validation)?;
                warnings = w;
                if let Write::Put(object) = &mut write {
                    pipeline::allocate(&resource, object, snapshot)?;
                }
                Ok::<_, ApiError>(ownership.finish(Some(current), write))
            })?;
            Ok((outcome, warnings))
        })
        .await?;
        self.after_write(&outcome).await?;
        let code = if outcome.event == Some(EventType::Added) { StatusCode::CREATED } else { StatusCode::OK };
        Ok(self.respond_object(code, outcome.object, &warnings))
    }

    async fn delete(self, bytes: &[u8]) -> Result<Response, ApiError> {
        let options = if bytes.is_empty() { json!({}) } else { decode(bytes)? };
        let preconditions = Preconditions::from_delete_options(&options);
        let propagation = crate::propagation::Propagation::from_options(
            &options,
            self.params.propagation_policy.as_deref(),
        )?;
        let dry_run = self.params.dry_run
            || options.get("dryRun").and_then(Value::as_array).is_some_and(|d| d.iter().any(|v| v == "All"));
        let key = self.key(self.name());
        let store = self.ctx.store.clone();
        let resource = self.resource.clone();
        let name = self.name().to_owned();
        let outcome = blocking(move || {
            store.mutate(&key, dry_run, |current| {
                let current = current.ok_or_else(|| ApiError::not_found(subject(&resource, &name)))?;
                pipeline::prepare_delete_with(&resource, current, &preconditions, propagation)
            })
        })
        .await?;
        self.after_write(&outcome).await?;
        Ok(self.respond_object(StatusCode::OK, outcome.object, &[]))
    }

    /// DELETE of a collection: every object the selectors match is deleted as a DELETE of
    /// it would be (same propagation policy); answers with the list of deleted objects.
    async fn delete_collection(self, bytes: &[u8]) -> Result<Response, ApiError> {
        let options = if bytes.is_empty() { json!({}) } else { decode(bytes)? };
        let propagation = crate::propagation::Propagation::from_options(
            &options,
            self.params.propagation_policy.as_deref(),
        )?;
        let dry_run = self.params.dry_run
            || options.get("dryRun").and_then(Value::as_array).is_some_and(|d| d.iter().any(|v| v == "All"));
        let store = self.ctx.store.clone();
        let resource = self.resource.clone();
        let namespace = self.path.namespace.clone();
        let selector = self.params.selector.clone();
        let deleted = blocking(move || {
            let page = store.list(&resource.storage_resource(), namespace.as_deref(), None, None)?;
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
                    deleted.push(outcome.object);
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

    /// Side effects of a committed write: a CRD change changes what the server serves.
    ///
    /// Deleting a CRD stops serving its kind, then removes its objects before the DELETE is
    /// answered, so a CRD created again right after starts empty.
    async fn after_write(&self, outcome: &Outcome) -> Result<(), ApiError> {
        if self.resource.kind == "Secret"
            && self.resource.group.is_empty()
            && matches!(outcome.event, Some(EventType::Added | EventType::Modified))
        {
            return fill_service_account_secret(&self.ctx, &outcome.object).await;
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
