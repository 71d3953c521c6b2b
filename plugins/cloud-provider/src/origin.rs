//! Which guest cluster a reconcile comes from, read off the cluster name
//! the host gives the target: a member of the dynamic source, named
//! `<source>/<supervisor namespace>/<cluster>-kubeconfig`.

use wasmvisor_sdk::{Context, Error};

/// The Supervisor cluster's name in the host config.
pub const SUPERVISOR: &str = "default";

/// The suffix Cluster API gives a cluster's kubeconfig Secret.
const KUBECONFIG_SUFFIX: &str = "-kubeconfig";

/// A guest cluster, as the Supervisor knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// Its Supervisor namespace (where its VM services go).
    pub namespace: String,
    /// Its name (the TKC's).
    pub cluster: String,
}

impl Origin {
    /// The guest cluster `ctx`'s target lives in.
    pub fn of(ctx: &Context) -> Result<Self, Error> {
        Self::parse(ctx.cluster())
    }

    /// Parses `<source>/<namespace>/<cluster>-kubeconfig`.
    pub fn parse(member: &str) -> Result<Self, Error> {
        let mut parts = member.splitn(3, '/');
        let (Some(_source), Some(namespace), Some(secret)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(Error::Invalid(format!(
                "cluster {member:?} is not a guest cluster; cloud-provider watches a kubeconfig-secrets source"
            )));
        };
        let cluster = secret.strip_suffix(KUBECONFIG_SUFFIX).unwrap_or(secret);
        Ok(Self { namespace: namespace.to_owned(), cluster: cluster.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_name_gives_namespace_and_cluster() {
        let origin = Origin::parse("guests/tkgs-ns/tkgs-cluster-1-kubeconfig").unwrap();
        assert_eq!(origin, Origin { namespace: "tkgs-ns".into(), cluster: "tkgs-cluster-1".into() });
        assert!(Origin::parse("default").is_err());
    }
}
