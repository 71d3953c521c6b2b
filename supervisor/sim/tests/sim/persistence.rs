//! A restart on the same data dir comes back with the same world and credentials;
//! sessions do not survive (clients log in again on 401).

use anyhow::Result;
use serde_json::json;

use crate::harness::{
    POLICY, fast_timing, nsx_client, nsx_patch, start_nsx, start_vcenter, vcenter_login, vm_spec,
};

#[tokio::test]
async fn the_world_survives_a_restart() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (nsx_running, nsx) = start_nsx(dir.path()).await?;
    let (vc_running, vc) = start_vcenter(dir.path(), fast_timing()).await?;
    nsx_patch(&nsx, "/infra/tier-1s/t1", json!({"tags": [{"scope": "wasmvisor/cluster", "tag": "c1"}]}))
        .await?;
    nsx_patch(&nsx, "/infra/tier-1s/t1", json!({"display_name": "t1-renamed"})).await?;
    nsx_patch(&nsx, "/infra/segments/s1", json!({"connectivity_path": "/infra/tier-1s/t1"})).await?;
    let before = nsx.get(&format!("{POLICY}/infra/tier-1s/t1")).await?.expect(200).json;
    let vm = vc.post("/api/vcenter/vm", Some(&vm_spec("survivor", json!([])))).await?.expect(201).json;
    vc.post(&format!("/api/vcenter/vm/{}/power?action=start", vm.as_str().unwrap_or_default()), None)
        .await?
        .expect(204);
    let networks_before = vc.get("/api/vcenter/network").await?.expect(200).json;
    let (nsx_creds, vc_creds) = (nsx_running.credentials.clone(), vc_running.credentials.clone());
    nsx_running.shutdown().await;
    vc_running.shutdown().await;

    let nsx_running = wasmvisor_sim::NsxSim::start(crate::harness::config(dir.path())).await?;
    let vc_running =
        wasmvisor_sim::VcenterSim::start(crate::harness::config(dir.path()), fast_timing()).await?;
    assert_eq!(nsx_running.credentials, nsx_creds, "generated credentials are kept");
    assert_eq!(vc_running.credentials, vc_creds);
    let nsx = nsx_client(&nsx_running)?;
    let after = nsx.get(&format!("{POLICY}/infra/tier-1s/t1")).await?.expect(200).json;
    assert_eq!(after, before, "same object, same _revision and unique_id");
    nsx.get(&format!("{POLICY}/infra/segments/s1")).await?.expect(200);

    let old_session =
        crate::client::Client::new(&vc_running)?.with(vc.auth.clone()).get("/api/vcenter/vm").await?;
    assert_eq!(old_session.status, 401, "sessions do not survive a restart");
    let vc = vcenter_login(&vc_running).await?;
    let vms = vc.get("/api/vcenter/vm").await?.expect(200).json;
    assert_eq!(
        vms,
        json!([{"vm": vm, "name": "survivor", "power_state": "POWERED_ON",
                "cpu_count": 2, "memory_size_MiB": 4096}])
    );
    assert_eq!(vc.get("/api/vcenter/network").await?.expect(200).json, networks_before);
    let next = vc.post("/api/vcenter/vm", Some(&vm_spec("next", json!([])))).await?.expect(201).json;
    assert_ne!(next, vm, "id counters are persisted too");
    nsx_running.shutdown().await;
    vc_running.shutdown().await;
    Ok(())
}
