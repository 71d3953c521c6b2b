//! Leader election through a Lease on the embedded API server.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use tokio::time::Instant;
use wasmvisor_host::leader::{Leader, LeaderConfig};

use crate::eventually::{eventually, within};
use crate::support::TestServer;

const LEASE: Duration = Duration::from_secs(2);

fn config(identity: &str) -> LeaderConfig {
    LeaderConfig {
        lease_duration: LEASE,
        renew_deadline: Duration::from_millis(1500),
        retry_period: Duration::from_millis(200),
        ..LeaderConfig::new("default", "wasmvisor-test", identity)
    }
}

async fn holder(client: &kube::Client) -> Option<String> {
    let leases: kube::Api<Lease> = kube::Api::namespaced(client.clone(), "default");
    leases.get_opt("wasmvisor-test").await.unwrap()?.spec?.holder_identity
}

/// Starts two electors and waits until exactly one leads; returns (leader, standby).
async fn elect(client: &kube::Client) -> ((Leader, &'static str), (Leader, &'static str)) {
    let a = Leader::start(client.clone(), config("a")).unwrap();
    let b = Leader::start(client.clone(), config("b")).unwrap();
    eventually("a leader", || async { (a.is_leader() || b.is_leader()).then_some(()) }).await;
    // For a while longer (several renewals), never both, never none.
    let until = Instant::now() + Duration::from_secs(1);
    let mut tick = tokio::time::interval(Duration::from_millis(25));
    while Instant::now() < until {
        tick.tick().await;
        assert!(a.is_leader() ^ b.is_leader(), "a={} b={}", a.is_leader(), b.is_leader());
    }
    if a.is_leader() { ((a, "a"), (b, "b")) } else { ((b, "b"), (a, "a")) }
}

#[tokio::test]
async fn two_electors_one_leader_and_the_standby_takes_over_a_dead_leader() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let ((leader, leader_id), (standby, standby_id)) = elect(&client).await;
    assert_eq!(holder(&client).await.as_deref(), Some(leader_id));

    // The leader stops renewing without releasing, as if killed.
    drop(leader);
    let killed = Instant::now();
    within("the standby to lead", LEASE * 3, || async { standby.is_leader().then_some(()) }).await;
    let took = killed.elapsed();
    // Takeover waits for the lease to expire (from the last renewal the
    // standby saw), plus at most one retry period.
    assert!(took >= LEASE / 2, "took over after {took:?}, before the lease could expire");
    // Margin: one retry period plus request latency on a loaded machine.
    assert!(took <= LEASE + Duration::from_millis(1200), "took over after {took:?}");
    assert_eq!(holder(&client).await.as_deref(), Some(standby_id));
}

#[tokio::test]
async fn a_leader_that_steps_down_hands_over_at_once() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let ((leader, _), (standby, standby_id)) = elect(&client).await;
    let mut watch = standby.watch();
    let stepped = Instant::now();
    leader.step_down().await;
    tokio::time::timeout(LEASE, watch.wait_for(|leading| *leading))
        .await
        .expect("the standby leads before the lease would have expired")
        .unwrap();
    assert!(stepped.elapsed() < LEASE, "{:?}", stepped.elapsed());
    assert_eq!(holder(&client).await.as_deref(), Some(standby_id));
}

#[tokio::test]
async fn a_leader_that_loses_the_api_server_steps_down() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let leader = Leader::start(client.clone(), config("solo")).unwrap();
    eventually("leadership", || async { leader.is_leader().then_some(()) }).await;
    let mut watch = leader.watch();
    server.running.shutdown().await.unwrap();
    // It must stop believing it leads before anyone else could take over.
    let lost = Instant::now();
    tokio::time::timeout(LEASE * 2, watch.wait_for(|leading| !*leading)).await.unwrap().unwrap();
    assert!(lost.elapsed() < LEASE, "stepped down after {:?}", lost.elapsed());
    drop(server.dir);
}
