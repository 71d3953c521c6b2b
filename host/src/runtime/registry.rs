//! The loaded plugins by name, swapped atomically.
//!
//! Readers take an `Arc<Plugin>` snapshot and keep it for the whole call, so
//! a reload never changes the version under a running reconcile; the next
//! lookup sees the new one. Writers are serialized by a mutex.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use crate::runtime::plugin::Plugin;

/// A plugin and where it was loaded from.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The plugin.
    pub plugin: Arc<Plugin>,
    /// File name (or other label) it came from.
    pub source: String,
}

/// Why a plugin could not be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("plugin name {name:?} is already loaded from {existing}; refusing the copy in {refused}")]
pub struct NameTaken {
    /// The plugin name.
    pub name: String,
    /// Where the loaded one came from.
    pub existing: String,
    /// Where the refused one came from.
    pub refused: String,
}

/// Name → plugin.
#[derive(Debug)]
pub struct Registry {
    current: ArcSwap<BTreeMap<String, Entry>>,
    writer: Mutex<()>,
    /// Bumped on every install and removal, so the controller engine hears
    /// of a reload without polling.
    changes: tokio::sync::watch::Sender<u64>,
}

impl Default for Registry {
    fn default() -> Self {
        Self {
            current: ArcSwap::default(),
            writer: Mutex::new(()),
            changes: tokio::sync::watch::Sender::new(0),
        }
    }
}

impl Registry {
    /// The plugin called `name`, as of now.
    pub fn get(&self, name: &str) -> Option<Arc<Plugin>> {
        self.current.load().get(name).map(|e| e.plugin.clone())
    }

    /// A receiver that is marked changed after every install and removal.
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Every entry, by name.
    pub fn snapshot(&self) -> Arc<BTreeMap<String, Entry>> {
        self.current.load_full()
    }

    /// Installs `entry`, replacing a plugin of the same name from the same
    /// source; returns the replaced one.
    pub fn install(&self, entry: Entry) -> Result<Option<Entry>, NameTaken> {
        let _guard = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = (**self.current.load()).clone();
        let name = entry.plugin.manifest.name.clone();
        if let Some(existing) = next.get(&name).filter(|e| e.source != entry.source) {
            return Err(NameTaken { name, existing: existing.source.clone(), refused: entry.source });
        }
        let previous = next.insert(name, entry);
        self.current.store(Arc::new(next));
        self.changes.send_modify(|n| *n += 1);
        Ok(previous)
    }

    /// Removes the plugin called `name`; returns it.
    pub fn remove(&self, name: &str) -> Option<Entry> {
        let _guard = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = (**self.current.load()).clone();
        let removed = next.remove(name);
        self.current.store(Arc::new(next));
        if removed.is_some() {
            self.changes.send_modify(|n| *n += 1);
        }
        removed
    }
}
