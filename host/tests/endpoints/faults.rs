//! The host clients converge under injected faults: throttling with
//! `Retry-After`, 5xx, dropped connections, and an expired vCenter session;
//! and they stop where retrying would be unsafe or pointless.

use std::time::{Duration, Instant};

use serde_json::json;
use wasmvisor_host::capability::endpoint::EndpointError;
use wasmvisor_host::capability::endpoint::{EndpointConfig, connect_nsx, connect_vcenter};
use wasmvisor_host::manifest::Method;

use crate::harness::{Host, Sims, call, direct, logs};

const SEGMENT: &str = "/policy/api/v1/infra/segments/faulty";

pub(crate) fn vm_spec(name: &str) -> serde_json::Value {
    json!({
        "name": name, "guest_OS": "UBUNTU_64",
        "placement": {"folder": "group-v3", "resource_pool": "resgroup-8", "datastore": "datastore-11"},
    })
}

#[tokio::test]
async fn nsx_converges_after_two_429s_then_success() {
    let sims = Sims::start().await;
    let host = Host::new(&sims).await;
    direct(&*host.nsx, Method::Patch, SEGMENT, Some(json!({"display_name": "faulty"}))).await.unwrap();
    Sims::faults(&sims.nsx, json!({"throttle_next": 2, "retry_after_secs": 0}));
    // Through a plugin: the plugin sees only the final success.
    let seen = host.probe("throttled", json!([call("nsx", "GET", SEGMENT, None)])).await;
    assert_eq!(seen[0]["status"], 200, "{seen:?}");
    assert_eq!(sims.nsx.faults.get().throttle_next, 0, "both 429s were consumed");
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let sims = Sims::start().await;
    let host = Host::new(&sims).await;
    direct(&*host.nsx, Method::Patch, SEGMENT, Some(json!({}))).await.unwrap();
    Sims::faults(&sims.nsx, json!({"throttle_next": 1, "retry_after_secs": 1}));
    let start = Instant::now();
    direct(&*host.nsx, Method::Get, SEGMENT, None).await.unwrap();
    let waited = start.elapsed();
    assert!(waited >= Duration::from_secs(1), "retried after {waited:?}, before Retry-After");
}

#[tokio::test]
async fn nsx_converges_after_5xx_and_dropped_connections() {
    let sims = Sims::start().await;
    let host = Host::new(&sims).await;
    Sims::faults(&sims.nsx, json!({"error_next": 2, "error_status": 502}));
    direct(&*host.nsx, Method::Patch, SEGMENT, Some(json!({"display_name": "x"}))).await.unwrap();
    Sims::faults(&sims.nsx, json!({"drop_next": 2}));
    let got = direct(&*host.nsx, Method::Get, SEGMENT, None).await.unwrap();
    assert!(got.body.contains("\"display_name\":\"x\""), "{}", got.body);
    let left = sims.nsx.faults.get();
    assert_eq!((left.error_next, left.drop_next), (0, 0));
}

#[tokio::test]
async fn spent_retries_are_unavailable_after_exactly_the_budget() {
    let sims = Sims::start().await;
    let config = EndpointConfig { retries: 2, ..sims.nsx_config.clone() };
    let nsx = connect_nsx(&config, None, &Default::default()).await.unwrap();
    Sims::faults(&sims.nsx, json!({"error_next": 10}));
    let err = direct(&*nsx, Method::Get, SEGMENT, None).await.unwrap_err();
    assert!(matches!(&err, EndpointError::Unavailable(m) if m.starts_with("NSX 503")), "{err:?}");
    assert_eq!(sims.nsx.faults.get().error_next, 7, "one attempt and two retries");
}

#[tokio::test]
async fn a_create_is_not_repeated_after_a_5xx() {
    let sims = Sims::start().await;
    let vcenter = connect_vcenter(&sims.vcenter_config, None, &Default::default()).await.unwrap();
    direct(&*vcenter, Method::Get, "/api/vcenter/vm", None).await.unwrap(); // logs in
    Sims::faults(&sims.vcenter, json!({"error_next": 1}));
    let err = direct(&*vcenter, Method::Post, "/api/vcenter/vm", Some(vm_spec("once"))).await.unwrap_err();
    assert!(matches!(err, EndpointError::Unavailable(_)), "{err:?}");
    let listed = direct(&*vcenter, Method::Get, "/api/vcenter/vm?names=once", None).await.unwrap();
    assert_eq!(listed.body, "[]", "the POST was sent once and failed");
    // A 429 is a refusal before any work: even a POST is retried.
    Sims::faults(&sims.vcenter, json!({"throttle_next": 1}));
    direct(&*vcenter, Method::Post, "/api/vcenter/vm", Some(vm_spec("once"))).await.unwrap();
}

