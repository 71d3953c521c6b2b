//! Kubernetes `Status` errors: every refusal the server gives is one of these.
//!
//! In: a failure found anywhere in the request pipeline. Out: a `metav1.Status` JSON body
//! with the HTTP code and `reason` a real API server uses, so clients (kube-rs, kubectl)
//! react the same way (retry on Conflict, relist on Gone, show causes on Invalid).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// One field-level cause of an `Invalid` (422) or `BadRequest` error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    /// Machine-readable reason, e.g. `FieldValueInvalid`, `FieldValueRequired`.
    pub reason: &'static str,
    /// The field path, e.g. `spec.ports[0].port`.
    pub field: String,
    /// Human-readable message in the form the real server uses.
    pub message: String,
}

impl Cause {
    /// A value that is present but not allowed.
    pub fn invalid(field: impl Into<String>, value: &Value, detail: impl std::fmt::Display) -> Cause {
        let field = field.into();
        Cause {
            reason: "FieldValueInvalid",
            message: format!("Invalid value: {}: {detail}", short_json(value)),
            field,
        }
    }

    /// A value that must be present and is not.
    pub fn required(field: impl Into<String>) -> Cause {
        Cause { reason: "FieldValueRequired", field: field.into(), message: "Required value".to_owned() }
    }

    /// A value outside an enumeration.
    pub fn not_supported(field: impl Into<String>, value: &Value, allowed: &[&str]) -> Cause {
        let allowed: Vec<String> = allowed.iter().map(|a| format!("\"{a}\"")).collect();
        Cause {
            reason: "FieldValueNotSupported",
            field: field.into(),
            message: format!(
                "Unsupported value: {}: supported values: {}",
                short_json(value),
                allowed.join(", ")
            ),
        }
    }

    /// A value that duplicates another entry.
    pub fn duplicate(field: impl Into<String>, value: &Value) -> Cause {
        Cause {
            reason: "FieldValueDuplicate",
            field: field.into(),
            message: format!("Duplicate value: {}", short_json(value)),
        }
    }

    /// A field that may not be changed or set.
    pub fn forbidden(field: impl Into<String>, detail: impl Into<String>) -> Cause {
        Cause {
            reason: "FieldValueForbidden",
            field: field.into(),
            message: format!("Forbidden: {}", detail.into()),
        }
    }

