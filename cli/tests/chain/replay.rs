//! `wasmvisor replay` of each chain plugin, as it ran, against its own
//! recordings of the whole run: every reconcile is the same, bit for bit
//! (the clock as recorded, reads as recorded, every write as recorded).

use serde_json::Value;

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
