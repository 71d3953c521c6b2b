//! The Kubernetes API through the host (`wasmvisor:plugin/kube`).

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bindings::wasmvisor::plugin::kube as wit;
use crate::{Error, KindRef, ObjectRef};

/// The kube client. Reads come from the host's watch cache where it has one;
/// use the `*_fresh` variants to read through to the API server.
#[derive(Debug, Clone, Copy)]
pub struct Kube;

impl Kube {
    /// Reads one object.
    pub fn get<K: DeserializeOwned>(&self, target: &ObjectRef) -> Result<K, Error> {
        self.get_from(target, wit::ReadSource::Cache)
    }

    /// Reads one object from the API server itself.
    pub fn get_fresh<K: DeserializeOwned>(&self, target: &ObjectRef) -> Result<K, Error> {
        self.get_from(target, wit::ReadSource::Server)
    }

    /// Reads one object; `None` if it does not exist.
    pub fn get_opt<K: DeserializeOwned>(&self, target: &ObjectRef) -> Result<Option<K>, Error> {
        match self.get(target) {
            Ok(k) => Ok(Some(k)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn get_from<K: DeserializeOwned>(&self, target: &ObjectRef, source: wit::ReadSource) -> Result<K, Error> {
        let json = wit::get(&target.into(), source)?;
        Ok(serde_json::from_str(&json)?)
    }

    /// Lists objects of one kind matching `label_selector` (Kubernetes syntax).
    pub fn list<K: DeserializeOwned>(
        &self,
        kinds: &KindRef,
        label_selector: Option<&str>,
    ) -> Result<Vec<K>, Error> {
        let items = wit::list(&kinds.into(), label_selector, wit::ReadSource::Cache)?;
        items.iter().map(|json| serde_json::from_str(json).map_err(Error::from)).collect()
    }

    /// Server-side apply of `object` in `cluster`, the plugin being the field
    /// manager. Send only the fields you manage. Returns the stored object.
    pub fn apply<K: Serialize + DeserializeOwned>(&self, cluster: &str, object: &K) -> Result<K, Error> {
        let json = wit::apply(cluster, &serde_json::to_string(object)?)?;
        Ok(serde_json::from_str(&json)?)
    }

    /// Server-side apply of `object`'s status through the status subresource.
    pub fn apply_status<K: Serialize + DeserializeOwned>(
        &self,
        cluster: &str,
        object: &K,
    ) -> Result<K, Error> {
        let json = wit::apply_status(cluster, &serde_json::to_string(object)?)?;
        Ok(serde_json::from_str(&json)?)
    }

    /// Deletes an object; one already gone is not an error.
    pub fn delete(&self, target: &ObjectRef) -> Result<(), Error> {
        Ok(wit::delete(&target.into())?)
    }
}
