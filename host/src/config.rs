//! The host config file (`wasmvisor run --config FILE`): clusters,
//! endpoints, grants, engine settings, admin endpoint, leader election.
//!
//! ```toml
//! data-dir = "/var/lib/wasmvisor"        # compile cache, admin.json, recordings
//! plugin-dir = "/etc/wasmvisor/plugins"  # hot-reloaded (default DATA_DIR/plugins)
//!
//! [clusters.default]
//! source = "kubeconfig"
//! kubeconfig = "/etc/wasmvisor/kubeconfig"
//!
//! [nsx]
//! url = "https://nsx.example.com"
//! credentials = { file = "/etc/wasmvisor/nsx.json" }
//!
//! [controller]
//! concurrency = 4
//!
//! [admin]
//! listen = "127.0.0.1:9443"
//!
//! [recorder]                            # DATA_DIR/recordings.db
//! max-size = "256MiB"
//! retention = "7d"
//!
//! [leader-election]
//! namespace = "wasmvisor-system"
//! lease = "wasmvisor"
//!
//! [plugins.namespace-config]
//! source = "namespace-config.wasm"       # the plugin-dir file that serves this name;
//!                                        # or a registry: source = { oci = "registry.example.com/wasmvisor/namespace-config:0.1.0" }
//!
//! [[plugins.namespace-config.capabilities.kube]]
//! api-version = "v1"
//! kind = "ConfigMap"
//! verbs = ["get", "apply", "delete"]
//! ```
//!
//! Unknown keys are an error everywhere, so a typo never silently drops a
//! setting; every default is documented on its field.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::capability::endpoint::EndpointConfig;
use crate::capability::grant::{Grant, Grants};
use crate::cluster::ClusterConfig;
use crate::controller::ControllerSettings;
use crate::recorder::RecorderSettings;

/// The whole host config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct HostConfig {
    /// Where the host keeps its compile cache and `admin.json` (created if
    /// missing). Relative paths are relative to the config file.
    pub data_dir: PathBuf,
    /// The plugin directory, watched for hot reload (default `DATA_DIR/plugins`).
    #[serde(default)]
    pub plugin_dir: Option<PathBuf>,
    /// Clusters by name; plugins' watches name them (`default` when they name none).
    #[serde(default)]
    pub clusters: BTreeMap<String, ClusterConfig>,
    /// NSX Manager, if plugins may reach it.
    #[serde(default)]
    pub nsx: Option<EndpointConfig>,
    /// vCenter, if plugins may reach it.
    #[serde(default)]
    pub vcenter: Option<EndpointConfig>,
    /// Scheduling of reconciles.
    #[serde(default)]
    pub controller: ControllerSettings,
    /// The admin endpoint (health, readiness, metrics, plugin list).
    #[serde(default)]
    pub admin: AdminSettings,
    /// The flight recorder (`wasmvisor why`, `wasmvisor audit`).
    #[serde(default)]
    pub recorder: RecorderSettings,
    /// Leader election among replicas; absent means this replica always leads.
    #[serde(default)]
    pub leader_election: Option<LeaderElection>,
    /// Grants by plugin name.
    #[serde(default)]
    pub plugins: BTreeMap<String, Grant>,
    /// Load a plugin that has no `[plugins.NAME]` grant with what its
    /// manifest declares (default false). `wasmvisor up` sets it: on a
    /// one-person machine the operator is the plugin author. Keep it off
    /// wherever someone else's plugins run.
    #[serde(default)]
    pub trust_manifests: bool,
}

/// `[admin]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AdminSettings {
    /// Listen address (default `127.0.0.1:0`: loopback, a free port, found
    /// by clients through `DATA_DIR/admin.json`).
    #[serde(default = "default_admin_listen")]
    pub listen: SocketAddr,
    /// Whether `/metrics` needs the admin token too (default false:
    /// scrapers send none, and the metrics hold no secrets).
    #[serde(default)]
    pub protect_metrics: bool,
}

fn default_admin_listen() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
}

impl Default for AdminSettings {
    fn default() -> Self {
        Self { listen: default_admin_listen(), protect_metrics: false }
    }
}

