//! What one plugin controller reads from: the shared informers of the
//! kinds it watches (with their label filters and finalizers), of the kinds
//! it owns and of the kinds it declares related.
//!
//! In: a plugin's manifest and the host's [`Informers`]. Out: `Sources`,
//! connected once per controller and shared by its feeders
//! ([`super::runner`]) and its attempts ([`super::reconcile`]), which both
//! depend on it and not on each other.

use std::sync::Arc;

use kube::api::DynamicObject;
use wasmvisor_manifest::{KindRef, Manifest, Related, Watch};

use super::finalizer;
use super::watch::{Informer, Informers};
use crate::object::ObjectRef;
use wasmvisor_selector::LabelSelector;

/// A watched kind with its filter and the finalizer the host keeps on it.
pub(crate) struct Watched {
    pub(crate) watch: Watch,
    pub(crate) informer: Arc<Informer>,
    selector: Option<LabelSelector>,
    /// The watch's declared finalizer, else the plugin's default.
    pub(crate) finalizer: String,
}

impl Watched {
    /// Whether a change to `object` concerns the plugin: it matches the
    /// selector, or it carries the plugin's finalizer (which must be
    /// released even after the labels moved on).
    pub(crate) fn wants(&self, object: &DynamicObject) -> bool {
        let labels = object.metadata.labels.as_ref();
        self.selector.as_ref().is_none_or(|s| s.matches_labels(labels))
            || finalizer::has(object, &self.finalizer)
    }

    /// Every object of `informer`'s kind, under the default finalizer of
    /// `plugin`.
    #[cfg(test)]
    pub(crate) fn everything(plugin: &str, informer: Arc<Informer>) -> Self {
        let kind = informer.kind();
        let watch = Watch {
            cluster: kind.cluster.clone(),
            api_version: kind.api_version.clone(),
            kind: kind.kind.clone(),
            label_selector: None,
            generation_changed_only: false,
            finalizer: None,
        };
        Self { watch, informer, selector: None, finalizer: finalizer::name(plugin) }
    }

    fn is(&self, cluster: &str, api_version: &str, kind: &str) -> bool {
        self.watch.cluster == cluster && self.watch.api_version == api_version && self.watch.kind == kind
    }
}

/// What one plugin's controller reads from.
pub(crate) struct Sources {
    pub(crate) watched: Vec<Watched>,
    pub(crate) owned: Vec<(KindRef, Arc<Informer>)>,
    pub(crate) related: Vec<(Related, Arc<Informer>)>,
}

impl Sources {
    /// The informers of everything `manifest` watches, owns and relates
    /// to, started where none runs yet. Fails while a kind is not served.
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
            let finalizer = watch.finalizer.clone().unwrap_or_else(|| finalizer::name(&manifest.name));
            watched.push(Watched { watch: watch.clone(), informer, selector, finalizer });
        }
        let mut owned = Vec::new();
        for kind in &manifest.owns {
            owned.push((kind.clone(), informers.informer(kind).await.map_err(|e| e.to_string())?));
        }
        let mut related = Vec::new();
        for entry in &manifest.related {
            let informer = informers.informer(&entry.kind_ref()).await.map_err(|e| e.to_string())?;
            related.push((entry.clone(), informer));
        }
        Ok(Self { watched, owned, related })
    }

    /// The watch of the kind `entry` re-queues.
    pub(crate) fn reconciled_by(&self, entry: &Related) -> Option<&Watched> {
        self.watched
            .iter()
            .find(|w| w.is(&entry.cluster, &entry.reconciles.api_version, &entry.reconciles.kind))
    }

    /// The watch an object key belongs to.
    pub(crate) fn watched_for(&self, key: &ObjectRef) -> Option<&Watched> {
        self.watched.iter().find(|w| w.is(&key.cluster, &key.api_version, &key.kind))
    }
}