    /// A value of the wrong JSON type.
    pub fn type_invalid(field: impl Into<String>, value: &Value, expected: &str) -> Cause {
        let field = field.into();
        Cause {
            reason: "FieldValueTypeInvalid",
            message: format!(
                "Invalid value: \"{}\": {field} in body must be of type {expected}",
                json_type(value)
            ),
            field,
        }
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn short_json(value: &Value) -> String {
    let text = value.to_string();
    if text.len() > 100 { format!("{}...", &text[..text.floor_char_boundary(100)]) } else { text }
}

/// An error answered to the client as a Kubernetes `Status`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code} {reason}: {message}")]
pub struct ApiError {
    /// HTTP status code.
    pub code: u16,
    /// `Status.reason` (`NotFound`, `Conflict`, ...).
    pub reason: &'static str,
    /// `Status.message`.
    pub message: String,
    /// `Status.details`, when the error concerns one object.
    pub details: Option<Value>,
    /// `Status.metadata.continue`: how a list whose continue token expired may go on.
    pub continue_token: Option<String>,
}

/// What a `Status` error is about: the resource (group and plural) and the object name.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// API group, empty for the core group.
    pub group: &'a str,
    /// Plural resource name (`configmaps`).
    pub resource: &'a str,
    /// Object name, possibly empty.
    pub name: &'a str,
}

impl Subject<'_> {
    fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.resource.to_owned()
        } else {
            format!("{}.{}", self.resource, self.group)
        }
    }

    fn details(&self) -> Value {
        json!({"name": self.name, "group": self.group, "kind": self.resource})
    }
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { code, reason, message: message.into(), details: None, continue_token: None }
    }

    fn with_details(mut self, details: Value) -> ApiError {
        self.details = Some(details);
        self
    }

    /// 404: the object does not exist.
    pub fn not_found(subject: Subject<'_>) -> ApiError {
        ApiError::new(404, "NotFound", format!("{} \"{}\" not found", subject.qualified(), subject.name))
            .with_details(subject.details())
    }

    /// 404: the URL names no resource this server serves.
    pub fn unknown_path() -> ApiError {
        ApiError::new(404, "NotFound", "the server could not find the requested resource").with_details(
            json!({"causes": [{"reason": "UnexpectedServerResponse", "message": "404 page not found"}]}),
        )
    }

    /// 409: an object with that name already exists.
    pub fn already_exists(subject: Subject<'_>) -> ApiError {
        ApiError::new(
            409,
            "AlreadyExists",
            format!("{} \"{}\" already exists", subject.qualified(), subject.name),
        )
        .with_details(subject.details())
    }

    /// 409: the resourceVersion (or uid) precondition did not hold.
    pub fn conflict(subject: Subject<'_>, why: &str) -> ApiError {
        ApiError::new(
            409,
            "Conflict",
            format!("Operation cannot be fulfilled on {} \"{}\": {why}", subject.qualified(), subject.name),
        )
        .with_details(subject.details())
    }

    /// 409 for a stale resourceVersion, with the message clients recognise.
    pub fn stale(subject: Subject<'_>) -> ApiError {
        ApiError::conflict(
            subject,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// 422: the object failed validation; `causes` name the fields.
    pub fn invalid(kind: &str, subject: Subject<'_>, causes: &[Cause]) -> ApiError {
        let text: Vec<String> = causes.iter().map(|c| format!("{}: {}", c.field, c.message)).collect();
        let what =
            if subject.group.is_empty() { kind.to_owned() } else { format!("{kind}.{}", subject.group) };
        let list = if text.len() == 1 { text.join(", ") } else { format!("[{}]", text.join(", ")) };
        let causes: Vec<Value> = causes
            .iter()
            .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
            .collect();
        ApiError::new(422, "Invalid", format!("{what} \"{}\" is invalid: {list}", subject.name)).with_details(
            json!({"name": subject.name, "group": subject.group, "kind": kind, "causes": causes}),
        )
    }

    /// 410: the requested resourceVersion is older than the change log keeps.
    pub fn gone(message: impl Into<String>) -> ApiError {
        ApiError::new(410, "Expired", message)
    }

    /// 410: a paged list's continue token is too old to give a consistent list; `latest`
    /// (in the Status's metadata) continues it at the newest resourceVersion instead.
    pub fn expired_continue(latest: Option<String>) -> ApiError {
        let mut error = ApiError::gone(
            "The provided continue parameter is too old to display a consistent list result. You can \
             start a new list without the continue parameter, or use the continue token in this \
             response to retrieve the remainder of the results. Continuing with the provided token \
             results in an inconsistent list - objects that were created, modified, or deleted \
             between the time the first chunk was returned and now may show up in the list.",
        );
        error.continue_token = latest;
        error
    }

    /// 405: the verb is not supported on this resource.
    pub fn method_not_allowed(method: &str) -> ApiError {
        ApiError::new(
            405,
            "MethodNotAllowed",
            format!("the server does not allow this method on the requested resource ({method})"),
        )
    }

    /// 415: the Content-Type is not one the server decodes for this verb.
    pub fn unsupported_media_type(content_type: &str) -> ApiError {
        ApiError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/merge-patch+json, application/json-patch+json, application/strategic-merge-patch+json (got {content_type:?})"
            ),
        )
    }

    /// 415: a patch type this resource does not take (custom resources have no strategic
    /// merge patch: there are no merge keys to read from a schema-less Go type).
    pub fn unsupported_patch_type(accepted: &[&str]) -> ApiError {
        ApiError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: {}",
                accepted.join(", ")
            ),
        )
    }

    /// 413: the body is larger than the server accepts.
    pub fn too_large(limit: usize) -> ApiError {
        ApiError::new(
            413,
            "RequestEntityTooLarge",
            format!("the request body is larger than the limit of {limit} bytes"),
        )
    }

    /// 400: the request is malformed.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "BadRequest", message)
    }

    /// 401: no valid bearer token.
    pub fn unauthorized() -> ApiError {
        ApiError::new(401, "Unauthorized", "Unauthorized")
    }

    /// 403: the request is understood but refused.
    pub fn forbidden(subject: Subject<'_>, why: &str) -> ApiError {
        ApiError::new(
            403,
            "Forbidden",
            format!("{} \"{}\" is forbidden: {why}", subject.qualified(), subject.name),
        )
        .with_details(subject.details())
    }

    /// 406: no acceptable representation.
    pub fn not_acceptable(accept: &str) -> ApiError {
        ApiError::new(
            406,
            "NotAcceptable",
            format!("only the following media types are accepted: application/json (got {accept:?})"),
        )
    }

    /// 500: a server-side failure (storage). The detail is logged, the client sees a generic text.
    pub fn internal(error: &dyn std::error::Error) -> ApiError {
        tracing::error!(error = %error, "internal error");
        ApiError::new(500, "InternalError", "an internal error occurred; see the server log")
    }

    /// The `Status` object for this error.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(details) = &self.details {
            status["details"] = details.clone();
        }
        if let Some(token) = &self.continue_token {
            status["metadata"]["continue"] = json!(token);
        }
        status
    }
}

