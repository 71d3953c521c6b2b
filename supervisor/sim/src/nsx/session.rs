//! NSX session authentication, the alternative to basic auth on every call:
//! `POST /api/session/create` with the form `j_username=…&j_password=…` answers 200 with
//! a `JSESSIONID` cookie and an `X-XSRF-TOKEN` header; later calls send both.
//! `POST /api/session/destroy` ends the session.
//!
//! Refusals: bad login → 403 (error_code 403); a known session with a missing or wrong
//! XSRF token → 403 error_code 98 (what nsxlib retries after re-login); neither basic
//! auth nor a session → 401. Sessions live in memory, like vCenter's.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::{self, BAD_XSRF_TOKEN, INVALID_CREDENTIALS, NsxError};
use crate::auth::basic_matches;
use crate::credentials::Credentials;

/// Name of the session cookie.
const COOKIE: &str = "JSESSIONID";
/// Header carrying the XSRF token.
const XSRF_HEADER: &str = "x-xsrf-token";

/// Live NSX sessions (session id → XSRF token) and the accepted credentials.
#[derive(Clone, Debug)]
pub(crate) struct NsxAuth {
    credentials: Credentials,
    sessions: Arc<Mutex<HashMap<String, String>>>,
}

impl NsxAuth {
    pub(crate) fn new(credentials: Credentials) -> NsxAuth {
        NsxAuth { credentials, sessions: Arc::default() }
    }
}

/// `POST /api/session/create`.
pub(crate) async fn create(State(auth): State<NsxAuth>, body: Bytes) -> Response {
    let form: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let (user, pass) = (form.get("j_username"), form.get("j_password"));
    if user != Some(&auth.credentials.username) || pass != Some(&auth.credentials.password) {
        return NsxError::new(StatusCode::FORBIDDEN, INVALID_CREDENTIALS, "Invalid username or password.")
            .into_response();
    }
    let (id, token) = (uuid::Uuid::new_v4().simple().to_string(), uuid::Uuid::new_v4().to_string());
    if let Ok(mut sessions) = auth.sessions.lock() {
        sessions.insert(id.clone(), token.clone());
    }
    let mut response = StatusCode::OK.into_response();
    let cookie = format!("{COOKIE}={id}; Path=/; Secure; HttpOnly");
    if let (Ok(cookie), Ok(token)) = (HeaderValue::from_str(&cookie), HeaderValue::from_str(&token)) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
        response.headers_mut().insert(XSRF_HEADER, token);
    }
    response
}

/// `POST /api/session/destroy`: 200; the cookie no longer works.
pub(crate) async fn destroy(State(auth): State<NsxAuth>, headers: HeaderMap) -> Response {
    if let (Some(id), Ok(mut sessions)) = (session_cookie(&headers), auth.sessions.lock()) {
        sessions.remove(&id);
    }
    StatusCode::OK.into_response()
}

/// Middleware: basic auth, or a session cookie with its XSRF token.
pub(crate) async fn require(State(auth): State<NsxAuth>, request: Request, next: Next) -> Response {
    if basic_matches(request.headers(), &auth.credentials) {
        return next.run(request).await;
    }
    let expected = session_cookie(request.headers())
        .and_then(|id| auth.sessions.lock().ok().and_then(|sessions| sessions.get(&id).cloned()));
    let Some(expected) = expected else { return crate::auth::unauthorized(error::render) };
    let given = request.headers().get(XSRF_HEADER).and_then(|v| v.to_str().ok());
    if given == Some(expected.as_str()) {
        next.run(request).await
    } else {
        NsxError::new(StatusCode::FORBIDDEN, BAD_XSRF_TOKEN, "Bad XSRF token.").into_response()
    }
}

fn session_cookie(headers: &HeaderMap) -> Option<String> {
    crate::auth::cookie(headers, COOKIE)
}