/// `[leader-election]`: a Lease in one cluster that replicas compete for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LeaderElection {
    /// Cluster holding the Lease (default `default`).
    #[serde(default = "default_cluster")]
    pub cluster: String,
    /// Namespace of the Lease.
    pub namespace: String,
    /// Name of the Lease.
    pub lease: String,
    /// This replica's identity (default: `$HOSTNAME`, else a random one).
    #[serde(default)]
    pub identity: Option<String>,
    /// How long a lease lasts without renewal before a standby may take it
    /// (default 15s, client-go's): the longest a crashed leader's work waits.
    #[serde(default = "default_lease_duration", with = "wasmvisor_manifest::limits::duration")]
    pub lease_duration: Duration,
    /// How long a leader keeps leading without a successful renewal (default 10s).
    #[serde(default = "default_renew_deadline", with = "wasmvisor_manifest::limits::duration")]
    pub renew_deadline: Duration,
    /// How often to try to acquire or renew (default 2s).
    #[serde(default = "default_retry_period", with = "wasmvisor_manifest::limits::duration")]
    pub retry_period: Duration,
}

fn default_lease_duration() -> Duration {
    Duration::from_secs(15)
}
fn default_renew_deadline() -> Duration {
    Duration::from_secs(10)
}
fn default_retry_period() -> Duration {
    Duration::from_secs(2)
}

fn default_cluster() -> String {
    wasmvisor_manifest::DEFAULT_CLUSTER.to_owned()
}

/// Why the config could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read host config {}: {error}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        error: std::io::Error,
    },
    /// Not valid TOML for this shape (the message names the key).
    #[error("host config {} is invalid: {error}", .path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, naming the key and line.
        error: Box<toml::de::Error>,
    },
    /// Parsed, but a value is unusable.
    #[error("host config {}: {message}", .path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong and what to do.
        message: String,
    },
}

