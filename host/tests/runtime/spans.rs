//! Every host call runs in a `host.<capability>.<op>` span under the span
//! the call was made in (the engine's `reconcile` span), with the verb or
//! method, the target and whether the grant allowed it.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use serde_json::json;
use tracing::Instrument as _;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;

use crate::harness::Host;

/// One span as the test saw it: name, parent's name, fields.
#[derive(Debug, Clone)]
struct Seen {
    name: &'static str,
    parent: Option<&'static str>,
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
        let parent = ctx.span(id).and_then(|s| s.parent()).map(|p| p.name());
        let mut fields = BTreeMap::new();
        attrs.record(&mut Fields(&mut fields));
        let seen = Seen { name: attrs.metadata().name(), parent, fields };
        let mut spans = self.0.lock().unwrap();
        let (all, live) = &mut *spans;
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
    fn named(&self, name: &str) -> Vec<Seen> {
        self.0.lock().unwrap().0.iter().filter(|s| s.name == name).cloned().collect()
    }
}

async fn reconcile_traced(host: &Host, recorder: &Recorder, name: &str, mode: &str) {
    let subscriber = tracing_subscriber::registry().with(recorder.clone());
    let _default = tracing::subscriber::set_default(subscriber);
    let _ = host.chaos(name, json!({"mode": mode})).instrument(tracing::info_span!("reconcile")).await;
}

#[tokio::test]
async fn each_host_call_has_its_own_span_under_the_reconcile_span() {
    let host = Host::new().with_chaos();
    let recorder = Recorder::default();
    reconcile_traced(&host, &recorder, "seg", "nsx").await;
    reconcile_traced(&host, &recorder, "nope", "denied-kube").await;

    let nsx = recorder.named("host.nsx.request");
    assert_eq!(nsx.len(), 1, "{nsx:?}");
    assert_eq!(nsx[0].parent, Some("reconcile"));
    assert_eq!(nsx[0].fields["method"], "GET");
    assert_eq!(nsx[0].fields["target"], "/policy/api/v1/infra/segments/s1");
    assert_eq!(nsx[0].fields["allowed"], "true");

    let applies = recorder.named("host.kube.apply");
    assert!(!applies.is_empty(), "the nsx mode reports through kube apply");
    assert!(applies.iter().all(|s| s.parent == Some("reconcile") && s.fields["allowed"] == "true"));
    assert!(applies[0].fields["target"].contains("ConfigMap"), "{:?}", applies[0]);

    let gets = recorder.named("host.kube.get");
    let denied: Vec<_> =
        gets.iter().filter(|s| s.fields.get("allowed").map(String::as_str) == Some("false")).collect();
    assert_eq!(denied.len(), 1, "{gets:?}");
    assert_eq!(denied[0].fields["verb"], "get");
    assert!(denied[0].fields["target"].contains("Secret"), "{:?}", denied[0]);
}
