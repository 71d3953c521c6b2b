//! Fault injection through `/_sim/faults` and at start: 429 with Retry-After, 5xx,
//! latency, dropped connections; and the `/_sim/state` dump.

use std::time::{Duration, Instant};

use anyhow::Result;
use serde_json::json;
use wasmvisor_sim::{FaultSettings, NsxSim};

use crate::client::Auth;
use crate::harness::{POLICY, config, fast_timing, nsx_client, start_nsx, start_vcenter};

#[tokio::test]
async fn throttling_answers_429_with_retry_after_then_recovers() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (running, nsx) = start_nsx(dir.path()).await?;
    let set = json!({"throttle_next": 2, "retry_after_secs": 7});
    nsx.put("/_sim/faults", &set).await?.expect(200);
    let url = format!("{POLICY}/infra/segments");
    for _ in 0..2 {
        let throttled = nsx.get(&url).await?.expect(429);
        assert_eq!(throttled.headers.get("retry-after").and_then(|v| v.to_str().ok()), Some("7"));
        assert_eq!(
            throttled.json["httpStatus"], "TOO_MANY_REQUESTS",
            "in the NSX error body: {}",
            throttled.text
        );
    }
    nsx.get(&url).await?.expect(200);
    assert_eq!(nsx.get("/_sim/faults").await?.expect(200).json["throttle_next"], 0);
    running.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn server_errors_use_the_vcenter_body_and_spare_the_admin_routes() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (running, vc) = start_vcenter(dir.path(), fast_timing()).await?;
    let creds = &running.credentials;
    let admin = vc.with(Auth::Basic(creds.username.clone(), creds.password.clone()));
    admin.put("/_sim/faults", &json!({"error_rate": 1.0, "error_status": 500})).await?.expect(200);
    let failed = vc.get("/api/vcenter/vm").await?.expect(500);
    assert_eq!(failed.json["error_type"], "ERROR");
    admin.get("/_sim/faults").await?.expect(200);
    admin.put("/_sim/faults", &json!({})).await?.expect(200);
    vc.get("/api/vcenter/vm").await?.expect(200);
    running.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn dropped_connections_get_no_answer() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (running, nsx) = start_nsx(dir.path()).await?;
    nsx.put("/_sim/faults", &json!({"drop_next": 1})).await?.expect(200);
    let url = format!("{POLICY}/infra/segments");
    let dropped = tokio::time::timeout(Duration::from_secs(5), nsx.get(&url)).await?;
    assert!(dropped.is_err(), "expected a connection error, got {dropped:?}");
    nsx.get(&url).await?.expect(200);
    running.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn latency_is_added_to_every_call() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (running, nsx) = start_nsx(dir.path()).await?;
    nsx.put("/_sim/faults", &json!({"latency_ms": 300})).await?.expect(200);
    let started = Instant::now();
    nsx.get(&format!("{POLICY}/infra/segments")).await?.expect(200);
    assert!(started.elapsed() >= Duration::from_millis(300), "took {:?}", started.elapsed());
    running.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn faults_can_be_set_at_start() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut cfg = config(dir.path());
    cfg.faults = FaultSettings { error_next: 1, ..FaultSettings::default() };
    let running = NsxSim::start(cfg).await?;
    let nsx = nsx_client(&running)?;
    let url = format!("{POLICY}/infra/segments");
    assert_eq!(nsx.get(&url).await?.expect(503).json["httpStatus"], "SERVICE_UNAVAILABLE");
    nsx.get(&url).await?.expect(200);
    running.shutdown().await;

    let mut bad = config(dir.path());
    bad.faults = FaultSettings { throttle_rate: 2.0, ..FaultSettings::default() };
    assert!(NsxSim::start(bad).await.is_err(), "invalid settings refuse to start");
    Ok(())
}

#[tokio::test]
async fn admin_routes_check_input_and_credentials() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (running, nsx) = start_nsx(dir.path()).await?;
    let invalid = nsx.put("/_sim/faults", &json!({"drop_rate": 3.0})).await?.expect(400);
    assert!(invalid.text.contains("drop_rate"), "{}", invalid.text);
    nsx.put("/_sim/faults", &json!({"no_such_fault": 1})).await?.expect(422);
    nsx.with(Auth::None).get("/_sim/faults").await?.expect(401);
    nsx.with(Auth::None).get("/_sim/state").await?.expect(401);
    running.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn state_dump_shows_both_products() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (nsx_running, nsx) = start_nsx(dir.path()).await?;
    let (vc_running, vc) = start_vcenter(dir.path(), fast_timing()).await?;
    nsx.patch(&format!("{POLICY}/infra/segments/s1"), &json!({})).await?.expect(200);
    vc.post("/api/vcenter/vm", Some(&crate::harness::vm_spec("dumped", json!([])))).await?.expect(201);
    let state = nsx.get("/_sim/state").await?.expect(200).json;
    assert_eq!(state["/infra/segments"]["s1"]["path"], "/infra/segments/s1");
    assert_eq!(state["vcenter/vms"]["vm-1001"]["name"], "dumped");
    assert!(state["vcenter/nsx-networks"].is_object(), "the segment's network is in the dump: {state}");
    nsx_running.shutdown().await;
    vc_running.shutdown().await;
    Ok(())
}
