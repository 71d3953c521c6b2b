//! Impersonation (`kubectl --as`, `--as-group`, `--as-uid`): `Impersonate-*` headers make an
//! authenticated request run as another user, if RBAC lets the caller `impersonate` each
//! part of that identity.
//!
//! In: the request headers. Out: the identity asked for ([`Requested`]), the
//! `impersonate` checks it needs ([`Requested::checks`]) and the user the request then runs
//! as ([`Requested::user`]). As kube-apiserver's impersonation filter does it: one check
//! per part, in the order user (or ServiceAccount), groups, extras, uid; a ServiceAccount
//! user name (`system:serviceaccount:NS:NAME`) is checked as `serviceaccounts` NAME in
//! namespace NS and gets the ServiceAccount groups unless groups are given; every
//! impersonated user is in `system:authenticated` (`system:anonymous` in
//! `system:unauthenticated` instead). Without this step the headers would be ignored and
//! `kubectl auth can-i --as` would answer for the caller, not for the user it names.

use std::collections::BTreeMap;

use axum::http::HeaderMap;

use crate::auth::User;
use crate::rbac::Attributes;

const USER: &str = "impersonate-user";
const GROUP: &str = "impersonate-group";
const UID: &str = "impersonate-uid";
const EXTRA_PREFIX: &str = "impersonate-extra-";
const SERVICE_ACCOUNT_PREFIX: &str = "system:serviceaccount:";
const AUTHENTICATED: &str = "system:authenticated";
const UNAUTHENTICATED: &str = "system:unauthenticated";
const ANONYMOUS: &str = "system:anonymous";
const AUTHENTICATION: &str = "authentication.k8s.io";

/// Why the `Impersonate-*` headers name no identity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// Groups, extras or a uid were asked for without `Impersonate-User`.
    #[error("requested {0} without impersonating a user")]
    NoUser(&'static str),
    /// A header value is not text.
    #[error("the {0} header is not valid text")]
    NotText(String),
    /// An `Impersonate-Extra-` key is not valid percent-encoding.
    #[error("the extra key in header {0} is not valid percent-encoding")]
    BadExtraKey(String),
}

/// The identity a request asks to run as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requested {
    /// `Impersonate-User`.
    pub user: String,
    /// `Impersonate-Group`, in header order.
    pub groups: Vec<String>,
    /// `Impersonate-Uid`.
    pub uid: Option<String>,
    /// `Impersonate-Extra-KEY` values, keys percent-decoded and lower case.
    pub extra: BTreeMap<String, Vec<String>>,
}

fn text(name: &str, value: &axum::http::HeaderValue) -> Result<String, HeaderError> {
    value.to_str().map(str::to_owned).map_err(|_| HeaderError::NotText(name.to_owned()))
}

/// Reads the `Impersonate-*` headers: `None` when there are none.
pub fn requested(headers: &HeaderMap) -> Result<Option<Requested>, HeaderError> {
    let user = headers.get(USER).map(|v| text(USER, v)).transpose()?;
    let groups = headers.get_all(GROUP).iter().map(|v| text(GROUP, v)).collect::<Result<Vec<_>, _>>()?;
    let uid = headers.get(UID).map(|v| text(UID, v)).transpose()?;
    let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in headers {
        if let Some(key) = name.as_str().strip_prefix(EXTRA_PREFIX) {
            let key = percent_decode(key).ok_or_else(|| HeaderError::BadExtraKey(name.to_string()))?;
            extra.entry(key.to_lowercase()).or_default().push(text(name.as_str(), value)?);
        }
    }
    let Some(user) = user else {
        return match (groups.is_empty(), extra.is_empty(), uid.is_none()) {
            (true, true, true) => Ok(None),
            (false, _, _) => Err(HeaderError::NoUser("groups")),
            (_, false, _) => Err(HeaderError::NoUser("extra")),
            _ => Err(HeaderError::NoUser("uid")),
        };
    };
    Ok(Some(Requested { user, groups, uid, extra }))
}

/// `(namespace, name)` when `user` is a ServiceAccount's user name.
fn service_account(user: &str) -> Option<(&str, &str)> {
    let (namespace, name) = user.strip_prefix(SERVICE_ACCOUNT_PREFIX)?.split_once(':')?;
    (!namespace.is_empty() && !name.is_empty() && !name.contains(':')).then_some((namespace, name))
}

fn check(group: &str, resource: &str, subresource: &str, namespace: &str, name: &str) -> Attributes {
    Attributes {
        verb: "impersonate".to_owned(),
        group: group.to_owned(),
        resource: resource.to_owned(),
        subresource: subresource.to_owned(),
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        path: String::new(),
    }
}

