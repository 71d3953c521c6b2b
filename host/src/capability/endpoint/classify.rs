//! Turns a non-2xx answer from NSX or vCenter into the typed error the plugin
//! sees, as the WIT `nsx` interface documents it.
//!
//! 404 `not-found`; 409/412 `conflict`; 400/422 `invalid`, except the
//! product-specific codes that mean "in use", "stale" or "in the wrong state",
//! which are `conflict` (re-read and try again); 429/5xx `unavailable`;
//! 401/403 and anything else `internal` (the host's own credentials or a bug,
//! nothing the plugin can fix). Messages carry the product's own text, cut to
//! [`MAX_MESSAGE`] bytes; answers never contain the host's credentials.

use hyper::StatusCode;
use serde::Deserialize;

use super::http::{RawResponse, SendError};
use crate::capability::endpoint::{EndpointError, HttpResponse};

/// Longest product message kept in an error.
pub const MAX_MESSAGE: usize = 1024;

/// NSX error codes that mean the change collides with existing state:
/// 500030 object in use, 503040 segment with ports, 500045 pending delete,
/// 500087/500232/100148 stale revision (nsx-operator's classes).
const NSX_CONFLICT_CODES: &[u64] = &[500030, 503040, 500045, 500087, 500232, 100148];

/// vCenter `error_type`s on a 400 that mean "the object's state is in the way".
const VCENTER_CONFLICT_TYPES: &[&str] = &[
    "ALREADY_EXISTS",
    "ALREADY_IN_DESIRED_STATE",
    "NOT_ALLOWED_IN_CURRENT_STATE",
    "RESOURCE_BUSY",
    "RESOURCE_IN_USE",
    "CONCURRENT_CHANGE",
];

/// Which product answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Product {
    /// NSX Policy API.
    Nsx,
    /// vCenter REST API.
    Vcenter,
}

#[derive(Deserialize, Default)]
struct NsxBody {
    #[serde(default)]
    error_code: Option<u64>,
    #[serde(default)]
    error_message: Option<String>,
    #[serde(default)]
    related_errors: Vec<NsxBody>,
}

#[derive(Deserialize, Default)]
struct VcenterBody {
    #[serde(default)]
    error_type: Option<String>,
    #[serde(default)]
    messages: Vec<VcenterMessage>,
}

#[derive(Deserialize)]
struct VcenterMessage {
    #[serde(default)]
    default_message: String,
}

/// A 2xx answer as the plugin sees it, anything else classified.
pub fn answer(
    product: Product,
    result: Result<RawResponse, SendError>,
) -> Result<HttpResponse, EndpointError> {
    let raw = result.map_err(|e| EndpointError::Unavailable(format!("{}: {e}", product.name())))?;
    if raw.status.is_success() {
        return Ok(HttpResponse {
            status: raw.status.as_u16(),
            body: String::from_utf8_lossy(&raw.body).into_owned(),
        });
    }
    Err(classify(product, raw.status, &raw.body))
}

impl Product {
    fn name(self) -> &'static str {
        match self {
            Product::Nsx => "NSX",
            Product::Vcenter => "vCenter",
        }
    }
}

/// The typed error for `status` with `body`.
pub fn classify(product: Product, status: StatusCode, body: &[u8]) -> EndpointError {
    let (detail, in_conflict) = match product {
        Product::Nsx => nsx_detail(body),
        Product::Vcenter => vcenter_detail(body),
    };
    let mut message = format!("{} {}{detail}", product.name(), status.as_u16());
    crate::runtime::scope::truncate(&mut message, MAX_MESSAGE);
    match status.as_u16() {
        404 => EndpointError::NotFound(message),
        409 | 412 => EndpointError::Conflict(message),
        400 | 422 if in_conflict => EndpointError::Conflict(message),
        400 | 422 => EndpointError::Invalid(message),
        429 | 500..=599 => EndpointError::Unavailable(message),
        _ => EndpointError::Internal(message),
    }
}

/// `" error_code N: text (related: …)"` and whether any code means conflict.
fn nsx_detail(body: &[u8]) -> (String, bool) {
    let Ok(parsed) = serde_json::from_slice::<NsxBody>(body) else {
        return (raw(body), false);
    };
    let mut conflict = false;
    let mut text = String::new();
    for (i, e) in std::iter::once(&parsed).chain(&parsed.related_errors).enumerate() {
        conflict |= e.error_code.is_some_and(|c| NSX_CONFLICT_CODES.contains(&c));
        text.push_str(if i == 0 { " " } else { "; related: " });
        if let Some(code) = e.error_code {
            text.push_str(&format!("error_code {code}: "));
        }
        text.push_str(e.error_message.as_deref().unwrap_or(""));
    }
    (text.trim_end().to_owned(), conflict)
}

