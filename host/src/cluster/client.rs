//! [`Clusters`]: kube-rs clients per cluster with discovery cached per
//! kind. The `kube` capability's client
//! ([`crate::capability::kube::client`]) and the controller engine both
//! reach the API servers through it.

use std::collections::HashMap;
use std::sync::{Mutex, RwLock};

use kube::api::{Api, DynamicObject};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::GroupVersionKind;
use kube::discovery::{ApiCapabilities, ApiResource, Scope};
use kube::{Client, Config};

use super::config::{ClusterConfig, ClusterSource};
use crate::capability::kube::backend::{KubeError, classify};

/// Why a cluster could not be connected.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The kubeconfig could not be read or used.
    #[error("cluster {cluster:?}: kubeconfig {path}: {message}")]
    Kubeconfig {
        /// Cluster name.
        cluster: String,
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// In-cluster settings are missing (not running in a pod).
    #[error("cluster {cluster:?}: in-cluster config: {message}")]
    InCluster {
        /// Cluster name.
        cluster: String,
        /// What is wrong.
        message: String,
    },
}

/// (cluster, apiVersion, kind).
type KindKey = (String, String, String);

/// What discovery found for a kind.
type Discovered = (ApiResource, ApiCapabilities);

/// kube-rs clients by cluster name. Static clusters are connected at start;
/// members of a dynamic source ([`ClusterSource::KubeconfigSecrets`]) are
/// inserted and removed while the host runs, and [`Clusters::changes`]
/// says when.
pub struct Clusters {
    clients: RwLock<HashMap<String, Client>>,
    resources: Mutex<HashMap<KindKey, Discovered>>,
    changes: tokio::sync::watch::Sender<u64>,
}

impl Clusters {
    /// Connects every static cluster (no request is sent yet); dynamic
    /// sources start empty.
    pub async fn connect(configs: &[(String, ClusterConfig)]) -> Result<Self, ClusterError> {
        let mut clients = HashMap::new();
        for (name, config) in configs {
            if !matches!(config.source, ClusterSource::KubeconfigSecrets { .. }) {
                clients.insert(name.clone(), client_for(name, config).await?);
            }
        }
        Ok(Self::from_clients(clients))
    }

    /// Wraps existing clients.
    pub fn from_clients(clients: HashMap<String, Client>) -> Self {
        Self {
            clients: RwLock::new(clients),
            resources: Mutex::new(HashMap::new()),
            changes: tokio::sync::watch::Sender::new(0),
        }
    }

    /// The client of `cluster`.
    pub fn client(&self, cluster: &str) -> Option<Client> {
        self.read().get(cluster).cloned()
    }

