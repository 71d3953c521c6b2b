//! The manager-node endpoints clients read before they touch Policy objects:
//! `GET /api/v1/reverse-proxy/node/health` (nsxlib's connection check), `GET /api/v1/node`
//! (its `node_version` picks the client's API dialect) and the schema look-ups under
//! `GET /api/v1/spec/vmware/types/{type}` (tag limits).
//!
//! The version is a current 4.x, so clients that read it use the current dialect
//! (`/policy/api/v1/search/query`, partial PATCH); clients that assume an older version
//! get its dialect served too. The schema answers carry only the
//! properties clients read; the limits are the ones `tags` enforces.

use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::error::NsxError;
use super::tags::{MAX_SCOPE_LEN, MAX_TAG_LEN, MAX_TAGS};

/// The NSX version the simulator reports.
pub(crate) const NODE_VERSION: &str = "4.1.2.0.0.22589037";

/// `GET /api/v1/reverse-proxy/node/health`.
pub(crate) async fn health() -> Response {
    axum::Json(json!({"healthy": true, "components_health": "MANAGER:UP, SEARCH:UP, POLICY:UP"}))
        .into_response()
}

/// `GET /api/v1/node`.
pub(crate) async fn node() -> Response {
    axum::Json(json!({
        "resource_type": "NodeProperties",
        "node_version": NODE_VERSION,
        "product_version": NODE_VERSION,
        "kernel_version": "5.10.0",
        "hostname": "nsx-manager-sim",
        "fully_qualified_domain_name": "nsx-manager-sim.sim.local",
        "export_type": "UNRESTRICTED",
        "timezone": "UTC",
    }))
    .into_response()
}

/// `GET /api/v1/spec/vmware/types/{type}`: the JSON schema of `Tag` and `ManagedResource`.
pub(crate) async fn spec_type(Path(name): Path<String>) -> Response {
    let schema = match name.as_str() {
        "Tag" => json!({
            "id": "Tag", "type": "object", "module_id": "Common",
            "properties": {
                "scope": {"type": "string", "maxLength": MAX_SCOPE_LEN, "required": false},
                "tag": {"type": "string", "maxLength": MAX_TAG_LEN, "required": false},
            },
        }),
        "ManagedResource" => json!({
            "id": "ManagedResource", "type": "object", "module_id": "Common",
            "properties": {
                "tags": {"type": "array", "maxItems": MAX_TAGS, "items": {"$ref": "Tag"}},
                "display_name": {"type": "string", "maxLength": 255},
                "description": {"type": "string", "maxLength": 1024},
            },
        }),
        _ => return NsxError::not_found(&format!("/api/v1/spec/vmware/types/{name}")).into_response(),
    };
    axum::Json(schema).into_response()
}
