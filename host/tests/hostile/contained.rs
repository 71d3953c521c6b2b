//! The attacks the sandbox contained from the start, tried again here so
//! each stays contained: the chaos plugin misbehaves one way per test, the
//! call ends as the typed failure that names it (or the attack gets
//! nothing), and the host still serves: a well-behaved reconcile lands and
//! the admin endpoint answers. The loop is in `starvation`, host-side
//! amplification in `host_memory`, the flood across calls in `log_flood`.

use serde_json::{Value, json};
use wasmvisor_host::capability::error::LimitExceeded;
use wasmvisor_host::manifest::section;
use wasmvisor_host::{CallError, ErrorKind, Failure, Report};
use wasmvisor_plugins::testing::CHAOS;

use crate::fixture::Host;

fn chaos_host() -> Host {
    Host::new(&[(CHAOS.bytes, CHAOS.file)])
}

/// Has chaos reconcile `name` with `data`; the failure it ended with.
async fn failed(host: &Host, name: &str, data: Value) -> Failure {
    match host.reconcile("chaos", "chaos", name, data).await {
        Err(CallError::Failed(e)) => e.failure,
        other => panic!("expected {name} to fail, got {other:?}"),
    }
}

/// Has chaos reconcile `name` with `data`, which must succeed.
async fn done(host: &Host, name: &str, data: Value) -> Report {
    host.reconcile("chaos", "chaos", name, data).await.expect("the reconcile itself succeeds")
}

#[tokio::test]
async fn a_memory_bomb_stops_at_the_plugins_cap() {
    let host = chaos_host();
    match failed(&host, "hoard", json!({"mode": "oom"})).await {
        Failure::Limit(LimitExceeded::Memory { limit, .. }) => assert_eq!(limit, 32 << 20),
        other => panic!("expected the memory cap, got {other:?}"),
    }
    host.assert_responsive().await;
}

#[tokio::test]
async fn a_stack_overflow_is_a_trap_of_that_call_alone() {
    let host = chaos_host();
    // A Rust guest's stack sits first in its memory, so overflowing it
    // traps as an access below address 0; a wasm call stack that runs out
    // traps as exhausted. Either ends this call only.
    match failed(&host, "deep", json!({"mode": "recurse"})).await {
        Failure::Trap { message } => assert!(
            message == wasmtime::Trap::MemoryOutOfBounds.to_string()
                || message == wasmtime::Trap::StackOverflow.to_string(),
            "{message}"
        ),
        other => panic!("expected a trap, got {other:?}"),
    }
    host.assert_responsive().await;
}

#[tokio::test]
async fn a_flood_in_one_call_keeps_a_hundred_lines() {
    let host = chaos_host();
    let report = done(&host, "noisy", json!({"mode": "flood", "lines": "10000"})).await;
    assert_eq!(report.dropped.lines, 10_000 - 100);
    host.assert_responsive().await;
}

#[tokio::test]
async fn a_huge_output_never_reaches_the_backend() {
    let host = chaos_host();
    let failure = failed(&host, "huge", json!({"mode": "big-output", "bytes": "4000000"})).await;
    assert!(matches!(failure, Failure::Limit(LimitExceeded::Output { .. })), "{failure:?}");
    assert!(host.object("v1", "ConfigMap", Some("chaos"), "huge-big").is_none());
    host.assert_responsive().await;
}

/// Forged identity tags beside a value nested past what a JSON reader
/// takes: the host cannot stamp that body, so it never sends it.
#[tokio::test]
async fn a_body_nested_past_reading_is_refused_not_sent_as_written() {
    let host = chaos_host();
    done(&host, "nested", json!({"mode": "nested", "depth": "100000"})).await;
    let seen = host.object("v1", "ConfigMap", Some("chaos"), "nested-nested").unwrap();
    let seen = seen["data"]["seen"].as_str().unwrap();
    assert!(seen.starts_with("refused: invalid") && seen.contains("recursion limit"), "{seen}");
    let sent = host.nsx.sent();
    assert!(!sent.iter().any(|request| request.starts_with("PATCH")), "sent: {sent:?}");
    host.assert_responsive().await;
}

#[tokio::test]
async fn the_host_call_budget_ends_a_greedy_call() {
    let host = chaos_host();
    let failure = failed(&host, "greedy", json!({"mode": "budget"})).await;
    assert_eq!(failure, Failure::Limit(LimitExceeded::HostCalls { limit: 20 }));
    host.assert_responsive().await;
}

#[tokio::test]
async fn kube_reach_past_the_grant_is_forbidden() {
    let host = chaos_host();
    for mode in ["denied-kube", "denied-namespace"] {
        match failed(&host, mode, json!({"mode": mode})).await {
            Failure::Returned { kind: ErrorKind::Forbidden, .. } => {}
            other => panic!("{mode}: expected forbidden, got {other:?}"),
        }
    }
    host.assert_responsive().await;
}

#[tokio::test]
async fn wasi_gives_no_files_environment_sockets_or_processes() {
    let host = chaos_host();
    done(&host, "escape", json!({"mode": "wasi"})).await;
    let seen = host.object("v1", "ConfigMap", Some("chaos"), "escape-wasi").unwrap()["data"].clone();
    for key in ["file", "cwd", "socket", "spawn"] {
        assert!(seen[key].as_str().unwrap().starts_with("error"), "{key}: {seen}");
    }
    assert_eq!((seen["env"].as_str(), seen["args"].as_str()), (Some("0"), Some("0")), "{seen}");
    host.assert_responsive().await;
}

#[tokio::test]
async fn malformed_manifests_and_foreign_imports_are_refused_at_load() {
    let host = chaos_host();
    let garbage = host.install(b"this is not wasm at all", "garbage.wasm").unwrap_err().to_string();
    assert!(garbage.starts_with("not a WebAssembly binary"), "{garbage}");
    let manifest = "name = \"bad name!\"\nversion = \"1.0.0\"\n";
    let misnamed = section::embed(CHAOS.bytes, manifest).unwrap();
    let refused = host.install(&misnamed, "misnamed.wasm").unwrap_err().to_string();
    assert!(refused.contains("bad name!"), "{refused}");
    let foreign = wat::parse_str(
        r#"(component (import "wasi:http/outgoing-handler@0.2.0" (instance (export "handle" (func)))))"#,
    )
    .unwrap();
    let manifest =
        "name = \"foreign\"\nversion = \"1.0.0\"\n[[watches]]\napi-version = \"v1\"\nkind = \"ConfigMap\"\n";
    let foreign = section::embed(&foreign, manifest).unwrap();
    let refused = host.install(&foreign, "foreign.wasm").unwrap_err().to_string();
    assert!(refused.contains("wasi:http/outgoing-handler@0.2.0"), "{refused}");
    host.assert_responsive().await;
}
