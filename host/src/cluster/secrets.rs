//! Dynamic clusters: one member per kubeconfig Secret that matches a label
//! in another cluster, added and removed while the host runs.
//!
//! In: a [`ClusterSource::KubeconfigSecrets`] source. Out: members inserted
//! into and removed from [`Clusters`], named
//! `<source>/<namespace>/<secret>`. A kube-runtime watcher follows the
//! Secrets: a new or changed Secret (re)connects its member, a deleted one
//! (or one whose labels no longer match) removes it. A Secret whose
//! kubeconfig is unusable is logged and leaves no member; its contents are
//! never logged.

use std::collections::HashSet;
use std::sync::Arc;

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::runtime::{WatchStreamExt as _, watcher};

use super::client::client_from_text;
use super::config::member_name;
use super::{ClusterSource, Clusters};

/// Follows the Secrets of dynamic source `source` until the handle drops.
pub struct Members {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Members {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts following `source`; `None` when it is not a dynamic source or
/// the cluster holding its Secrets is not connected.
pub fn follow(clusters: &Arc<Clusters>, source: &str, config: &ClusterSource) -> Option<Members> {
    let ClusterSource::KubeconfigSecrets { cluster, label_selector, namespace, key, name_suffix } = config
    else {
        return None;
    };
    let client = clusters.client(cluster)?;
    let api: Api<Secret> = match namespace {
        Some(ns) => Api::namespaced(client, ns),
        None => Api::all(client),
    };
    let feed = Feed {
        clusters: clusters.clone(),
        source: source.to_owned(),
        key: key.clone(),
        name_suffix: name_suffix.clone().unwrap_or_default(),
        listed: HashSet::new(),
    };
    let config = watcher::Config::default().labels(label_selector);
    Some(Members { task: tokio::spawn(feed.run(api, config)) })
}

struct Feed {
    clusters: Arc<Clusters>,
    source: String,
    key: String,
    /// Only Secrets whose name ends so count.
    name_suffix: String,
    /// Members seen since the current (re)list began.
    listed: HashSet<String>,
}

impl Feed {
    async fn run(mut self, api: Api<Secret>, config: watcher::Config) {
        let events = watcher(api, config).default_backoff();
        futures::pin_mut!(events);
        while let Some(event) = events.next().await {
            match event {
                Ok(watcher::Event::Init) => self.listed.clear(),
                Ok(watcher::Event::InitApply(secret)) => {
                    if let Some(name) = self.connect(&secret).await {
                        self.listed.insert(name);
                    }
                }
                Ok(watcher::Event::InitDone) => {
                    // Members whose Secrets went while the watch was down.
                    for member in self.clusters.members(&self.source) {
                        if !self.listed.contains(&member) {
                            self.clusters.remove(&member);
                            tracing::info!(cluster = member, "kubeconfig Secret gone; cluster removed");
                        }
                    }
                }
                Ok(watcher::Event::Apply(secret)) => drop(self.connect(&secret).await),
                Ok(watcher::Event::Delete(secret)) => {
                    if !secret.metadata.name.as_deref().unwrap_or_default().ends_with(&self.name_suffix) {
                        continue;
                    }
                    let member = self.member(&secret);
                    self.clusters.remove(&member);
                    tracing::info!(cluster = member, "kubeconfig Secret deleted; cluster removed");
                }
                Err(error) => {
                    tracing::warn!(source = self.source, %error, "watching kubeconfig Secrets failed; retrying")
                }
            }
        }
    }

    fn member(&self, secret: &Secret) -> String {
        let namespace = secret.metadata.namespace.as_deref().unwrap_or_default();
        member_name(&self.source, namespace, secret.metadata.name.as_deref().unwrap_or_default())
    }

    /// Connects the member `secret` describes; its name, if it connected.
    async fn connect(&self, secret: &Secret) -> Option<String> {
        if !secret.metadata.name.as_deref().unwrap_or_default().ends_with(&self.name_suffix) {
            return None;
        }
        let member = self.member(secret);
        let origin = format!("Secret {member} key {:?}", self.key);
        let Some(bytes) = secret.data.as_ref().and_then(|d| d.get(&self.key)) else {
            tracing::warn!(cluster = member, key = self.key, "kubeconfig Secret has no such key; ignored");
            self.clusters.remove(&member);
            return None;
        };
        let text = String::from_utf8_lossy(&bytes.0);
        match client_from_text(&member, &origin, &text).await {
            Ok(client) => {
                let known = self.clusters.client(&member).is_some();
                self.clusters.insert(&member, client);
                if !known {
                    tracing::info!(cluster = member, "cluster added from its kubeconfig Secret");
                }
                Some(member)
            }
            Err(error) => {
                tracing::warn!(cluster = member, %error, "kubeconfig Secret is unusable; cluster left out");
                self.clusters.remove(&member);
                None
            }
        }
    }
}
