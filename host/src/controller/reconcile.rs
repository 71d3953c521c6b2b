//! One attempt for one key: read the object from the cache, keep the
//! plugin's finalizer, call `reconcile` or `finalize` on a fresh instance,
//! write the effects, tell the queue what comes next.
//!
//! In: a [`Work`] item. Out: a [`Completion`] handed to the queue. The
//! plugin sees only the object as it is now (level-based); the reasons it
//! was queued for go on the `reconcile` span and the log line, never to the
//! plugin. The plugin version is taken once, at the start: an attempt runs
//! on one version from start to end even when a reload lands meanwhile.

use std::sync::Arc;
use std::time::Instant;

use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use tracing::Instrument as _;

use super::effects::Effects;
use super::queue::{Completion, Next, Work, WorkQueue};
use super::sources::Sources;
use super::{Shared, finalizer};
use crate::object::ObjectRef;
use crate::runtime::dispatch::{Export, Request};

/// What every attempt of one plugin controller needs, built once per
/// controller and shared by its attempts (metric handles included, so the
/// hot path looks nothing up).
pub(crate) struct Attempts {
    pub(crate) shared: Arc<Shared>,
    pub(crate) sources: Arc<Sources>,
    pub(crate) effects: Effects,
    pub(crate) queue: WorkQueue<ObjectRef>,
    pub(crate) plugin: String,
    /// `wasmvisor_active_workers{plugin}`.
    pub(crate) workers: Gauge,
    /// `wasmvisor_reconcile_time_seconds{plugin}`.
    pub(crate) latency: Histogram,
}

impl Attempts {
    /// Runs one attempt for `work` and completes its key in the queue.
    pub(crate) async fn run(self: Arc<Self>, work: Work<ObjectRef>) {
        let started = Instant::now();
        let Some(plugin) = self.shared.runtime.plugin(&self.plugin) else {
            // Removed while the key waited: no more work for it.
            self.queue.forget(&work.key);
            self.queue.done(&work.key, Completion::Success);
            return;
        };
        let span = tracing::info_span!(
            "reconcile",
            plugin = self.plugin,
            plugin.version = plugin.manifest.version,
            object.key = %work.key,
            reason = %work.reasons,
            reconcile_id = fastrand::u64(..),
            outcome = tracing::field::Empty,
            duration_ms = tracing::field::Empty,
        );
        self.workers.inc();
        let completion = self.attempt(&plugin, &work).instrument(span.clone()).await;
        self.workers.dec();
        let next = self.queue.done(&work.key, completion);
        let elapsed = started.elapsed();
        self.latency.observe(elapsed.as_secs_f64());
        span.record("duration_ms", u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX));
        let _entered = span.enter();
        match next {
            Next::Idle => tracing::debug!(failures = work.failures, "reconciled"),
            Next::Immediately => tracing::debug!("changed while reconciling; again now"),
            Next::After(after) => {
                tracing::debug!(
                    requeue_ms = u64::try_from(after.as_millis()).unwrap_or(u64::MAX),
                    "scheduled"
                )
            }
        }
    }

    async fn attempt(
        &self,
        plugin: &Arc<crate::runtime::plugin::Plugin>,
        work: &Work<ObjectRef>,
    ) -> Completion {
        let key = &work.key;
        let Some(watched) = self.sources.watched_for(key) else { return Completion::Success };
        let Some(mut object) = watched.informer.get(key.namespace.as_deref(), &key.name) else {
            // Gone: nothing to reconcile, and no finalizer held it back.
            tracing::Span::current().record("outcome", "gone");
            return Completion::Success;
        };
        let finalizer = watched.finalizer.clone();
        let export = if finalizer::deleting(&object) {
            if !finalizer::has(&object, &finalizer) {
                tracing::Span::current().record("outcome", "deleting");
                return Completion::Success;
            }
            Export::Finalize
        } else {
            if !finalizer::has(&object, &finalizer) {
                match finalizer::add(&self.shared.clusters, key, &object, &finalizer).await {
                    Ok(stored) => object = Arc::new(stored),
                    Err(error) => {
                        tracing::warn!(%error, finalizer, "cannot add the plugin's finalizer; backing off");
                        tracing::Span::current().record("outcome", "finalizer-error");
                        return Completion::Failed;
                    }
                }
            }
            Export::Reconcile
        };
        let json = match serde_json::to_string(&*object) {
            Ok(json) => json,
            Err(error) => {
                tracing::error!(%error, "cannot encode the object");
                return Completion::Failed;
            }
        };
        let request = Request { target: key.clone(), object: json };
        let result = self
            .shared
            .runtime
            .dispatcher()
            .call_for(plugin, export, &request, &work.reasons)
            .await
            .map(|report| report.outcome);
        let mut completion =
            self.effects.complete(&self.shared.clusters, key, &object, export, &result).await;
        match &result {
            Ok(outcome) => {
                tracing::Span::current().record("outcome", tracing::field::debug(outcome));
                if export == Export::Finalize
                    && matches!(completion, Completion::Success)
                    && let Err(error) =
                        finalizer::remove(&self.shared.clusters, key, &object, &finalizer).await
                {
                    tracing::warn!(%error, finalizer, "finalize succeeded but the finalizer could not be removed; retrying");
                    completion = Completion::Failed;
                }
            }
            Err(error) => {
                tracing::Span::current().record("outcome", super::effects::reason(&error.failure));
                tracing::warn!(
                    error = %error.failure,
                    retryable = error.failure.is_retryable(),
                    terminal = error.failure.is_terminal(),
                    failures = work.failures + 1,
                    backtrace = error.backtrace.as_deref().unwrap_or(""),
                    "{} failed", if export == Export::Finalize { "finalize" } else { "reconcile" }
                );
            }
        }
        completion
    }
}
