//! Plugin identity bound by the operator: which source may serve which
//! plugin name.
//!
//! A plugin's name is its identity (finalizer, field manager, NSX/vCenter
//! ownership tag, grant), so the name a manifest claims is judged before
//! the component is loaded, for every file of the plugin directory at once,
//! the same way whatever the directory order:
//!
//! 1. a grant that names a source (`[plugins.tkc] source = "tkc.wasm"`)
//!    binds the name to it: another source claiming the name is refused,
//!    and that source claiming another name is refused;
//! 2. with `trust-manifests`, a name no grant binds belongs to the first
//!    source seen with it, recorded in the data directory so it holds
//!    across restarts; a newcomer claiming it is refused, naming both;
//! 3. a name claimed by two sources at once that nothing above settles is
//!    refused for both (neither has a better right to it).
//!
//! Sources are plugin-directory file names or OCI references
//! ([`crate::source`]); a plugin-directory file never takes a name whose
//! grant names an OCI reference.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use crate::capability::grant::Grants;

/// Why a source may not serve the name its manifest claims.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The host config binds this source to another name.
    #[error(
        "{claimant} is bound to plugin {bound:?} in the host config, but its manifest claims {claimed:?}"
    )]
    BoundToAnother {
        /// The source.
        claimant: String,
        /// The name its grant gives it.
        bound: String,
        /// The name its manifest claims.
        claimed: String,
    },
    /// The host config binds the name to another source.
    #[error("plugin name {name:?} is bound to {owner} in the host config; {claimant} claims it")]
    NameBound {
        /// The name.
        name: String,
        /// Its source per the host config.
        owner: String,
        /// The source claiming it.
        claimant: String,
    },
    /// Another source was seen with the name first (trust-manifests).
    #[error(
        "plugin name {name:?} belongs to {owner} (first seen with it, recorded in {record}); {claimant} claims it"
    )]
    FirstSeen {
        /// The name.
        name: String,
        /// The first source seen with it.
        owner: String,
        /// The source claiming it.
        claimant: String,
        /// Where the first-seen owners are kept.
        record: String,
    },
    /// Several sources claim the name at once and nothing settles it.
    #[error(
        "plugin name {name:?} is claimed by {}; bind it to one with `source` in its grant, or remove the others",
        .sources.join(" and ")
    )]
    Contested {
        /// The name.
        name: String,
        /// Every source claiming it.
        sources: Vec<String>,
    },
}

/// Why the record of first-seen owners could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("plugin name record {path}: {error}")]
pub struct RecordError {
    path: PathBuf,
    error: std::io::Error,
}

/// The judge of claims, with the first-seen owners of names.
#[derive(Debug)]
pub struct Claims {
    record: Option<PathBuf>,
    owners: Mutex<BTreeMap<String, String>>,
}

impl Claims {
    /// First-seen owners kept in memory only (tests, `plugin check`).
    pub fn in_memory() -> Self {
        Self { record: None, owners: Mutex::default() }
    }

    /// First-seen owners kept in the JSON file `record` (read now if it exists).
    pub fn recorded(record: &Path) -> Result<Self, RecordError> {
        let fail = |error| RecordError { path: record.to_owned(), error };
        let owners = match std::fs::read(record) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| fail(std::io::Error::other(e)))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(fail(e)),
        };
        Ok(Self { record: Some(record.to_owned()), owners: Mutex::new(owners) })
    }

    /// Judges every `source → claimed name` of one sync at once; a source
    /// absent from the answer may serve its name. Records the first-seen
    /// owners it grants (a failed write is logged; this process still
    /// holds them).
    pub fn judge(&self, grants: &Grants, claims: &BTreeMap<String, String>) -> BTreeMap<String, Refusal> {
        let mut claimants: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (source, name) in claims {
            claimants.entry(name).or_default().push(source);
        }
        let bound_to = |source: &str| {
            grants.plugins.iter().find_map(|(name, g)| {
                g.source.as_ref().filter(|s| s.to_string() == source).map(|_| name.as_str())
            })
        };
        let record = self.record.as_ref().map_or_else(|| "memory".to_owned(), |p| p.display().to_string());
        let mut owners = self.owners.lock().unwrap_or_else(PoisonError::into_inner);
        let before = owners.clone();
        let mut refused = BTreeMap::new();
        for (source, name) in claims {
            let grant = grants.plugins.get(name);
            let refusal = if let Some(bound) = bound_to(source).filter(|b| b != name) {
                Some(Refusal::BoundToAnother {
                    claimant: source.clone(),
                    bound: bound.to_owned(),
                    claimed: name.clone(),
                })
            } else if let Some(owner) = grant.and_then(|g| g.source.as_ref()) {
                (owner.to_string() != *source).then(|| Refusal::NameBound {
                    name: name.clone(),
                    owner: owner.to_string(),
                    claimant: source.clone(),
                })
            } else if let Some(owner) = owners.get(name).filter(|o| *o != source && grant.is_none()) {
                Some(Refusal::FirstSeen {
                    name: name.clone(),
                    owner: owner.clone(),
                    claimant: source.clone(),
                    record: record.clone(),
                })
            } else if claimants[name.as_str()].len() > 1 && !owners.contains_key(name) {
                let sources = claimants[name.as_str()].iter().map(|s| (*s).to_owned()).collect();
                Some(Refusal::Contested { name: name.clone(), sources })
            } else {
                None
            };
            match refusal {
                Some(refusal) => _ = refused.insert(source.clone(), refusal),
                None if grants.trust_manifests && grant.is_none() => {
                    owners.entry(name.clone()).or_insert_with(|| source.clone());
                }
                None => {}
            }
        }
        if *owners != before
            && let Some(path) = &self.record
            && let Err(error) = write_atomically(path, &owners)
        {
            let error = RecordError { path: path.clone(), error };
            tracing::error!(%error, "cannot record the first-seen owners of plugin names; they hold until restart");
        }
        refused
    }
}

