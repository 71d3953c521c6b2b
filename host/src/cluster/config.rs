//! How the host config names a cluster and where its credentials come from.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// One cluster in the host config: `[clusters.NAME]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClusterConfig {
    /// Where the connection settings come from (the table itself, tagged
    /// by its `source` key).
    pub source: ClusterSource,
}

/// Where a cluster's connection settings come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", rename_all_fields = "kebab-case", tag = "source", deny_unknown_fields)]
pub enum ClusterSource {
    /// A kubeconfig file (the embedded API server writes one to
    /// `DIR/kubeconfig`), optionally one of its contexts.
    Kubeconfig {
        /// The file.
        kubeconfig: PathBuf,
        /// Context (default: the file's current context).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        context: Option<String>,
    },
    /// The pod's service account (running inside a cluster).
    InCluster,
    /// One cluster per Secret that matches a label in another configured
    /// cluster, each holding a kubeconfig (the way Cluster API publishes
    /// `<cluster>-kubeconfig`). Members come and go with their Secrets and
    /// are named `<source>/<namespace>/<secret>`; a plugin watching the
    /// source name watches every member, and a grant for the source name
    /// covers its members.
    KubeconfigSecrets {
        /// The configured cluster the Secrets live in.
        cluster: String,
        /// Which Secrets (Kubernetes label selector syntax).
        label_selector: String,
        /// Only Secrets in this namespace (default: every namespace).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        namespace: Option<String>,
        /// The data key holding the kubeconfig (default `value`, Cluster API's).
        #[serde(default = "default_key")]
        key: String,
        /// Only Secrets whose name ends so, e.g. `-kubeconfig`: Cluster API
        /// labels all of a cluster's Secrets (CA, bootstrap data) with the
        /// cluster name, and names its kubeconfig `<cluster>-kubeconfig`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name_suffix: Option<String>,
    },
}

fn default_key() -> String {
    "value".to_owned()
}

/// The member name of the cluster a kubeconfig Secret describes.
pub fn member_name(source: &str, namespace: &str, secret: &str) -> String {
    format!("{source}/{namespace}/{secret}")
}

/// The namespace of the Secret behind member cluster `cluster` (the guest
/// cluster's Supervisor namespace); `None` for a statically configured
/// cluster. This is the origin a `namespaces = ["$origin"]` rule admits.
pub fn member_namespace(cluster: &str) -> Option<&str> {
    let mut parts = cluster.splitn(3, '/');
    let (_source, namespace, _secret) = (parts.next()?, parts.next()?, parts.next()?);
    Some(namespace).filter(|n| !n.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ClusterConfig, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn a_member_names_the_namespace_of_its_secret() {
        assert_eq!(member_namespace(&member_name("guests", "team-a", "c1-kubeconfig")), Some("team-a"));
        assert_eq!(member_namespace("default"), None);
        assert_eq!(member_namespace("guests/team-a"), None);
    }

    #[test]
    fn each_source_parses_from_its_table() {
        let file = parse("source = \"kubeconfig\"\nkubeconfig = \"/k\"\ncontext = \"c\"").unwrap();
        assert_eq!(
            file.source,
            ClusterSource::Kubeconfig { kubeconfig: "/k".into(), context: Some("c".into()) }
        );
        assert_eq!(parse("source = \"in-cluster\"").unwrap().source, ClusterSource::InCluster);
        let secrets =
            parse("source = \"kubeconfig-secrets\"\ncluster = \"default\"\nlabel-selector = \"a=b\"")
                .unwrap();
        assert_eq!(
            secrets.source,
            ClusterSource::KubeconfigSecrets {
                cluster: "default".into(),
                label_selector: "a=b".into(),
                namespace: None,
                key: "value".into(),
                name_suffix: None,
            }
        );
    }

    #[test]
    fn unknown_keys_and_sources_are_refused() {
        let typo = parse("source = \"kubeconfig\"\nkubeconfig = \"/k\"\ncontxt = \"c\"").unwrap_err();
        assert!(typo.to_string().contains("unknown field `contxt`"), "{typo}");
        let source = parse("source = \"magic\"").unwrap_err();
        assert!(source.to_string().contains("unknown variant `magic`"), "{source}");
    }

    #[test]
    fn member_names_nest_under_their_source() {
        assert_eq!(member_name("guests", "ns", "tkc-a-kubeconfig"), "guests/ns/tkc-a-kubeconfig");
    }
}
