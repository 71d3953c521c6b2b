//! Limits: each misbehaviour ends as a typed error naming the plugin, and the
//! next reconcile on the same host succeeds.

use std::time::{Duration, Instant};

use serde_json::json;
use wasmvisor_host::Failure;
use wasmvisor_host::capability::error::LimitExceeded;

use crate::harness::{Host, failure};

#[tokio::test]
async fn infinite_loop_hits_the_deadline_close_to_the_limit() {
    let host = Host::new().with_chaos();
    let started = Instant::now();
    let err = failure(host.chaos("spin", json!({"mode": "loop"})).await);
    let took = started.elapsed();
    assert_eq!(err.failure, Failure::Deadline { limit: Duration::from_millis(500) });
    assert!(err.to_string().starts_with("chaos@1.0.0 ran past its deadline of 500ms"), "{err}");
    // One epoch tick (10 ms) of slack, plus scheduling noise on a busy machine.
    assert!(took >= Duration::from_millis(490) && took < Duration::from_millis(1500), "took {took:?}");
    host.assert_still_serving().await;
}

#[tokio::test]
async fn memory_bomb_is_stopped_at_the_cap() {
    let host = Host::new().with_chaos();
    let err = failure(host.chaos("hoard", json!({"mode": "oom"})).await);
    match &err.failure {
        Failure::Limit(LimitExceeded::Memory { wanted, limit }) => {
            assert_eq!(*limit, 32 << 20);
            assert!(*wanted > *limit);
        }
        other => panic!("expected the memory cap, got {other:?}"),
    }
    assert!(err.to_string().contains("tried to grow its memory"), "{err}");
    host.assert_still_serving().await;
}

#[tokio::test]
async fn panic_is_a_typed_error_with_its_message() {
    let host = Host::new().with_chaos();
    let err = failure(host.chaos("boom", json!({"mode": "panic"})).await);
    match &err.failure {
        Failure::Panic { message } => assert!(message.contains("chaos asked to panic"), "{message}"),
        other => panic!("expected a panic, got {other:?}"),
    }
    let backtrace = err.backtrace.expect("a trap carries the guest backtrace");
    assert!(backtrace.contains("chaos_plugin"), "frames name the component's functions:\n{backtrace}");
    host.assert_still_serving().await;
}

/// A guest that exits mid-reconcile is reported as having exited, with the
/// status it gave: `exit-with-code` carries it whole; std's `exit(42)` goes
/// through WASI libc, whose `exit` has room for ok or error only.
#[tokio::test]
async fn an_exit_is_reported_with_its_status() {
    let host = Host::new().with_chaos();
    let err = failure(host.chaos("quit", json!({"mode": "exit-with-code", "code": "42"})).await);
    assert_eq!(err.failure, Failure::Exit { code: 42 });
    assert!(err.to_string().contains("exited with status 42 before returning a result"), "{err}");
    let err = failure(host.chaos("quit-std", json!({"mode": "exit", "code": "42"})).await);
    assert!(matches!(err.failure, Failure::Exit { code: 1 | 42 }), "{err}");
    host.assert_still_serving().await;
}

#[tokio::test]
async fn host_call_budget_is_enforced() {
    let host = Host::new().with_chaos();
    let err = failure(host.chaos("greedy", json!({"mode": "budget"})).await);
    assert_eq!(err.failure, Failure::Limit(LimitExceeded::HostCalls { limit: 20 }));
    host.assert_still_serving().await;
}

#[tokio::test]
async fn log_flood_is_capped_and_counted() {
    let host = Host::new().with_chaos();
    let report = host.chaos("noisy", json!({"mode": "flood", "lines": "5000"})).await.unwrap();
    assert_eq!(report.dropped.lines, 5000 - 100, "the default cap keeps 100 lines per call");
    assert!(report.dropped.bytes > 0);
    let dropped = host
        .runtime
        .metrics()
        .log_lines_dropped
        .get_or_create(&wasmvisor_host::metrics::PluginName { plugin: "chaos".into() });
    assert_eq!(dropped.get(), 4900);
    drop(dropped);
    host.assert_still_serving().await;
}

#[tokio::test]
async fn oversized_output_is_refused() {
    let host = Host::new().with_chaos();
    let err = failure(host.chaos("huge", json!({"mode": "big-output", "bytes": "2000000"})).await);
    match &err.failure {
        Failure::Limit(LimitExceeded::Output { what: "kube apply", size, limit }) => {
            assert!(*size > 2_000_000);
            assert_eq!(*limit, 1 << 20);
        }
        other => panic!("expected the output cap, got {other:?}"),
    }
    assert!(host.config_map("huge-big").is_none(), "nothing over the cap reached the backend");
    host.assert_still_serving().await;
}
