//! HTTP Basic authentication, shared by NSX (every request) and the admin routes of both
//! simulators (vCenter uses it only to open a session).

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine as _;

use crate::credentials::Credentials;
use crate::faults::RenderError;

/// The user name and password of an `Authorization: Basic …` header, if well formed.
pub(crate) fn basic(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, pass) = text.split_once(':')?;
    Some((user.to_owned(), pass.to_owned()))
}

/// Whether `headers` carry basic auth matching `expected`.
pub(crate) fn basic_matches(headers: &HeaderMap, expected: &Credentials) -> bool {
    basic(headers).is_some_and(|(user, pass)| user == expected.username && pass == expected.password)
}

/// State of [`require_basic`]: who may pass, and how the product renders a 401.
#[derive(Clone)]
pub(crate) struct BasicAuth {
    pub(crate) credentials: Credentials,
    pub(crate) render: RenderError,
}

/// Middleware refusing requests without matching basic auth (401 in the product's body).
pub(crate) async fn require_basic(State(auth): State<BasicAuth>, request: Request, next: Next) -> Response {
    if basic_matches(request.headers(), &auth.credentials) {
        return next.run(request).await;
    }
    unauthorized(auth.render)
}

/// 401 in the product's body with a `WWW-Authenticate: Basic` challenge.
pub(crate) fn unauthorized(render: RenderError) -> Response {
    let mut response = render(StatusCode::UNAUTHORIZED, "The credentials were incorrect or missing.");
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"wasmvisor-sim\""));
    response
}

/// The value of cookie `name`, if the request carries it.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| {
            let (key, value) = c.trim().split_once('=')?;
            (key == name).then(|| value.to_owned())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn parses_basic_and_rejects_others() {
        // "admin:pa:ss" — the password may contain a colon.
        let h = headers("Basic YWRtaW46cGE6c3M=");
        assert_eq!(basic(&h), Some(("admin".into(), "pa:ss".into())));
        assert_eq!(basic(&headers("Bearer abc")), None);
        assert_eq!(basic(&headers("Basic !!!")), None);
        assert_eq!(basic(&HeaderMap::new()), None);
    }

    #[test]
    fn finds_a_cookie_among_others() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("a=1; JSESSIONID=abc; b=2"));
        assert_eq!(cookie(&h, "JSESSIONID").as_deref(), Some("abc"));
        assert_eq!(cookie(&h, "missing"), None);
    }

    #[test]
    fn matches_only_the_expected_pair() {
        let expected = Credentials { username: "admin".into(), password: "pa:ss".into() };
        assert!(basic_matches(&headers("Basic YWRtaW46cGE6c3M="), &expected));
        let other = Credentials { username: "admin".into(), password: "x".into() };
        assert!(!basic_matches(&headers("Basic YWRtaW46cGE6c3M="), &other));
    }
}