    /// Every cluster connected now, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.read().keys().cloned().collect();
        names.sort();
        names
    }

    /// The members of dynamic source `source` connected now, sorted.
    pub fn members(&self, source: &str) -> Vec<String> {
        let prefix = format!("{source}/");
        self.names().into_iter().filter(|n| n.starts_with(&prefix)).collect()
    }

    /// Adds or replaces a member cluster.
    pub fn insert(&self, name: &str, client: Client) {
        self.write().insert(name.to_owned(), client);
        self.forget_discovery(name);
        self.changes.send_modify(|n| *n += 1);
    }

    /// Removes a member cluster; plugins lose access to it at once.
    pub fn remove(&self, name: &str) {
        if self.write().remove(name).is_some() {
            self.forget_discovery(name);
            self.changes.send_modify(|n| *n += 1);
        }
    }

    /// Marked changed whenever a member cluster is added or removed.
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    fn forget_discovery(&self, cluster: &str) {
        self.lock().retain(|(c, _, _), _| c != cluster);
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Client>> {
        self.clients.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Client>> {
        self.clients.write().unwrap_or_else(|p| p.into_inner())
    }

    fn client_or_err(&self, cluster: &str) -> Result<Client, KubeError> {
        self.client(cluster).ok_or_else(|| {
            KubeError::Unavailable(format!("cluster {cluster:?} is not configured on this host"))
        })
    }

    /// The API resource of `api_version`/`kind` in `cluster`, discovered once.
    async fn resource(&self, cluster: &str, api_version: &str, kind: &str) -> Result<Discovered, KubeError> {
        let key = (cluster.to_owned(), api_version.to_owned(), kind.to_owned());
        if let Some(found) = self.lock().get(&key) {
            return Ok(found.clone());
        }
        let client = self.client_or_err(cluster)?;
        let client = &client;
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let found = kube::discovery::pinned_kind(client, &gvk).await.map_err(|e| match classify(e) {
            KubeError::NotFound(_) => {
                KubeError::NotFound(format!("cluster {cluster:?} does not serve {api_version}/{kind}"))
            }
            other => other,
        })?;
        self.lock().insert(key, found.clone());
        Ok(found)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<KindKey, Discovered>> {
        self.resources.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An API over all namespaces of `api_version`/`kind` in `cluster`, with
    /// what discovery found for it (the shared watches start from this).
    pub async fn kind_api(
        &self,
        cluster: &str,
        api_version: &str,
        kind: &str,
    ) -> Result<(Api<DynamicObject>, ApiResource, Scope), KubeError> {
        let (resource, caps) = self.resource(cluster, api_version, kind).await?;
        let client = self.client_or_err(cluster)?;
        Ok((Api::all_with(client, &resource), resource, caps.scope))
    }

    /// An API for one namespace (or all, or a cluster-scoped kind) of
    /// `api_version`/`kind` in `cluster`.
    pub(crate) async fn api(
        &self,
        cluster: &str,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
    ) -> Result<Api<DynamicObject>, KubeError> {
        let (resource, caps) = self.resource(cluster, api_version, kind).await?;
        let client = self.client_or_err(cluster)?;
        Ok(match (caps.scope, namespace) {
            (Scope::Namespaced, Some(ns)) => Api::namespaced_with(client, ns, &resource),
            (Scope::Namespaced, None) | (Scope::Cluster, _) => Api::all_with(client, &resource),
        })
    }
}

async fn client_for(name: &str, config: &ClusterConfig) -> Result<Client, ClusterError> {
    let kube_config = match &config.source {
        ClusterSource::Kubeconfig { kubeconfig, context } => {
            let fail = |message: String| ClusterError::Kubeconfig {
                cluster: name.to_owned(),
                path: kubeconfig.display().to_string(),
                message,
            };
            let file = Kubeconfig::read_from(kubeconfig).map_err(|e| fail(e.to_string()))?;
            let options = KubeConfigOptions { context: context.clone(), ..KubeConfigOptions::default() };
            Config::from_custom_kubeconfig(file, &options).await.map_err(|e| fail(e.to_string()))?
        }
        ClusterSource::InCluster => Config::incluster()
            .map_err(|e| ClusterError::InCluster { cluster: name.to_owned(), message: e.to_string() })?,
        ClusterSource::KubeconfigSecrets { .. } => {
            return Err(ClusterError::Kubeconfig {
                cluster: name.to_owned(),
                path: "(kubeconfig Secrets)".into(),
                message: "a dynamic source has no client of its own; its members get one each".into(),
            });
        }
    };
    Client::try_from(kube_config).map_err(|e| ClusterError::Kubeconfig {
        cluster: name.to_owned(),
        path: "(client)".into(),
        message: e.to_string(),
    })
}

/// A client from kubeconfig text (a dynamic member's Secret); `origin`
/// names where the text came from, for the error.
pub(crate) async fn client_from_text(name: &str, origin: &str, text: &str) -> Result<Client, ClusterError> {
    let fail = |message: String| ClusterError::Kubeconfig {
        cluster: name.to_owned(),
        path: origin.to_owned(),
        message,
    };
    let file = Kubeconfig::from_yaml(text).map_err(|e| fail(e.to_string()))?;
    let config = Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
        .await
        .map_err(|e| fail(e.to_string()))?;
    Client::try_from(config).map_err(|e| fail(e.to_string()))
}
