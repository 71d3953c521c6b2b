//! The `kube` capability's real client: [`KubeBackend`] over [`Clusters`].
//!
//! Applies are server-side apply with the plugin as field manager (forced
//! or not as [`super::ownership`] decides); statuses go through the status
//! subresource; deletes use background propagation.

use async_trait::async_trait;
use kube::api::{DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use serde_json::Value;
use wasmvisor_manifest::ResourceScope;

use super::backend::{KubeBackend, KubeError, ReadSource, classify};
use crate::cluster::Clusters;
use crate::object::{KindScope, ObjectRef};
use wasmvisor_selector::LabelSelector;

fn to_value(object: DynamicObject) -> Result<Value, KubeError> {
    serde_json::to_value(object).map_err(|e| KubeError::Internal(e.to_string()))
}

#[async_trait]
impl KubeBackend for Clusters {
    async fn scope(&self, cluster: &str, api_version: &str, kind: &str) -> Result<ResourceScope, KubeError> {
        let (_api, _resource, scope) = self.kind_api(cluster, api_version, kind).await?;
        Ok(match scope {
            kube::discovery::Scope::Namespaced => ResourceScope::Namespaced,
            kube::discovery::Scope::Cluster => ResourceScope::Cluster,
        })
    }

    async fn get(&self, target: &ObjectRef, _source: ReadSource) -> Result<Value, KubeError> {
        let api =
            self.api(&target.cluster, &target.api_version, &target.kind, target.namespace.as_deref()).await?;
        to_value(api.get(&target.name).await.map_err(classify)?)
    }

    async fn list(
        &self,
        kinds: &KindScope,
        selector: Option<&LabelSelector>,
        _source: ReadSource,
    ) -> Result<Vec<Value>, KubeError> {
        let api =
            self.api(&kinds.cluster, &kinds.api_version, &kinds.kind, kinds.namespace.as_deref()).await?;
        let mut params = ListParams::default();
        if let Some(selector) = selector {
            params = params.labels(&selector.to_string());
        }
        let list = api.list(&params).await.map_err(classify)?;
        list.items.into_iter().map(to_value).collect()
    }

    async fn apply(
        &self,
        target: &ObjectRef,
        object: &Value,
        field_manager: &str,
        status: bool,
        force: bool,
    ) -> Result<Value, KubeError> {
        let api =
            self.api(&target.cluster, &target.api_version, &target.kind, target.namespace.as_deref()).await?;
        let mut params = PatchParams::apply(field_manager);
        params.force = force;
        let patch = Patch::Apply(object);
        let stored = if status {
            api.patch_status(&target.name, &params, &patch).await
        } else {
            api.patch(&target.name, &params, &patch).await
        };
        to_value(stored.map_err(classify)?)
    }

    async fn delete(&self, target: &ObjectRef) -> Result<(), KubeError> {
        let api =
            self.api(&target.cluster, &target.api_version, &target.kind, target.namespace.as_deref()).await?;
        match api.delete(&target.name, &DeleteParams::background()).await {
            Ok(_) => Ok(()),
            Err(e) => match classify(e) {
                KubeError::NotFound(_) => Ok(()),
                other => Err(other),
            },
        }
    }
}
