//! Authorization as Kubernetes' RBAC authorizer decides it.
//!
//! In: who asks ([`User`]) and what for ([`Attributes`]: verb, API group, resource,
//! subresource, namespace, name; or a non-resource path). Out: a [`Decision`], and for a
//! refusal the 403 `Status` naming user, verb and resource ([`forbidden`]).
//!
//! The rules:
//! - `system:masters` may do everything (the admin token's user is in it).
//! - Every authenticated user may read discovery and OpenAPI paths and create
//!   SelfSubjectAccessReviews, SelfSubjectRulesReviews and SelfSubjectReviews (what
//!   `system:discovery` and `system:basic-user` grant in a real cluster; here they are
//!   built in rather than stored).
//! - The same rules decide `impersonate` (on users, groups, serviceaccounts, userextras,
//!   uids), which [`crate::impersonation`] asks for before a request runs as someone else.
//! - Otherwise a request is allowed when a ClusterRoleBinding, or a RoleBinding in the
//!   request's namespace, binds the user (by name, group or ServiceAccount) to a role with a
//!   rule matching verb, API group, `resource[/subresource]` and (when the rule lists them)
//!   resource names. RoleBindings may refer to Roles of their namespace or to ClusterRoles.
//!   There is no deny and no aggregation.
//!
//! Roles and bindings are read from storage at each decision, so a change applies to the
//! next request. Every server starts with the `cluster-admin` ClusterRole bound to
//! `system:masters`, as a real cluster does (see [`crate::server`]).

pub mod tokens;

use serde_json::{Value, json};

use crate::auth::User;
use crate::status::{ApiError, Cause};
use crate::storage::{ObjectKey, StorageError, Store};

/// The group everything is allowed to.
pub const MASTERS: &str = "system:masters";
const RBAC: &str = "rbac.authorization.k8s.io";

/// What a request does, as RBAC sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attributes {
    /// get, list, watch, create, update, patch, delete, deletecollection.
    pub verb: String,
    /// API group, empty for core.
    pub group: String,
    /// Plural resource; empty for a non-resource request.
    pub resource: String,
    /// Subresource (`status`, `token`), or empty.
    pub subresource: String,
    /// Namespace, empty for cluster-scoped requests.
    pub namespace: String,
    /// Object name, or empty.
    pub name: String,
    /// For non-resource requests: the URL path.
    pub path: String,
}

/// The answer for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// Which binding allowed it (empty when refused).
    pub reason: String,
}

impl Decision {
    fn allow(reason: impl Into<String>) -> Decision {
        Decision { allowed: true, reason: reason.into() }
    }
}

fn text<'a>(value: &'a Value, field: &str) -> &'a str {
    value.get(field).and_then(Value::as_str).unwrap_or("")
}

fn strings<'a>(rule: &'a Value, field: &str) -> impl Iterator<Item = &'a str> {
    rule.get(field).and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str)
}

/// Whether `rule` (one entry of a role's `rules`) allows `attrs`.
pub fn rule_allows(rule: &Value, attrs: &Attributes) -> bool {
    if !strings(rule, "verbs").any(|v| v == "*" || v == attrs.verb) {
        return false;
    }
    if attrs.resource.is_empty() {
        return strings(rule, "nonResourceURLs").any(|url| match url.strip_suffix('*') {
            Some(prefix) => attrs.path.starts_with(prefix),
            None => url == attrs.path,
        });
    }
    if !strings(rule, "apiGroups").any(|g| g == "*" || g == attrs.group) {
        return false;
    }
    let combined = if attrs.subresource.is_empty() {
        attrs.resource.clone()
    } else {
        format!("{}/{}", attrs.resource, attrs.subresource)
    };
    let resource_ok = strings(rule, "resources").any(|r| {
        r == "*"
            || r == combined
            || (!attrs.subresource.is_empty() && r.strip_prefix("*/") == Some(attrs.subresource.as_str()))
    });
    if !resource_ok {
        return false;
    }
    let mut names = strings(rule, "resourceNames").peekable();
    names.peek().is_none() || (!attrs.name.is_empty() && names.any(|n| n == attrs.name))
}

