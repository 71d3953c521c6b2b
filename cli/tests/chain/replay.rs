//! `wasmvisor replay` of each chain plugin, as it ran, against its own
//! recordings of the whole run: every reconcile is the same, bit for bit
//! (the clock as recorded, reads as recorded, every write as recorded).
//! A candidate that changed says how, in the exit status too.

use serde_json::Value;
use wasmvisor_host::manifest::section;

use crate::audit::CHAIN;
use crate::supervisor::Supervisor;
use crate::support::{command, path, text};

/// Replays each chain plugin's component from `DIR/plugins` on its recordings.
pub(crate) fn each_plugin_replays_its_own_recordings_the_same(supervisor: &Supervisor) {
    for plugin in CHAIN {
        let file = supervisor.dir.path().join("plugins").join(format!("{plugin}.wasm"));
        let out = command(&["replay", path(&file), "--data-dir", path(supervisor.dir.path()), "-o", "json"])
            .output()
            .unwrap();
        let verdicts: Vec<Value> = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("replay {plugin} -o json: {e}; stderr: {}", text(&out.stderr)));
        let not_same: Vec<&Value> = verdicts.iter().filter(|v| v["verdict"] != "same").collect();
        assert!(not_same.is_empty(), "{plugin} replayed on its own recordings: {not_same:#?}");
        assert!(out.status.success(), "replay {plugin} exits 0 when all are the same: {}", text(&out.stderr));
        assert!(!verdicts.is_empty(), "{plugin}: the run recorded reconciles of it");
        println!("replay {plugin}: {} reconciles, all the same", verdicts.len());
    }
}

/// calico's component with its manifest's Node verbs replaced, as version 0.2.0.
fn calico_with_node_verbs(supervisor: &Supervisor, verbs: &str) -> std::path::PathBuf {
    let file = supervisor.dir.path().join("plugins/calico.wasm");
    let bytes = std::fs::read(&file).unwrap();
    let manifest = section::extract(&bytes).unwrap();
    let node_rule = "kind = \"Node\"\nverbs = [\"list\", \"apply\"]";
    assert!(manifest.contains(node_rule), "calico's manifest grants list and apply on Nodes");
    let manifest = manifest
        .replace(node_rule, &format!("kind = \"Node\"\nverbs = {verbs}"))
        .replace("version = \"0.1.0\"", "version = \"0.2.0\"");
    let candidate = supervisor.dir.path().join(format!("calico-{}.wasm", verbs.len()));
    std::fs::write(&candidate, section::embed(&bytes, &manifest).unwrap()).unwrap();
    candidate
}

/// A calico 0.2.0 that no longer may write Nodes: its replay names the
/// Node writes now refused and the `forbidden` its reconciles end with,
/// and exits 1. One that asks for more than calico was granted never runs:
/// exit 2, naming what it asks.
pub(crate) fn a_candidate_that_lost_a_capability_differs_and_a_greedy_one_is_refused(
    supervisor: &Supervisor,
) {
    let dir = path(supervisor.dir.path());
    let lost = calico_with_node_verbs(supervisor, "[\"list\"]");
    let out = command(&["replay", path(&lost), "--data-dir", dir]).output().unwrap();
    let report = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "a difference exits 1: {report}{}", text(&out.stderr));
    assert!(report.contains("different"), "{report}");
    assert!(report.contains(": ok → denied"), "the Node writes are refused: {report}");
    assert!(
        report.contains("→ error forbidden: kube apply v1/Node"),
        "the outcome names the refusal: {report}"
    );
    println!("replay of a calico that lost `apply` on Nodes:\n{report}");

    let greedy = calico_with_node_verbs(supervisor, "[\"list\", \"apply\", \"delete\"]");
    let out = command(&["replay", path(&greedy), "--data-dir", dir]).output().unwrap();
    let error = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "a refused candidate exits 2: {error}");
    assert!(error.contains("asks for more than its grant") && error.contains("delete"), "{error}");
}
