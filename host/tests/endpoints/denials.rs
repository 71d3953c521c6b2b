//! Every kind of denial, from a real plugin component against the real
//! simulators: a method outside the rules, a path outside them, another
//! plugin's object, an object made outside wasmvisor, and what is the
//! host's alone. Each is `forbidden` naming what was missing, a warn line,
//! one count; none reaches the simulator.

use serde_json::{Value, json};
use wasmvisor_host::capability::endpoint::identity::vcenter_tag_id;
use wasmvisor_host::manifest::Method;

use crate::faults::vm_spec;
use crate::harness::{Host, Sims, assert_error, call, direct, logs};

const T1: &str = "/policy/api/v1/infra/tier-1s/t1";

#[tokio::test]
async fn method_and_path_outside_the_rules_are_forbidden() {
    let sims = Sims::start().await;
    let host = Host::new(&sims).await;
    let seen = host
        .probe(
            "rules",
            json!([
                call("nsx", "PUT", T1, Some(json!({"_revision": 0}))),
                call("nsx", "PATCH", "/policy/api/v1/infra/lb-services/lbs", Some(json!({}))),
                call("nsx", "GET", "/api/v1/logical-ports", None),
                call("vcenter", "PATCH", "/api/vcenter/vm/vm-1", Some(json!({}))),
            ]),
        )
        .await;
    assert_error(&seen[0], "forbidden", &format!("nsx PUT {T1}"));
    assert_error(&seen[1], "forbidden", "nsx PATCH /policy/api/v1/infra/lb-services/lbs");
    assert_error(&seen[2], "forbidden", "nsx GET /api/v1/logical-ports");
    assert_error(&seen[3], "forbidden", "vcenter PATCH /api/vcenter/vm/vm-1");
    assert_eq!((host.denied("probe", "nsx"), host.denied("probe", "vcenter")), (3, 1));
    let t1 = direct(&*host.nsx, Method::Get, T1, None).await;
    assert!(t1.unwrap_err().to_string().starts_with("not found"), "the denied PUT never reached NSX");
    assert!(logs().contains(&format!("denied=nsx PUT {T1}")), "a warn line names the denied call");
}

#[tokio::test]
async fn another_plugins_nsx_object_is_forbidden() {
    let sims = Sims::start().await;
    let host = Host::new(&sims).await;
    let path = "/policy/api/v1/infra/segments/theirs";
    let made = host
        .rival("make", json!([call("nsx", "PATCH", path, Some(json!({"display_name": "theirs"})))]))
        .await;
    assert_eq!(made[0]["status"], 200, "{made:?}");
    let seen = host
        .probe(
            "theirs",
            json!([
                call("nsx", "DELETE", path, None),
                call("nsx", "PATCH", path, Some(json!({"display_name": "mine now"}))),
                call("nsx", "PUT", path, Some(json!({"_revision": 0}))),
                call("nsx", "GET", path, None),
            ]),
        )
        .await;
    let belongs = "object belongs to plugin \"rival\"";
    assert_error(&seen[0], "forbidden", &format!("nsx DELETE {path}: {belongs}"));
    assert_error(&seen[1], "forbidden", &format!("nsx PATCH {path}: {belongs}"));
    assert_error(&seen[2], "forbidden", &format!("nsx PUT {path}: {belongs}"));
    assert_eq!(seen[3]["status"], 200, "reading is not changing");
    assert_eq!(host.denied("probe", "nsx"), 3);
    let stored: Value =
        serde_json::from_str(&direct(&*host.nsx, Method::Get, path, None).await.unwrap().body).unwrap();
    assert_eq!(stored["display_name"], "theirs", "untouched");
}

