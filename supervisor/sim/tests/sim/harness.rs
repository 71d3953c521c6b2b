//! Starting simulators on 127.0.0.1:0 in a temporary data dir, logging in, and polling
//! with a deadline.

use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use serde_json::{Value, json};
use wasmvisor_sim::{NsxSim, Running, SimConfig, VcenterSim, VcenterTiming};

use crate::client::{Auth, Client};

/// Fast guest timing so tests poll for well under a second.
pub(crate) fn fast_timing() -> VcenterTiming {
    VcenterTiming {
        session_idle_timeout: Duration::from_secs(600),
        tools_after: Duration::from_millis(150),
        ip_after: Duration::from_millis(400),
    }
}

pub(crate) fn config(dir: &Path) -> SimConfig {
    SimConfig::new(dir, "127.0.0.1:0".parse().expect("loopback address"))
}

pub(crate) async fn start_nsx(dir: &Path) -> Result<(Running, Client)> {
    let running = NsxSim::start(config(dir)).await?;
    let client = nsx_client(&running)?;
    Ok((running, client))
}

pub(crate) fn nsx_client(running: &Running) -> Result<Client> {
    let creds = &running.credentials;
    Ok(Client::new(running)?.with(Auth::Basic(creds.username.clone(), creds.password.clone())))
}

pub(crate) async fn start_vcenter(dir: &Path, timing: VcenterTiming) -> Result<(Running, Client)> {
    let running = VcenterSim::start(config(dir), timing).await?;
    let client = vcenter_login(&running).await?;
    Ok((running, client))
}

/// Logs in with basic auth and returns a client carrying the session id.
pub(crate) async fn vcenter_login(running: &Running) -> Result<Client> {
    let creds = &running.credentials;
    let basic = Client::new(running)?.with(Auth::Basic(creds.username.clone(), creds.password.clone()));
    let reply = basic.post("/api/session", None).await?.expect(201);
    let Some(id) = reply.json.as_str() else { bail!("session id is not a JSON string: {}", reply.text) };
    Ok(basic.with(Auth::Session(id.to_owned())))
}

/// Calls `probe` until it returns `Ok`, failing after `deadline` with the last `Err`
/// (the last state seen).
pub(crate) async fn eventually<T, F, Fut>(deadline: Duration, mut probe: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let start = Instant::now();
    loop {
        match probe().await {
            Ok(value) => return Ok(value),
            Err(last) if start.elapsed() > deadline => {
                bail!("not reached within {deadline:?}; last state: {last}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(25)).await,
        }
    }
}

pub(crate) const POLICY: &str = "/policy/api/v1";

/// PATCHes `body` at the Policy path `path` and expects 200.
pub(crate) async fn nsx_patch(nsx: &Client, path: &str, body: Value) -> Result<()> {
    nsx.patch(&format!("{POLICY}{path}"), &body).await?.expect(200);
    Ok(())
}

/// A Tier-1 with locale services on an edge cluster, ready for segments and LB services.
pub(crate) async fn tier1(nsx: &Client, id: &str) -> Result<()> {
    nsx_patch(nsx, &format!("/infra/tier-1s/{id}"), json!({"tier0_path": "/infra/tier-0s/t0"})).await?;
    nsx_patch(
        nsx,
        &format!("/infra/tier-1s/{id}/locale-services/default"),
        json!({"edge_cluster_path": "/infra/sites/default/enforcement-points/default/edge-clusters/ec1"}),
    )
    .await
}

/// A VM create spec on the simulator's fixed inventory.
pub(crate) fn vm_spec(name: &str, nics: Value) -> Value {
    json!({
        "name": name,
        "guest_OS": "UBUNTU_64",
        "placement": {"folder": "group-v3", "resource_pool": "resgroup-8", "datastore": "datastore-11"},
        "cpu": {"count": 2, "cores_per_socket": 1},
        "memory": {"size_MiB": 4096},
        "nics": nics,
    })
}
