//! Every host call runs in a `host.<capability>.<op>` span under the span
//! the call was made in (the engine's `reconcile` span), with the verb or
//! method, the target and whether the grant allowed it.
//!
//! The recorder is the process's global subscriber, installed once: a
//! callsite first seen by another test while a thread-local default is
//! being set up can cache "never" and hide its spans from that default.
//! Spans are told apart by the `reconcile` span each case opens.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::json;
use tracing::Instrument as _;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;

use crate::harness::Host;

/// One span as the test saw it: name, its parent's place in the list,
/// fields.
#[derive(Debug, Clone)]
struct Seen {
    name: &'static str,
    parent: Option<usize>,
    fields: BTreeMap<String, String>,
}

/// Every span in creation order; span ids are reused once a span closes,
/// so the live ones map to their place in the list.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Spans>>);

/// (every span, live span id → its index).
type Spans = (Vec<Seen>, BTreeMap<u64, usize>);

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Recorder {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let parent = ctx.span(id).and_then(|s| s.parent()).map(|p| p.id().into_u64());
        let mut fields = BTreeMap::new();
        attrs.record(&mut Fields(&mut fields));
        let mut spans = self.0.lock().unwrap();
        let (all, live) = &mut *spans;
        let parent = parent.and_then(|p| live.get(&p).copied());
        let seen = Seen { name: attrs.metadata().name(), parent, fields };
        live.insert(id.into_u64(), all.len());
        all.push(seen);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _ctx: Context<'_, S>) {
        let mut spans = self.0.lock().unwrap();
        let (all, live) = &mut *spans;
        if let Some(&index) = live.get(&id.into_u64()) {
            values.record(&mut Fields(&mut all[index].fields));
        }
    }
}

impl Recorder {
    /// The process's recorder, installed as the global subscriber.
    fn global() -> &'static Recorder {
        static RECORDER: OnceLock<Recorder> = OnceLock::new();
        RECORDER.get_or_init(|| {
            let recorder = Recorder::default();
            let subscriber = tracing_subscriber::registry().with(recorder.clone());
            tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber");
            recorder
        })
    }

    /// Spans named `name` whose parent is a `reconcile` span of `case`.
    fn named_under(&self, name: &str, case: &str) -> Vec<Seen> {
        let spans = self.0.lock().unwrap();
        let all = &spans.0;
        let under_case = |s: &Seen| {
            s.parent.map(|p| &all[p]).is_some_and(|p| {
                p.name == "reconcile" && p.fields.get("case").map(String::as_str) == Some(case)
            })
        };
        all.iter().filter(|s| s.name == name && under_case(s)).cloned().collect()
    }
}

async fn reconcile_traced(host: &Host, case: &str, name: &str, mode: &str) {
    let span = tracing::info_span!("reconcile", case);
    let _ = host.chaos(name, json!({"mode": mode})).instrument(span).await;
}

#[tokio::test]
async fn each_host_call_has_its_own_span_under_the_reconcile_span() {
    let recorder = Recorder::global();
    let host = Host::new().with_chaos();
    let case = "host-call-spans";
    reconcile_traced(&host, case, "seg", "nsx").await;
    reconcile_traced(&host, case, "nope", "denied-kube").await;

    let nsx = recorder.named_under("host.nsx.request", case);
    assert_eq!(nsx.len(), 1, "{nsx:?}");
    assert_eq!(nsx[0].fields["method"], "GET");
    assert_eq!(nsx[0].fields["target"], "/policy/api/v1/infra/segments/s1");
    assert_eq!(nsx[0].fields["allowed"], "true");

    let applies = recorder.named_under("host.kube.apply", case);
    assert!(!applies.is_empty(), "the nsx mode reports through kube apply");
    assert!(applies.iter().all(|s| s.fields["allowed"] == "true"));
    assert!(applies[0].fields["target"].contains("ConfigMap"), "{:?}", applies[0]);

    let gets = recorder.named_under("host.kube.get", case);
    let denied: Vec<_> =
        gets.iter().filter(|s| s.fields.get("allowed").map(String::as_str) == Some("false")).collect();
    assert_eq!(denied.len(), 1, "{gets:?}");
    assert_eq!(denied[0].fields["verb"], "get");
    assert!(denied[0].fields["target"].contains("Secret"), "{:?}", denied[0]);
}
