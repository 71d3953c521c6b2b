//! Ownership a plugin cannot move: every request that could attach, detach
//! or rewrite a plugin identity on NSX or vCenter (tag associations, tag and
//! category CRUD, custom attributes, bulk and hierarchical writes, any
//! `?action=` form) is refused unless a rule names the route, even under a
//! rule that allows everything on any object (`/**`, `foreign = true`).

use serde_json::json;

use crate::fixture::{EVERYTHING, Host, assert_error, probe_wearing, request};

/// (endpoint, method, path) of every identity-bearing route.
const ROUTES: &[(&str, &str, &str)] = &[
    (
        "vcenter",
        "POST",
        "/api/cis/tagging/tag-association/urn:vmomi:InventoryServiceTag:wasmvisor-plugin-tkc:GLOBAL?action=attach",
    ),
    (
        "vcenter",
        "POST",
        "/api/cis/tagging/tag-association/urn:vmomi:InventoryServiceTag:wasmvisor-plugin-tkc:GLOBAL?action=detach",
    ),
    ("vcenter", "POST", "/api/cis/tagging/tag-association?action=attach-multiple-tags-to-object"),
    ("vcenter", "POST", "/api/cis/tagging/tag-association?action=detach-multiple-tags-from-object"),
    ("vcenter", "POST", "/api/cis/tagging/tag"),
    ("vcenter", "PATCH", "/api/cis/tagging/tag/urn:vmomi:InventoryServiceTag:wasmvisor-plugin-tkc:GLOBAL"),
    ("vcenter", "DELETE", "/api/cis/tagging/tag/urn:vmomi:InventoryServiceTag:wasmvisor-plugin-tkc:GLOBAL"),
    ("vcenter", "POST", "/api/cis/tagging/category"),
    (
        "vcenter",
        "DELETE",
        "/api/cis/tagging/category/urn:vmomi:InventoryServiceCategory:wasmvisor-plugin:GLOBAL",
    ),
    ("vcenter", "POST", "/rest/com/vmware/cis/tagging/tag-association/id:t?~action=attach"),
    ("vcenter", "POST", "/rest/vcenter/vm/vm-1/custom-attributes"),
    ("vcenter", "POST", "/api/vcenter/vm/vm-1/power?action=start"),
    ("nsx", "POST", "/policy/api/v1/infra/tags/tag-operations/op-1"),
    ("nsx", "POST", "/api/v1/batch"),
    ("nsx", "PATCH", "/policy/api/v1/infra"),
    ("nsx", "PUT", "/policy/api/v1/infra"),
    ("nsx", "POST", "/policy/api/v1/infra/segments/s1?action=revise"),
];

#[tokio::test]
async fn identity_bearing_routes_are_refused_unless_a_rule_names_them() {
    let host = Host::new(&[(&probe_wearing(EVERYTHING), "hostile.wasm")]);
    let calls: Vec<_> = ROUTES.iter().map(|(e, m, p)| request(e, m, p)).collect();
    let seen = host.probe(json!(calls)).await;
    for ((endpoint, method, _), seen) in ROUTES.iter().zip(&seen) {
        assert_error(seen, "forbidden", "can alter plugin identity; needs a rule naming the route");
        assert!(seen["message"].as_str().unwrap().contains(&format!("{endpoint} {method} ")), "{seen}");
    }
    assert_eq!(host.nsx.sent(), Vec::<String>::new());
    assert_eq!(host.vcenter.sent(), Vec::<String>::new());
    host.assert_responsive().await;
}

#[tokio::test]
async fn a_rule_naming_the_route_opens_it() {
    let named = r#"
[[capabilities.vcenter]]
methods = ["POST"]
path = "/api/cis/tagging/tag-association/*"
foreign = true

[[capabilities.nsx]]
methods = ["POST"]
path = "/policy/api/v1/infra/segments/*"
foreign = true
"#;
    let host = Host::new(&[(&probe_wearing(named), "hostile.wasm")]);
    let attach = "/api/cis/tagging/tag-association/urn:vmomi:InventoryServiceTag:x:GLOBAL?action=attach";
    let revise = "/policy/api/v1/infra/segments/s1?action=revise";
    let seen = host.probe(json!([request("vcenter", "POST", attach), request("nsx", "POST", revise)])).await;
    assert_eq!(seen[0]["status"], 200, "{}", seen[0]);
    assert_eq!(seen[1]["status"], 200, "{}", seen[1]);
    assert_eq!(host.vcenter.sent(), vec![format!("POST {attach}")]);
    assert!(host.nsx.sent().contains(&format!("POST {revise}")), "{:?}", host.nsx.sent());
    host.assert_responsive().await;
}
