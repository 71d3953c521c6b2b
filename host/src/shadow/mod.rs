//! Shadow rollouts: a candidate version placed beside a live plugin
//! (`DIR/plugins/NAME.shadow.wasm`) runs on the live plugin's triggers,
//! after each live reconcile, without touching anything.
//!
//! The shadow's world is the live call's ([`Script::shadowing`]): what the
//! live call read, the shadow reads the same (so both judge one world, not
//! the world after the live writes); a read the live call did not make
//! goes to the real cluster or endpoint, where the shadow's grant allows;
//! every write is answered and never sent. Its writes and outcome are then
//! judged against the live call's ([`judge`]): the differences are a metric
//! (`wasmvisor_shadow_reconciles_total{plugin,verdict}`), a log line and a
//! [`report`] for `wasmvisor shadow report NAME`.
//!
//! A shadow never makes the live plugin wait: it runs on a task of its
//! own, at most [`IN_FLIGHT`] calls at a time, and a live reconcile that
//! finds it busy is counted as skipped. Its traps, loops and limits end its
//! own call only. `wasmvisor shadow promote NAME` renames the file over the
//! live one, so the candidate goes live through the normal hot-reload path.

pub mod report;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::UNIX_EPOCH;

use arc_swap::ArcSwap;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use tokio::sync::Semaphore;

use crate::recorder::Capture;
use crate::recorder::finish::finish;
use crate::recorder::record::Record;
use crate::replay::script::Script;
use crate::replay::verdict::{Judgement, judge, object_text};
use crate::runtime::dispatch::{Dispatcher, Export, Request};
use crate::runtime::plugin::Plugin;
use report::{Difference, Report};

/// Shadow calls of one plugin running at once; more live reconciles are skipped.
pub const IN_FLIGHT: usize = 2;

/// The file a shadow of `name` is placed in, in a plugin directory.
pub fn file_name(name: &str) -> String {
    format!("{name}.shadow.wasm")
}

/// The plugin name a shadow file is for, if `file` is one.
pub fn shadowed_by(file: &str) -> Option<&str> {
    file.strip_suffix(".shadow.wasm").filter(|name| !name.is_empty())
}

/// `wasmvisor_shadow_reconciles_total` labels.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ShadowLabels {
    /// The live plugin's name.
    pub plugin: String,
    /// `same`, `different` or `skipped`.
    pub verdict: &'static str,
}

/// The shadows of a runtime, by the name of the plugin each shadows;
/// cheap to clone (shared).
#[derive(Clone, Default)]
pub struct Shadows(Arc<Inner>);

#[derive(Default)]
struct Inner {
    by_name: ArcSwap<BTreeMap<String, Arc<Shadow>>>,
    reports: OnceLock<PathBuf>,
    reconciles: Family<ShadowLabels, Counter>,
}

/// One candidate beside its live plugin.
pub struct Shadow {
    plugin: Arc<Plugin>,
    permits: Arc<Semaphore>,
    report: Mutex<Report>,
}

impl Shadows {
    /// Writes each shadow's report to `dir/NAME.json` from now on.
    pub fn report_to(&self, dir: PathBuf) {
        let _ = self.0.reports.set(dir);
    }

    /// Registers `wasmvisor_shadow_reconciles_total`.
    pub fn register_metrics(&self, registry: &mut Registry) {
        registry.sub_registry_with_prefix("wasmvisor_shadow").register(
            "reconciles",
            "Live reconciles a shadow candidate followed, by verdict",
            self.0.reconciles.clone(),
        );
    }

    /// Places `plugin` beside the live plugin of its name, replacing an
    /// earlier candidate (its report starts over).
    pub fn install(&self, plugin: Arc<Plugin>) {
        let name = plugin.manifest.name.clone();
        let report = Report {
            plugin: name.clone(),
            shadow: plugin.manifest.id(),
            digest: plugin.digest.to_prefixed(),
            since_ms: now_ms(),
            ..Report::default()
        };
        tracing::info!(
            plugin = name,
            shadow = report.shadow,
            "shadow candidate placed beside the live plugin"
        );
        self.save(&report);
        let shadow = Arc::new(Shadow {
            plugin,
            permits: Arc::new(Semaphore::new(IN_FLIGHT)),
            report: Mutex::new(report),
        });
        self.0.by_name.rcu(|by_name| {
            let mut by_name = BTreeMap::clone(by_name);
            by_name.insert(name.clone(), shadow.clone());
            by_name
        });
    }

