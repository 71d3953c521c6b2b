//! What the operator grants each plugin: capabilities and limit ceilings.
//!
//! A plugin loads only if its manifest asks for no more than its grant; at
//! run time each host call is checked against what the manifest asked for
//! (which is then inside the grant), so a plugin holds exactly what it
//! declared.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use wasmvisor_manifest::{ByteSize, Capabilities, Limits, Manifest, Missing};

/// The grant of one plugin.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    /// Capabilities the plugin may ask for.
    #[serde(default)]
    pub capabilities: Capabilities,
    /// Ceilings for the plugin's declared limits (default: [`Grant::default_ceiling`]).
    #[serde(default = "Grant::default_ceiling")]
    pub limits: Limits,
}

impl Grant {
    /// Ceilings when a grant names none: 256MiB, 60s, 10000 host calls.
    pub fn default_ceiling() -> Limits {
        Limits { memory: ByteSize(256 << 20), timeout: Duration::from_secs(60), host_calls: 10_000 }
    }
}

/// Grants by plugin name: the `[plugins.<name>]` tables of the host config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grants {
    /// Per plugin.
    #[serde(default)]
    pub plugins: BTreeMap<String, Grant>,
}

/// Why a manifest exceeds its grant: every gap, so one fix covers them all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    /// No grant names the plugin.
    #[error(
        "plugin {plugin:?} has no grant; add a [plugins.{plugin}] table to the host config listing its capabilities"
    )]
    NoGrant {
        /// Plugin name.
        plugin: String,
    },
    /// Capabilities or limits beyond the grant.
    #[error("{plugin} asks for more than its grant:{}", list(.missing, .limits))]
    Exceeded {
        /// `name@version`.
        plugin: String,
        /// Each missing capability.
        missing: Vec<Missing>,
        /// Each limit over its ceiling.
        limits: Vec<String>,
    },
}

fn list(missing: &[Missing], limits: &[String]) -> String {
    let mut out = String::new();
    for m in missing {
        out.push_str(&format!("\n  - missing capability: {m}"));
    }
    for l in limits {
        out.push_str(&format!("\n  - limit over its ceiling: {l}"));
    }
    out
}

impl Grants {
    /// Parses the grants from host-config TOML.
    pub fn parse(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(text)
    }

    /// Checks `manifest` against its grant.
    pub fn admit(&self, manifest: &Manifest) -> Result<(), GrantError> {
        let grant = self
            .plugins
            .get(&manifest.name)
            .ok_or_else(|| GrantError::NoGrant { plugin: manifest.name.clone() })?;
        let missing = grant.capabilities.missing(&manifest.capabilities);
        let limits = manifest.limits.exceeding(&grant.limits);
        if missing.is_empty() && limits.is_empty() {
            Ok(())
        } else {
            Err(GrantError::Exceeded { plugin: manifest.id(), missing, limits })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"
        name = "demo"
        version = "1.0.0"
        [[watches]]
        api-version = "v1"
        kind = "ConfigMap"
        [[capabilities.kube]]
        api-version = "v1"
        kind = "ConfigMap"
        verbs = ["get", "apply"]
        [[capabilities.nsx]]
        methods = ["GET"]
        path = "/policy/api/v1/infra/segments/*"
        [limits]
        memory = "128MiB"
    "#;

    #[test]
    fn admits_a_manifest_inside_its_grant() {
        let grants = Grants::parse(
            r#"
            [plugins.demo.limits]
            memory = "128MiB"
            [[plugins.demo.capabilities.kube]]
            api-version = "v1"
            kind = "ConfigMap"
            verbs = ["get", "list", "apply"]
            [[plugins.demo.capabilities.nsx]]
            methods = ["GET"]
            path = "/policy/api/v1/infra/**"
        "#,
        )
        .unwrap();
        grants.admit(&Manifest::parse(MANIFEST).unwrap()).unwrap();
    }

    #[test]
    fn refusal_lists_every_gap() {
        let grants = Grants::parse(
            r#"
            [plugins.demo.limits]
            memory = "64MiB"
            [[plugins.demo.capabilities.kube]]
            api-version = "v1"
            kind = "ConfigMap"
            verbs = ["get"]
        "#,
        )
        .unwrap();
        let err = grants.admit(&Manifest::parse(MANIFEST).unwrap()).unwrap_err().to_string();
        assert_eq!(
            err,
            "demo@1.0.0 asks for more than its grant:\n  \
             - missing capability: kube apply v1/ConfigMap in cluster *, all namespaces\n  \
             - missing capability: nsx GET /policy/api/v1/infra/segments/*\n  \
             - limit over its ceiling: memory 128MiB (granted at most 64MiB)"
        );
    }

    #[test]
    fn no_grant_says_where_to_add_one() {
        let err = Grants::default().admit(&Manifest::parse(MANIFEST).unwrap()).unwrap_err();
        assert!(err.to_string().contains("[plugins.demo]"), "{err}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(Grants::parse("[plugins.demo]\ncapabilites = {}").is_err());
    }
}