#[tokio::test]
async fn unowned_objects_need_a_foreign_rule() {
    let sims = Sims::start().await;
    let host = Host::new(&sims).await;
    // Made outside wasmvisor: no identity tag.
    direct(&*host.nsx, Method::Patch, T1, Some(json!({"display_name": "ops"}))).await.unwrap();
    let pool = "/policy/api/v1/infra/lb-pools/ops-pool";
    direct(&*host.nsx, Method::Patch, pool, Some(json!({"algorithm": "ROUND_ROBIN"}))).await.unwrap();
    let theirs = "/policy/api/v1/infra/lb-pools/rival-pool";
    host.rival("pool", json!([call("nsx", "PATCH", theirs, Some(json!({"algorithm": "ROUND_ROBIN"})))]))
        .await;
    let rival_tag = json!([{"scope": "wasmvisor/plugin", "tag": "rival"}]);
    let seen = host
        .probe(
            "unowned",
            json!([
                call("nsx", "DELETE", T1, None),
                call("nsx", "DELETE", pool, None),
                call("nsx", "PATCH", theirs, Some(json!({"algorithm": "IP_HASH", "tags": [{"scope": "wasmvisor/plugin", "tag": "probe"}]}))),
            ]),
        )
        .await;
    assert_error(
        &seen[0],
        "forbidden",
        &format!("nsx DELETE {T1}: object carries no plugin identity (not created through wasmvisor)"),
    );
    assert_eq!(seen[1]["status"], 200, "foreign = true reaches unowned objects: {}", seen[1]);
    assert_eq!(seen[2]["status"], 200, "and other plugins' objects: {}", seen[2]);
    let stored: Value =
        serde_json::from_str(&direct(&*host.nsx, Method::Get, theirs, None).await.unwrap().body).unwrap();
    assert_eq!(stored["algorithm"], "IP_HASH");
    assert_eq!(stored["tags"], rival_tag, "a foreign change keeps the owner's identity");
    assert!(
        direct(&*host.nsx, Method::Get, pool, None).await.unwrap_err().to_string().starts_with("not found")
    );
}

#[tokio::test]
async fn vcenter_denials_name_what_was_missing() {
    let sims = Sims::start().await;
    let host = Host::new(&sims).await;
    // An unowned VM, and a VM the rival plugin made (so it carries the rival's tag).
    let vm = |r: wasmvisor_host::capability::endpoint::HttpResponse| {
        serde_json::from_str::<String>(&r.body).unwrap()
    };
    let ops =
        vm(direct(&*host.vcenter, Method::Post, "/api/vcenter/vm", Some(vm_spec("ops"))).await.unwrap());
    let made =
        host.rival("vm", json!([call("vcenter", "POST", "/api/vcenter/vm", Some(vm_spec("r")))])).await;
    let rival_vm: String = serde_json::from_str(made[0]["body"].as_str().unwrap()).unwrap();
    let attach = format!("/api/cis/tagging/tag-association/{}?action=attach", vcenter_tag_id("rival"));

    let start = |id: &str| format!("/api/vcenter/vm/{id}/power?action=start");
    let seen = host
        .probe(
            "vc",
            json!([
                call("vcenter", "POST", &start(&ops), None),
                call("vcenter", "DELETE", &format!("/api/vcenter/vm/{rival_vm}"), None),
                call(
                    "vcenter",
                    "POST",
                    &attach,
                    Some(json!({"object_id": {"type": "VirtualMachine", "id": ops}}))
                ),
                call("vcenter", "POST", "/api/session", None),
                call("vcenter", "DELETE", "/api/session", None),
                call("vcenter", "GET", "/api/session", None),
            ]),
        )
        .await;
    assert_error(
        &seen[0],
        "forbidden",
        &format!(
            "vcenter POST {}: object carries no plugin identity (not created through wasmvisor)",
            start(&ops)
        ),
    );
    assert_error(
        &seen[1],
        "forbidden",
        &format!("vcenter DELETE /api/vcenter/vm/{rival_vm}: object belongs to plugin \"rival\""),
    );
    assert_error(
        &seen[2],
        "forbidden",
        &format!(
            "vcenter POST {attach}: tagging changes can alter plugin identity; needs a rule naming the route (a path without '**') with foreign = true"
        ),
    );
    for (i, method) in [(3, "POST"), (4, "DELETE"), (5, "GET")] {
        assert_error(
            &seen[i],
            "forbidden",
            &format!("vcenter {method} /api/session: the vCenter session belongs to the host"),
        );
    }
    assert_eq!(host.denied("probe", "vcenter"), 6);
    let power =
        direct(&*host.vcenter, Method::Get, &format!("/api/vcenter/vm/{ops}/power"), None).await.unwrap();
    assert!(power.body.contains("POWERED_OFF"), "{}", power.body);
}
