//! A busy guest starves nobody: guest code runs off the async runtime's
//! worker threads, so while guests loop the runtime still serves the host's
//! own work and other plugins' reconciles; the deadline still ends each loop.
//!
//! The tests run on a single-threaded runtime, where a guest polled on the
//! worker would hold the only thread until its deadline.

use std::pin::pin;
use std::time::Duration;

use futures::future::{Either, join_all, select};
use serde_json::json;
use wasmvisor_host::{CallError, Failure};
use wasmvisor_plugins::testing::CHAOS;

use crate::fixture::Host;

fn ended_at_its_deadline(result: Result<wasmvisor_host::Report, CallError>) {
    match result {
        Err(CallError::Failed(e)) => {
            assert_eq!(e.failure, Failure::Deadline { limit: Duration::from_millis(500) })
        }
        other => panic!("expected the loop to end at its deadline, got {other:?}"),
    }
}

#[tokio::test]
async fn a_looping_guest_leaves_the_runtime_to_a_well_behaved_plugin() {
    let host = Host::new(&[(CHAOS.bytes, CHAOS.file)]);
    let looping = pin!(host.reconcile("chaos", "chaos", "spin", json!({"mode": "loop"})));
    match select(looping, pin!(host.assert_responsive())).await {
        Either::Right(((), looping)) => ended_at_its_deadline(looping.await),
        Either::Left((result, _)) => {
            panic!("the loop ended ({result:?}) before a well-behaved reconcile got a turn")
        }
    }
    host.assert_responsive().await;
}

#[tokio::test]
async fn eight_looping_guests_leave_timers_and_other_plugins_running() {
    let host = Host::new(&[(CHAOS.bytes, CHAOS.file)]);
    let names: Vec<String> = (0..8).map(|i| format!("spin-{i}")).collect();
    let loops =
        join_all(names.iter().map(|name| host.reconcile("chaos", "chaos", name, json!({"mode": "loop"}))));
    let host_work = async {
        // What the admin endpoint and the controllers need: timers fire and
        // another plugin's reconciles complete, again and again.
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_millis(1)).await;
            host.assert_responsive().await;
        }
    };
    match select(pin!(loops), pin!(host_work)).await {
        Either::Right(((), loops)) => loops.await.into_iter().for_each(ended_at_its_deadline),
        Either::Left(_) => panic!("the loops ended before the host's own work got a turn"),
    }
}
