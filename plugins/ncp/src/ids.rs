//! Deterministic NSX ids and the tags that carry the Kubernetes identity.
//!
//! An id is a function of the Kubernetes object it serves (namespace and
//! name, plus a short hash so that `a-b/c` and `a/b-c` never meet), so every
//! attempt, before or after a restart, addresses the same NSX object: a
//! retry finishes or finds what an earlier one made, it never makes a twin.
//! The tags say whom an object serves (namespace, guest cluster, owning
//! Kubernetes object), so objects can be counted and found by identity.

use sha2::{Digest, Sha256};

use crate::nsx::Tag;

/// Tag scope: the Supervisor namespace.
pub const NAMESPACE_SCOPE: &str = "wasmvisor/namespace";
/// Tag scope: the guest cluster the object serves, when it serves one.
pub const CLUSTER_SCOPE: &str = "wasmvisor/cluster";
/// Tag scope: the Kubernetes object the NSX object exists for, `Kind/ns/name`.
pub const OWNER_SCOPE: &str = "wasmvisor/owner";

/// `<namespace>-<name>-<8 hex digits of a hash of both>`.
pub fn base(namespace: &str, name: &str) -> String {
    let digest = Sha256::digest(format!("{namespace}/{name}").as_bytes());
    let hash: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("{namespace}-{name}-{hash}")
}

/// The identity tags of an NSX object made for `kind` `namespace/name`,
/// serving guest cluster `cluster` if known.
pub fn tags(kind: &str, namespace: &str, name: &str, cluster: Option<&str>) -> Vec<Tag> {
    let mut tags = vec![
        (NAMESPACE_SCOPE.to_owned(), namespace.to_owned()),
        (OWNER_SCOPE.to_owned(), format!("{kind}/{namespace}/{name}")),
    ];
    if let Some(cluster) = cluster.filter(|c| !c.is_empty()) {
        tags.push((CLUSTER_SCOPE.to_owned(), cluster.to_owned()));
    }
    tags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_never_collide_across_the_dash() {
        assert_eq!(base("ns1", "tkc1-vnet"), base("ns1", "tkc1-vnet"));
        assert_ne!(base("a-b", "c"), base("a", "b-c"));
        assert!(base("ns1", "tkc1-vnet").starts_with("ns1-tkc1-vnet-"));
    }

    #[test]
    fn tags_name_namespace_owner_and_cluster() {
        let tags = tags("VirtualNetwork", "ns1", "tkc1-vnet", Some("tkc1"));
        assert_eq!(tags[1], (OWNER_SCOPE.to_owned(), "VirtualNetwork/ns1/tkc1-vnet".to_owned()));
        assert_eq!(tags[2], (CLUSTER_SCOPE.to_owned(), "tkc1".to_owned()));
        assert_eq!(self::tags("Service", "ns1", "s", None).len(), 2);
    }
}
