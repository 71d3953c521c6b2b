//! Where a plugin's component comes from when it is not a file in the
//! plugin directory: an OCI reference in its `[plugins.NAME]` table.
//!
//! ```toml
//! [plugins.tkc.source]
//! oci = "registry.example.com/wasmvisor/tkc@sha256:…"   # pinned: never changes
//!
//! [plugins.capi.source]
//! oci = "registry.example.com/wasmvisor/capi:0.3"      # a tag, resolved once at start
//! refresh = "5m"                                        # opt-in: re-resolve, hot-reload a moved tag
//! ```
//!
//! The host resolves a tag to a digest, pulls, verifies every digest, and
//! keeps the artifact in `DATA_DIR/oci` by digest ([`cache`]), so a restart
//! without the registry runs what it ran before ([`oci`]). Loading goes
//! through the same hot-reload step as the plugin directory
//! ([`crate::runtime::reload`]): a broken or over-granted version is
//! refused and the one serving keeps serving ([`follow`]). Credentials come
//! from the docker config file (`DOCKER_CONFIG`), as for `wasmvisor plugin pull`.

pub mod cache;
pub mod follow;
pub mod oci;

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use wasmvisor_oci::{OciError, PluginRef};

/// Where a plugin comes from, as the operator names it in a grant:
/// `source = "tkc.wasm"` or `source = { oci = "registry/team/tkc:0.3.1" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "SourceText", into = "SourceText")]
pub enum Source {
    /// A file in the plugin directory, e.g. `tkc.wasm`.
    File(String),
    /// An OCI reference, pulled and cached by digest.
    Oci(PluginSource),
}

impl Source {
    /// The OCI reference, when the plugin comes from a registry.
    pub fn oci(&self) -> Option<&PluginSource> {
        match self {
            Source::Oci(source) => Some(source),
            Source::File(_) => None,
        }
    }
}

/// How a source is written: a file name, or a table with an OCI reference.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum SourceText {
    File(String),
    Oci(PluginSource),
}

impl TryFrom<SourceText> for Source {
    type Error = String;

    fn try_from(text: SourceText) -> Result<Self, String> {
        match text {
            SourceText::File(name) => Source::try_from(name),
            SourceText::Oci(source) => Ok(Source::Oci(source)),
        }
    }
}

impl From<Source> for SourceText {
    fn from(source: Source) -> Self {
        match source {
            Source::File(name) => SourceText::File(name),
            Source::Oci(source) => SourceText::Oci(source),
        }
    }
}

impl TryFrom<String> for Source {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let plain = !text.is_empty() && !text.contains(['/', '\\']) && !text.starts_with('.');
        if plain && text.ends_with(".wasm") {
            return Ok(Source::File(text));
        }
        Err(format!(
            "source {text:?} is not a file name in the plugin directory; write e.g. \"tkc.wasm\", or {{ oci = \"REGISTRY/REPOSITORY:TAG\" }}"
        ))
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::File(name) => f.write_str(name),
            Source::Oci(source) => write!(f, "oci {}", source.oci),
        }
    }
}

/// `[plugins.NAME.source]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PluginSource {
    /// `REGISTRY/REPOSITORY:TAG` or `REGISTRY/REPOSITORY@sha256:DIGEST`.
    pub oci: PluginRef,
    /// Re-resolve the tag this often and hot-reload the plugin when it
    /// moved (default: never; only for a tag, never for a digest).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "optional_duration")]
    pub refresh: Option<Duration>,
    /// Allow plain HTTP to a registry that is not on loopback (default false).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
}

impl PluginSource {
    /// What is wrong with this source for plugin `name`, if anything.
    pub fn check(&self, name: &str) -> Result<(), String> {
        match self.refresh {
            Some(_) if self.oci.digest().is_some() => Err(format!(
                "plugins.{name}.source: refresh is set, but {} is pinned by digest and never changes; drop refresh or name a tag",
                self.oci
            )),
            Some(interval) if interval < Duration::from_secs(1) => {
                Err(format!("plugins.{name}.source: refresh must be at least 1s"))
            }
            _ => Ok(()),
        }
    }

    /// The label the plugin is registered and listed under.
    pub fn label(&self) -> String {
        format!("oci://{}", self.oci)
    }
}

/// Why a plugin could not be had from its source.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The registry operation failed.
    #[error(transparent)]
    Oci(#[from] OciError),
    /// The registry failed and nothing was cached to run instead.
    #[error("{error}; and no copy of {reference} is cached in {cache} to run instead")]
    NotCached {
        /// The reference.
        reference: String,
        /// The cache directory.
        cache: String,
        /// The registry's failure.
        error: Box<OciError>,
    },
    /// The cache directory could not be written or read.
    #[error("plugin cache {path}: {error}")]
    Cache {
        /// The file.
        path: String,
        /// The cause.
        error: std::io::Error,
    },
    /// The artifact holds another plugin than the one configured.
    #[error(
        "{reference} holds plugin {found:?}, but it is the source of [plugins.{configured}]; point the source at the right artifact"
    )]
    WrongPlugin {
        /// The reference.
        reference: String,
        /// The plugin name in the artifact's manifest.
        found: String,
        /// The `[plugins.NAME]` it is configured for.
        configured: String,
    },
}

/// `"5m"` ↔ `Option<Duration>`.
mod optional_duration {
    use std::time::Duration;

    use serde::{Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(value: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(d) => wasmvisor_manifest::limits::duration::serialize(d, s),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        wasmvisor_manifest::limits::duration::deserialize(d).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_plain_file_names() {
        assert_eq!(Source::try_from("tkc.wasm".to_owned()), Ok(Source::File("tkc.wasm".into())));
        for bad in ["../tkc.wasm", "dir/tkc.wasm", ".hidden.wasm", "tkc", ""] {
            assert!(Source::try_from(bad.to_owned()).is_err(), "{bad}");
        }
    }

    fn source(text: &str) -> Result<PluginSource, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn a_digest_never_refreshes_and_a_tag_may() {
        let digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        let pinned = source(&format!("oci = \"r.example.com/t/tkc@{digest}\"\nrefresh = \"5m\"")).unwrap();
        assert!(pinned.check("tkc").unwrap_err().contains("pinned by digest"));
        let tag = source("oci = \"r.example.com/t/tkc:0.3\"\nrefresh = \"5m\"").unwrap();
        assert_eq!(tag.refresh, Some(Duration::from_secs(300)));
        tag.check("tkc").unwrap();
        assert_eq!(toml::from_str::<PluginSource>(&toml::to_string(&tag).unwrap()).unwrap(), tag);
    }

    #[test]
    fn a_bad_reference_or_key_is_refused_naming_it() {
        let error = source("oci = \"tkc\"").unwrap_err().to_string();
        assert!(error.contains("REGISTRY/REPOSITORY:TAG"), "{error}");
        let error = source("oci = \"r.example.com/t:1\"\nrefesh = \"1m\"").unwrap_err().to_string();
        assert!(error.contains("unknown field `refesh`"), "{error}");
    }
}
