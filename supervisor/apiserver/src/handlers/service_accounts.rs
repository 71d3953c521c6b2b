//! ServiceAccount tokens: the `token` subresource (TokenRequest) and the token controller
//! that fills `kubernetes.io/service-account-token` Secrets.
//!
//! Called from routing (TokenRequest) and after a Secret write ([`super::write`]). Invariant:
//! a token names the ServiceAccount's uid, so it stops counting once that account is gone
//! (checked again on every request by [`super::authn`]).

use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine;
use serde_json::{Value, json};

use super::json_response;
use crate::context::Context;
use crate::request::ResourcePath;
use crate::status::ApiError;
use crate::storage::{ObjectKey, Write};

/// The longest token a TokenRequest may ask for (as the real server: 2^32 seconds).
const MAX_TOKEN_SECONDS: i64 = 1 << 32;

/// `POST .../serviceaccounts/NAME/token`: a signed token for the ServiceAccount.
pub(super) async fn token_request(
    ctx: &Context,
    path: &ResourcePath,
    body: &Value,
) -> Result<Response, ApiError> {
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
    let account = store.get(&key)?.ok_or_else(|| ApiError::not_found(subject))?;
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
pub(super) async fn fill_service_account_secret(ctx: &Context, secret: &Value) -> Result<(), ApiError> {
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
    let Some(account) = store.get(&key)? else { return Ok(()) };
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
    let key = ObjectKey { resource: "/secrets".into(), namespace, name };
    (ctx.store)
        .write(&key, false, |current, _| {
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
        .await?;
    Ok(())
}
