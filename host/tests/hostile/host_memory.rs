//! Host memory spent on a plugin's behalf is bounded: one host call copies
//! at most a few request-size caps out of the guest, checked by wasmtime
//! before the host allocates, far below the plugin's own memory cap.

use serde_json::json;
use wasmvisor_host::{CallError, Failure};
use wasmvisor_plugins::testing::CHAOS;

use crate::fixture::Host;

#[tokio::test]
async fn log_fields_cannot_make_the_host_copy_more_than_its_cap() {
    let host = Host::new(&[(CHAOS.bytes, CHAOS.file)]);
    // 8 fields of 1 MiB: 8 MiB for the host to copy, inside the plugin's 32 MiB.
    let result = host
        .reconcile("chaos", "chaos", "amplify", json!({"mode": "big-log", "bytes": "1048576", "fields": "8"}))
        .await;
    match result {
        Err(CallError::Failed(e)) => match &e.failure {
            Failure::Trap { message } => {
                assert!(message.contains("too much data is being copied"), "{message}")
            }
            other => panic!("expected the copy limit, got {other:?}"),
        },
        other => panic!("expected the copy limit, got {other:?}"),
    }
    // One field under the cap is an ordinary (cut) log line.
    host.reconcile("chaos", "chaos", "small", json!({"mode": "big-log", "bytes": "65536", "fields": "1"}))
        .await
        .expect("a field under the cap is logged");
    host.assert_responsive().await;
}
