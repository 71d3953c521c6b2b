//! Test plugin for replay and shadow rollouts. For each ConfigMap labelled
//! `test.wasmvisor.dev/rollout` it reads `<name>-settings` (absent: tier
//! `gold`) and applies `<name>-derived`, labelled with the tier and
//! stamped with the wall clock in nanoseconds, so a replay that did not
//! give back the recorded clock would show.
//!
//! A candidate is this same build with its behaviour word changed in the
//! component's bytes (same length, so the component stays valid):
//!
//! | word | behaviour |
//! | --- | --- |
//! | `same` | as described above |
//! | `label` | the tier label is always `silver` |
//! | `drop` | reads, but writes nothing |
//! | `fail` | returns `internal` after reading |
//! | `read` | also reads `<name>-extra`, which no recording holds |
//! | `extra` | also applies `<name>-shadow-only` |
//! | `trap` | panics |
//! | `loop` | spins until its deadline |
//!
//! Never shipped.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use serde_json::{Value, json};
use wasmvisor_sdk::{Action, Context, Error, ObjectMeta, ObjectRef, Reconciler};

/// The behaviour word, `behaviour=<word>` padded with dots. Read through
/// `black_box`, so the compiler keeps it as bytes in the component.
static BEHAVIOUR: [u8; 20] = *b"behaviour=same......";

fn behaviour() -> &'static str {
    let bytes: &'static [u8; 20] = std::hint::black_box(&BEHAVIOUR);
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|b| b.strip_prefix("behaviour="))
        .map_or("same", |word| word.trim_end_matches('.'))
}

#[derive(Deserialize)]
struct ConfigMap {
    metadata: ObjectMeta,
    #[serde(default)]
    data: BTreeMap<String, String>,
}

struct Rollout;

impl Reconciler for Rollout {
    type Object = ConfigMap;

    fn reconcile(ctx: &Context, cm: ConfigMap) -> Result<Action, Error> {
        let namespace = cm.metadata.namespace.clone().unwrap_or_default();
        let name = &cm.metadata.name;
        let config_map = |suffix: &str| {
            ObjectRef::namespaced(ctx.cluster(), "v1", "ConfigMap", &namespace, &format!("{name}-{suffix}"))
        };
        let settings: Option<ConfigMap> = ctx.kube().get_opt(&config_map("settings"))?;
        let mut tier = settings.and_then(|s| s.data.get("tier").cloned()).unwrap_or_else(|| "gold".into());
        let seen_at = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        match behaviour() {
            "label" => tier = "silver".into(),
            "drop" => return Ok(Action::done()),
            "fail" => return Err(Error::Internal("the candidate fails".into())),
            "read" => drop(ctx.kube().get_opt::<Value>(&config_map("extra"))?),
            "trap" => panic!("the candidate traps"),
            "loop" => loop {
                std::hint::spin_loop();
            },
            _ => {}
        }
        let derived = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {
                "name": format!("{name}-derived"),
                "namespace": namespace,
                "labels": {"tier": tier},
            },
            "data": {"source": name, "seenAt": seen_at.to_string(), "entries": cm.data.len().to_string()},
        });
        ctx.kube().apply::<Value>(ctx.cluster(), &derived)?;
        if behaviour() == "extra" {
            let extra = json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": format!("{name}-shadow-only"), "namespace": namespace},
            });
            ctx.kube().apply::<Value>(ctx.cluster(), &extra)?;
        }
        Ok(Action::done())
    }
}

wasmvisor_sdk::export!(Rollout);