#[tokio::test]
async fn a_tag_attach_and_a_tag_list_are_repeated_after_a_5xx() {
    // The host's ownership tag on a new VM rides on these two: an attach lost
    // to one 503 would leave a VM that belongs to no plugin, for good.
    let sims = Sims::start().await;
    let vcenter = connect_vcenter(&sims.vcenter_config, None, &Default::default()).await.unwrap();
    let category =
        json!({"name": "c", "category_id": "urn:c", "cardinality": "SINGLE", "associable_types": []});
    direct(&*vcenter, Method::Post, "/api/cis/tagging/category", Some(category)).await.unwrap();
    let tag = json!({"name": "t", "category_id": "urn:c", "tag_id": "urn:t"});
    direct(&*vcenter, Method::Post, "/api/cis/tagging/tag", Some(tag)).await.unwrap();
    let created = direct(&*vcenter, Method::Post, "/api/vcenter/vm", Some(vm_spec("tagged"))).await.unwrap();
    let vm: String = serde_json::from_str(&created.body).unwrap();
    let object = json!({"object_id": {"type": "VirtualMachine", "id": vm}});

    Sims::faults(&sims.vcenter, json!({"error_next": 1}));
    let attach = "/api/cis/tagging/tag-association/urn:t?action=attach";
    direct(&*vcenter, Method::Post, attach, Some(object.clone())).await.unwrap();
    Sims::faults(&sims.vcenter, json!({"error_next": 1}));
    let list = "/api/cis/tagging/tag-association?action=list-attached-tags";
    let attached = direct(&*vcenter, Method::Post, list, Some(object)).await.unwrap();
    assert_eq!(attached.body, r#"["urn:t"]"#);
    assert_eq!(sims.vcenter.faults.get().error_next, 0, "both 503s were met and retried");
}

#[tokio::test]
async fn vcenter_renews_an_expired_session_and_survives_faults() {
    let sims = Sims::start().await;
    let host = Host::new(&sims).await;
    let list = call("vcenter", "GET", "/api/vcenter/vm", None);
    assert_eq!(host.probe("before", json!([list])).await[0]["status"], 200);
    // vCenter forgets an idle session after 30 minutes.
    sims.vcenter_clock.advance(Duration::from_secs(31 * 60));
    Sims::faults(&sims.vcenter, json!({"throttle_next": 1, "error_next": 1, "drop_next": 1}));
    assert_eq!(host.probe("after", json!([list])).await[0]["status"], 200);
    let renewed = format!("endpoint={} generation=2", sims.vcenter.base_url);
    assert!(
        logs().lines().any(|l| l.contains("vcenter session created") && l.contains(&renewed)),
        "no second session for {}",
        sims.vcenter.base_url
    );
}

#[tokio::test]
async fn wrong_credentials_are_internal_not_retried_forever() {
    let sims = Sims::start().await;
    let creds = sims.dir.path().join("wrong.json");
    std::fs::write(&creds, r#"{"username": "admin", "password": "wrong"}"#).unwrap();
    let config = EndpointConfig {
        credentials: wasmvisor_host::capability::endpoint::CredentialsSource::File(creds),
        ..sims.vcenter_config.clone()
    };
    let err = direct(
        &*connect_vcenter(&config, None, &Default::default()).await.unwrap(),
        Method::Get,
        "/api/vcenter/vm",
        None,
    )
    .await
    .unwrap_err();
    assert!(matches!(&err, EndpointError::Internal(m) if m.contains("vCenter login refused")), "{err:?}");
    let config = EndpointConfig { credentials: config.credentials.clone(), ..sims.nsx_config.clone() };
    let err =
        direct(&*connect_nsx(&config, None, &Default::default()).await.unwrap(), Method::Get, SEGMENT, None)
            .await
            .unwrap_err();
    assert!(matches!(&err, EndpointError::Internal(m) if m.starts_with("NSX 401")), "{err:?}");
}

/// An answer slower than the client's timeout is a timeout; a GET is retried
/// within the budget, a create is not sent twice. Each attempt that reaches
/// the simulator takes one of its `error_next` (decided on arrival, before
/// the added latency), which counts the attempts.
#[tokio::test]
async fn slow_answers_time_out_and_only_idempotent_requests_are_retried() {
    let sims = Sims::start().await;
    let timeout = Duration::from_secs(1);
    let nsx = connect_nsx(
        &EndpointConfig { timeout, retries: 2, ..sims.nsx_config.clone() },
        None,
        &Default::default(),
    )
    .await
    .unwrap();
    Sims::faults(&sims.nsx, json!({"latency_ms": 3000, "error_next": 10}));
    let err = direct(&*nsx, Method::Get, SEGMENT, None).await.unwrap_err();
    assert!(matches!(&err, EndpointError::Unavailable(m) if m == "NSX: no answer within 1s"), "{err:?}");
    assert_eq!(sims.nsx.faults.get().error_next, 7, "one attempt and two retries");

    let config = EndpointConfig { timeout, retries: 2, ..sims.vcenter_config.clone() };
    let vcenter = connect_vcenter(&config, None, &Default::default()).await.unwrap();
    direct(&*vcenter, Method::Get, "/api/vcenter/vm", None).await.unwrap(); // logs in
    Sims::faults(&sims.vcenter, json!({"latency_ms": 3000, "error_next": 10}));
    let err = direct(&*vcenter, Method::Post, "/api/vcenter/vm", Some(vm_spec("slow"))).await.unwrap_err();
    assert!(matches!(&err, EndpointError::Unavailable(m) if m == "vCenter: no answer within 1s"), "{err:?}");
    assert_eq!(sims.vcenter.faults.get().error_next, 9, "the create was sent once");
}
