//! The plugin manifest: what a plugin watches, owns and needs, and its limits.
//!
//! Authors write it as `plugin.toml` beside their code; `wasmvisor plugin
//! build` embeds it in the component ([`section`]), and the host reads it from
//! there at load. The host, the CLI and the build tooling share this crate so
//! the three can never disagree on its shape. Parsing rejects unknown keys.

pub mod capability;
pub mod limits;
pub mod path_pattern;
pub mod related;
pub mod section;
pub mod sensitive;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use capability::{
    Capabilities, HttpAccess, HttpRule, KubeCall, KubeRule, KubeVerb, Method, Missing, Namespaces,
    ResourceScope, Scope, http_access,
};
pub use limits::{ByteSize, Limits};
pub use path_pattern::PathPattern;
pub use related::{FieldPath, KindName, Related, RelatedBy};

/// File name of the manifest in a plugin project.
pub const MANIFEST_FILE: &str = "plugin.toml";

/// The cluster a watch refers to when it names none: the host's default.
pub const DEFAULT_CLUSTER: &str = "default";

/// A kind in a cluster.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct KindRef {
    /// Cluster name from the host configuration (default `default`).
    #[serde(default = "default_cluster")]
    pub cluster: String,
    /// `apiVersion`, e.g. `v1` or `vmoperator.vmware.com/v1alpha1`.
    pub api_version: String,
    /// `kind`.
    pub kind: String,
}

pub(crate) fn default_cluster() -> String {
    DEFAULT_CLUSTER.to_owned()
}

impl fmt::Display for KindRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{} in cluster {:?}", self.api_version, self.kind, self.cluster)
    }
}

/// The primary kind a plugin reconciles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Watch {
    /// Cluster name from the host configuration (default `default`).
    #[serde(default = "default_cluster")]
    pub cluster: String,
    /// `apiVersion` of the kind.
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// Only objects matching this label selector (Kubernetes syntax).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<String>,
    /// Skip changes that do not bump `metadata.generation` (status-only
    /// and metadata-only writes), like controller-runtime's GenerationChangedPredicate.
    #[serde(default)]
    pub generation_changed_only: bool,
    /// The finalizer the host keeps on these objects for the plugin
    /// (default `wasmvisor.dev/<plugin>`): a plugin that stands in for a
    /// known controller declares that controller's finalizer, e.g.
    /// `vmoperator.vmware.com/virtualmachineservice`, so the objects look
    /// as the original leaves them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finalizer: Option<String>,
}

impl Watch {
    /// The watched kind.
    pub fn kind_ref(&self) -> KindRef {
        KindRef {
            cluster: self.cluster.clone(),
            api_version: self.api_version.clone(),
            kind: self.kind.clone(),
        }
    }
}

/// Everything the host needs to know about a plugin before running it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Manifest {
    /// Plugin name: lowercase letters, digits and `-`; also the field
    /// manager and finalizer suffix it acts under.
    pub name: String,
    /// Semantic version, reported in logs, metrics and conditions.
    pub version: String,
    /// Kinds reconciled by this plugin (at least one).
    pub watches: Vec<Watch>,
    /// Kinds whose changes re-queue their controller owner.
    #[serde(default)]
    pub owns: Vec<KindRef>,
    /// Kinds whose changes re-queue reconciled objects they are related to
    /// by something other than a controller reference.
    #[serde(default)]
    pub related: Vec<Related>,
    /// What the plugin may do.
    #[serde(default)]
    pub capabilities: Capabilities,
    /// What one call may consume.
    #[serde(default)]
    pub limits: Limits,
}

/// Why a manifest is refused.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Not valid TOML for this shape.
    #[error("invalid manifest: {0}")]
    Parse(toml::de::Error),
    /// Parsed, but a value is out of bounds.
    #[error("invalid manifest: {0}")]
    Invalid(String),
}

impl Manifest {
    /// Parses and validates manifest TOML.
    pub fn parse(text: &str) -> Result<Self, ManifestError> {
        let manifest: Manifest = toml::from_str(text).map_err(ManifestError::Parse)?;
        manifest.validate()?;
        Ok(manifest)
    }

    /// Reads and validates the manifest embedded in a component.
    pub fn from_component(bytes: &[u8]) -> Result<Self, ComponentManifestError> {
        let text = section::extract(bytes)?;
        Ok(Self::parse(text)?)
    }

