//! The NSX error body and the (status, error_code) pairs clients key on.
//!
//! Every refusal of the NSX simulator is an [`NsxError`], rendered as the Policy API error
//! body `{httpStatus, error_code, module_name, error_message}`. The codes follow
//! `shared/domain/nsx-policy-api.md` §7; where NSX's exact code is unconfirmed the
//! constant's doc says it is our choice.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::store::StoreError;

/// 400: the object is referenced by another object (the DELETE dependency error).
pub(crate) const RESOURCE_IN_USE: u32 = 500030;
/// 400: a segment still has ports (VMs attached).
pub(crate) const SEGMENT_HAS_PORTS: u32 = 503040;
/// 400: an object with this id is still marked for delete (NsxPendingDelete).
pub(crate) const PENDING_DELETE: u32 = 500045;
/// 400: overlapping addresses (segment subnets on one Tier-1, allocation IP taken).
pub(crate) const OVERLAP_ADDRESSES: u32 = 500105;
/// 404 (module `common-services`): no object at this path, what NSX answers for a GET of
/// an id that does not exist. Not 500090: nsxlib and nsx-operator read 404 + 500090 as a
/// stale revision.
pub(crate) const NOT_FOUND: u32 = 600;
/// 400: a `*_path` field or the parent names an object that does not exist. Simulator choice.
pub(crate) const INVALID_PATH: u32 = 500012;
/// 400: the body is malformed or a field is invalid. Simulator choice.
pub(crate) const INVALID_REQUEST: u32 = 255;
/// 412: PUT with a stale or missing `_revision`. Simulator choice (NSX: 409/412).
pub(crate) const STALE_REVISION: u32 = 604;
/// 401/403: bad or missing credentials (NSX's InvalidCredentials code).
pub(crate) const INVALID_CREDENTIALS: u32 = 403;
/// 403: a session call with a missing or wrong `X-XSRF-TOKEN`.
pub(crate) const BAD_XSRF_TOKEN: u32 = 98;
/// 500: the simulator itself failed (its world database). Simulator choice.
pub(crate) const INTERNAL: u32 = 99;
/// Realization alarm: no free address left (nsx-operator's "IP allocation failed").
pub(crate) const ALLOCATION_FAILED: u32 = 8212;

/// A refused or failed NSX request.
#[derive(Debug, thiserror::Error)]
#[error("NSX {status} error_code {code}: {message}")]
pub(crate) struct NsxError {
    status: StatusCode,
    code: u32,
    module: &'static str,
    message: String,
    #[source]
    source: Option<Box<StoreError>>,
}

impl NsxError {
    /// An error with this status, NSX code and message.
    pub(crate) fn new(status: StatusCode, code: u32, message: impl Into<String>) -> NsxError {
        NsxError { status, code, module: "Policy", message: message.into(), source: None }
    }

    /// 400 with [`INVALID_REQUEST`].
    pub(crate) fn invalid(message: impl Into<String>) -> NsxError {
        NsxError::new(StatusCode::BAD_REQUEST, INVALID_REQUEST, message)
    }

    /// 404 [`NOT_FOUND`] for `path`, worded as NSX words it.
    pub(crate) fn not_found(path: &str) -> NsxError {
        NsxError {
            module: "common-services",
            ..NsxError::new(
                StatusCode::NOT_FOUND,
                NOT_FOUND,
                format!(
                    "The requested object : {path} could not be found. Object identifiers are case sensitive."
                ),
            )
        }
    }

    /// 400: `field` names `target`, which does not exist.
    pub(crate) fn invalid_path(field: &str, target: &str) -> NsxError {
        NsxError::new(
            StatusCode::BAD_REQUEST,
            INVALID_PATH,
            format!("Invalid {field}: the path={target} does not exist."),
        )
    }

    /// 400 [`RESOURCE_IN_USE`]: `path` cannot go because `referrer` uses it.
    pub(crate) fn in_use(path: &str, referrer: &str) -> NsxError {
        NsxError::new(
            StatusCode::BAD_REQUEST,
            RESOURCE_IN_USE,
            format!("Cannot delete object {path} because it is referenced by {referrer}."),
        )
    }

    /// The HTTP status.
    #[cfg(test)]
    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    /// The NSX error code.
    #[cfg(test)]
    pub(crate) fn code(&self) -> u32 {
        self.code
    }
}

impl From<StoreError> for NsxError {
    fn from(source: StoreError) -> NsxError {
        NsxError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: INTERNAL,
            module: "Policy",
            message: "The simulator's world database failed.".into(),
            source: Some(Box::new(source)),
        }
    }
}

impl IntoResponse for NsxError {
    fn into_response(self) -> Response {
        if let Some(source) = &self.source {
            tracing::error!(error = &**source as &dyn std::error::Error, "NSX simulator request failed");
        }
        body(self.status, self.code, self.module, &self.message)
    }
}

/// The NSX error body for `status`; used for faults and authentication failures too.
pub(crate) fn render(status: StatusCode, message: &str) -> Response {
    let code = match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => INVALID_CREDENTIALS,
        other => u32::from(other.as_u16()),
    };
    body(status, code, "Policy", message)
}

fn body(status: StatusCode, code: u32, module: &str, message: &str) -> Response {
    let http_status =
        status.canonical_reason().unwrap_or("UNKNOWN").to_ascii_uppercase().replace([' ', '-'], "_");
    let body = json!({
        "httpStatus": http_status,
        "error_code": code,
        "module_name": module,
        "error_message": message,
    });
    (status, axum::Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt as _;

    #[tokio::test]
    async fn in_use_renders_the_nsx_body() {
        let response = NsxError::in_use("/infra/tier-1s/t1", "/infra/segments/s").into_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["httpStatus"], "BAD_REQUEST");
        assert_eq!(body["error_code"], 500030);
        assert_eq!(body["module_name"], "Policy");
        assert!(body["error_message"].as_str().unwrap().contains("/infra/segments/s"));
    }

    #[tokio::test]
    async fn not_found_is_600_from_common_services() {
        let response = NsxError::not_found("/infra/segments/s").into_response();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["error_code"], 600);
        assert_eq!(body["module_name"], "common-services");
        assert_eq!(
            body["error_message"],
            "The requested object : /infra/segments/s could not be found. Object identifiers are case sensitive."
        );
    }

    #[tokio::test]
    async fn unauthorized_uses_the_credentials_code() {
        let response = render(StatusCode::UNAUTHORIZED, "no");
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["error_code"], 403);
        assert_eq!(body["httpStatus"], "UNAUTHORIZED");
    }
}
