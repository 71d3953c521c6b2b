//! The artifact layout: a component becomes one `application/wasm` layer,
//! a [`WasmConfig`] blob and an OCI image manifest annotated with the
//! plugin's name, version and source; a pulled manifest is checked for the
//! same shape before its layer is trusted to be a plugin.

use std::collections::BTreeMap;

use oci_client::manifest::{OCI_IMAGE_MEDIA_TYPE, OciDescriptor, OciImageManifest};
use sha2::{Digest as _, Sha256};
use wasmvisor_manifest::Manifest;

use crate::config::{CONFIG_MEDIA_TYPE, WasmConfig};
use crate::error::OciError;

/// The layer media type: the component itself.
pub const LAYER_MEDIA_TYPE: &str = "application/wasm";
/// Annotation: the plugin name.
pub const TITLE: &str = "org.opencontainers.image.title";
/// Annotation: the plugin version.
pub const VERSION: &str = "org.opencontainers.image.version";
/// Annotation: where the plugin's source lives (a URL).
pub const SOURCE: &str = "org.opencontainers.image.source";

/// `sha256:<hex>` of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let mut text = String::with_capacity(71);
    text.push_str("sha256:");
    for byte in hash {
        text.push_str(&format!("{byte:02x}"));
    }
    text
}

/// A plugin ready to push: its three blobs, the manifest serialized once so
/// its digest is known before the push.
#[derive(Debug, Clone)]
pub struct Artifact {
    /// The plugin's embedded manifest.
    pub plugin: Manifest,
    /// The component bytes (the layer).
    pub component: Vec<u8>,
    /// The config blob.
    pub config: Vec<u8>,
    /// The OCI manifest, serialized.
    pub manifest: Vec<u8>,
}

impl Artifact {
    /// Packs `component` (which must be a wasmvisor plugin); `source`, a URL
    /// of the plugin's source, becomes the source annotation.
    pub fn pack(file: &str, component: Vec<u8>, source: Option<&str>) -> Result<Self, OciError> {
        let plugin = check_component(file, &component)?;
        let layer_digest = sha256(&component);
        let config = WasmConfig::for_component(&component, &layer_digest)
            .map_err(|reason| OciError::NotAPlugin { reference: file.to_owned(), reason })?;
        let config = serde_json::to_vec(&config).expect("the config always serializes");
        let mut annotations = BTreeMap::from([
            (TITLE.to_owned(), plugin.name.clone()),
            (VERSION.to_owned(), plugin.version.clone()),
        ]);
        if let Some(source) = source {
            annotations.insert(SOURCE.to_owned(), source.to_owned());
        }
        let manifest = OciImageManifest {
            media_type: Some(OCI_IMAGE_MEDIA_TYPE.to_owned()),
            config: descriptor(CONFIG_MEDIA_TYPE, &config),
            layers: vec![OciDescriptor {
                annotations: Some(BTreeMap::from([(TITLE.to_owned(), format!("{}.wasm", plugin.name))])),
                ..descriptor(LAYER_MEDIA_TYPE, &component)
            }],
            annotations: Some(annotations),
            ..OciImageManifest::default()
        };
        let manifest = serde_json::to_vec(&manifest).expect("the manifest always serializes");
        Ok(Self { plugin, component, config, manifest })
    }

    /// The manifest digest the registry will report.
    pub fn digest(&self) -> String {
        sha256(&self.manifest)
    }
}

fn descriptor(media_type: &str, bytes: &[u8]) -> OciDescriptor {
    OciDescriptor {
        media_type: media_type.to_owned(),
        digest: sha256(bytes),
        size: bytes.len() as i64,
        ..OciDescriptor::default()
    }
}

/// A plugin pulled and verified.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The manifest digest (what a pin names).
    pub digest: String,
    /// The raw OCI manifest, whose sha256 is `digest`.
    pub manifest: Vec<u8>,
    /// The component, whose sha256 is the layer digest in `manifest`.
    pub component: Vec<u8>,
    /// The plugin's embedded manifest.
    pub plugin: Manifest,
    /// The OCI manifest's annotations.
    pub annotations: BTreeMap<String, String>,
}

/// Checks a manifest's bytes against `expected` and its shape against the
/// layout; returns it parsed with its one layer.
pub fn check_manifest(
    reference: &str,
    raw: &[u8],
    expected: Option<&str>,
) -> Result<(OciImageManifest, OciDescriptor), OciError> {
    let actual = sha256(raw);
    if let Some(expected) = expected
        && expected != actual
    {
        return Err(OciError::DigestMismatch {
            reference: reference.to_owned(),
            what: "manifest".into(),
            expected: expected.to_owned(),
            actual,
        });
    }
    let not = |reason: String| OciError::NotAPlugin { reference: reference.to_owned(), reason };
    let manifest: OciImageManifest = serde_json::from_slice(raw)
        .map_err(|e| not(format!("its manifest is not an OCI image manifest ({e})")))?;
    if manifest.config.media_type != CONFIG_MEDIA_TYPE {
        return Err(not(format!(
            "config media type is {:?}, not {CONFIG_MEDIA_TYPE:?} (is it a container image?)",
            manifest.config.media_type
        )));
    }
    let [layer] = manifest.layers.as_slice() else {
        return Err(not(format!(
            "it has {} layers; a plugin artifact has exactly one",
            manifest.layers.len()
        )));
    };
    if layer.media_type != LAYER_MEDIA_TYPE {
        return Err(not(format!("its layer is {:?}, not {LAYER_MEDIA_TYPE:?}", layer.media_type)));
    }
    let layer = layer.clone();
    Ok((manifest, layer))
}

/// Checks that `bytes` hash to `layer`'s digest and hold a wasmvisor plugin.
pub fn check_layer(reference: &str, layer: &OciDescriptor, bytes: &[u8]) -> Result<Manifest, OciError> {
    let actual = sha256(bytes);
    if actual != layer.digest {
        return Err(OciError::DigestMismatch {
            reference: reference.to_owned(),
            what: "component layer".into(),
            expected: layer.digest.clone(),
            actual,
        });
    }
    check_component(reference, bytes)
}

/// The plugin manifest embedded in `bytes`, or why it is not a plugin.
fn check_component(reference: &str, bytes: &[u8]) -> Result<Manifest, OciError> {
    Manifest::from_component(bytes).map_err(|e| OciError::NotAPlugin {
        reference: reference.to_owned(),
        reason: format!("its layer is not a wasmvisor component ({e})"),
    })
}

impl Pulled {
    /// Assembles a pulled (or cached) artifact from its manifest bytes and
    /// component, checking both against `digest` and the layout.
    pub fn verify(
        reference: &str,
        digest: String,
        raw: Vec<u8>,
        component: Vec<u8>,
    ) -> Result<Self, OciError> {
        let (manifest, layer) = check_manifest(reference, &raw, Some(&digest))?;
        let plugin = check_layer(reference, &layer, &component)?;
        Ok(Self {
            digest,
            manifest: raw,
            component,
            plugin,
            annotations: manifest.annotations.unwrap_or_default(),
        })
    }
}
