//! IP pools, blocks and allocations: VIPs from the ingress CIDR, segment subnets carved
//! from the cluster network CIDR, exhaustion as a realization error.

use anyhow::Result;
use serde_json::{Value, json};

use crate::client::Client;
use crate::harness::{POLICY, nsx_patch, start_nsx, tier1};

async fn realized(nsx: &Client, path: &str) -> Result<Value> {
    let url = format!("{POLICY}/infra/realized-state/realized-entities?intent_path={path}");
    Ok(nsx.get(&url).await?.expect(200).json["results"][0].clone())
}

#[tokio::test]
async fn vips_are_allocated_from_a_static_pool() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (running, nsx) = start_nsx(dir.path()).await?;
    nsx_patch(&nsx, "/infra/ip-pools/vips", json!({})).await?;
    nsx_patch(
        &nsx,
        "/infra/ip-pools/vips/ip-subnets/cidr",
        json!({"resource_type": "IpAddressPoolStaticSubnet", "cidr": "192.168.100.0/29",
               "allocation_ranges": [{"start": "192.168.100.4", "end": "192.168.100.5"}]}),
    )
    .await?;
    nsx_patch(&nsx, "/infra/ip-pools/vips/ip-allocations/vip-a", json!({})).await?;
    let a = realized(&nsx, "/infra/ip-pools/vips/ip-allocations/vip-a").await?;
    assert_eq!(a["state"], "REALIZED");
    assert_eq!(a["extended_attributes"][0]["key"], "allocation_ip");
    assert_eq!(a["extended_attributes"][0]["values"][0], "192.168.100.4");

    let taken = nsx
        .patch(
            &format!("{POLICY}/infra/ip-pools/vips/ip-allocations/vip-b"),
            &json!({"allocation_ip": "192.168.100.4"}),
        )
        .await?
        .expect(400);
    assert_eq!(taken.json["error_code"], 500105);
    nsx.patch(
        &format!("{POLICY}/infra/ip-pools/vips/ip-allocations/vip-b"),
        &json!({"allocation_ip": "10.0.0.1"}),
    )
    .await?
    .expect(400);
    nsx_patch(&nsx, "/infra/ip-pools/vips/ip-allocations/vip-b", json!({})).await?;
    let b = nsx.get(&format!("{POLICY}/infra/ip-pools/vips/ip-allocations/vip-b")).await?.expect(200).json;
    assert_eq!(b["allocation_ip"], "192.168.100.5");

    nsx_patch(&nsx, "/infra/ip-pools/vips/ip-allocations/vip-c", json!({})).await?;
    let c = realized(&nsx, "/infra/ip-pools/vips/ip-allocations/vip-c").await?;
    assert_eq!(c["state"], "ERROR", "an exhausted pool realizes as ERROR: {c}");
    assert_eq!(c["alarms"][0]["error_details"]["error_code"], 8212);

    let in_use = nsx.delete(&format!("{POLICY}/infra/ip-pools/vips")).await?.expect(400);
    assert_eq!(in_use.json["error_code"], 500030);
    nsx.delete(&format!("{POLICY}/infra/ip-pools/vips/ip-allocations/vip-a")).await?.expect(200);
    nsx.delete(&format!("{POLICY}/infra/ip-pools/vips/ip-allocations/vip-c")).await?.expect(200);
    nsx_patch(&nsx, "/infra/ip-pools/vips/ip-allocations/vip-d", json!({})).await?;
    let d = realized(&nsx, "/infra/ip-pools/vips/ip-allocations/vip-d").await?;
    assert_eq!(d["extended_attributes"][0]["values"][0], "192.168.100.4", "freed addresses are reused");
    running.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn segment_subnets_are_carved_from_the_cluster_block() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (running, nsx) = start_nsx(dir.path()).await?;
    tier1(&nsx, "t1").await?;
    nsx_patch(&nsx, "/infra/ip-blocks/cluster-net", json!({"cidr": "10.244.0.0/20"})).await?;
    nsx_patch(&nsx, "/infra/ip-pools/vnets", json!({})).await?;
    let carve = |size: u64| {
        json!({"resource_type": "IpAddressPoolBlockSubnet",
               "ip_block_path": "/infra/ip-blocks/cluster-net", "size": size})
    };
    nsx_patch(&nsx, "/infra/ip-pools/vnets/ip-subnets/ns1", carve(16)).await?;
    nsx_patch(&nsx, "/infra/ip-pools/vnets/ip-subnets/ns2", carve(16)).await?;
    let ns1 = nsx.get(&format!("{POLICY}/infra/ip-pools/vnets/ip-subnets/ns1")).await?.expect(200).json;
    let ns2 = nsx.get(&format!("{POLICY}/infra/ip-pools/vnets/ip-subnets/ns2")).await?.expect(200).json;
    assert_eq!(ns1["cidr"], "10.244.0.0/28");
    assert_eq!(ns2["cidr"], "10.244.0.16/28");
    nsx_patch(&nsx, "/infra/ip-pools/vnets/ip-subnets/ns1", json!({"display_name": "again"})).await?;
    let again = nsx.get(&format!("{POLICY}/infra/ip-pools/vnets/ip-subnets/ns1")).await?.expect(200).json;
    assert_eq!(again["cidr"], "10.244.0.0/28", "an update keeps the carved CIDR");

    let body =
        json!({"connectivity_path": "/infra/tier-1s/t1", "subnets": [{"gateway_address": "10.244.0.1/28"}]});
    nsx_patch(&nsx, "/infra/segments/ns1", body).await?;
    let overlap =
        json!({"connectivity_path": "/infra/tier-1s/t1", "subnets": [{"gateway_address": "10.244.0.9/29"}]});
    let refused = nsx.patch(&format!("{POLICY}/infra/segments/other"), &overlap).await?.expect(400);
    assert_eq!(refused.json["error_code"], 500105);

    nsx_patch(&nsx, "/infra/ip-pools/vnets/ip-subnets/huge", carve(8192)).await?;
    let huge = realized(&nsx, "/infra/ip-pools/vnets/ip-subnets/huge").await?;
    assert_eq!(huge["state"], "ERROR", "a block without room realizes as ERROR: {huge}");

    let block_in_use = nsx.delete(&format!("{POLICY}/infra/ip-blocks/cluster-net")).await?.expect(400);
    assert_eq!(block_in_use.json["error_code"], 500030);
    running.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn allocations_realize_after_the_realization_delay() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let timing = wasmvisor_sim::NsxSettings {
        realization_delay: std::time::Duration::from_millis(300),
        ..wasmvisor_sim::NsxSettings::default()
    };
    let running = wasmvisor_sim::NsxSim::start_with(crate::harness::config(dir.path()), timing).await?;
    let nsx = crate::harness::nsx_client(&running)?;
    nsx_patch(&nsx, "/infra/ip-pools/delayed", json!({})).await?;
    nsx_patch(&nsx, "/infra/ip-pools/delayed/ip-subnets/s", json!({"cidr": "192.168.100.0/24"})).await?;
    let written = std::time::Instant::now();
    nsx_patch(&nsx, "/infra/ip-pools/delayed/ip-allocations/vip", json!({})).await?;
    let path = "/infra/ip-pools/delayed/ip-allocations/vip";
    let pending = realized(&nsx, path).await?;
    assert_eq!(pending["state"], "UNREALIZED", "{pending}");
    assert_eq!(pending["extended_attributes"], json!([]));
    let status =
        nsx.get(&format!("{POLICY}/infra/realized-state/status?intent_path={path}")).await?.expect(200);
    assert_eq!(status.json["consolidated_status"]["consolidated_status"], "IN_PROGRESS");

    let done = crate::harness::eventually(std::time::Duration::from_secs(5), || {
        let nsx = nsx.clone();
        async move {
            let entity = realized(&nsx, path).await.map_err(|e| e.to_string())?;
            if entity["state"] == "REALIZED" { Ok(entity) } else { Err(entity.to_string()) }
        }
    })
    .await?;
    assert!(written.elapsed() >= std::time::Duration::from_millis(300));
    assert_eq!(done["extended_attributes"][0]["values"][0], "192.168.100.1");
    running.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn supervisor_ranges_exist_from_the_start_and_survive_restarts() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (running, nsx) = start_nsx(dir.path()).await?;
    let block = nsx.get(&format!("{POLICY}{}", wasmvisor_sim::CLUSTER_NETWORK_BLOCK)).await?.expect(200).json;
    assert_eq!(block["cidr"], "10.244.0.0/16");
    let subnet = nsx.get(&format!("{POLICY}{}", wasmvisor_sim::INGRESS_SUBNET)).await?.expect(200).json;
    assert_eq!(subnet["cidr"], "192.168.100.0/24");
    let vip = format!("{}/ip-allocations/vip", wasmvisor_sim::INGRESS_POOL);
    nsx_patch(&nsx, &vip, json!({})).await?;
    assert_eq!(realized(&nsx, &vip).await?["extended_attributes"][0]["values"][0], "192.168.100.1");
    nsx_patch(&nsx, wasmvisor_sim::CLUSTER_NETWORK_BLOCK, json!({"display_name": "changed"})).await?;
    running.shutdown().await;

    let (running, nsx) = start_nsx(dir.path()).await?;
    let block = nsx.get(&format!("{POLICY}{}", wasmvisor_sim::CLUSTER_NETWORK_BLOCK)).await?.expect(200).json;
    assert_eq!(block["display_name"], "changed", "a restart does not undo client changes");
    assert_eq!(block["_revision"], 1);
    running.shutdown().await;

    let none =
        wasmvisor_sim::NsxSettings { ingress_cidr: None, cluster_network_cidr: None, ..Default::default() };
    let empty_dir = tempfile::tempdir()?;
    let running = wasmvisor_sim::NsxSim::start_with(crate::harness::config(empty_dir.path()), none).await?;
    let nsx = crate::harness::nsx_client(&running)?;
    assert_eq!(nsx.get(&format!("{POLICY}/infra/ip-pools")).await?.expect(200).json["result_count"], 0);
    running.shutdown().await;
    let bad = wasmvisor_sim::NsxSettings { ingress_cidr: Some("10.0.0.0/99".into()), ..Default::default() };
    assert!(wasmvisor_sim::NsxSim::start_with(crate::harness::config(empty_dir.path()), bad).await.is_err());
    Ok(())
}