    fn validate(&self) -> Result<(), ManifestError> {
        if !is_dns_label(&self.name) {
            return Err(ManifestError::Invalid(format!(
                "name {:?} must be 1-63 lowercase letters, digits or '-', starting and ending with a letter or digit",
                self.name
            )));
        }
        if self.version.trim().is_empty() {
            return Err(ManifestError::Invalid("version must not be empty".into()));
        }
        if self.watches.is_empty() {
            return Err(ManifestError::Invalid(
                "watches is empty: a reconciler needs at least one [[watches]] kind".into(),
            ));
        }
        for kind in self.watches.iter().map(Watch::kind_ref).chain(self.owns.iter().cloned()) {
            if kind.api_version.is_empty() || kind.kind.is_empty() {
                return Err(ManifestError::Invalid(format!("kind {kind}: api-version and kind must be set")));
            }
        }
        for watch in &self.watches {
            if let Some(finalizer) = &watch.finalizer
                && !is_qualified_name(finalizer)
            {
                return Err(ManifestError::Invalid(format!(
                    "watches {}: finalizer {finalizer:?} must be a qualified name like `example.com/cleanup`",
                    watch.kind_ref()
                )));
            }
        }
        for related in &self.related {
            related.validate(&self.watches).map_err(ManifestError::Invalid)?;
        }
        if self.limits.memory.0 < 1 << 20 {
            return Err(ManifestError::Invalid(format!(
                "limits.memory {} is below 1MiB; no component starts in that",
                self.limits.memory
            )));
        }
        if self.limits.timeout.is_zero() {
            return Err(ManifestError::Invalid("limits.timeout must be above zero".into()));
        }
        if self.limits.cpu_share == 0 {
            return Err(ManifestError::Invalid(
                "limits.cpu-share must be at least 1; a plugin with no share could never run".into(),
            ));
        }
        Ok(())
    }

    /// The plugin as `name@version`, for messages.
    pub fn id(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }
}

/// Why a component's manifest could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ComponentManifestError {
    /// The section is missing or the bytes are not a component.
    #[error(transparent)]
    Section(#[from] section::SectionError),
    /// The section is there but invalid.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
}

/// A finalizer: a qualified name, `[<DNS subdomain>/]<name>`, as the API
/// server requires (`example.com/cleanup`, or Cluster API's
/// `machine.cluster.x-k8s.io`).
fn is_qualified_name(text: &str) -> bool {
    let (prefix, name) = match text.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, text),
    };
    let name_ok = !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric();
    name_ok && prefix.is_none_or(|p| p.len() <= 253 && p.split('.').all(is_dns_label))
}

/// A Kubernetes-style DNS label (RFC 1123).
fn is_dns_label(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-'
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
        name = "namespace-config"
        version = "0.1.0"

        [[watches]]
        api-version = "v1"
        kind = "Namespace"
        label-selector = "wasmvisor.dev/config=enabled"

        [[owns]]
        api-version = "v1"
        kind = "ConfigMap"

        [[capabilities.kube]]
        api-version = "v1"
        kind = "ConfigMap"
        verbs = ["get", "apply", "delete"]

        [limits]
        memory = "32MiB"
        timeout = "2s"
    "#;

    #[test]
    fn parses_a_full_manifest() {
        let m = Manifest::parse(EXAMPLE).unwrap();
        assert_eq!(m.id(), "namespace-config@0.1.0");
        assert_eq!(m.watches[0].cluster, "default");
        assert_eq!(m.watches[0].label_selector.as_deref(), Some("wasmvisor.dev/config=enabled"));
        assert_eq!(m.owns[0].kind, "ConfigMap");
        assert_eq!(m.capabilities.kube[0].verbs.len(), 3);
        assert_eq!(m.limits.memory, ByteSize(32 << 20));
        assert_eq!(m.limits.host_calls, 1000);
    }

    #[test]
    fn refuses_bad_values_with_reasons() {
        let bad_name = EXAMPLE.replace("namespace-config", "Namespace_Config");
        assert!(Manifest::parse(&bad_name).unwrap_err().to_string().contains("lowercase"));
        let no_watch = "name = \"a\"\nversion = \"1\"\nwatches = []";
        assert!(Manifest::parse(no_watch).unwrap_err().to_string().contains("watches is empty"));
        let unknown = format!("{EXAMPLE}\n[extra]\nx = 1");
        assert!(Manifest::parse(&unknown).unwrap_err().to_string().contains("unknown field `extra`"));
        let tiny = EXAMPLE.replace("32MiB", "1KiB");
        assert!(Manifest::parse(&tiny).unwrap_err().to_string().contains("below 1MiB"));
    }

    #[test]
    fn a_watch_may_name_the_finalizer_of_the_controller_it_stands_in_for() {
        let named = EXAMPLE.replace(
            "label-selector = \"wasmvisor.dev/config=enabled\"",
            "finalizer = \"vmoperator.vmware.com/virtualmachineservice\"",
        );
        let m = Manifest::parse(&named).unwrap();
        assert_eq!(m.watches[0].finalizer.as_deref(), Some("vmoperator.vmware.com/virtualmachineservice"));
        let capi = EXAMPLE.replace(
            "label-selector = \"wasmvisor.dev/config=enabled\"",
            "finalizer = \"machine.cluster.x-k8s.io\"",
        );
        assert!(Manifest::parse(&capi).is_ok(), "a name without a prefix is qualified too");
        for bad in ["a/b/c", "-x", "Example.com/x"] {
            let text = EXAMPLE.replace(
                "label-selector = \"wasmvisor.dev/config=enabled\"",
                &format!("finalizer = {bad:?}"),
            );
            assert!(
                Manifest::parse(&text).unwrap_err().to_string().contains("must be a qualified name"),
                "{bad}"
            );
        }
    }

    #[test]
    fn dns_labels() {
        assert!(is_dns_label("ncp"));
        assert!(is_dns_label("cloud-provider-2"));
        assert!(!is_dns_label("-a"));
        assert!(!is_dns_label(""));
        assert!(!is_dns_label(&"a".repeat(64)));
    }
}
