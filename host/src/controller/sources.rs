//! What one plugin controller reads from: the shared informers of the
//! kinds it watches (with their label filters) and of the kinds it owns.
//!
//! In: a plugin's manifest and the host's [`Informers`]. Out: [`Sources`],
//! connected once per controller and shared by its feeders
//! ([`super::runner`]) and its attempts ([`super::reconcile`]), which both
//! depend on it and not on each other.

use std::sync::Arc;

use kube::api::DynamicObject;
use wasmvisor_manifest::{KindRef, Manifest, Watch};

use super::finalizer;
use super::watch::{Informer, Informers};
use crate::label_selector::LabelSelector;
use crate::object::ObjectRef;

/// A watched kind with its filter.
pub(crate) struct Watched {
    pub(crate) watch: Watch,
    pub(crate) informer: Arc<Informer>,
    selector: Option<LabelSelector>,
}

impl Watched {
    /// Whether a change to `object` concerns the plugin: it matches the
    /// selector, or it carries the plugin's finalizer (which must be
    /// released even after the labels moved on).
    pub(crate) fn wants(&self, object: &DynamicObject, finalizer: &str) -> bool {
        let labels = object.metadata.labels.as_ref();
        self.selector.as_ref().is_none_or(|s| s.matches_labels(labels)) || finalizer::has(object, finalizer)
    }
}

/// What one plugin's controller reads from.
pub(crate) struct Sources {
    pub(crate) watched: Vec<Watched>,
    pub(crate) owned: Vec<(KindRef, Arc<Informer>)>,
}

impl Sources {
    /// The informers of everything `manifest` watches and owns, started
    /// where none runs yet. Fails while a kind is not served.
    pub(crate) async fn connect(informers: &Informers, manifest: &Manifest) -> Result<Self, String> {
        let mut watched = Vec::new();
        for watch in &manifest.watches {
            let informer = informers.informer(&watch.kind_ref()).await.map_err(|e| e.to_string())?;
            let selector = watch
                .label_selector
                .as_deref()
                .map(LabelSelector::parse)
                .transpose()
                .map_err(|e| e.to_string())?;
            watched.push(Watched { watch: watch.clone(), informer, selector });
        }
        let mut owned = Vec::new();
        for kind in &manifest.owns {
            owned.push((kind.clone(), informers.informer(kind).await.map_err(|e| e.to_string())?));
        }
        Ok(Self { watched, owned })
    }

    /// The watch an object key belongs to.
    pub(crate) fn watched_for(&self, key: &ObjectRef) -> Option<&Watched> {
        self.watched.iter().find(|w| {
            w.watch.cluster == key.cluster
                && w.watch.api_version == key.api_version
                && w.watch.kind == key.kind
        })
    }
}
