//! An NSX dependency error (deleting a Tier-1 a segment still uses) and a
//! vCenter state error reach the plugin as a typed `conflict`.

use serde_json::json;

use crate::faults::vm_spec;
use crate::harness::{Host, Sims, call};

#[tokio::test]
async fn deleting_a_tier1_in_use_is_a_typed_conflict() {
    let sims = Sims::start().await;
    let host = Host::new(&sims).await;
    let t1 = "/policy/api/v1/infra/tier-1s/t1-dep";
    let segment = "/policy/api/v1/infra/segments/s-dep";
    let seen = host
        .probe(
            "dep",
            json!([
                call("nsx", "PATCH", t1, Some(json!({"display_name": "t1"}))),
                call("nsx", "PATCH", segment, Some(json!({"connectivity_path": "/infra/tier-1s/t1-dep"}))),
                call("nsx", "DELETE", t1, None),
                call("nsx", "DELETE", segment, None),
                call("nsx", "DELETE", t1, None),
            ]),
        )
        .await;
    assert_eq!((seen[0]["status"].as_u64(), seen[1]["status"].as_u64()), (Some(200), Some(200)), "{seen:?}");
    assert_eq!(seen[2]["error"], "conflict", "{}", seen[2]);
    let message = seen[2]["message"].as_str().unwrap();
    assert!(message.starts_with("conflict: NSX 400 error_code 500030: "), "{message}");
    assert!(message.contains("/infra/segments/s-dep"), "names the referrer: {message}");
    assert_eq!(seen[3]["status"], 200);
    assert_eq!(seen[4]["status"], 200, "free once the segment is gone: {}", seen[4]);
}

#[tokio::test]
async fn deleting_a_powered_on_vm_is_a_typed_conflict() {
    let sims = Sims::start().await;
    let host = Host::new(&sims).await;
    let created =
        host.probe("vm", json!([call("vcenter", "POST", "/api/vcenter/vm", Some(vm_spec("busy")))])).await;
    assert_eq!(created[0]["status"], 201, "{created:?}");
    let vm: String = serde_json::from_str(created[0]["body"].as_str().unwrap()).unwrap();
    let seen = host
        .probe(
            "vm-delete",
            json!([
                call("vcenter", "POST", &format!("/api/vcenter/vm/{vm}/power?action=start"), None),
                call("vcenter", "DELETE", &format!("/api/vcenter/vm/{vm}"), None),
                call("vcenter", "POST", &format!("/api/vcenter/vm/{vm}/power?action=stop"), None),
                call("vcenter", "DELETE", &format!("/api/vcenter/vm/{vm}"), None),
            ]),
        )
        .await;
    assert_eq!(seen[0]["status"], 204, "its own VM: {}", seen[0]);
    assert_eq!(seen[1]["error"], "conflict", "{}", seen[1]);
    assert!(seen[1]["message"].as_str().unwrap().contains("NOT_ALLOWED_IN_CURRENT_STATE"), "{}", seen[1]);
    assert_eq!((seen[2]["status"].as_u64(), seen[3]["status"].as_u64()), (Some(204), Some(204)), "{seen:?}");
}