impl Requested {
    /// The `impersonate` requests RBAC must allow the caller, in kube-apiserver's order.
    pub fn checks(&self) -> Vec<Attributes> {
        let mut checks = vec![match service_account(&self.user) {
            Some((namespace, name)) => check("", "serviceaccounts", "", namespace, name),
            None => check("", "users", "", "", &self.user),
        }];
        checks.extend(self.groups.iter().map(|g| check("", "groups", "", "", g)));
        for (key, values) in &self.extra {
            checks.extend(values.iter().map(|v| check(AUTHENTICATION, "userextras", key, "", v)));
        }
        checks.extend(self.uid.iter().map(|uid| check(AUTHENTICATION, "uids", "", "", uid)));
        checks
    }

    /// The user the request runs as once every check passed.
    pub fn user(&self) -> User {
        let mut groups = self.groups.clone();
        if groups.is_empty()
            && let Some((namespace, _)) = service_account(&self.user)
        {
            groups = vec!["system:serviceaccounts".to_owned(), format!("system:serviceaccounts:{namespace}")];
        }
        if self.user == ANONYMOUS {
            if !groups.iter().any(|g| g == UNAUTHENTICATED) {
                groups.push(UNAUTHENTICATED.to_owned());
            }
        } else if !groups.iter().any(|g| g == AUTHENTICATED || g == UNAUTHENTICATED) {
            groups.push(AUTHENTICATED.to_owned());
        }
        User { name: self.user.clone(), groups, uid: self.uid.clone(), extra: self.extra.clone() }
    }
}

/// Decodes `%XX` escapes (Go's `url.PathUnescape`, which kubectl's escaping mirrors).
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(), value.parse().unwrap());
        }
        map
    }

    fn resources(checks: &[Attributes]) -> Vec<(String, String, String, String)> {
        checks
            .iter()
            .map(|c| (c.resource.clone(), c.subresource.clone(), c.namespace.clone(), c.name.clone()))
            .collect()
    }

    #[test]
    fn no_headers_is_no_impersonation() {
        assert_eq!(requested(&headers(&[("authorization", "Bearer x")])), Ok(None));
    }

    #[test]
    fn a_service_account_is_checked_as_one_and_gets_its_groups() {
        let asked =
            requested(&headers(&[("Impersonate-User", "system:serviceaccount:team:bot")])).unwrap().unwrap();
        let checks = asked.checks();
        assert_eq!(resources(&checks), [("serviceaccounts".into(), "".into(), "team".into(), "bot".into())]);
        assert_eq!(checks[0].verb, "impersonate");
        assert_eq!(
            asked.user().groups,
            ["system:serviceaccounts", "system:serviceaccounts:team", "system:authenticated"]
        );
        // A malformed ServiceAccount name is an ordinary user name.
        let odd =
            requested(&headers(&[("Impersonate-User", "system:serviceaccount:team")])).unwrap().unwrap();
        assert_eq!(odd.checks()[0].resource, "users");
    }

    #[test]
    fn every_part_is_checked_in_order() {
        let asked = requested(&headers(&[
            ("Impersonate-User", "alice"),
            ("Impersonate-Group", "devs"),
            ("Impersonate-Group", "ops"),
            ("Impersonate-Extra-Scopes%2Fview", "read"),
            ("Impersonate-Uid", "1234"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            resources(&asked.checks()),
            [
                ("users".into(), "".into(), "".into(), "alice".into()),
                ("groups".into(), "".into(), "".into(), "devs".into()),
                ("groups".into(), "".into(), "".into(), "ops".into()),
                ("userextras".into(), "scopes/view".into(), "".into(), "read".into()),
                ("uids".into(), "".into(), "".into(), "1234".into()),
            ]
        );
        let user = asked.user();
        assert_eq!(user.groups, ["devs", "ops", "system:authenticated"]);
        assert_eq!(user.uid.as_deref(), Some("1234"));
        assert_eq!(user.extra["scopes/view"], ["read"]);
    }

    #[test]
    fn authenticated_is_added_unless_given_or_anonymous() {
        let user = |pairs: &[(&str, &str)]| requested(&headers(pairs)).unwrap().unwrap().user().groups;
        assert_eq!(user(&[("Impersonate-User", "bob")]), ["system:authenticated"]);
        assert_eq!(
            user(&[("Impersonate-User", "bob"), ("Impersonate-Group", "system:unauthenticated")]),
            ["system:unauthenticated"]
        );
        assert_eq!(user(&[("Impersonate-User", "system:anonymous")]), ["system:unauthenticated"]);
    }

    #[test]
    fn parts_without_a_user_are_refused() {
        assert_eq!(requested(&headers(&[("Impersonate-Group", "devs")])), Err(HeaderError::NoUser("groups")));
        assert_eq!(requested(&headers(&[("Impersonate-Uid", "1")])), Err(HeaderError::NoUser("uid")));
        assert_eq!(
            requested(&headers(&[("Impersonate-User", "a"), ("Impersonate-Extra-%zz", "v")])),
            Err(HeaderError::BadExtraKey("impersonate-extra-%zz".into()))
        );
    }
}
