//! Hot reload: keeps the runtime in step with a plugin directory.
//!
//! Each `*.wasm` file is one plugin. A new or changed file is compiled and
//! validated on a blocking thread, off the reconcile path, then installed
//! atomically; a file that fails (garbage, wrong world, over its grant) is
//! refused with a log line and the version already loaded keeps serving; a
//! removed file's plugin gets no more work. Before any of that, the name
//! each file's manifest claims is judged for all files at once
//! ([`crate::runtime::claims`]): a file may not serve a name bound to
//! another, whatever the directory order. The directory is read through a
//! cap-std handle, so no file name can lead outside it. Write files
//! atomically (write elsewhere, then rename): a half-written file is refused
//! like any broken one until the write completes.
//!
//! A file `NAME.shadow.wasm` is not a plugin of its own but a candidate
//! placed beside the live plugin `NAME` ([`crate::shadow`]): loaded against
//! the same grant, it follows the live plugin's reconciles without touching
//! anything, until the file is removed or renamed over `NAME.wasm`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cap_std::fs::Dir;
use notify::Watcher as _;
use tokio::sync::mpsc;

use wasmvisor_manifest::Manifest;

use crate::runtime::Runtime;
use crate::runtime::claims::{Claims, Refusal};
use crate::runtime::compile_cache::Digest;
use crate::shadow;

/// The plugin a file provides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Serving {
    /// Plugin name.
    pub name: String,
    /// `name@version`.
    pub plugin: String,
}

/// What happened to one file in the last sync.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileState {
    /// The version serving from this file, if any: after a refused update
    /// it is the older one.
    pub serving: Option<Serving>,
    /// Why the file's current contents were refused, if they were.
    pub error: Option<String>,
}

#[derive(Debug, Clone)]
struct Tracked {
    digest: Digest,
    state: FileState,
    /// Refused for the name it claims ([`Claims`]), not for its contents:
    /// judged again at every sync, changed or not.
    claim_refused: bool,
}

/// A plugin directory and what was last loaded from each of its files.
pub struct PluginDir {
    dir: Dir,
    path: PathBuf,
    files: Mutex<BTreeMap<String, Tracked>>,
    claims: Claims,
}

/// Why the directory could not be opened or read.
#[derive(Debug, thiserror::Error)]
#[error("plugin directory {path}: {error}")]
pub struct DirError {
    path: PathBuf,
    error: std::io::Error,
}

impl PluginDir {
    /// Opens `path` (which must exist).
    pub fn open(path: &Path) -> Result<Self, DirError> {
        let dir = Dir::open_ambient_dir(path, cap_std::ambient_authority())
            .map_err(|error| DirError { path: path.to_owned(), error })?;
        Ok(Self {
            dir,
            path: path.to_owned(),
            files: Mutex::new(BTreeMap::new()),
            claims: Claims::in_memory(),
        })
    }

    /// Judges the names files claim with `claims` (by default first-seen
    /// owners are kept in memory only).
    pub fn with_claims(mut self, claims: Claims) -> Self {
        self.claims = claims;
        self
    }