impl HostConfig {
    /// Reads and validates `path`; relative paths inside it become relative
    /// to its directory.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| ConfigError::Read { path: path.to_owned(), error })?;
        let mut config = Self::parse(&text)
            .map_err(|error| ConfigError::Parse { path: path.to_owned(), error: Box::new(error) })?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.resolve_paths(base);
        config.validate().map_err(|message| ConfigError::Invalid { path: path.to_owned(), message })?;
        Ok(config)
    }

    /// Parses config TOML (paths left as written).
    pub fn parse(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(text)
    }

    /// The grants, as the runtime checks plugins against them.
    pub fn grants(&self) -> Grants {
        Grants { plugins: self.plugins.clone(), trust_manifests: self.trust_manifests }
    }

    /// Where the dynamic cluster sources built on `cluster` watch kubeconfig
    /// Secrets: one namespace each, or (`None`) all of them.
    pub fn kubeconfig_secret_namespaces(&self, cluster: &str) -> Vec<Option<String>> {
        self.clusters
            .values()
            .filter_map(|c| match &c.source {
                crate::cluster::ClusterSource::KubeconfigSecrets { cluster: on, namespace, .. }
                    if on == cluster =>
                {
                    Some(namespace.clone())
                }
                _ => None,
            })
            .collect()
    }

    /// The plugin directory.
    pub fn plugin_dir(&self) -> PathBuf {
        self.plugin_dir.clone().unwrap_or_else(|| self.data_dir.join("plugins"))
    }

    fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.data_dir);
        if let Some(dir) = &mut self.plugin_dir {
            fix(dir);
        }
        for cluster in self.clusters.values_mut() {
            if let crate::cluster::ClusterSource::Kubeconfig { kubeconfig, .. } = &mut cluster.source {
                fix(kubeconfig);
            }
        }
        for endpoint in [&mut self.nsx, &mut self.vcenter].into_iter().flatten() {
            if let Some(ca) = &mut endpoint.ca_file {
                fix(ca);
            }
            if let crate::capability::endpoint::CredentialsSource::File(file) = &mut endpoint.credentials {
                fix(file);
            }
        }
    }

    fn validate(&self) -> Result<(), String> {
        if self.clusters.is_empty() {
            return Err(
                "no [clusters.NAME] table: name at least the cluster plugins watch (usually [clusters.default])"
                    .into(),
            );
        }
        for (name, cluster) in &self.clusters {
            if name.contains('/') {
                return Err(format!(
                    "cluster name {name:?} contains '/', which is reserved for the members of dynamic sources"
                ));
            }
            if let crate::cluster::ClusterSource::KubeconfigSecrets { cluster: holder, .. } = &cluster.source
            {
                let static_holder = self.clusters.get(holder).is_some_and(|c| {
                    !matches!(c.source, crate::cluster::ClusterSource::KubeconfigSecrets { .. })
                });
                if !static_holder {
                    return Err(format!(
                        "clusters.{name}.cluster {holder:?} must name a configured kubeconfig or in-cluster cluster, where its Secrets live"
                    ));
                }
            }
        }
        if let Some(sharding) = self.controller.sharding
            && (sharding.shards == 0 || sharding.shard >= sharding.shards)
        {
            return Err(format!(
                "controller.sharding: shard {} is not one of 0..{} (shards must be at least 1)",
                sharding.shard, sharding.shards
            ));
        }
        for (name, grant) in &self.plugins {
            if let Some(source) = grant.source.as_ref().and_then(|s| s.oci()) {
                source.check(name)?;
            }
        }
        if self.controller.concurrency == 0 {
            return Err("controller.concurrency must be at least 1".into());
        }
        if let Some(election) = &self.leader_election
            && !self.clusters.contains_key(&election.cluster)
        {
            return Err(format!(
                "leader-election.cluster {:?} is not one of the configured clusters ({})",
                election.cluster,
                self.clusters.keys().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"
        data-dir = "data"

        [clusters.default]
        source = "kubeconfig"
        kubeconfig = "kubeconfig"

        [controller]
        concurrency = 2
        resync = "1m"

        [leader-election]
        namespace = "wasmvisor-system"
        lease = "wasmvisor"

        [[plugins.namespace-config.capabilities.kube]]
        api-version = "v1"
        kind = "ConfigMap"
        verbs = ["get"]
    "#;

    #[test]
    fn parses_with_defaults_and_resolves_paths_against_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("host.toml");
        std::fs::write(&path, FULL).unwrap();
        let config = HostConfig::load(&path).unwrap();
        assert_eq!(config.data_dir, dir.path().join("data"));
        assert_eq!(config.plugin_dir(), dir.path().join("data/plugins"));
        assert_eq!(config.controller.concurrency, 2);
        assert_eq!(config.controller.resync, std::time::Duration::from_secs(60));
        assert_eq!(config.controller.backoff_base, std::time::Duration::from_millis(200));
        assert_eq!(config.admin.listen.ip(), std::net::IpAddr::from(Ipv4Addr::LOCALHOST));
        assert_eq!(config.leader_election.as_ref().unwrap().cluster, "default");
        assert_eq!(config.grants().plugins["namespace-config"].capabilities.kube[0].kind, "ConfigMap");
    }

    #[test]
    fn a_written_config_reads_back_the_same() {
        let config = HostConfig::parse(FULL).unwrap();
        let written = toml::to_string(&config).unwrap();
        assert_eq!(HostConfig::parse(&written).unwrap(), config, "{written}");
    }

    #[test]
    fn refuses_unknown_keys_and_unusable_values_naming_them() {
        let typo = FULL.replace("concurrency = 2", "concurency = 2");
        assert!(HostConfig::parse(&typo).unwrap_err().to_string().contains("unknown field `concurency`"));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("host.toml");
        std::fs::write(&path, "data-dir = \"d\"").unwrap();
        assert!(HostConfig::load(&path).unwrap_err().to_string().contains("no [clusters.NAME] table"));
        std::fs::write(&path, FULL.replace("lease = \"wasmvisor\"", "lease = \"l\"\ncluster = \"guest\""))
            .unwrap();
        assert!(HostConfig::load(&path).unwrap_err().to_string().contains("\"guest\" is not one of"));
        let missing = HostConfig::load(&dir.path().join("absent.toml")).unwrap_err().to_string();
        assert!(missing.contains("cannot read host config"), "{missing}");
    }
}
