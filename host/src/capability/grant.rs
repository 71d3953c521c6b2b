//! What the operator grants each plugin: capabilities and limit ceilings.
//!
//! A plugin loads only if its manifest asks for no more than its grant; at
//! run time each host call is checked against what the manifest asked for
//! (which is then inside the grant), so a plugin holds exactly what it
//! declared.

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use wasmvisor_manifest::{ByteSize, Capabilities, Limits, Manifest, Missing};

use crate::source::Source;

/// The grant of one plugin.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    /// Capabilities the plugin may ask for.
    #[serde(default)]
    pub capabilities: Capabilities,
    /// The source that serves this plugin, `tkc.wasm` in the plugin
    /// directory or an OCI reference ([`crate::source`]): the operator's
    /// binding of the name (and so of its finalizer, field manager and
    /// NSX/vCenter identity) to code. Absent, a name claimed by one source
    /// only is served ([`crate::runtime::claims`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
    /// Ceilings for the plugin's declared limits (default: [`Grant::default_ceiling`]).
    #[serde(default = "Grant::default_ceiling")]
    pub limits: Limits,
}

impl Grant {
    /// Exactly what `manifest` declares, capabilities and limits, bound to
    /// no source: what `wasmvisor plugin check` judges without a config,
    /// and what tests grant a plugin.
    pub fn declared(manifest: &Manifest) -> Grant {
        Grant { capabilities: manifest.capabilities.clone(), source: None, limits: manifest.limits }
    }

    /// Ceilings when a grant names none: 256MiB, 60s, 10000 host calls, a
    /// CPU share of one core.
    pub fn default_ceiling() -> Limits {
        Limits {
            memory: ByteSize(256 << 20),
            timeout: Duration::from_secs(60),
            host_calls: 10_000,
            cpu_share: 1,
        }
    }
}

/// Grants by plugin name: the `[plugins.<name>]` tables of the host config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grants {
    /// Per plugin.
    #[serde(default)]
    pub plugins: BTreeMap<String, Grant>,
    /// Admit a plugin that has no grant with exactly what its manifest
    /// declares (under the default limit ceilings), the way `spin up` trusts
    /// an app's manifest. For a one-person machine (`wasmvisor up`), never
    /// for a shared cluster. Calls are still checked against the manifest.
    #[serde(skip)]
    pub trust_manifests: bool,
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
    /// Each plugin granted exactly what its manifest declares
    /// ([`Grant::declared`]), and no other plugin admitted: what a test or a
    /// bench runs its plugins under.
    pub fn declared<M: Borrow<Manifest>>(manifests: impl IntoIterator<Item = M>) -> Grants {
        let plugins =
            manifests.into_iter().map(|m| (m.borrow().name.clone(), Grant::declared(m.borrow()))).collect();
        Grants { plugins, trust_manifests: false }
    }

    /// Parses a file of `[plugins.NAME]` grant tables only.
    pub fn parse(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(text)
    }

    /// The grants of a whole host config (`[plugins.*]` and
    /// `trust-manifests`); its other tables (clusters, endpoints, …) are the
    /// host's business and are not checked here.
    pub fn from_host_config(text: &str) -> Result<Self, toml::de::Error> {
        let mut table: toml::Table = toml::from_str(text)?;
        let trust = table.get("trust-manifests").and_then(toml::Value::as_bool).unwrap_or(false);
        let plugins = table.remove("plugins").unwrap_or_else(|| toml::Value::Table(toml::Table::new()));
        let only = toml::Table::from_iter([("plugins".to_owned(), plugins)]);
        let mut grants: Grants = only.try_into()?;
        grants.trust_manifests = trust;
        Ok(grants)
    }

    /// Checks `manifest` against its grant.
    pub fn admit(&self, manifest: &Manifest) -> Result<(), GrantError> {
        let (missing, limits) = match self.plugins.get(&manifest.name) {
            Some(grant) => {
                (grant.capabilities.missing(&manifest.capabilities), manifest.limits.exceeding(&grant.limits))
            }
            None if self.trust_manifests => {
                (Vec::new(), manifest.limits.exceeding(&Grant::default_ceiling()))
            }
            None => return Err(GrantError::NoGrant { plugin: manifest.name.clone() }),
        };
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
    fn a_host_config_yields_its_plugin_grants_only() {
        let grants = Grants::from_host_config(
            r#"
            data-dir = "d"
            trust-manifests = true
            [clusters.default]
            source = "in-cluster"
            [[plugins.a.capabilities.kube]]
            api-version = "v1"
            kind = "ConfigMap"
            verbs = ["get"]
        "#,
        )
        .unwrap();
        assert_eq!(grants.plugins["a"].capabilities.kube[0].kind, "ConfigMap");
        assert!(grants.trust_manifests);
        assert!(Grants::from_host_config("[plugins.a]\ncapabilites = {}").is_err());
        assert!(Grants::from_host_config("").unwrap().plugins.is_empty());
    }

    #[test]
    fn trusting_manifests_admits_an_ungranted_plugin_under_the_default_ceilings_only() {
        let trusting = Grants { trust_manifests: true, ..Grants::default() };
        trusting.admit(&Manifest::parse(MANIFEST).unwrap()).unwrap();
        let greedy = Manifest::parse(&MANIFEST.replace("128MiB", "1GiB")).unwrap();
        let err = trusting.admit(&greedy).unwrap_err().to_string();
        assert!(err.contains("memory 1GiB (granted at most 256MiB)"), "{err}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(Grants::parse("[plugins.demo]\ncapabilites = {}").is_err());
    }
}
