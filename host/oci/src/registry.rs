//! One registry, reached through `oci-client`: push an [`Artifact`],
//! resolve a tag to its digest, pull a plugin with every digest checked.

use std::sync::Once;

use oci_client::client::ClientConfig;
use oci_client::manifest::{OCI_IMAGE_MEDIA_TYPE, OciDescriptor};
use oci_client::secrets::RegistryAuth;

use crate::artifact::{Artifact, Pulled, check_manifest};
use crate::credentials::Credentials;
use crate::error::OciError;
use crate::reference::PluginRef;

/// How to reach a registry.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// Allow plain HTTP to a registry that is not on loopback.
    pub insecure: bool,
    /// Credentials given on the command line; else the docker config file.
    pub credentials: Option<Credentials>,
}

/// A client for the registry of one reference.
pub struct Registry {
    client: oci_client::Client,
    auth: RegistryAuth,
    registry: String,
    https: bool,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").field("registry", &self.registry).field("https", &self.https).finish()
    }
}

impl Registry {
    /// A client for `reference`'s registry.
    pub fn for_reference(reference: &PluginRef, options: &RegistryOptions) -> Result<Self, OciError> {
        install_crypto_provider();
        let credentials = Credentials::resolve(reference.registry(), options.credentials.clone())?;
        let protocol = reference.protocol(options.insecure);
        let https = protocol == oci_client::client::ClientProtocol::Https;
        let client = oci_client::Client::new(ClientConfig {
            protocol,
            connect_timeout: Some(std::time::Duration::from_secs(10)),
            read_timeout: Some(std::time::Duration::from_secs(60)),
            user_agent: concat!("wasmvisor/", env!("CARGO_PKG_VERSION")),
            ..ClientConfig::default()
        });
        Ok(Self { client, auth: credentials.to_auth(), registry: reference.registry().to_owned(), https })
    }

    /// Pushes `artifact` to `reference` (a tag, or the artifact's own
    /// digest); returns the manifest digest.
    pub async fn push(&self, reference: &PluginRef, artifact: &Artifact) -> Result<String, OciError> {
        let digest = artifact.digest();
        if let Some(pinned) = reference.digest()
            && pinned != digest
        {
            return Err(OciError::DigestMismatch {
                reference: reference.to_string(),
                what: "pushed manifest".into(),
                expected: pinned.to_owned(),
                actual: digest,
            });
        }
        let image = reference.oci();
        let fail = |e| self.error(reference, e);
        self.client.auth(image, &self.auth, oci_client::RegistryOperation::Push).await.map_err(fail)?;
        for blob in [&artifact.component, &artifact.config] {
            self.client.push_blob(image, blob.clone(), &crate::artifact::sha256(blob)).await.map_err(fail)?;
        }
        let content_type = OCI_IMAGE_MEDIA_TYPE.parse().expect("a valid header value");
        self.client.push_manifest_raw(image, artifact.manifest.clone(), content_type).await.map_err(fail)?;
        Ok(digest)
    }

    /// The digest `reference` names now: its own if pinned, else what the
    /// tag points at in the registry.
    pub async fn resolve(&self, reference: &PluginRef) -> Result<String, OciError> {
        if let Some(digest) = reference.digest() {
            return Ok(digest.to_owned());
        }
        self.client
            .fetch_manifest_digest(reference.oci(), &self.auth)
            .await
            .map_err(|e| self.error(reference, e))
    }

    /// Pulls the plugin at `reference` (resolving a tag first), checking the
    /// manifest against its digest, its shape against the layout, and the
    /// component against the layer digest.
    pub async fn pull(&self, reference: &PluginRef) -> Result<Pulled, OciError> {
        let digest = self.resolve(reference).await?;
        let pinned = reference.pinned(&digest);
        let name = reference.to_string();
        let fail = |e| self.error(reference, e);
        let (raw, _) = self
            .client
            .pull_manifest_raw(pinned.oci(), &self.auth, &[OCI_IMAGE_MEDIA_TYPE])
            .await
            .map_err(fail)?;
        let (_, layer) = check_manifest(&name, &raw, Some(&digest))?;
        let component = self.blob(&pinned, &layer).await.map_err(fail)?;
        Pulled::verify(&name, digest, raw.to_vec(), component)
    }

    async fn blob(
        &self,
        reference: &PluginRef,
        layer: &OciDescriptor,
    ) -> Result<Vec<u8>, oci_client::errors::OciDistributionError> {
        let mut bytes = Vec::with_capacity(usize::try_from(layer.size).unwrap_or(0));
        self.client.pull_blob(reference.oci(), layer, &mut bytes).await?;
        Ok(bytes)
    }

    fn error(&self, reference: &PluginRef, error: oci_client::errors::OciDistributionError) -> OciError {
        match OciError::from_client(&reference.to_string(), &self.registry, error) {
            OciError::Unreachable { registry, detail } if self.https && !reference.is_loopback() => {
                OciError::Unreachable {
                    registry,
                    detail: format!(
                        "{detail} (wasmvisor spoke HTTPS; a registry that is not on loopback gets plain HTTP only with --insecure)"
                    ),
                }
            }
            other => other,
        }
    }
}

/// `oci-client` uses rustls without a built-in provider (so aws-lc stays
/// out of the build); the process uses ring, like every other TLS client
/// here.
fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Err means another part of the process installed one first: fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
