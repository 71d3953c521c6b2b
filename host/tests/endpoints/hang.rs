//! A host call that never returns (an endpoint that accepted the request and
//! went silent) cannot hold a plugin past its deadline: the epoch stops guest
//! code, and the call's timer stops the host call the epoch cannot reach.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use wasmvisor_host::capability::endpoint::{EndpointError, HttpEndpoint, HttpRequest, HttpResponse};
use wasmvisor_host::manifest::section;
use wasmvisor_host::{CallError, Failure, Grants};
use wasmvisor_plugins::testing::PROBE;

use crate::harness::{Host, PROBE_GRANT, call};

/// An endpoint whose every request waits forever.
struct Silent;

#[async_trait::async_trait]
impl HttpEndpoint for Silent {
    async fn send(&self, _: HttpRequest) -> Result<HttpResponse, EndpointError> {
        std::future::pending().await
    }
}

#[tokio::test]
async fn a_plugin_stuck_in_a_host_call_is_ended_by_its_deadline() {
    const LIMIT: Duration = Duration::from_secs(1);
    // The probe as its author would declare a 1 s timeout.
    let manifest =
        section::extract(PROBE.bytes).unwrap().replacen("timeout = \"20s\"", "timeout = \"1s\"", 1);
    let probe = section::embed(PROBE.bytes, &manifest).unwrap();
    let grants = Grants::parse(&PROBE_GRANT.replacen("timeout = \"20s\"", "timeout = \"1s\"", 1)).unwrap();
    let silent: Arc<dyn HttpEndpoint> = Arc::new(Silent);
    let host = Host::build(silent.clone(), silent, grants, &[(probe, "probe.wasm")]);

    let calls = json!([call("nsx", "GET", "/policy/api/v1/infra/segments", None)]);
    let started = Instant::now();
    // Bounded, so a host that lost the timer fails here instead of hanging the suite.
    let result =
        tokio::time::timeout(LIMIT * 30, host.probe_with("stuck", json!({"calls": calls.to_string()})))
            .await
            .expect("the call outlived its deadline thirty times over: nothing stops a hung host call");
    let took = started.elapsed();
    match result {
        Err(CallError::Failed(e)) => assert_eq!(e.failure, Failure::Deadline { limit: LIMIT }, "{e}"),
        other => panic!("expected the deadline, got {other:?}"),
    }
    assert!(took >= LIMIT, "ended after {took:?}, before its deadline");
    // The plugin is not wedged: the next call runs (and meets the same silence).
    let again = host.probe_with("again", json!({"calls": calls.to_string()})).await;
    assert!(
        matches!(again, Err(CallError::Failed(ref e)) if matches!(e.failure, Failure::Deadline { .. })),
        "{again:?}"
    );
}