impl From<crate::storage::StorageError> for ApiError {
    fn from(error: crate::storage::StorageError) -> ApiError {
        match error {
            crate::storage::StorageError::Gone { requested, oldest } => {
                ApiError::gone(format!("too old resource version: {requested} ({oldest})"))
            }
            other => ApiError::internal(&other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (code, [(axum::http::header::CONTENT_TYPE, "application/json")], self.to_status().to_string())
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CM: Subject<'static> = Subject { group: "", resource: "configmaps", name: "a" };

    #[test]
    fn not_found_reads_like_the_real_server() {
        let status = ApiError::not_found(CM).to_status();
        assert_eq!(status["code"], 404);
        assert_eq!(status["reason"], "NotFound");
        assert_eq!(status["message"], "configmaps \"a\" not found");
        assert_eq!(status["details"]["kind"], "configmaps");
    }

    #[test]
    fn invalid_lists_field_causes() {
        let causes = [Cause::required("spec.ports"), Cause::invalid("metadata.name", &json!("A"), "bad")];
        let status =
            ApiError::invalid("Service", Subject { group: "", resource: "services", name: "A" }, &causes)
                .to_status();
        assert_eq!(status["code"], 422);
        assert_eq!(status["details"]["causes"][0]["field"], "spec.ports");
        assert_eq!(
            status["message"],
            "Service \"A\" is invalid: [spec.ports: Required value, metadata.name: Invalid value: \"A\": bad]"
        );
    }

    #[test]
    fn grouped_kinds_are_qualified() {
        let s = Subject { group: "example.com", resource: "widgets", name: "w" };
        assert_eq!(ApiError::not_found(s).message, "widgets.example.com \"w\" not found");
        let invalid = ApiError::invalid("Widget", s, &[Cause::required("spec")]);
        assert_eq!(invalid.message, "Widget.example.com \"w\" is invalid: spec: Required value");
    }

    #[test]
    fn type_errors_name_the_expected_type() {
        let cause = Cause::type_invalid("spec.replicas", &json!("x"), "integer");
        assert_eq!(cause.message, "Invalid value: \"string\": spec.replicas in body must be of type integer");
    }
}
