//! The vCenter error body `{error_type, messages[], data}` and its statuses.
//!
//! Every refusal of the vCenter simulator is a [`VcError`]; `error_type` values and their
//! statuses follow `shared/domain/vcenter-rest.md` §2.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::store::StoreError;

/// The `error_type` values the simulator answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ErrorType {
    AlreadyExists,
    AlreadyInDesiredState,
    InvalidArgument,
    NotAllowedInCurrentState,
    UnableToAllocateResource,
    Unauthenticated,
    Unauthorized,
    NotFound,
    OperationNotFound,
    ResourceBusy,
    ServiceUnavailable,
    TimedOut,
    Error,
}

impl ErrorType {
    /// The REST spelling (`NOT_FOUND`); the vAPI error name is its lower case.
    pub(crate) fn name(self) -> &'static str {
        match self {
            ErrorType::AlreadyExists => "ALREADY_EXISTS",
            ErrorType::AlreadyInDesiredState => "ALREADY_IN_DESIRED_STATE",
            ErrorType::InvalidArgument => "INVALID_ARGUMENT",
            ErrorType::NotAllowedInCurrentState => "NOT_ALLOWED_IN_CURRENT_STATE",
            ErrorType::UnableToAllocateResource => "UNABLE_TO_ALLOCATE_RESOURCE",
            ErrorType::Unauthenticated => "UNAUTHENTICATED",
            ErrorType::Unauthorized => "UNAUTHORIZED",
            ErrorType::NotFound => "NOT_FOUND",
            ErrorType::OperationNotFound => "OPERATION_NOT_FOUND",
            ErrorType::ResourceBusy => "RESOURCE_BUSY",
            ErrorType::ServiceUnavailable => "SERVICE_UNAVAILABLE",
            ErrorType::TimedOut => "TIMED_OUT",
            ErrorType::Error => "ERROR",
        }
    }

    fn status(self) -> StatusCode {
        match self {
            ErrorType::Unauthenticated => StatusCode::UNAUTHORIZED,
            ErrorType::Unauthorized => StatusCode::FORBIDDEN,
            ErrorType::NotFound | ErrorType::OperationNotFound => StatusCode::NOT_FOUND,
            ErrorType::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorType::TimedOut => StatusCode::GATEWAY_TIMEOUT,
            ErrorType::Error => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    fn for_status(status: StatusCode) -> ErrorType {
        match status {
            StatusCode::UNAUTHORIZED => ErrorType::Unauthenticated,
            StatusCode::FORBIDDEN => ErrorType::Unauthorized,
            StatusCode::NOT_FOUND => ErrorType::NotFound,
            StatusCode::TOO_MANY_REQUESTS => ErrorType::ResourceBusy,
            StatusCode::SERVICE_UNAVAILABLE => ErrorType::ServiceUnavailable,
            StatusCode::GATEWAY_TIMEOUT => ErrorType::TimedOut,
            s if s.is_server_error() => ErrorType::Error,
            _ => ErrorType::InvalidArgument,
        }
    }
}

/// A refused or failed vCenter request.
#[derive(Debug, thiserror::Error)]
#[error("vCenter {}: {message}", error_type.name())]
pub(crate) struct VcError {
    error_type: ErrorType,
    message_id: &'static str,
    message: String,
    #[source]
    source: Option<Box<StoreError>>,
}

impl VcError {
    /// An error of `error_type` with a message id (`com.vmware.…`) and text.
    pub(crate) fn new(
        error_type: ErrorType,
        message_id: &'static str,
        message: impl Into<String>,
    ) -> VcError {
        VcError { error_type, message_id, message: message.into(), source: None }
    }

    /// 404 NOT_FOUND for an object of `what` with `id`.
    pub(crate) fn not_found(what: &str, id: &str) -> VcError {
        VcError::new(
            ErrorType::NotFound,
            "com.vmware.api.vcenter.not_found",
            format!("{what} with identifier {id} does not exist."),
        )
    }

    /// 400 INVALID_ARGUMENT.
    pub(crate) fn invalid(message: impl Into<String>) -> VcError {
        VcError::new(ErrorType::InvalidArgument, "com.vmware.api.vcenter.invalid_argument", message)
    }

    /// 401 UNAUTHENTICATED: no live session (or wrong credentials for a login).
    pub(crate) fn unauthenticated(message: impl Into<String>) -> VcError {
        VcError::new(ErrorType::Unauthenticated, "vapi.method.authentication.required", message)
    }

    /// The error type.
    pub(crate) fn error_type(&self) -> ErrorType {
        self.error_type
    }

    /// The message id (`com.vmware.…`).
    pub(crate) fn message_id(&self) -> &'static str {
        self.message_id
    }

    /// The message text.
    pub(crate) fn message(&self) -> &str {
        &self.message
    }

    /// Logs the simulator fault behind this error, if there is one; callers rendering
    /// the error call it once.
    pub(crate) fn log_source(&self) {
        if let Some(source) = &self.source {
            tracing::error!(error = &**source as &dyn std::error::Error, "vCenter simulator request failed");
        }
    }
}

impl From<StoreError> for VcError {
    fn from(source: StoreError) -> VcError {
        VcError {
            error_type: ErrorType::Error,
            message_id: "com.vmware.api.vcenter.internal",
            message: "The simulator's world database failed.".into(),
            source: Some(Box::new(source)),
        }
    }
}

impl IntoResponse for VcError {
    fn into_response(self) -> Response {
        self.log_source();
        body(self.error_type, self.message_id, &self.message)
    }
}

/// The vCenter error body for `status`; used for faults and authentication failures.
pub(crate) fn render(status: StatusCode, message: &str) -> Response {
    let error_type = ErrorType::for_status(status);
    let mut response = body(error_type, "com.vmware.api.vcenter.sim", message);
    *response.status_mut() = status;
    response
}

fn body(error_type: ErrorType, message_id: &str, message: &str) -> Response {
    let body = json!({
        "error_type": error_type.name(),
        "messages": [{"id": message_id, "default_message": message, "args": []}],
        "data": null,
    });
    (error_type.status(), axum::Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_documented_table() {
        assert_eq!(ErrorType::NotAllowedInCurrentState.status(), StatusCode::BAD_REQUEST);
        assert_eq!(ErrorType::Unauthenticated.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(ErrorType::ServiceUnavailable.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            render(StatusCode::TOO_MANY_REQUESTS, "slow down").status(),
            StatusCode::TOO_MANY_REQUESTS
        );
    }
}
