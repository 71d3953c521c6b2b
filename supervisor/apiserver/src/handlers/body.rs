//! Request bodies: size limit, media type, and decoding into a JSON object.
//!
//! Between routing and the verb: each verb reads its body through [`read_body`] with the
//! [`BodyKind`] it accepts. Invariant: no body larger than the configured limit is buffered,
//! and a verb only ever sees a JSON object (protobuf bodies are converted first).

use axum::body::Body;
use axum::http::{HeaderMap, header};
use serde_json::Value;

use crate::context::Context;
use crate::status::ApiError;

/// What a verb accepts as its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BodyKind {
    /// An object (JSON or protobuf); required.
    Object,
    /// A patch in one of the patch media types; required.
    Patch,
    /// An object or nothing (DELETE options, TokenRequest).
    Optional,
}

/// Reads the body within the size limit and checks its media type against `kind`.
pub(super) async fn read_body(
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
pub(super) fn decode_object(headers: &HeaderMap, bytes: &[u8]) -> Result<Value, ApiError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if content_type.split(';').next().unwrap_or("").trim() == crate::protobuf::MEDIA_TYPE {
        return crate::protobuf::decode(bytes).map_err(|e| match e {
            crate::protobuf::ProtobufError::Malformed(_) => ApiError::bad_request(e.to_string()),
            _ => ApiError::unsupported_media_type(&e.to_string()),
        });
    }
    decode(bytes)
}

/// Decodes a JSON object body (400 for anything else).
pub(super) fn decode(bytes: &[u8]) -> Result<Value, ApiError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::bad_request(format!("the object provided is unrecognized or not valid JSON: {e}"))
    })?;
    if !value.is_object() {
        return Err(ApiError::bad_request("the request body must be a JSON object"));
    }
    Ok(value)
}
