//! Authentication: bearer tokens mapped to users.
//!
//! In: the `Authorization` header. Out: the [`User`] making the request, or 401. Part 1
//! knows one token, the admin's (in `system:masters`), kept in `DATA_DIR/admin.token` with
//! mode 0600 so a restart keeps the kubeconfig valid. ServiceAccount tokens are checked by
//! [`crate::rbac::tokens`] and the request handler (the account must still exist); their
//! user is [`User::service_account`]. `Impersonate-*` headers may then swap the user for
//! another ([`crate::impersonation`]).

use std::collections::BTreeMap;
use std::path::Path;

use axum::http::HeaderMap;
use rand::Rng;

/// Who is making a request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct User {
    /// User name.
    pub name: String,
    /// Groups, e.g. `system:masters`.
    pub groups: Vec<String>,
    /// A unique id, when the identity has one (a ServiceAccount's uid).
    pub uid: Option<String>,
    /// Extra attributes (from impersonation); RBAC does not read them.
    pub extra: BTreeMap<String, Vec<String>>,
}

/// Maps bearer tokens to users.
#[derive(Debug, Clone)]
pub struct Authenticator {
    admin_token: String,
}

/// The admin's user name.
pub const ADMIN_USER: &str = "wasmvisor-admin";

impl Authenticator {
    /// Loads the admin token from `path`, or creates a random one there (mode 0600).
    pub fn load_or_create(path: &Path) -> std::io::Result<Authenticator> {
        if let Ok(token) = std::fs::read_to_string(path) {
            let token = token.trim().to_owned();
            if token.len() >= 32 {
                return Ok(Authenticator { admin_token: token });
            }
        }
        let bytes: [u8; 32] = rand::rng().random();
        let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        wasmvisor_tls::write_private(path, token.as_bytes())?;
        Ok(Authenticator { admin_token: token })
    }

    /// The admin's bearer token (written into the kubeconfig).
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// The admin, if the request's `Authorization: Bearer` header carries the admin token.
    pub fn authenticate(&self, headers: &HeaderMap) -> Option<User> {
        let token = bearer(headers)?;
        if constant_time_eq(token.as_bytes(), self.admin_token.as_bytes()) {
            Some(User {
                name: ADMIN_USER.to_owned(),
                groups: vec!["system:masters".to_owned(), "system:authenticated".to_owned()],
                ..User::default()
            })
        } else {
            None
        }
    }
}

/// The bearer token of a request, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let header = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    Some(header.strip_prefix("Bearer ").or_else(|| header.strip_prefix("bearer "))?.trim())
}

impl User {
    /// The user of ServiceAccount `name` (with `uid`) in `namespace`, with the groups
    /// Kubernetes gives it.
    pub fn service_account(namespace: &str, name: &str, uid: &str) -> User {
        User {
            name: format!("system:serviceaccount:{namespace}:{name}"),
            groups: vec![
                "system:serviceaccounts".to_owned(),
                format!("system:serviceaccounts:{namespace}"),
                "system:authenticated".to_owned(),
            ],
            uid: Some(uid.to_owned()),
            extra: BTreeMap::new(),
        }
    }

    /// The `userInfo` of a SelfSubjectReview (`kubectl auth whoami`).
    pub fn user_info(&self) -> serde_json::Value {
        let mut info = serde_json::json!({"username": self.name, "groups": self.groups});
        if let Some(uid) = &self.uid {
            info["uid"] = serde_json::json!(uid);
        }
        if !self.extra.is_empty() {
            info["extra"] = serde_json::json!(self.extra);
        }
        info
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_admin_token_authenticates() {
        let dir = tempfile::tempdir().unwrap();
        let auth = Authenticator::load_or_create(&dir.path().join("t")).unwrap();
        let again = Authenticator::load_or_create(&dir.path().join("t")).unwrap();
        assert_eq!(auth.admin_token(), again.admin_token());
        let mut headers = HeaderMap::new();
        assert!(auth.authenticate(&headers).is_none());
        headers.insert("authorization", format!("Bearer {}", auth.admin_token()).parse().unwrap());
        assert_eq!(auth.authenticate(&headers).unwrap().name, ADMIN_USER);
        headers.insert("authorization", "Bearer nope".parse().unwrap());
        assert!(auth.authenticate(&headers).is_none());
    }
}