/// Whether `subject` (one entry of a binding's `subjects`) is `user`.
fn subject_matches(subject: &Value, binding_namespace: &str, user: &User) -> bool {
    let name = text(subject, "name");
    match text(subject, "kind") {
        "User" => name == user.name,
        "Group" => user.groups.iter().any(|g| g == name),
        "ServiceAccount" => {
            let ns = match text(subject, "namespace") {
                "" => binding_namespace,
                ns => ns,
            };
            user.name == format!("system:serviceaccount:{ns}:{name}")
        }
        _ => false,
    }
}

fn is_discovery(path: &str) -> bool {
    matches!(path, "/api" | "/apis" | "/version" | "/healthz" | "/livez" | "/readyz" | "/openapi/v2")
        || ["/api/", "/apis/", "/openapi/"].iter().any(|p| path.starts_with(p))
}

/// Decides whether `user` may do `attrs`, reading roles and bindings from `store`.
pub fn authorize(store: &Store, user: &User, attrs: &Attributes) -> Result<Decision, StorageError> {
    if user.groups.iter().any(|g| g == MASTERS) {
        return Ok(Decision::allow(format!("{} is in {MASTERS}", user.name)));
    }
    if attrs.resource.is_empty() && attrs.verb == "get" && is_discovery(&attrs.path) {
        return Ok(Decision::allow("discovery is open to authenticated users"));
    }
    let self_review = match attrs.group.as_str() {
        "authorization.k8s.io" => {
            matches!(attrs.resource.as_str(), "selfsubjectaccessreviews" | "selfsubjectrulesreviews")
        }
        "authentication.k8s.io" => attrs.resource == "selfsubjectreviews",
        _ => false,
    };
    if self_review && attrs.verb == "create" {
        return Ok(Decision::allow("every user may review its own identity and access"));
    }
    let allowed = for_each_rule(store, user, &attrs.namespace, |rule| rule_allows(rule, attrs))?;
    Ok(match allowed {
        Some(reason) => Decision::allow(reason),
        None => Decision { allowed: false, reason: String::new() },
    })
}

