//! How the host config names a cluster and where its credentials come from.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// One cluster in the host config: `[clusters.NAME]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ClusterConfig {
    /// Where the connection settings come from.
    #[serde(flatten)]
    pub source: ClusterSource,
}

/// Where a cluster's connection settings come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "source")]
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
}
