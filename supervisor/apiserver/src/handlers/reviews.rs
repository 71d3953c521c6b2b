//! The review kinds, answered and never stored: SelfSubjectReview (`kubectl auth whoami`),
//! SelfSubjectAccessReview and SelfSubjectRulesReview (`kubectl auth can-i`).
//!
//! After routing and authorization, in place of the object verbs. Invariant: only `create`
//! is served, and the answer is about the user the request runs as (after impersonation).

use axum::body::Body;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use serde_json::json;

use super::body::{BodyKind, decode_object, read_body};
use super::json_response;
use crate::auth::User;
use crate::context::Context;
use crate::pipeline;
use crate::request::{ResourcePath, Verb};
use crate::resource::Resource;
use crate::status::ApiError;

/// A request for one of the review kinds, once routed and authorized.
pub(super) struct Review<'a> {
    pub(super) ctx: &'a Context,
    pub(super) user: User,
    pub(super) resource: &'a Resource,
    pub(super) path: &'a ResourcePath,
    pub(super) method: &'a Method,
    pub(super) headers: &'a HeaderMap,
    pub(super) verb: Verb,
}

impl Review<'_> {
    /// SelfSubjectReview: who this request runs as.
    pub(super) async fn self_subject(self, body: Body) -> Result<Response, ApiError> {
        if self.verb != Verb::Create {
            return Err(ApiError::method_not_allowed(self.method.as_str()));
        }
        let bytes = read_body(self.ctx, self.headers, body, BodyKind::Object).await?;
        let mut review = decode_object(self.headers, &bytes)?;
        pipeline::check_identity(self.resource, self.path, &mut review)?;
        review["metadata"] = json!({"creationTimestamp": null});
        review["status"] = json!({"userInfo": self.user.user_info()});
        Ok(json_response(StatusCode::CREATED, &review, &[]))
    }

    /// SelfSubjectAccessReview and SelfSubjectRulesReview: what RBAC allows this user.
    pub(super) async fn access(self, body: Body) -> Result<Response, ApiError> {
        if self.verb != Verb::Create {
            return Err(ApiError::method_not_allowed(self.method.as_str()));
        }
        let bytes = read_body(self.ctx, self.headers, body, BodyKind::Object).await?;
        let review = decode_object(self.headers, &bytes)?;
        let store = self.ctx.store.clone();
        let rules = self.resource.kind == "SelfSubjectRulesReview";
        let user = self.user;
        let answered = if rules {
            crate::rbac::rules_review(&store, &user, review)?
        } else {
            crate::rbac::review(&store, &user, review)?
        };
        Ok(json_response(StatusCode::CREATED, &answered, &[]))
    }
}