/// Walks the rules bound to `user` (cluster-wide, then in `namespace`) until `stop` returns
/// true; returns which binding's rule stopped it.
fn for_each_rule(
    store: &Store,
    user: &User,
    namespace: &str,
    mut stop: impl FnMut(&Value) -> bool,
) -> Result<Option<String>, StorageError> {
    let cluster_roles = format!("{RBAC}/clusterroles");
    let role_rules = |resource: &str, namespace: &str, name: &str| -> Result<Vec<Value>, StorageError> {
        let key = ObjectKey {
            resource: resource.to_owned(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        };
        Ok(store
            .get(&key)?
            .and_then(|role| role.get("rules").and_then(Value::as_array).cloned())
            .unwrap_or_default())
    };
    let bindings = store.list(&format!("{RBAC}/clusterrolebindings"), None)?;
    for binding in &bindings.items {
        let bound = binding.get("subjects").and_then(Value::as_array).into_iter().flatten();
        if !bound.clone().any(|s| subject_matches(s, "", user)) {
            continue;
        }
        let role = binding.pointer("/roleRef/name").and_then(Value::as_str).unwrap_or("");
        if role_rules(&cluster_roles, "", role)?.iter().any(&mut stop) {
            let name = binding.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
            return Ok(Some(format!(
                "RBAC: allowed by ClusterRoleBinding \"{name}\" of ClusterRole \"{role}\" to {}",
                user.name
            )));
        }
    }
    if !namespace.is_empty() {
        let bindings = store.list(&format!("{RBAC}/rolebindings"), Some(namespace))?;
        for binding in &bindings.items {
            let bound = binding.get("subjects").and_then(Value::as_array).into_iter().flatten();
            if !bound.clone().any(|s| subject_matches(s, namespace, user)) {
                continue;
            }
            let role = binding.pointer("/roleRef/name").and_then(Value::as_str).unwrap_or("");
            let kind = binding.pointer("/roleRef/kind").and_then(Value::as_str).unwrap_or("");
            let rules = match kind {
                "Role" => role_rules(&format!("{RBAC}/roles"), namespace, role)?,
                "ClusterRole" => role_rules(&cluster_roles, "", role)?,
                _ => Vec::new(),
            };
            if rules.iter().any(&mut stop) {
                let name = binding.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
                return Ok(Some(format!(
                    "RBAC: allowed by RoleBinding \"{name}/{namespace}\" of {kind} \"{role}\" to {}",
                    user.name
                )));
            }
        }
    }
    Ok(None)
}

/// Answers a SelfSubjectRulesReview body for `user`: every rule bound to it in
/// `spec.namespace` (and cluster-wide), plus the built-in grants.
pub fn rules_review(store: &Store, user: &User, mut body: Value) -> Result<Value, ApiError> {
    let namespace = body.pointer("/spec/namespace").and_then(Value::as_str).unwrap_or("").to_owned();
    let mut resource_rules = vec![
        json!({"verbs": ["create"], "apiGroups": ["authorization.k8s.io"],
            "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]}),
        json!({"verbs": ["create"], "apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"]}),
    ];
    let mut non_resource_rules =
        vec![json!({"verbs": ["get"], "nonResourceURLs": ["/api", "/api/*", "/apis",
        "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*", "/readyz", "/version"]})];
    for_each_rule(store, user, &namespace, |rule| {
        let pick = |fields: &[&str]| {
            let mut out = serde_json::Map::new();
            for field in fields {
                out.insert((*field).to_owned(), rule.get(*field).cloned().unwrap_or_else(|| json!([])));
            }
            Value::Object(out)
        };
        if rule.get("nonResourceURLs").and_then(Value::as_array).is_some_and(|u| !u.is_empty()) {
            non_resource_rules.push(pick(&["verbs", "nonResourceURLs"]));
        } else {
            resource_rules.push(pick(&["verbs", "apiGroups", "resources", "resourceNames"]));
        }
        false
    })?;
    body["status"] =
        json!({"resourceRules": resource_rules, "nonResourceRules": non_resource_rules, "incomplete": false});
    body["apiVersion"] = json!("authorization.k8s.io/v1");
    body["kind"] = json!("SelfSubjectRulesReview");
    if !body.get("metadata").is_some_and(Value::is_object) {
        body["metadata"] = json!({});
    }
    body["metadata"]["creationTimestamp"] = Value::Null;
    Ok(body)
}

/// The 403 for a refused request, worded as kube-apiserver words it.
pub fn forbidden(user: &User, attrs: &Attributes) -> ApiError {
    if attrs.resource.is_empty() {
        return ApiError {
            code: 403,
            reason: "Forbidden",
            message: format!(
                "forbidden: User \"{}\" cannot {} path \"{}\"",
                user.name, attrs.verb, attrs.path
            ),
            details: Some(json!({})),
            continue_token: None,
        };
    }
    let resource = if attrs.subresource.is_empty() {
        attrs.resource.clone()
    } else {
        format!("{}/{}", attrs.resource, attrs.subresource)
    };
    let qualified = if attrs.group.is_empty() {
        attrs.resource.clone()
    } else {
        format!("{}.{}", attrs.resource, attrs.group)
    };
    let object = if attrs.name.is_empty() { qualified } else { format!("{qualified} \"{}\"", attrs.name) };
    let scope = if attrs.namespace.is_empty() {
        "at the cluster scope".to_owned()
    } else {
        format!("in the namespace \"{}\"", attrs.namespace)
    };
    ApiError {
        code: 403,
        reason: "Forbidden",
        message: format!(
            "{object} is forbidden: User \"{}\" cannot {} resource \"{resource}\" in API group \"{}\" {scope}",
            user.name, attrs.verb, attrs.group
        ),
        details: Some(json!({"name": attrs.name, "group": attrs.group, "kind": attrs.resource})),
        continue_token: None,
    }
}

/// Answers a SelfSubjectAccessReview body for `user`: the review with `status` filled in.
pub fn review(store: &Store, user: &User, mut body: Value) -> Result<Value, ApiError> {
    let attrs = if let Some(spec) = body.pointer("/spec/resourceAttributes") {
        Attributes {
            verb: text(spec, "verb").to_owned(),
            group: text(spec, "group").to_owned(),
            resource: text(spec, "resource").to_owned(),
            subresource: text(spec, "subresource").to_owned(),
            namespace: text(spec, "namespace").to_owned(),
            name: text(spec, "name").to_owned(),
            path: String::new(),
        }
    } else if let Some(spec) = body.pointer("/spec/nonResourceAttributes") {
        Attributes {
            verb: text(spec, "verb").to_owned(),
            path: text(spec, "path").to_owned(),
            ..Attributes::default()
        }
    } else {
        let cause = Cause::required("spec.resourceAttributes");
        return Err(ApiError::invalid(
            "SelfSubjectAccessReview",
            crate::status::Subject {
                group: "authorization.k8s.io",
                resource: "selfsubjectaccessreviews",
                name: "",
            },
            &[Cause {
                message: "exactly one of nonResourceAttributes or resourceAttributes must be specified"
                    .into(),
                ..cause
            }],
        ));
    };
    let decision = authorize(store, user, &attrs)?;
    let mut status = json!({"allowed": decision.allowed});
    if !decision.reason.is_empty() {
        status["reason"] = json!(decision.reason);
    }
    body["status"] = status;
    body["apiVersion"] = json!("authorization.k8s.io/v1");
    body["kind"] = json!("SelfSubjectAccessReview");
    if !body.get("metadata").is_some_and(Value::is_object) {
        body["metadata"] = json!({});
    }
    body["metadata"]["creationTimestamp"] = Value::Null;
    Ok(body)
}

/// Validates the `rules` of a Role or ClusterRole.
pub fn validate_rules(object: &Value, causes: &mut Vec<Cause>) {
    for (i, rule) in object.get("rules").and_then(Value::as_array).into_iter().flatten().enumerate() {
        let field = format!("rules[{i}]");
        if strings(rule, "verbs").next().is_none() {
            causes.push(Cause::required(format!("{field}.verbs")));
        }
        let has_resources = strings(rule, "resources").next().is_some();
        let has_urls = strings(rule, "nonResourceURLs").next().is_some();
        if has_resources && rule.get("apiGroups").and_then(Value::as_array).is_none() {
            causes.push(Cause::required(format!("{field}.apiGroups")));
        }
        if !has_resources && !has_urls {
            causes.push(Cause::required(format!("{field}.resources")));
        }
        if has_urls
            && object.pointer("/metadata/namespace").and_then(Value::as_str).is_some_and(|n| !n.is_empty())
        {
            causes.push(Cause::invalid(
                format!("{field}.nonResourceURLs"),
                &rule["nonResourceURLs"],
                "namespaced rules cannot apply to non-resource URLs",
            ));
        }
    }
}

/// Validates a RoleBinding (`namespaced`) or ClusterRoleBinding; `roleRef` is immutable.
pub fn validate_binding(namespaced: bool, object: &Value, old: Option<&Value>, causes: &mut Vec<Cause>) {
    let role_ref = object.get("roleRef").cloned().unwrap_or(Value::Null);
    if role_ref.is_null() {
        causes.push(Cause::required("roleRef"));
    } else {
        if text(&role_ref, "apiGroup") != RBAC {
            causes.push(Cause::not_supported("roleRef.apiGroup", &role_ref["apiGroup"], &[RBAC]));
        }
        let kinds: &[&str] = if namespaced { &["Role", "ClusterRole"] } else { &["ClusterRole"] };
        if !kinds.contains(&text(&role_ref, "kind")) {
            causes.push(Cause::not_supported("roleRef.kind", &role_ref["kind"], kinds));
        }
        if text(&role_ref, "name").is_empty() {
            causes.push(Cause::required("roleRef.name"));
        }
    }
    if let Some(old_ref) = old.and_then(|o| o.get("roleRef"))
        && *old_ref != role_ref
    {
        causes.push(Cause::invalid("roleRef", &role_ref, "cannot change roleRef"));
    }
    for (i, subject) in object.get("subjects").and_then(Value::as_array).into_iter().flatten().enumerate() {
        let kind = text(subject, "kind");
        if !["ServiceAccount", "User", "Group"].contains(&kind) {
            causes.push(Cause::not_supported(
                format!("subjects[{i}].kind"),
                &subject["kind"],
                &["ServiceAccount", "User", "Group"],
            ));
        }
        if text(subject, "name").is_empty() {
            causes.push(Cause::required(format!("subjects[{i}].name")));
        }
        if kind == "ServiceAccount" && !namespaced && text(subject, "namespace").is_empty() {
            causes.push(Cause::required(format!("subjects[{i}].namespace")));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader() -> User {
        User {
            name: "system:serviceaccount:team:reader".into(),
            groups: vec!["system:serviceaccounts".into(), "system:authenticated".into()],
            ..User::default()
        }
    }

    fn attrs(verb: &str, resource: &str, namespace: &str) -> Attributes {
        Attributes {
            verb: verb.into(),
            resource: resource.into(),
            namespace: namespace.into(),
            ..Attributes::default()
        }
    }

    #[test]
    fn rules_match_verb_group_resource_and_names() {
        let rule = json!({"verbs": ["get", "list"], "apiGroups": [""], "resources": ["configmaps"]});
        assert!(rule_allows(&rule, &attrs("list", "configmaps", "team")));
        assert!(!rule_allows(&rule, &attrs("delete", "configmaps", "team")));
        assert!(!rule_allows(&rule, &attrs("get", "secrets", "team")));
        let named =
            json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*/status"], "resourceNames": ["a"]});
        let mut status = attrs("update", "widgets", "team");
        status.subresource = "status".into();
        assert!(!rule_allows(&named, &status));
        status.name = "a".into();
        assert!(rule_allows(&named, &status));
        let urls = json!({"verbs": ["get"], "nonResourceURLs": ["/metrics*"]});
        let path = Attributes { verb: "get".into(), path: "/metrics/x".into(), ..Attributes::default() };
        assert!(rule_allows(&urls, &path));
    }

    #[test]
    fn service_account_subjects_default_to_the_binding_namespace() {
        let subject = json!({"kind": "ServiceAccount", "name": "reader"});
        assert!(subject_matches(&subject, "team", &reader()));
        assert!(!subject_matches(&subject, "other", &reader()));
        assert!(subject_matches(&json!({"kind": "Group", "name": "system:serviceaccounts"}), "", &reader()));
    }

    #[test]
    fn forbidden_names_user_verb_and_resource() {
        let error = forbidden(&reader(), &attrs("list", "configmaps", "other"));
        assert_eq!(error.code, 403);
        assert_eq!(
            error.message,
            "configmaps is forbidden: User \"system:serviceaccount:team:reader\" cannot list resource \"configmaps\" in API group \"\" in the namespace \"other\""
        );
        let mut cluster = attrs("get", "clusterroles", "");
        cluster.group = RBAC.into();
        cluster.name = "admin".into();
        assert!(forbidden(&reader(), &cluster).message.starts_with(
            "clusterroles.rbac.authorization.k8s.io \"admin\" is forbidden: User \"system:serviceaccount:team:reader\" cannot get resource \"clusterroles\" in API group \"rbac.authorization.k8s.io\" at the cluster scope"
        ));
    }

    #[test]
    fn bindings_validate_and_keep_their_role() {
        let binding = json!({"roleRef": {"apiGroup": RBAC, "kind": "Role", "name": "r"},
            "subjects": [{"kind": "ServiceAccount", "name": "sa"}]});
        let mut causes = Vec::new();
        validate_binding(true, &binding, None, &mut causes);
        assert!(causes.is_empty(), "{causes:?}");
        validate_binding(false, &binding, None, &mut causes);
        assert_eq!(
            causes.iter().map(|c| c.field.as_str()).collect::<Vec<_>>(),
            ["roleRef.kind", "subjects[0].namespace"]
        );
        let mut changed = binding.clone();
        changed["roleRef"]["name"] = json!("other");
        let mut causes = Vec::new();
        validate_binding(true, &changed, Some(&binding), &mut causes);
        assert_eq!(
            causes[0].message,
            "Invalid value: {\"apiGroup\":\"rbac.authorization.k8s.io\",\"kind\":\"Role\",\"name\":\"other\"}: cannot change roleRef"
        );
    }
}
