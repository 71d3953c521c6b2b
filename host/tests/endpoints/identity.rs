//! Objects a plugin creates carry its identity, which it can neither forge
//! nor drop: NSX tags stamped by the host, a vCenter tag attached on create.

use serde_json::{Value, json};
use wasmvisor_host::capability::endpoint::identity::vcenter_tag_id;
use wasmvisor_host::manifest::Method;

use crate::faults::vm_spec;
use crate::harness::{Host, Sims, call, direct};

const SEGMENT: &str = "/policy/api/v1/infra/segments/mine";

async fn tags(host: &Host, path: &str) -> Value {
    let body = direct(&*host.nsx, Method::Get, path, None).await.unwrap().body;
    serde_json::from_str::<Value>(&body).unwrap()["tags"].clone()
}

#[tokio::test]
async fn nsx_objects_carry_the_creators_tag_through_patch_and_put() {
    let sims = Sims::start().await;
    let host = Host::new(&sims).await;
    let mine = json!({"scope": "wasmvisor/plugin", "tag": "probe"});
    let team = json!({"scope": "team", "tag": "net"});
    host.probe("create", json!([call("nsx", "PATCH", SEGMENT, Some(json!({"display_name": "mine"})))])).await;
    assert_eq!(tags(&host, SEGMENT).await, json!([mine]));

    // A forged identity is replaced; the plugin's other tags are kept.
    let forged = json!({"tags": [{"scope": "wasmvisor/plugin", "tag": "rival"}, team]});
    host.probe("forge", json!([call("nsx", "PATCH", SEGMENT, Some(forged))])).await;
    assert_eq!(tags(&host, SEGMENT).await, json!([team, mine]));

    // A PATCH without tags leaves them; a PUT without tags still carries the identity.
    host.probe("merge", json!([call("nsx", "PATCH", SEGMENT, Some(json!({"description": "d"})))])).await;
    assert_eq!(tags(&host, SEGMENT).await, json!([team, mine]));
    let current: Value =
        serde_json::from_str(&direct(&*host.nsx, Method::Get, SEGMENT, None).await.unwrap().body).unwrap();
    let put = json!({"display_name": "replaced", "_revision": current["_revision"]});
    let seen = host.probe("put", json!([call("nsx", "PUT", SEGMENT, Some(put))])).await;
    assert_eq!(seen[0]["status"], 200, "{}", seen[0]);
    assert_eq!(tags(&host, SEGMENT).await, json!([mine]));

    let rivals = "/policy/api/v1/infra/segments/by-rival";
    host.rival("r", json!([call("nsx", "PATCH", rivals, Some(json!({})))])).await;
    assert_eq!(tags(&host, rivals).await, json!([{"scope": "wasmvisor/plugin", "tag": "rival"}]));

    let seen = host.probe("delete", json!([call("nsx", "DELETE", SEGMENT, None)])).await;
    assert_eq!(seen[0]["status"], 200, "its own object: {}", seen[0]);
}

#[tokio::test]
async fn a_vm_the_plugin_creates_carries_its_tag() {
    let sims = Sims::start().await;
    let host = Host::new(&sims).await;
    let created = host
        .probe(
            "vms",
            json!([
                call("vcenter", "POST", "/api/vcenter/vm", Some(vm_spec("first"))),
                call("vcenter", "POST", "/api/vcenter/vm", Some(vm_spec("second"))),
            ]),
        )
        .await;
    for outcome in &created {
        assert_eq!(outcome["status"], 201, "{outcome}");
        let vm: String = serde_json::from_str(outcome["body"].as_str().unwrap()).unwrap();
        let list = "/api/cis/tagging/tag-association?action=list-attached-tags";
        let object = json!({"object_id": {"type": "VirtualMachine", "id": vm}});
        let attached = direct(&*host.vcenter, Method::Post, list, Some(object)).await.unwrap();
        assert_eq!(serde_json::from_str::<Value>(&attached.body).unwrap(), json!([vcenter_tag_id("probe")]));
    }
    let tag = direct(
        &*host.vcenter,
        Method::Get,
        &format!("/api/cis/tagging/tag/{}", vcenter_tag_id("probe")),
        None,
    )
    .await
    .unwrap();
    let tag: Value = serde_json::from_str(&tag.body).unwrap();
    assert_eq!(tag["name"], "probe");
}
