//! Authentication of every request: bearer token (admin or ServiceAccount) → user, then
//! `Impersonate-*` headers.
//!
//! Sits first in the flow, as axum middleware in front of [`super::dispatch`] and discovery.
//! Invariant: a request reaches a handler only with a [`User`] in its extensions; health
//! checks are the only unauthenticated paths.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::auth::User;
use crate::context::Context;
use crate::status::ApiError;
use crate::storage::ObjectKey;

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
    let found = (|| -> Result<_, crate::storage::StorageError> {
        let account = store.get_shared(&account)?;
        let secret = match &secret {
            Some(key) => Some(store.get_shared(key)?),
            None => None,
        };
        Ok((account, secret))
    })()
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
    let mut refused = None;
    for attrs in checks {
        if !crate::rbac::authorize(&store, &who, &attrs)?.allowed {
            refused = Some(attrs);
            break;
        }
    }
    match refused {
        Some(attrs) => Err(crate::rbac::forbidden(&caller, &attrs)),
        None => Ok(requested.user()),
    }
}
