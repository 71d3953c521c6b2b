//! Kinds a plugin reaches only by name: Namespaces and the RBAC objects.
//!
//! Creating, relabelling or deleting a Namespace touches everything in it,
//! and an RBAC object can hand anyone any right the host holds (a
//! ClusterRoleBinding to `cluster-admin`). A kube rule for these kinds must
//! list the object names it reaches ([`KubeRule::names`]); a rule that does
//! not is refused when the manifest or grant is read.
//!
//! [`KubeRule::names`]: crate::KubeRule::names

/// `(API group, kind)` of every kind reached only by name.
pub const KINDS: &[(&str, &str)] = &[
    ("", "Namespace"),
    ("rbac.authorization.k8s.io", "Role"),
    ("rbac.authorization.k8s.io", "RoleBinding"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
];

/// Whether objects of `api_version`/`kind` are reached only by name.
pub fn is_sensitive(api_version: &str, kind: &str) -> bool {
    let group = api_version.rsplit_once('/').map_or("", |(group, _)| group);
    KINDS.iter().any(|(g, k)| *g == group && *k == kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_and_rbac_kinds_are_sensitive_in_any_version() {
        assert!(is_sensitive("v1", "Namespace"));
        assert!(is_sensitive("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"));
        assert!(is_sensitive("rbac.authorization.k8s.io/v1beta1", "Role"));
        assert!(!is_sensitive("v1", "ConfigMap"));
        assert!(
            !is_sensitive("example.com/v1", "Namespace"),
            "a CRD of the same kind name is not the core one"
        );
    }
}
