//! A plugin from its OCI source: from the cache when the digest is known
//! and cached, else resolved and pulled from the registry (and cached);
//! when the registry fails, what the reference last ran as here.

use wasmvisor_oci::{OciError, Pulled, Registry, RegistryOptions};

use crate::source::cache::ArtifactCache;
use crate::source::{PluginSource, SourceError};

/// Where a fetched artifact came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Pulled from the registry just now.
    Registry,
    /// The registry named a digest already cached here.
    Cached,
    /// The registry failed; this is what the reference last ran as.
    Fallback(String),
}

/// A verified artifact and where it came from.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The artifact.
    pub pulled: Pulled,
    /// Where it came from.
    pub origin: Origin,
}

/// Fetches `source` through `cache`.
pub async fn fetch(cache: &ArtifactCache, source: &PluginSource) -> Result<Fetched, SourceError> {
    let reference = &source.oci;
    if let Some(digest) = reference.digest()
        && let Some(pulled) = cache.load(reference, digest)?
    {
        return Ok(Fetched { pulled, origin: Origin::Cached });
    }
    let options = RegistryOptions { insecure: source.insecure, credentials: None };
    let from_registry = async {
        let registry = Registry::for_reference(reference, &options)?;
        let digest = registry.resolve(reference).await?;
        if let Some(pulled) = cache.load(reference, &digest)? {
            return Ok(Fetched { pulled, origin: Origin::Cached });
        }
        let pulled = registry.pull(&reference.pinned(&digest)).await?;
        cache.store(reference, &pulled)?;
        Ok(Fetched { pulled, origin: Origin::Registry })
    };
    match from_registry.await {
        Err(SourceError::Oci(error @ (OciError::Unreachable { .. } | OciError::Registry { .. }))) => {
            let cached = match cache.last_digest(reference)? {
                Some(digest) => cache.load(reference, &digest)?,
                None => None,
            };
            match cached {
                Some(pulled) => Ok(Fetched { pulled, origin: Origin::Fallback(error.to_string()) }),
                None => Err(SourceError::NotCached {
                    reference: reference.to_string(),
                    cache: cache.root().display().to_string(),
                    error: Box::new(error),
                }),
            }
        }
        other => other,
    }
}
