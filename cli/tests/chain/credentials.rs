//! What a plugin received, read back from the flight recorder: every host
//! call's result of every reconcile it ran (the recorder redacts Secret data
//! and credential fields, so a redaction marker is itself a finding), scanned
//! for each credential the run holds: the simulators' passwords, the API
//! server tokens of the admin and the host, and the guest clusters'
//! kubeconfigs.

use std::path::Path;

use serde_json::Value;
use wasmvisor_host::recorder::redact::REDACTED;
use wasmvisor_host::recorder::store::Reader;

use crate::supervisor::Supervisor;

/// Shortest string counted as a credential (a password, token or key).
const MIN_SECRET: usize = 12;

/// The string leaves of `value` long enough to be a credential.
fn secrets_in(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) if s.len() >= MIN_SECRET => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| secrets_in(v, out)),
        Value::Object(map) => map.values().for_each(|v| secrets_in(v, out)),
        _ => {}
    }
}

/// Every credential of this run: each `sim/*credentials*` password and each
/// kubeconfig's `users` (admin, host and `guests`).
fn credentials(supervisor: &Supervisor, guest_kubeconfigs: &[&Path]) -> Vec<String> {
    let dir = supervisor.dir.path();
    let mut found = Vec::new();
    let read = |path: &Path| -> Value {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    for entry in std::fs::read_dir(dir.join("sim")).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap().to_string_lossy().contains("credentials") {
            found.push(
                read(&path)["password"].as_str().expect("a credentials file has a password").to_owned(),
            );
        }
    }
    let kubeconfigs = [dir.join("kubeconfig"), dir.join("host-kubeconfig")];
    for path in kubeconfigs.iter().map(|p| p.as_path()).chain(guest_kubeconfigs.iter().copied()) {
        secrets_in(&read(path)["users"], &mut found);
    }
    found
}

/// Asserts `plugin` ran and that nothing it received holds a credential.
pub(crate) fn nothing_received_is_a_credential(supervisor: &Supervisor, plugin: &str, guests: &[&Path]) {
    let secrets = credentials(supervisor, guests);
    assert!(secrets.len() >= 4, "the run's credentials were found: {} of them", secrets.len());
    let store = Reader::open(&supervisor.dir.path().join("recordings.db")).expect("the recordings open");
    let records = store.since(Some(plugin), 0).expect("the recordings read");
    let results: usize = records.iter().map(|r| r.calls.len()).sum();
    assert!(results > 0, "{plugin} made host calls ({} reconciles recorded)", records.len());
    for record in &records {
        let text = serde_json::to_string(record).unwrap();
        let what = format!("{plugin}'s reconcile of {:?} (record {})", record.object, record.id);
        assert!(!text.contains(REDACTED), "{what} received something the recorder had to redact");
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "{what} received a credential of this run");
        }
    }
    println!("{plugin}: {} reconciles, {results} host call results, no credential", records.len());
}