fn write_atomically(path: &Path, owners: &BTreeMap<String, String>) -> std::io::Result<()> {
    let json = serde_json::to_vec_pretty(owners).map_err(std::io::Error::other)?;
    let temporary = path.with_extension("json.tmp");
    std::fs::write(&temporary, json)?;
    std::fs::rename(&temporary, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(s, n)| ((*s).to_owned(), (*n).to_owned())).collect()
    }

    fn grants(text: &str, trust: bool) -> Grants {
        Grants { trust_manifests: trust, ..Grants::parse(text).unwrap() }
    }

    const BOUND: &str = "[plugins.tkc]\nsource = \"tkc.wasm\"\n";

    #[test]
    fn a_bound_name_is_served_by_its_source_only_in_any_order() {
        let g = grants(BOUND, false);
        for order in [[("aaa.wasm", "tkc"), ("tkc.wasm", "tkc")], [("tkc.wasm", "tkc"), ("zzz.wasm", "tkc")]]
        {
            let refused = Claims::in_memory().judge(&g, &claims(&order));
            assert_eq!(refused.len(), 1, "{refused:?}");
            let (source, refusal) = refused.iter().next().unwrap();
            assert_ne!(source, "tkc.wasm");
            assert_eq!(
                refusal.to_string(),
                format!("plugin name \"tkc\" is bound to tkc.wasm in the host config; {source} claims it")
            );
        }
    }

    #[test]
    fn a_bound_source_claiming_another_name_is_refused() {
        let refused = Claims::in_memory().judge(&grants(BOUND, false), &claims(&[("tkc.wasm", "capw")]));
        assert_eq!(
            refused["tkc.wasm"].to_string(),
            "tkc.wasm is bound to plugin \"tkc\" in the host config, but its manifest claims \"capw\""
        );
    }

    #[test]
    fn an_unsettled_duplicate_is_refused_for_every_claimant() {
        let refused = Claims::in_memory()
            .judge(&grants("", false), &claims(&[("a.wasm", "x"), ("b.wasm", "x"), ("c.wasm", "y")]));
        assert_eq!(refused.keys().collect::<Vec<_>>(), ["a.wasm", "b.wasm"]);
        assert!(refused["b.wasm"].to_string().contains("claimed by a.wasm and b.wasm"));
    }

    #[test]
    fn with_trust_manifests_the_first_seen_owner_keeps_its_name_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let record = dir.path().join("plugin-names.json");
        let g = grants("", true);
        let first = Claims::recorded(&record).unwrap();
        assert!(first.judge(&g, &claims(&[("tkc.wasm", "tkc")])).is_empty());
        // A restart with an impostor that sorts earlier.
        let restarted = Claims::recorded(&record).unwrap();
        let refused = restarted.judge(&g, &claims(&[("aaa.wasm", "tkc"), ("tkc.wasm", "tkc")]));
        assert_eq!(refused.keys().collect::<Vec<_>>(), ["aaa.wasm"]);
        let message = refused["aaa.wasm"].to_string();
        assert!(
            message.contains("belongs to tkc.wasm") && message.contains("aaa.wasm claims it"),
            "{message}"
        );
        assert!(message.contains("plugin-names.json"), "{message}");
        // Even with the owner's file gone.
        let refused = restarted.judge(&g, &claims(&[("aaa.wasm", "tkc")]));
        assert!(refused.contains_key("aaa.wasm"));
    }
}
