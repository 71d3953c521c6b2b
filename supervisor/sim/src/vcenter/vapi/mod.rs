//! The vAPI JSON-RPC protocol on `POST /api`: what the vSphere Automation SDK's stubs
//! (`create_vsphere_client`, `vmware-vapi-runtime`) speak.
//!
//! Flow: fault injection → [`invoke`] parses the JSON-RPC 2.0 `invoke` envelope
//! (`value`) → authenticates from `params.ctx.securityCtx` (scheme
//! `com.vmware.vapi.std.security.user_pass` for `com.vmware.cis.session.create`,
//! `com.vmware.vapi.std.security.session_id` for everything else; the
//! `vmware-api-session-id` header also counts) → `services` calls the REST side's model.
//! Invariants: every well-formed call is answered 200 with `result.output` or with
//! `result.error` (a typed `com.vmware.vapi.std.errors.*` value, since the runtime raises
//! on any non-2xx status before reading the body); sessions are the REST sessions, so a
//! session created by one protocol works in the other.

mod services;
mod types;
mod value;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::VcState;
use super::error::VcError;
use super::session::session_id;

/// Security-context scheme of a user name and password.
const USER_PASS: &str = "com.vmware.vapi.std.security.user_pass";
/// Security-context scheme of a session id.
const SESSION_ID: &str = "com.vmware.vapi.std.security.session_id";

/// `POST /api`: one JSON-RPC `invoke`.
pub(crate) async fn invoke(State(state): State<VcState>, headers: HeaderMap, body: Bytes) -> Response {
    let call = match value::parse(&body) {
        Ok(call) => call,
        Err((error, id)) => return axum::Json(error.answer(&id)).into_response(),
    };
    let answer = match answer(&state, &headers, &call).await {
        Ok(output) => value::output(&call.id, output),
        Err(error) => {
            error.log_source();
            value::failure(&call.id, value::error(&error))
        }
    };
    axum::Json(answer).into_response()
}

async fn answer(state: &VcState, headers: &HeaderMap, call: &value::Invoke) -> Result<Value, VcError> {
    let scheme = call.security["schemeId"].as_str();
    if call.service == services::SESSION && call.operation == "create" {
        let user = call.security["userName"].as_str();
        let password = match &call.security["password"] {
            Value::String(p) => Some(p.as_str()),
            other => other["SECRET"].as_str(),
        };
        let credentials = &state.ctx.credentials;
        let valid = scheme == Some(USER_PASS)
            && user == Some(credentials.username.as_str())
            && password == Some(credentials.password.as_str());
        if !valid && !crate::auth::basic_matches(headers, credentials) {
            return Err(VcError::unauthenticated("The user name or password is incorrect."));
        }
        let id = state.sessions.create(credentials.username.clone());
        return services::output(&json!(id), &value::Ty::Secret, &call.service, &call.operation);
    }
    let id = match (scheme, call.security["sessionId"].as_str()) {
        (Some(SESSION_ID), Some(id)) => Some(id.to_owned()),
        _ => session_id(headers),
    };
    let Some((id, session)) = id.and_then(|id| state.sessions.touch(&id).map(|s| (id, s))) else {
        return Err(VcError::unauthenticated("The session is missing, unknown or expired."));
    };
    services::call(state, &id, &session, &call.service, &call.operation, call.input.clone()).await
}
