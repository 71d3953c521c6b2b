//! Pulled artifacts in `DATA_DIR/oci`, by digest, so a host restarted while
//! its registry is down runs what it ran before.
//!
//! ```text
//! DATA_DIR/oci/manifests/<hex>   the OCI manifest whose sha256 is <hex>
//! DATA_DIR/oci/blobs/<hex>       the component whose sha256 is <hex>
//! DATA_DIR/oci/tags/<hex>.json   {reference, digest}: what a reference last ran as
//! ```
//!
//! Everything read back is verified again ([`Pulled::verify`]): a changed
//! cache file is a digest mismatch, never a different plugin. Files are
//! written elsewhere and renamed, so a crash leaves no half file.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use wasmvisor_oci::artifact::{check_manifest, sha256};
use wasmvisor_oci::{PluginRef, Pulled};

use crate::source::SourceError;

/// The cache directory.
#[derive(Debug, Clone)]
pub struct ArtifactCache {
    root: PathBuf,
}

#[derive(Debug, Serialize, Deserialize)]
struct TagRecord {
    reference: String,
    digest: String,
}

impl ArtifactCache {
    /// The cache under `data_dir`.
    pub fn new(data_dir: &Path) -> Self {
        Self { root: data_dir.join("oci") }
    }

    /// The cache directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Keeps `pulled`.
    pub fn store(&self, reference: &PluginRef, pulled: &Pulled) -> Result<(), SourceError> {
        let (_, layer) = check_manifest(&reference.to_string(), &pulled.manifest, Some(&pulled.digest))?;
        self.write(&self.manifest_path(&pulled.digest), &pulled.manifest)?;
        self.write(&self.blob_path(&layer.digest), &pulled.component)
    }

    /// Records that `reference` ran as `digest`: what a restart without
    /// the registry runs (a refused version is never recorded).
    pub fn record(&self, reference: &PluginRef, digest: &str) -> Result<(), SourceError> {
        let record = TagRecord { reference: reference.to_string(), digest: digest.to_owned() };
        self.write(&self.tag_path(reference), &serde_json::to_vec(&record).expect("a record serializes"))
    }

    /// The artifact with manifest `digest`, verified; `None` if not cached.
    pub fn load(&self, reference: &PluginRef, digest: &str) -> Result<Option<Pulled>, SourceError> {
        let Some(manifest) = self.read(&self.manifest_path(digest))? else { return Ok(None) };
        let label = format!("{reference} (cached in {})", self.root.display());
        let (_, layer) = check_manifest(&label, &manifest, Some(digest))?;
        let Some(component) = self.read(&self.blob_path(&layer.digest))? else { return Ok(None) };
        Ok(Some(Pulled::verify(&label, digest.to_owned(), manifest, component)?))
    }

    /// What `reference` last ran as here.
    pub fn last_digest(&self, reference: &PluginRef) -> Result<Option<String>, SourceError> {
        let Some(bytes) = self.read(&self.tag_path(reference))? else { return Ok(None) };
        let record: TagRecord = serde_json::from_slice(&bytes).map_err(|e| SourceError::Cache {
            path: self.tag_path(reference).display().to_string(),
            error: std::io::Error::new(ErrorKind::InvalidData, e),
        })?;
        Ok((record.reference == reference.to_string()).then_some(record.digest))
    }

    fn manifest_path(&self, digest: &str) -> PathBuf {
        self.root.join("manifests").join(hex(digest))
    }

    fn blob_path(&self, digest: &str) -> PathBuf {
        self.root.join("blobs").join(hex(digest))
    }

    fn tag_path(&self, reference: &PluginRef) -> PathBuf {
        self.root.join("tags").join(format!("{}.json", hex(&sha256(reference.to_string().as_bytes()))))
    }

    fn read(&self, path: &Path) -> Result<Option<Vec<u8>>, SourceError> {
        match std::fs::read(path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(error) if error.kind() == ErrorKind::NotFound => Ok(None),
            Err(error) => Err(SourceError::Cache { path: path.display().to_string(), error }),
        }
    }

    fn write(&self, path: &Path, bytes: &[u8]) -> Result<(), SourceError> {
        let fail = |error| SourceError::Cache { path: path.display().to_string(), error };
        let dir = path.parent().expect("cache files live in a directory");
        std::fs::create_dir_all(dir).map_err(fail)?;
        let staging = dir.join(format!(".{}.partial", fastrand::u64(..)));
        std::fs::write(&staging, bytes).map_err(fail)?;
        std::fs::rename(&staging, path).map_err(fail)
    }
}

/// `sha256:<hex>` → `<hex>` (digests are checked to be sha256 on parse).
fn hex(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}