    /// Removes the shadow of `name`; its report file stays.
    pub fn remove(&self, name: &str) -> bool {
        let mut removed = false;
        self.0.by_name.rcu(|by_name| {
            let mut by_name = BTreeMap::clone(by_name);
            removed = by_name.remove(name).is_some();
            by_name
        });
        removed
    }

    /// Whether `name` has a shadow (asked on every live call: one atomic load).
    pub fn has(&self, name: &str) -> bool {
        self.0.by_name.load().contains_key(name)
    }

    /// The report of the shadow of `name`, if it has one.
    pub fn report(&self, name: &str) -> Option<Report> {
        let shadow = self.0.by_name.load().get(name)?.clone();
        let report = shadow.report.lock().unwrap_or_else(PoisonError::into_inner).clone();
        Some(report)
    }

    /// Has the shadow of the live call's plugin, if any, follow it: on a
    /// task of its own, or skipped when it is busy.
    pub(crate) fn follow(&self, dispatcher: &Dispatcher, export: Export, request: &Request, live: Capture) {
        let name = live.manifest.name.clone();
        let Some(shadow) = self.0.by_name.load().get(&name).cloned() else { return };
        let Ok(permit) = shadow.permits.clone().try_acquire_owned() else {
            shadow.report.lock().unwrap_or_else(PoisonError::into_inner).skipped += 1;
            self.count(&name, "skipped");
            return;
        };
        let (this, dispatcher, request) = (self.clone(), dispatcher.clone(), request.clone());
        tokio::spawn(async move {
            let _permit = permit;
            let live = finish(live);
            let script = Arc::new(Script::shadowing(&live));
            let Some(candidate) = dispatcher.rehearse(&shadow.plugin, export, &request, script).await else {
                return;
            };
            this.judged(&shadow, &live, judge(&live, &candidate, Vec::new()));
        });
    }

    fn judged(&self, shadow: &Shadow, live: &Record, judgement: Judgement) {
        let name = &live.plugin.name;
        let same = judgement == Judgement::Same;
        let difference = Difference {
            at_ms: live.started_ms,
            export: live.export.clone(),
            object: object_text(&live.object),
            live: format!("{name}@{}", live.plugin.version),
            judgement,
        };
        if !same {
            tracing::warn!(
                plugin = name,
                shadow = shadow.plugin.manifest.id(),
                object = difference.object,
                judgement = ?difference.judgement,
                "shadow candidate did not do what the live plugin did"
            );
        }
        let report = {
            let mut report = shadow.report.lock().unwrap_or_else(PoisonError::into_inner);
            report.judged(difference);
            report.clone()
        };
        self.count(name, if same { "same" } else { "different" });
        self.save(&report);
    }

    fn count(&self, plugin: &str, verdict: &'static str) {
        self.0.reconciles.get_or_create(&ShadowLabels { plugin: plugin.to_owned(), verdict }).inc();
    }

    fn save(&self, report: &Report) {
        let Some(dir) = self.0.reports.get() else { return };
        if let Err(error) =
            std::fs::create_dir_all(dir).and_then(|()| report.save(&report_path(dir, &report.plugin)))
        {
            tracing::warn!(plugin = report.plugin, %error, "cannot write the shadow report");
        }
    }
}

/// `dir/NAME.json`: where the host writes the report of `name`'s shadow.
pub fn report_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.json"))
}

fn now_ms() -> u64 {
    let since = std::time::SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shadow_files_name_the_plugin_they_shadow() {
        assert_eq!(shadowed_by("tkc.shadow.wasm"), Some("tkc"));
        assert_eq!(shadowed_by(&file_name("capi")), Some("capi"));
        assert_eq!(shadowed_by("tkc.wasm"), None);
        assert_eq!(shadowed_by(".shadow.wasm"), None);
    }
}
