//! Credential fishing: a plugin whose rules allow every path on NSX and
//! vCenter still cannot make the host open, read or end the sessions it
//! holds with its own credentials, nor reach vCenter through the JSON-RPC
//! endpoint, where one path carries every operation. (What a plugin can
//! observe of the real simulators' answers is searched for the credentials
//! themselves in the endpoints tests, `secrets.rs`.)

use serde_json::json;

use crate::fixture::{EVERYTHING, Host, assert_error, probe_wearing, request};

#[tokio::test]
async fn session_and_json_rpc_routes_are_refused_under_any_rule() {
    let host = Host::new(&[(&probe_wearing(EVERYTHING), "hostile.wasm")]);
    let routes = [
        ("vcenter", "POST", "/api/session", "the vCenter session belongs to the host"),
        ("vcenter", "GET", "/api/session", "the vCenter session belongs to the host"),
        ("vcenter", "DELETE", "/api/session", "the vCenter session belongs to the host"),
        ("vcenter", "POST", "/rest/com/vmware/cis/session", "the vCenter session belongs to the host"),
        ("vcenter", "DELETE", "/rest/com/vmware/cis/session", "the vCenter session belongs to the host"),
        ("vcenter", "POST", "/api", "JSON-RPC endpoint"),
        ("nsx", "POST", "/api/session/create", "the NSX session belongs to the host"),
        ("nsx", "POST", "/api/session/destroy", "the NSX session belongs to the host"),
    ];
    let calls: Vec<_> = routes.iter().map(|(e, m, p, _)| request(e, m, p)).collect();
    let seen = host.probe(json!(calls)).await;
    for ((endpoint, method, path, reason), seen) in routes.iter().zip(&seen) {
        assert_error(seen, "forbidden", &format!("{endpoint} {method} {path}: "));
        assert_error(seen, "forbidden", reason);
    }
    assert!(host.nsx.sent().is_empty(), "{:?}", host.nsx.sent());
    assert!(host.vcenter.sent().is_empty(), "{:?}", host.vcenter.sent());
    host.assert_responsive().await;
}