/// `" ERROR_TYPE: message; message"` and whether the type means conflict.
fn vcenter_detail(body: &[u8]) -> (String, bool) {
    let Ok(parsed) = serde_json::from_slice::<VcenterBody>(body) else {
        return (raw(body), false);
    };
    let kind = parsed.error_type.unwrap_or_default();
    let messages: Vec<&str> = parsed.messages.iter().map(|m| m.default_message.as_str()).collect();
    let conflict = VCENTER_CONFLICT_TYPES.contains(&kind.as_str());
    (format!(" {kind}: {}", messages.join("; ")).trim_end().to_owned(), conflict)
}

fn raw(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() { String::new() } else { format!(": {text}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nsx(status: u16, body: &str) -> EndpointError {
        classify(Product::Nsx, StatusCode::from_u16(status).unwrap(), body.as_bytes())
    }

    fn vc(status: u16, body: &str) -> EndpointError {
        classify(Product::Vcenter, StatusCode::from_u16(status).unwrap(), body.as_bytes())
    }

    #[test]
    fn nsx_statuses_map_as_the_wit_says() {
        let in_use = r#"{"httpStatus":"BAD_REQUEST","error_code":500030,"module_name":"Policy",
            "error_message":"Cannot delete object /infra/tier-1s/t1 because it is referenced by /infra/segments/s."}"#;
        assert_eq!(
            nsx(400, in_use),
            EndpointError::Conflict(
                "NSX 400 error_code 500030: Cannot delete object /infra/tier-1s/t1 because it is referenced by /infra/segments/s."
                    .into()
            )
        );
        assert!(matches!(
            nsx(400, r#"{"error_code":503040,"error_message":"ports"}"#),
            EndpointError::Conflict(_)
        ));
        assert!(matches!(nsx(400, r#"{"error_code":255,"error_message":"bad"}"#), EndpointError::Invalid(_)));
        assert!(matches!(nsx(422, "{}"), EndpointError::Invalid(_)));
        assert!(matches!(nsx(404, r#"{"error_code":500090}"#), EndpointError::NotFound(_)));
        assert!(matches!(nsx(409, ""), EndpointError::Conflict(_)));
        assert!(matches!(nsx(412, r#"{"error_code":604}"#), EndpointError::Conflict(_)));
        assert!(matches!(nsx(429, ""), EndpointError::Unavailable(_)));
        assert!(matches!(nsx(503, "oops"), EndpointError::Unavailable(_)));
        assert!(matches!(nsx(401, ""), EndpointError::Internal(_)));
        assert!(matches!(nsx(403, r#"{"error_code":403}"#), EndpointError::Internal(_)));
    }

    #[test]
    fn nsx_conflict_may_hide_in_related_errors() {
        let body = r#"{"error_code":500012,"error_message":"outer",
            "related_errors":[{"error_code":500030,"error_message":"in use"}]}"#;
        assert_eq!(
            nsx(400, body),
            EndpointError::Conflict(
                "NSX 400 error_code 500012: outer; related: error_code 500030: in use".into()
            )
        );
    }

    #[test]
    fn vcenter_error_types_map() {
        let on = r#"{"error_type":"NOT_ALLOWED_IN_CURRENT_STATE","messages":[{"id":"x","default_message":"Virtual machine is powered on.","args":[]}]}"#;
        assert_eq!(
            vc(400, on),
            EndpointError::Conflict(
                "vCenter 400 NOT_ALLOWED_IN_CURRENT_STATE: Virtual machine is powered on.".into()
            )
        );
        assert!(matches!(
            vc(400, r#"{"error_type":"INVALID_ARGUMENT","messages":[]}"#),
            EndpointError::Invalid(_)
        ));
        assert!(matches!(vc(404, r#"{"error_type":"NOT_FOUND","messages":[]}"#), EndpointError::NotFound(_)));
        assert!(matches!(vc(503, r#"{"error_type":"SERVICE_UNAVAILABLE"}"#), EndpointError::Unavailable(_)));
        assert!(matches!(vc(401, ""), EndpointError::Internal(_)));
    }

    #[test]
    fn long_messages_are_cut() {
        let body = format!(r#"{{"error_code":1,"error_message":"{}"}}"#, "x".repeat(5000));
        let EndpointError::Invalid(m) = nsx(400, &body) else { panic!() };
        assert_eq!(m.len(), MAX_MESSAGE);
    }
}
