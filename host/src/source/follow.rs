//! The plugins configured with an OCI source, kept loaded: fetched once at
//! start (before the host reports ready), then, for a tag with `refresh`,
//! re-resolved on that interval; a moved tag goes through the hot-reload
//! step, so a broken new version is refused and the old keeps serving.
//! No failure here (registry down, digest mismatch, not a plugin) removes
//! a plugin that is running.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::capability::grant::Grant;
use crate::runtime::Runtime;
use crate::runtime::reload::{FileState, Serving, load_and_install};
use crate::source::cache::ArtifactCache;
use crate::source::oci::{Origin, fetch};
use crate::source::{PluginSource, SourceError};

/// One followed source and what it last did.
#[derive(Debug)]
struct Followed {
    name: String,
    source: PluginSource,
    state: Mutex<SourceState>,
}

/// What a source serves, and why its latest version was refused.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceState {
    /// The plugin serving from it and its manifest digest.
    pub serving: Option<(Serving, String)>,
    /// The digest last refused, so a refresh does not retry it.
    pub refused: Option<String>,
    /// Why the latest fetch or load failed, if it did.
    pub error: Option<String>,
}

/// The followed sources; dropping it stops the refresh tasks.
pub struct OciSources {
    followed: Vec<Arc<Followed>>,
    cache: ArtifactCache,
    runtime: Arc<Runtime>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl OciSources {
    /// Loads every plugin whose grant has a source, then starts refreshing
    /// the ones that ask for it.
    pub async fn start(data_dir: &Path, plugins: &BTreeMap<String, Grant>, runtime: Arc<Runtime>) -> Self {
        let followed: Vec<Arc<Followed>> = plugins
            .iter()
            .filter_map(|(name, grant)| {
                let source = grant.source.as_ref()?.oci()?.clone();
                Some(Arc::new(Followed { name: name.clone(), source, state: Mutex::default() }))
            })
            .collect();
        let mut sources = Self { followed, cache: ArtifactCache::new(data_dir), runtime, tasks: Vec::new() };
        sources.sync().await;
        for followed in &sources.followed {
            let Some(interval) = followed.source.refresh else { continue };
            let (followed, cache, runtime) =
                (followed.clone(), sources.cache.clone(), sources.runtime.clone());
            sources.tasks.push(tokio::spawn(async move {
                let mut ticks = tokio::time::interval(interval);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                ticks.tick().await;
                loop {
                    ticks.tick().await;
                    sync_one(&followed, &cache, &runtime).await;
                }
            }));
        }
        sources
    }

    /// Fetches every source once and loads what changed.
    pub async fn sync(&self) {
        for followed in &self.followed {
            sync_one(followed, &self.cache, &self.runtime).await;
        }
    }

    /// Each source's state, by its label (`oci://REF`).
    pub fn states(&self) -> BTreeMap<String, SourceState> {
        self.followed
            .iter()
            .map(|f| (f.source.label(), f.state.lock().unwrap_or_else(|p| p.into_inner()).clone()))
            .collect()
    }
}

impl Drop for OciSources {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

async fn sync_one(followed: &Followed, cache: &ArtifactCache, runtime: &Arc<Runtime>) {
    let label = followed.source.label();
    let before = followed.state.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let serving = before.serving.clone();
    let fetched = match fetch(cache, &followed.source).await {
        Ok(fetched) => fetched,
        Err(error) => return refuse(followed, &label, None, error.to_string()),
    };
    let digest = fetched.pulled.digest.clone();
    if let Origin::Fallback(error) = &fetched.origin {
        tracing::warn!(source = label, digest, %error, "registry failed; running the cached copy");
    }
    if serving.as_ref().is_some_and(|(_, d)| *d == digest) || before.refused.as_ref() == Some(&digest) {
        return;
    }
    if fetched.pulled.plugin.name != followed.name {
        let error = SourceError::WrongPlugin {
            reference: label.clone(),
            found: fetched.pulled.plugin.name.clone(),
            configured: followed.name.clone(),
        };
        return refuse(followed, &label, Some(digest), error.to_string());
    }
    let state = load_and_install(runtime, &label, fetched.pulled.component, serving.map(|(s, _)| s)).await;
    match state {
        FileState { serving: Some(now), error: None } => {
            if let Err(error) = cache.record(&followed.source.oci, &digest) {
                tracing::warn!(source = label, %error, "cannot record the running digest; a restart without the registry will not find it");
            }
            tracing::info!(source = label, plugin = now.plugin, digest, origin = ?fetched.origin, "plugin running from OCI");
            *followed.state.lock().unwrap_or_else(|p| p.into_inner()) =
                SourceState { serving: Some((now, digest)), refused: None, error: None };
        }
        FileState { error, .. } => {
            refuse(followed, &label, Some(digest), error.unwrap_or_else(|| "refused".into()));
        }
    }
}

/// Records a failure; whatever is serving keeps serving.
fn refuse(followed: &Followed, label: &str, digest: Option<String>, error: String) {
    let mut state = followed.state.lock().unwrap_or_else(|p| p.into_inner());
    let still = state.serving.as_ref().map_or("nothing".to_owned(), |(s, d)| format!("{} ({d})", s.plugin));
    tracing::error!(source = label, %error, still_serving = still, "plugin source refused");
    if digest.is_some() {
        state.refused = digest;
    }
    state.error = Some(error);
}
