//! Concurrency: writers through one server and through two servers on one data dir (as
//! two `wasmvisor sim` processes would be) each land exactly once, and simulators
//! started together on a fresh data dir share one CA.

use anyhow::Result;
use serde_json::json;

use crate::harness::{POLICY, start_nsx};

#[tokio::test]
async fn concurrent_patches_from_two_servers_all_land() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (a_running, a) = start_nsx(dir.path()).await?;
    let (b_running, b) = start_nsx(dir.path()).await?;
    let url = format!("{POLICY}/infra/segments/shared");
    a.patch(&url, &json!({})).await?.expect(200);
    let mut writers = tokio::task::JoinSet::new();
    for i in 0..20 {
        let (client, url) = (if i % 2 == 0 { a.clone() } else { b.clone() }, url.clone());
        writers.spawn(async move {
            let tag = json!({"tags": [{"scope": "writer", "tag": i.to_string()}]});
            client.patch(&url, &tag).await.map(|r| r.status)
        });
        let (client, id) = (if i % 2 == 0 { b.clone() } else { a.clone() }, i);
        writers.spawn(async move {
            client.patch(&format!("{POLICY}/infra/segments/s-{id}"), &json!({})).await.map(|r| r.status)
        });
    }
    while let Some(status) = writers.join_next().await {
        assert_eq!(status??, 200);
    }
    let shared = b.get(&url).await?.expect(200).json;
    assert_eq!(shared["_revision"], 20, "each of the 20 updates bumped the revision once");
    let list = a.get(&format!("{POLICY}/infra/segments")).await?.expect(200).json;
    assert_eq!(list["result_count"], 21);
    a_running.shutdown().await;
    b_running.shutdown().await;
    Ok(())
}

/// Both simulators started at the same moment on a fresh data dir (two shells running
/// `wasmvisor sim nsx` and `wasmvisor sim vcenter`) share one CA instead of racing to
/// make it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulators_started_together_share_one_ca() -> Result<()> {
    for _ in 0..8 {
        let dir = tempfile::tempdir()?;
        let nsx = tokio::spawn(wasmvisor_sim::NsxSim::start(crate::harness::config(dir.path())));
        let vcenter = tokio::spawn(wasmvisor_sim::VcenterSim::start(
            crate::harness::config(dir.path()),
            crate::harness::fast_timing(),
        ));
        let (nsx, vcenter) = (nsx.await??, vcenter.await??);
        assert_eq!(nsx.ca_pem, vcenter.ca_pem, "one CA for both");
        let on_disk = std::fs::read_to_string(dir.path().join("ca/ca.crt"))?;
        assert_eq!(on_disk, nsx.ca_pem, "the CA on disk is the one they serve with");
        crate::harness::nsx_client(&nsx)?.get(&format!("{POLICY}/infra/segments")).await?.expect(200);
        crate::harness::vcenter_login(&vcenter).await?;
        nsx.shutdown().await;
        vcenter.shutdown().await;
    }
    Ok(())
}
