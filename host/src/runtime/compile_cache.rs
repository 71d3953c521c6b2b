//! Compiled components on disk, keyed by content digest and engine fingerprint.
//!
//! A restart (or a second host on the same data directory) deserializes in
//! about a millisecond instead of compiling again. The directory is reached
//! only through a cap-std handle, and names are derived from hex digests, so
//! nothing can point a read or write outside it. Artifacts are native code:
//! the directory must be writable by the host alone.

use std::io;

use cap_std::fs::Dir;
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::runtime::engine::fingerprint;

/// A content digest (SHA-256) of component bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// Digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        use sha2::Digest as _;
        Self(sha2::Sha256::digest(bytes).into())
    }

    /// `sha256:<hex>`, as shown to people.
    pub fn to_prefixed(self) -> String {
        format!("sha256:{self}")
    }
}

impl std::fmt::Display for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// Where a compiled component came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provenance {
    /// Deserialized from the cache.
    Cached,
    /// Compiled now (and written to the cache).
    Compiled,
}

/// Why a component could not be compiled.
#[derive(Debug, thiserror::Error)]
#[error("{0:#}")]
pub struct CompileError(anyhow::Error);

/// The cache directory.
#[derive(Debug)]
pub struct CompileCache {
    dir: Dir,
    fingerprint: u64,
}

impl CompileCache {
    /// A cache in `dir` for artifacts of `engine`.
    pub fn new(dir: Dir, engine: &Engine) -> Self {
        Self { dir, fingerprint: fingerprint(engine) }
    }

    fn file_name(&self, digest: Digest) -> String {
        format!("{digest}-{:016x}.cwasm", self.fingerprint)
    }

    /// The compiled component for `bytes` from the cache, or compiled now and
    /// cached. A cache that cannot be read or written costs a compile, never a
    /// failure: the error is logged and compilation goes on.
    pub fn load(
        &self,
        engine: &Engine,
        digest: Digest,
        bytes: &[u8],
    ) -> Result<(Component, Provenance), CompileError> {
        let name = self.file_name(digest);
        match self.dir.read(&name) {
            Ok(artifact) => match deserialize(engine, &artifact) {
                Ok(component) => return Ok((component, Provenance::Cached)),
                Err(error) => tracing::warn!(file = %name, %error, "discarding unusable compile cache entry"),
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(error) => tracing::warn!(file = %name, %error, "cannot read compile cache"),
        }
        let component = Component::new(engine, bytes).map_err(|e| CompileError(e.into()))?;
        if let Err(error) = self.store(&name, &component) {
            tracing::warn!(file = %name, %error, "cannot write compile cache");
        }
        Ok((component, Provenance::Compiled))
    }

    fn store(&self, name: &str, component: &Component) -> anyhow::Result<()> {
        let artifact = component.serialize()?;
        // Write then rename, so a concurrent reader never sees half a file;
        // a unique staging name keeps two concurrent writers apart.
        static STAGING: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = STAGING.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let partial = format!(".{name}.{}.{n}.partial", std::process::id());
        self.dir.write(&partial, &artifact)?;
        self.dir.rename(&partial, &self.dir, name)?;
        Ok(())
    }
}

#[allow(unsafe_code)]
fn deserialize(engine: &Engine, artifact: &[u8]) -> anyhow::Result<Component> {
    // SAFETY: `artifact` was produced by `Component::serialize` of an engine
    // with the same fingerprint (it is in the file name) and read from the
    // host's own cache directory, which only the host writes. wasmtime
    // checks the header, version and engine settings before use.
    Ok(unsafe { Component::deserialize(engine, artifact) }?)
}
