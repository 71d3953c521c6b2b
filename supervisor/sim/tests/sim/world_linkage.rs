//! One simulated world: an NSX segment is a vCenter network; a NIC on it is a segment
//! port with the NIC's MAC; the guest gets the IP bound on that port. The two simulators
//! are started separately on the same data dir, as `wasmvisor sim nsx` and
//! `wasmvisor sim vcenter` would be.

use std::time::Duration;

use anyhow::Result;
use serde_json::{Value, json};

use crate::client::Client;
use crate::harness::{POLICY, eventually, fast_timing, nsx_patch, start_nsx, start_vcenter, tier1, vm_spec};

async fn network_named(vc: &Client, name: &str) -> Result<Option<Value>> {
    let networks = vc.get("/api/vcenter/network").await?.expect(200).json;
    Ok(networks.as_array().into_iter().flatten().find(|n| n["name"] == name).cloned())
}

async fn guest_ip(vc: &Client, vm: &str) -> Result<String> {
    eventually(Duration::from_secs(5), || {
        let (vc, url) = (vc.clone(), format!("/api/vcenter/vm/{vm}/guest/identity"));
        async move {
            let reply = vc.get(&url).await.map_err(|e| e.to_string())?;
            reply.json["ip_address"]
                .as_str()
                .map(str::to_owned)
                .ok_or(format!("{} {}", reply.status, reply.text))
        }
    })
    .await
}

#[tokio::test]
async fn segment_network_nic_and_port_are_one_thing() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (nsx_running, nsx) = start_nsx(dir.path()).await?;
    let (vc_running, vc) = start_vcenter(dir.path(), fast_timing()).await?;

    tier1(&nsx, "t1").await?;
    let segment = json!({"display_name": "ns1-vnet", "connectivity_path": "/infra/tier-1s/t1",
                         "subnets": [{"gateway_address": "10.244.0.1/28"}]});
    nsx_patch(&nsx, "/infra/segments/ns1-vnet", segment).await?;
    let network = network_named(&vc, "ns1-vnet").await?.expect("the segment is a vCenter network");
    assert_eq!(network["type"], "DISTRIBUTED_PORTGROUP");
    let network_id = network["network"].as_str().unwrap_or_default().to_owned();

    let nics =
        json!([{"type": "VMXNET3", "backing": {"type": "DISTRIBUTED_PORTGROUP", "network": network_id}}]);
    let vm = vc.post("/api/vcenter/vm", Some(&vm_spec("ns1-vm", nics))).await?.expect(201).json;
    let vm = vm.as_str().unwrap_or_default().to_owned();
    let info = vc.get(&format!("/api/vcenter/vm/{vm}")).await?.expect(200).json;
    let mac = info["nics"]["4000"]["mac_address"].as_str().unwrap_or_default().to_owned();
    assert_eq!(info["nics"]["4000"]["backing"]["network_name"], "ns1-vnet");

    let ports = nsx.get(&format!("{POLICY}/infra/segments/ns1-vnet/ports")).await?.expect(200).json;
    assert_eq!(ports["result_count"], 1, "the NIC is a segment port: {ports}");
    let port = &ports["results"][0];
    assert_eq!(port["address_bindings"][0]["mac_address"], mac.as_str());
    assert!(port["attachment"]["id"].is_string());
    assert_eq!(port["_create_user"], "vcenter");
    let refused = nsx.delete(&format!("{POLICY}/infra/segments/ns1-vnet")).await?.expect(400);
    assert_eq!(refused.json["error_code"], 503040);

    vc.post(&format!("/api/vcenter/vm/{vm}/power?action=start"), None).await?.expect(204);
    let ip = guest_ip(&vc, &vm).await?;
    assert_eq!(ip, "10.244.0.2", "first free host of the segment subnet after the gateway");
    let interfaces =
        vc.get(&format!("/api/vcenter/vm/{vm}/guest/networking/interfaces")).await?.expect(200).json;
    assert_eq!(interfaces[0]["mac_address"], mac.as_str());
    assert_eq!(interfaces[0]["ip"]["ip_addresses"][0]["prefix_length"], 28);

    // NCP binds an IP on the port; the guest reports that one.
    let port_path = port["path"].as_str().unwrap_or_default().to_owned();
    let binding = json!({"address_bindings": [{"mac_address": mac, "ip_address": "10.244.0.9"}]});
    nsx.patch(&format!("{POLICY}{port_path}"), &binding).await?.expect(200);
    assert_eq!(guest_ip(&vc, &vm).await?, "10.244.0.9");

    vc.post(&format!("/api/vcenter/vm/{vm}/power?action=stop"), None).await?.expect(204);
    vc.delete(&format!("/api/vcenter/vm/{vm}")).await?.expect(204);
    let ports = nsx.get(&format!("{POLICY}/infra/segments/ns1-vnet/ports")).await?.expect(200).json;
    assert_eq!(ports["result_count"], 0, "deleting the VM removes its port");
    nsx.delete(&format!("{POLICY}/infra/segments/ns1-vnet")).await?.expect(200);
    assert_eq!(network_named(&vc, "ns1-vnet").await?, None, "the network goes with the segment");
    nsx_running.shutdown().await;
    vc_running.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_port_ncp_made_first_is_adopted_with_its_ip() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (nsx_running, nsx) = start_nsx(dir.path()).await?;
    let (vc_running, vc) = start_vcenter(dir.path(), fast_timing()).await?;
    tier1(&nsx, "t1").await?;
    nsx_patch(
        &nsx,
        "/infra/segments/vnet",
        json!({"connectivity_path": "/infra/tier-1s/t1", "subnets": [{"gateway_address": "10.244.1.1/24"}]}),
    )
    .await?;
    let mac = "00:50:56:aa:bb:cc";
    nsx_patch(
        &nsx,
        "/infra/segments/vnet/ports/vnetif-1",
        json!({"address_bindings": [{"mac_address": mac, "ip_address": "10.244.1.50"}]}),
    )
    .await?;
    let network = network_named(&vc, "vnet").await?.expect("network for the segment");
    let nics =
        json!([{"mac_type": "MANUAL", "mac_address": mac, "backing": {"network": network["network"]}}]);
    let vm = vc.post("/api/vcenter/vm", Some(&vm_spec("adopter", nics))).await?.expect(201).json;
    let vm = vm.as_str().unwrap_or_default().to_owned();

    let ports = nsx.get(&format!("{POLICY}/infra/segments/vnet/ports")).await?.expect(200).json;
    assert_eq!(ports["result_count"], 1, "no second port for the same MAC: {ports}");
    let port = nsx.get(&format!("{POLICY}/infra/segments/vnet/ports/vnetif-1")).await?.expect(200).json;
    assert!(port["attachment"]["id"].is_string(), "the NIC attached to NCP's port: {port}");
    assert_eq!(port["_revision"], 1);

    vc.post(&format!("/api/vcenter/vm/{vm}/power?action=start"), None).await?.expect(204);
    assert_eq!(guest_ip(&vc, &vm).await?, "10.244.1.50");
    vc.post(&format!("/api/vcenter/vm/{vm}/power?action=stop"), None).await?.expect(204);
    vc.delete(&format!("/api/vcenter/vm/{vm}")).await?.expect(204);
    let port = nsx.get(&format!("{POLICY}/infra/segments/vnet/ports/vnetif-1")).await?.expect(200).json;
    assert!(port.get("attachment").is_none(), "NCP's port stays, without the VM's attachment: {port}");
    nsx_running.shutdown().await;
    vc_running.shutdown().await;
    Ok(())
}