    /// The state of each file after the last sync.
    pub fn states(&self) -> BTreeMap<String, FileState> {
        self.lock().iter().map(|(k, v)| (k.clone(), v.state.clone())).collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Tracked>> {
        self.files.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn wasm_files(&self) -> Result<Vec<String>, DirError> {
        let err = |error| DirError { path: self.path.clone(), error };
        let mut names = Vec::new();
        for entry in self.dir.entries().map_err(err)? {
            let entry = entry.map_err(err)?;
            let Ok(name) = entry.file_name().into_string() else { continue };
            let is_file = entry.file_type().map(|t| t.is_file()).unwrap_or(false);
            if is_file && name.ends_with(".wasm") && !name.starts_with('.') {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    /// Brings the runtime in step with the directory once.
    pub async fn sync(self: &Arc<Self>, runtime: &Arc<Runtime>) -> Result<(), DirError> {
        let present = self.wasm_files()?;
        let gone: Vec<(String, Tracked)> = {
            let mut files = self.lock();
            let names: Vec<String> = files.keys().filter(|k| !present.contains(k)).cloned().collect();
            names.into_iter().filter_map(|n| files.remove_entry(&n)).collect()
        };
        for (file, tracked) in gone {
            if let Some(name) = shadow::shadowed_by(&file) {
                if runtime.shadows().remove(name) {
                    tracing::info!(file, plugin = name, "shadow file removed; the shadow stops");
                }
            } else if let Some(Serving { name, plugin }) = tracked.state.serving {
                runtime.remove(&name);
                tracing::info!(file, plugin, "plugin file removed; the plugin gets no more work");
            }
        }
        let mut read = Vec::new();
        for file in present {
            match self.dir.read(&file) {
                Ok(bytes) => read.push((file, bytes)),
                Err(error) => tracing::warn!(file, %error, "cannot read plugin file"),
            }
        }
        // Names are judged for all files at once, before anything loads, so
        // the outcome does not depend on the order of the files.
        let claimed: BTreeMap<String, String> = read
            .iter()
            .filter(|(file, _)| shadow::shadowed_by(file).is_none())
            .filter_map(|(file, bytes)| Some((file.clone(), Manifest::from_component(bytes).ok()?.name)))
            .collect();
        let refused = self.claims.judge(&runtime.grants(), &claimed);
        for (file, bytes) in read {
            let digest = Digest::of(&bytes);
            let previous = self.lock().get(&file).cloned();
            if let Some(refusal) = refused.get(&file) {
                let state = self.refuse_claim(runtime, &file, refusal, previous, digest);
                self.lock().insert(file, Tracked { digest, state, claim_refused: true });
                continue;
            }
            if previous.as_ref().is_some_and(|p| p.digest == digest && !p.claim_refused) {
                continue;
            }
            let serving = previous.and_then(|p| p.state.serving);
            let state = match shadow::shadowed_by(&file) {
                Some(name) => load_shadow(runtime, &file, name, bytes, serving).await,
                None => load_and_install(runtime, &file, bytes, serving).await,
            };
            self.lock().insert(file, Tracked { digest, state, claim_refused: false });
        }
        Ok(())
    }

    /// A file whose claim is refused serves nothing; logged once per refusal.
    fn refuse_claim(
        &self,
        runtime: &Runtime,
        file: &str,
        refusal: &Refusal,
        previous: Option<Tracked>,
        digest: Digest,
    ) -> FileState {
        let error = refusal.to_string();
        let unchanged = previous.as_ref().is_some_and(|p| {
            p.claim_refused && p.digest == digest && p.state.error.as_deref() == Some(&error)
        });
        if !unchanged {
            if let Some(Serving { name, plugin }) = previous.and_then(|p| p.state.serving) {
                runtime.remove(&name);
                tracing::warn!(file, plugin, "plugin stops serving: its name is no longer this file's");
            }
            tracing::error!(file, %error, "plugin refused");
        }
        FileState { serving: None, error: Some(error) }
    }

    /// Syncs now, then on every change in the directory (and every
    /// `resync` as a safety net against missed events), until the returned
    /// handle is dropped.
    pub fn watch(self: Arc<Self>, runtime: Arc<Runtime>, resync: Duration) -> Result<WatchHandle, DirError> {
        let (tx, mut rx) = mpsc::unbounded_channel::<()>();
        let mut watcher = notify::recommended_watcher(move |_event| {
            let _ = tx.send(());
        })
        .map_err(|e| DirError { path: self.path.clone(), error: std::io::Error::other(e) })?;
        watcher
            .watch(&self.path, notify::RecursiveMode::NonRecursive)
            .map_err(|e| DirError { path: self.path.clone(), error: std::io::Error::other(e) })?;
        let task = tokio::spawn(async move {
            loop {
                if let Err(error) = self.sync(&runtime).await {
                    tracing::error!(%error, "plugin directory sync failed");
                }
                tokio::select! {
                    got = rx.recv() => if got.is_none() { return },
                    () = tokio::time::sleep(resync) => {}
                }
                // Let a burst of events (a copy, a rename) settle into one sync.
                tokio::time::sleep(Duration::from_millis(50)).await;
                while rx.try_recv().is_ok() {}
            }
        });
        Ok(WatchHandle { _watcher: watcher, task })
    }
}

/// The hot-reload step every plugin source shares: compiles and validates
/// `bytes` on a blocking thread, installs the plugin under `source`, and
/// retires `serving` if the new one has another name; a refused version
/// leaves `serving` in place, logged with the reason.
pub(crate) async fn load_and_install(
    runtime: &Arc<Runtime>,
    source: &str,
    bytes: Vec<u8>,
    serving: Option<Serving>,
) -> FileState {
    let loader = runtime.clone();
    let loaded = tokio::task::spawn_blocking(move || loader.load(&bytes)).await;
    let installed = match loaded {
        Ok(Ok(plugin)) => {
            let now = Serving { name: plugin.manifest.name.clone(), plugin: plugin.manifest.id() };
            let provenance = plugin.provenance;
            runtime.install(plugin, source).map(|()| (now, provenance)).map_err(|e| e.to_string())
        }
        Ok(Err(error)) => Err(error.to_string()),
        Err(join) => Err(format!("loader failed: {join}")),
    };
    match installed {
        Ok((now, provenance)) => {
            if let Some(old) = serving.filter(|old| old.name != now.name) {
                runtime.remove(&old.name);
            }
            tracing::info!(source, plugin = now.plugin, ?provenance, "plugin loaded");
            FileState { serving: Some(now), error: None }
        }
        Err(error) => {
            tracing::error!(
                source,
                %error,
                still_serving = serving.as_ref().map_or("nothing", |s| s.plugin.as_str()),
                "plugin refused"
            );
            FileState { serving, error: Some(error) }
        }
    }
}

/// Loads a shadow candidate for the live plugin `name` as a live load would
/// (against the grant), and places it; a refused one leaves the earlier
/// candidate, if any, in place.
async fn load_shadow(
    runtime: &Arc<Runtime>,
    file: &str,
    name: &str,
    bytes: Vec<u8>,
    serving: Option<Serving>,
) -> FileState {
    let loader = runtime.clone();
    let loaded = match tokio::task::spawn_blocking(move || loader.load(&bytes)).await {
        Ok(Ok(plugin)) if plugin.manifest.name == name => Ok(plugin),
        Ok(Ok(plugin)) => Err(format!(
            "{file} holds plugin {:?}; a shadow of {name:?} must be a version of {name:?}",
            plugin.manifest.name
        )),
        Ok(Err(error)) => Err(error.to_string()),
        Err(join) => Err(format!("loader failed: {join}")),
    };
    match loaded {
        Ok(plugin) => {
            let now = Serving { name: name.to_owned(), plugin: plugin.manifest.id() };
            if runtime.plugin(name).is_none() {
                tracing::warn!(
                    file,
                    plugin = name,
                    "no live plugin of this name: the shadow has nothing to follow yet"
                );
            }
            runtime.shadows().install(plugin);
            FileState { serving: Some(now), error: None }
        }
        Err(error) => {
            tracing::error!(file, %error, "shadow candidate refused");
            FileState { serving, error: Some(error) }
        }
    }
}

/// Stops watching when dropped.
pub struct WatchHandle {
    _watcher: notify::RecommendedWatcher,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for WatchHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}
