//! VM create/get/list/power/delete, guest info timing, inventory and tagging.

use std::time::Duration;

use anyhow::Result;
use serde_json::{Value, json};

use crate::harness::{eventually, fast_timing, start_vcenter, vm_spec};

fn standard_nic() -> Value {
    json!([{"type": "VMXNET3", "backing": {"type": "STANDARD_PORTGROUP", "network": "network-12"}}])
}

#[tokio::test]
async fn create_get_and_list_with_filters() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (running, vc) = start_vcenter(dir.path(), fast_timing()).await?;
    let id = vc.post("/api/vcenter/vm", Some(&vm_spec("cp-0", standard_nic()))).await?.expect(201).json;
    let id = id.as_str().unwrap_or_default().to_owned();
    assert!(id.starts_with("vm-"), "{id}");
    let other = vc.post("/api/vcenter/vm", Some(&vm_spec("worker-0", json!([])))).await?.expect(201).json;

    let info = vc.get(&format!("/api/vcenter/vm/{id}")).await?.expect(200).json;
    assert_eq!(info["name"], "cp-0");
    assert_eq!(info["guest_OS"], "UBUNTU_64");
    assert_eq!(info["power_state"], "POWERED_OFF");
    assert_eq!(info["cpu"]["count"], 2);
    assert_eq!(info["memory"]["size_MiB"], 4096);
    assert!(info["identity"]["bios_uuid"].as_str().is_some_and(|u| u.len() == 36));
    let nic = &info["nics"]["4000"];
    assert_eq!(nic["label"], "Network adapter 1");
    assert_eq!(nic["backing"]["network"], "network-12");
    assert_eq!(nic["backing"]["network_name"], "VM Network");
    assert!(nic["mac_address"].as_str().is_some_and(|m| m.starts_with("00:50:56:")));

    let all = vc.get("/api/vcenter/vm").await?.expect(200).json;
    assert_eq!(all.as_array().map(Vec::len), Some(2));
    let by_name = vc.get("/api/vcenter/vm?names=worker-0&names=nope").await?.expect(200).json;
    assert_eq!(
        by_name,
        json!([{"vm": other, "name": "worker-0", "power_state": "POWERED_OFF",
                                "cpu_count": 2, "memory_size_MiB": 4096}])
    );
    vc.post(&format!("/api/vcenter/vm/{id}/power?action=start"), None).await?.expect(204);
    let on = vc.get("/api/vcenter/vm?power_states=POWERED_ON").await?.expect(200).json;
    assert_eq!(on[0]["vm"], id.as_str());
    assert_eq!(on.as_array().map(Vec::len), Some(1));
    let none = vc.get("/api/vcenter/vm?folders=group-v3&power_states=SUSPENDED").await?.expect(200).json;
    assert_eq!(none, json!([]));
    vc.get("/api/vcenter/vm/vm-999").await?.expect(404);
    running.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn create_refuses_bad_specs() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (running, vc) = start_vcenter(dir.path(), fast_timing()).await?;
    let mut no_os = vm_spec("a", json!([]));
    no_os.as_object_mut().map(|m| m.remove("guest_OS"));
    let refused = vc.post("/api/vcenter/vm", Some(&no_os)).await?.expect(400);
    assert_eq!(refused.json["error_type"], "INVALID_ARGUMENT");
    let mut bad_folder = vm_spec("a", json!([]));
    bad_folder["placement"]["folder"] = json!("group-v999");
    assert_eq!(
        vc.post("/api/vcenter/vm", Some(&bad_folder)).await?.expect(404).json["error_type"],
        "NOT_FOUND"
    );
    let bad_network =
        vm_spec("a", json!([{"backing": {"type": "DISTRIBUTED_PORTGROUP", "network": "dvportgroup-9"}}]));
    vc.post("/api/vcenter/vm", Some(&bad_network)).await?.expect(404);
    let bad_mac = vm_spec(
        "a",
        json!([{"mac_type": "MANUAL", "mac_address": "zz", "backing": {"network": "network-12"}}]),
    );
    vc.post("/api/vcenter/vm", Some(&bad_mac)).await?.expect(400);
    vc.post("/api/vcenter/vm", Some(&vm_spec("a", json!([])))).await?.expect(201);
    let twice = vc.post("/api/vcenter/vm", Some(&vm_spec("a", json!([])))).await?.expect(400);
    assert_eq!(twice.json["error_type"], "ALREADY_EXISTS");
    running.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn power_rules_and_delete_only_when_off() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (running, vc) = start_vcenter(dir.path(), fast_timing()).await?;
    let id = vc.post("/api/vcenter/vm", Some(&vm_spec("vm", json!([])))).await?.expect(201).json;
    let vm = format!("/api/vcenter/vm/{}", id.as_str().unwrap_or_default());
    assert_eq!(vc.get(&format!("{vm}/power")).await?.expect(200).json["state"], "POWERED_OFF");
    let not_on = vc.post(&format!("{vm}/power?action=reset"), None).await?.expect(400);
    assert_eq!(not_on.json["error_type"], "NOT_ALLOWED_IN_CURRENT_STATE");
    vc.post(&format!("{vm}/power?action=start"), None).await?.expect(204);
    let again = vc.post(&format!("{vm}/power?action=start"), None).await?.expect(400);
    assert_eq!(again.json["error_type"], "ALREADY_IN_DESIRED_STATE");

    let refused = vc.delete(&vm).await?.expect(400);
    assert_eq!(refused.json["error_type"], "NOT_ALLOWED_IN_CURRENT_STATE");
    assert_eq!(refused.json["messages"][0]["default_message"], "Virtual machine is powered on.");
    vc.get(&vm).await?.expect(200);

    vc.post(&format!("{vm}/power?action=stop"), None).await?.expect(204);
    let off_again = vc.post(&format!("{vm}/power?action=stop"), None).await?.expect(400);
    assert_eq!(off_again.json["error_type"], "ALREADY_IN_DESIRED_STATE");
    vc.post(&format!("{vm}/power?action=explode"), None).await?.expect(400);
    vc.delete(&vm).await?.expect(204);
    vc.get(&vm).await?.expect(404);
    vc.delete(&vm).await?.expect(404);
    running.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn guest_ip_appears_some_time_after_power_on() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (running, vc) = start_vcenter(dir.path(), fast_timing()).await?;
    let id = vc.post("/api/vcenter/vm", Some(&vm_spec("g", standard_nic()))).await?.expect(201).json;
    let vm = format!("/api/vcenter/vm/{}", id.as_str().unwrap_or_default());
    let off = vc.get(&format!("{vm}/guest/identity")).await?.expect(503);
    assert_eq!(off.json["error_type"], "SERVICE_UNAVAILABLE");
    // Taken before the request, so no later than the simulator's power-on: the
    // lower bound below then holds however slowly the answer comes back.
    let powered_on = std::time::Instant::now();
    vc.post(&format!("{vm}/power?action=start"), None).await?.expect(204);
    let early = vc.get(&format!("{vm}/guest/identity")).await?;
    assert_eq!(early.status, 503, "Tools is not running right after power-on: {}", early.text);
    assert_eq!(vc.get(&format!("{vm}/tools")).await?.expect(200).json["run_state"], "NOT_RUNNING");

    let identity = eventually(Duration::from_secs(5), || {
        let vc = vc.clone();
        let url = format!("{vm}/guest/identity");
        async move {
            let reply = vc.get(&url).await.map_err(|e| e.to_string())?;
            match reply.json.get("ip_address") {
                Some(_) if reply.status == 200 => Ok(reply.json),
                _ => Err(format!("{} {}", reply.status, reply.text)),
            }
        }
    })
    .await?;
    // The simulator counts whole epoch milliseconds, so "400 ms" is anything above 399.
    assert!(powered_on.elapsed() > Duration::from_millis(399), "the IP came before ip_after");
    assert_eq!(identity["host_name"], "g");
    assert_eq!(identity["family"], "LINUX");
    let ip = identity["ip_address"].as_str().unwrap_or_default().to_owned();
    assert!(ip.starts_with("10.10."), "VM Network hands out 10.10.0.0/16: {ip}");
    assert_eq!(vc.get(&format!("{vm}/tools")).await?.expect(200).json["run_state"], "RUNNING");
    let interfaces = vc.get(&format!("{vm}/guest/networking/interfaces")).await?.expect(200).json;
    assert_eq!(interfaces[0]["nic"], "4000");
    assert_eq!(interfaces[0]["ip"]["ip_addresses"][0]["ip_address"], ip.as_str());
    assert_eq!(interfaces[0]["ip"]["ip_addresses"][0]["prefix_length"], 16);
    assert_eq!(interfaces[0]["ip"]["ip_addresses"][0]["state"], "PREFERRED");
    vc.get(&format!("{vm}/guest/networking")).await?.expect(200);
    running.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn inventory_lists_and_filters() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (running, vc) = start_vcenter(dir.path(), fast_timing()).await?;
    let folders = vc.get("/api/vcenter/folder?type=VIRTUAL_MACHINE").await?.expect(200).json;
    assert_eq!(folders, json!([{"folder": "group-v3", "name": "vm", "type": "VIRTUAL_MACHINE"}]));
    let pools = vc.get("/api/vcenter/resource-pool").await?.expect(200).json;
    assert_eq!(pools[0]["resource_pool"], "resgroup-8");
    let networks = vc.get("/api/vcenter/network?types=STANDARD_PORTGROUP").await?.expect(200).json;
    assert_eq!(
        networks,
        json!([{"network": "network-12", "name": "VM Network", "type": "STANDARD_PORTGROUP"}])
    );
    for path in ["datacenter", "cluster", "host", "datastore"] {
        let list = vc.get(&format!("/api/vcenter/{path}")).await?.expect(200).json;
        assert_eq!(list.as_array().map(Vec::len), Some(1), "{path}: {list}");
    }
    running.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn tags_mark_ownership_and_go_with_the_vm() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (running, vc) = start_vcenter(dir.path(), fast_timing()).await?;
    let category =
        json!({"name": "wasmvisor-owner", "cardinality": "SINGLE", "associable_types": ["VirtualMachine"]});
    let cat = vc.post("/api/cis/tagging/category", Some(&category)).await?.expect(201).json;
    assert!(cat.as_str().is_some_and(|c| c.starts_with("urn:vmomi:InventoryServiceCategory:")));
    assert_eq!(
        vc.post("/api/cis/tagging/category", Some(&category)).await?.expect(400).json["error_type"],
        "ALREADY_EXISTS"
    );
    let tag_spec = |name: &str| json!({"name": name, "category_id": cat, "description": ""});
    let mine = vc.post("/api/cis/tagging/tag", Some(&tag_spec("vm-service"))).await?.expect(201).json;
    let theirs = vc.post("/api/cis/tagging/tag", Some(&tag_spec("capw"))).await?.expect(201).json;
    let (mine, theirs) =
        (mine.as_str().unwrap_or_default().to_owned(), theirs.as_str().unwrap_or_default().to_owned());
    vc.post("/api/cis/tagging/tag", Some(&json!({"name": "x", "category_id": "urn:nope"})))
        .await?
        .expect(404);

    let id = vc.post("/api/vcenter/vm", Some(&vm_spec("owned", json!([])))).await?.expect(201).json;
    let object = json!({"object_id": {"type": "VirtualMachine", "id": id}});
    vc.post(&format!("/api/cis/tagging/tag-association/{mine}?action=attach"), Some(&object))
        .await?
        .expect(204);
    let single =
        vc.post(&format!("/api/cis/tagging/tag-association/{theirs}?action=attach"), Some(&object)).await?;
    assert_eq!(single.expect(400).json["error_type"], "INVALID_ARGUMENT");
    let attached =
        vc.post("/api/cis/tagging/tag-association?action=list-attached-tags", Some(&object)).await?;
    assert_eq!(attached.expect(200).json, json!([mine]));
    let objects = vc
        .post(&format!("/api/cis/tagging/tag-association/{mine}?action=list-attached-objects"), None)
        .await?;
    assert_eq!(objects.expect(200).json, json!([{"type": "VirtualMachine", "id": id}]));

    vc.delete(&format!("/api/vcenter/vm/{}", id.as_str().unwrap_or_default())).await?.expect(204);
    let after = vc
        .post(&format!("/api/cis/tagging/tag-association/{mine}?action=list-attached-objects"), None)
        .await?;
    assert_eq!(after.expect(200).json, json!([]));
    let tag = vc.get(&format!("/api/cis/tagging/tag/{mine}")).await?.expect(200).json;
    assert_eq!(tag["name"], "vm-service");
    vc.delete(&format!("/api/cis/tagging/category/{}", cat.as_str().unwrap_or_default())).await?.expect(204);
    vc.get(&format!("/api/cis/tagging/tag/{mine}")).await?.expect(404);
    running.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn two_nics_on_one_network_get_different_ips() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (running, vc) = start_vcenter(dir.path(), fast_timing()).await?;
    let nics = json!([{"backing": {"network": "network-12"}}, {"backing": {"network": "network-12"}}]);
    let id = vc.post("/api/vcenter/vm", Some(&vm_spec("two", nics))).await?.expect(201).json;
    let vm = format!("/api/vcenter/vm/{}", id.as_str().unwrap_or_default());
    vc.post(&format!("{vm}/power?action=start"), None).await?.expect(204);
    let interfaces = eventually(Duration::from_secs(5), || {
        let (vc, url) = (vc.clone(), format!("{vm}/guest/networking/interfaces"));
        async move {
            let reply = vc.get(&url).await.map_err(|e| e.to_string())?;
            let has_ips = reply.json.as_array().is_some_and(|a| {
                a.len() == 2
                    && a.iter().all(|i| i["ip"]["ip_addresses"].as_array().is_some_and(|ips| !ips.is_empty()))
            });
            if has_ips { Ok(reply.json) } else { Err(reply.text) }
        }
    })
    .await?;
    let first = &interfaces[0]["ip"]["ip_addresses"][0]["ip_address"];
    let second = &interfaces[1]["ip"]["ip_addresses"][0]["ip_address"];
    assert_ne!(first, second, "{interfaces}");
    assert_eq!(interfaces[1]["nic"], "4001");
    running.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn guest_shutdown_needs_tools_and_is_a_clean_power_off() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (running, vc) = start_vcenter(dir.path(), fast_timing()).await?;
    let id = vc.post("/api/vcenter/vm", Some(&vm_spec("soft", json!([])))).await?.expect(201).json;
    let vm = format!("/api/vcenter/vm/{}", id.as_str().unwrap_or_default());
    let off = vc.post(&format!("{vm}/guest/power?action=shutdown"), None).await?.expect(400);
    assert_eq!(off.json["error_type"], "NOT_ALLOWED_IN_CURRENT_STATE");
    vc.post(&format!("{vm}/power?action=start"), None).await?.expect(204);
    let booting = vc.post(&format!("{vm}/guest/power?action=shutdown"), None).await?;
    assert_eq!(booting.expect(503).json["error_type"], "SERVICE_UNAVAILABLE");
    eventually(Duration::from_secs(5), || {
        let (vc, url) = (vc.clone(), format!("{vm}/guest/power"));
        async move {
            let reply = vc.get(&url).await.map_err(|e| e.to_string())?;
            if reply.json["state"] == "RUNNING" { Ok(()) } else { Err(reply.text) }
        }
    })
    .await?;
    vc.post(&format!("{vm}/guest/power?action=shutdown"), None).await?.expect(204);
    let power = vc.get(&format!("{vm}/power")).await?.expect(200).json;
    assert_eq!(power, json!({"state": "POWERED_OFF", "clean_power_off": true}));
    vc.delete(&vm).await?.expect(204);
    running.shutdown().await;
    Ok(())
}
