//! Sessions: `POST /api/session` with basic auth gives an id; every other call sends it in
//! `vmware-api-session-id` (or a cookie of that name); an unknown, deleted or idle-expired
//! id is a 401 `UNAUTHENTICATED`.
//!
//! Sessions live in memory only: a restarted simulator has forgotten them, as a restarted
//! vCenter has, and clients must log in again on 401 — which is what the host client's
//! session renewal is tested against.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::VcState;
use super::error::VcError;
use crate::clock::{Clock, millis};

/// The header (and cookie) carrying the session id.
pub const SESSION_HEADER: &str = "vmware-api-session-id";

/// One live session.
#[derive(Clone, Debug)]
pub(crate) struct Session {
    user: String,
    created_ms: u64,
    last_ms: u64,
}

/// The live sessions of one vCenter simulator.
#[derive(Clone, Debug)]
pub(crate) struct Sessions {
    inner: Arc<Mutex<HashMap<String, Session>>>,
    idle_ms: u64,
    clock: Clock,
}

impl Sessions {
    /// No sessions yet; each expires after `idle` without use.
    pub(crate) fn new(idle: Duration, clock: Clock) -> Sessions {
        Sessions { inner: Arc::default(), idle_ms: millis(idle), clock }
    }

    /// Opens a session for `user` and returns its id.
    pub(crate) fn create(&self, user: String) -> String {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let now = self.clock.now_ms();
        if let Ok(mut map) = self.inner.lock() {
            map.insert(id.clone(), Session { user, created_ms: now, last_ms: now });
        }
        id
    }

    /// The session for `id` after marking it used, or `None` when unknown or expired
    /// (an expired session is removed).
    pub(crate) fn touch(&self, id: &str) -> Option<Session> {
        let now = self.clock.now_ms();
        let mut map = self.inner.lock().ok()?;
        let session = map.get_mut(id)?;
        if now.saturating_sub(session.last_ms) > self.idle_ms {
            map.remove(id);
            return None;
        }
        session.last_ms = now;
        Some(session.clone())
    }

    /// Ends session `id`; `false` when it was not live.
    pub(crate) fn remove(&self, id: &str) -> bool {
        self.inner.lock().is_ok_and(|mut map| map.remove(id).is_some())
    }
}

impl Session {
    /// `{user, created_time, last_accessed_time}`, what `GET /api/session` answers.
    pub(crate) fn info(&self) -> serde_json::Value {
        json!({
            "user": self.user,
            "created_time": rfc3339(self.created_ms),
            "last_accessed_time": rfc3339(self.last_ms),
        })
    }
}

/// `POST /api/session`: 201 with the new id as a JSON string.
pub(crate) async fn create(State(state): State<VcState>, headers: HeaderMap) -> Response {
    if !crate::auth::basic_matches(&headers, &state.ctx.credentials) {
        return unauthenticated("The user name or password is incorrect.");
    }
    let id = state.sessions.create(state.ctx.credentials.username.clone());
    (StatusCode::CREATED, axum::Json(json!(id))).into_response()
}

/// `GET /api/session`: who the session belongs to.
pub(crate) async fn get(State(state): State<VcState>, headers: HeaderMap) -> Response {
    match session_id(&headers).and_then(|id| state.sessions.touch(&id)) {
        Some(s) => axum::Json(s.info()).into_response(),
        None => unauthenticated("The session is missing, unknown or expired."),
    }
}

/// `DELETE /api/session`: 204, after which the id is a 401.
pub(crate) async fn delete(State(state): State<VcState>, headers: HeaderMap) -> Response {
    match session_id(&headers) {
        Some(id) if state.sessions.remove(&id) => StatusCode::NO_CONTENT.into_response(),
        _ => unauthenticated("The session is missing, unknown or expired."),
    }
}

/// Middleware admitting only requests with a live session.
pub(crate) async fn require(State(state): State<VcState>, request: Request, next: Next) -> Response {
    match session_id(request.headers()).and_then(|id| state.sessions.touch(&id)) {
        Some(_) => next.run(request).await,
        None => unauthenticated("The session is missing, unknown or expired."),
    }
}

fn unauthenticated(message: &str) -> Response {
    VcError::unauthenticated(message).into_response()
}

/// The session id a request carries in the header or the cookie.
pub(crate) fn session_id(headers: &HeaderMap) -> Option<String> {
    if let Some(id) = headers.get(SESSION_HEADER).and_then(|v| v.to_str().ok()) {
        return Some(id.trim().to_owned());
    }
    crate::auth::cookie(headers, SESSION_HEADER)
}

/// Epoch milliseconds as an RFC 3339 UTC timestamp with millisecond precision
/// (`2026-11-25T05:14:06.000Z`), as vCenter writes them.
pub(crate) fn rfc3339(ms: u64) -> String {
    let ms = i64::try_from(ms).unwrap_or(i64::MAX).min(jiff::Timestamp::MAX.as_millisecond());
    let time = jiff::Timestamp::from_millisecond(ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    format!("{time:.3}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_expire_when_idle() {
        let clock = Clock::manual(0);
        let sessions = Sessions::new(Duration::from_secs(10), clock.clone());
        let id = sessions.create("admin".into());
        clock.advance(Duration::from_secs(9));
        assert!(sessions.touch(&id).is_some(), "used within the timeout");
        clock.advance(Duration::from_secs(9));
        assert!(sessions.touch(&id).is_some(), "the previous use reset the idle timer");
        clock.advance(Duration::from_secs(11));
        assert!(sessions.touch(&id).is_none());
        assert!(sessions.touch(&id).is_none(), "expired sessions stay gone");
    }

    #[test]
    fn reads_the_header_or_the_cookie() {
        let mut headers = HeaderMap::new();
        headers.insert(axum::http::header::COOKIE, "a=b; vmware-api-session-id=abc".parse().unwrap());
        assert_eq!(session_id(&headers).as_deref(), Some("abc"));
        headers.insert(SESSION_HEADER, "xyz".parse().unwrap());
        assert_eq!(session_id(&headers).as_deref(), Some("xyz"));
    }

    #[test]
    fn formats_timestamps() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_795_583_646_123), "2026-11-25T05:14:06.123Z");
    }
}
