//! The [`KubeBackend`] the host functions use when the engine runs: cached
//! reads from the shared watches where that is safe, everything else
//! through to the API server.
//!
//! A read asking for [`ReadSource::Cache`] is served from the store of a
//! running, synced informer of that kind (one the engine started because a
//! plugin watches or owns the kind); any other read, and every read of a
//! kind nobody watches, goes to the API server. The cache can lag behind a
//! write the plugin just made: plugins that must read their own writes ask
//! for [`ReadSource::Server`] (the SDK's `get_fresh`).

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use wasmvisor_manifest::{KindRef, ResourceScope};

use crate::capability::kube::{KubeBackend, KubeError, ReadSource};
use crate::cluster::Clusters;
use crate::controller::watch::{Informer, Informers};
use crate::object::{KindScope, ObjectRef};
use wasmvisor_selector::LabelSelector;

/// Cached reads over [`Clusters`].
pub struct CachedKube {
    clusters: Arc<Clusters>,
    informers: Arc<Informers>,
}

impl CachedKube {
    /// Reads from `informers` where they can, else from `clusters`.
    pub fn new(clusters: Arc<Clusters>, informers: Arc<Informers>) -> Self {
        Self { clusters, informers }
    }

    fn synced(&self, cluster: &str, api_version: &str, kind: &str) -> Option<Arc<Informer>> {
        let kind = KindRef { cluster: cluster.into(), api_version: api_version.into(), kind: kind.into() };
        self.informers.existing(&kind).filter(|i| i.is_synced())
    }
}

fn to_value(object: &kube::api::DynamicObject) -> Result<Value, KubeError> {
    serde_json::to_value(object).map_err(|e| KubeError::Internal(e.to_string()))
}

#[async_trait]
impl KubeBackend for CachedKube {
    async fn scope(&self, cluster: &str, api_version: &str, kind: &str) -> Result<ResourceScope, KubeError> {
        self.clusters.scope(cluster, api_version, kind).await
    }

    async fn get(&self, target: &ObjectRef, source: ReadSource) -> Result<Value, KubeError> {
        let cached = (source == ReadSource::Cache)
            .then(|| self.synced(&target.cluster, &target.api_version, &target.kind))
            .flatten();
        match cached {
            Some(informer) => match informer.get(target.namespace.as_deref(), &target.name) {
                Some(object) => to_value(&object),
                None => Err(KubeError::NotFound(format!("{target} (cache)"))),
            },
            None => self.clusters.get(target, ReadSource::Server).await,
        }
    }

    async fn list(
        &self,
        kinds: &KindScope,
        selector: Option<&LabelSelector>,
        source: ReadSource,
    ) -> Result<Vec<Value>, KubeError> {
        let cached = (source == ReadSource::Cache)
            .then(|| self.synced(&kinds.cluster, &kinds.api_version, &kinds.kind))
            .flatten();
        let Some(informer) = cached else {
            return self.clusters.list(kinds, selector, ReadSource::Server).await;
        };
        let mut objects: Vec<_> = informer
            .list()
            .into_iter()
            .filter(|o| kinds.namespace.is_none() || o.metadata.namespace == kinds.namespace)
            .filter(|o| selector.is_none_or(|s| s.matches_labels(o.metadata.labels.as_ref())))
            .collect();
        // The API server lists in (namespace, name) order; so does the cache.
        objects.sort_by(|a, b| {
            (&a.metadata.namespace, &a.metadata.name).cmp(&(&b.metadata.namespace, &b.metadata.name))
        });
        objects.iter().map(|o| to_value(o)).collect()
    }

    async fn apply(
        &self,
        target: &ObjectRef,
        object: &Value,
        field_manager: &str,
        status: bool,
        force: bool,
    ) -> Result<Value, KubeError> {
        self.clusters.apply(target, object, field_manager, status, force).await
    }

    async fn delete(&self, target: &ObjectRef) -> Result<(), KubeError> {
        self.clusters.delete(target).await
    }
}
