//! NSX and vCenter requests are judged as the server reads them: a path
//! that some server would decode or split differently is refused before
//! anything is sent, and a query is decoded once, duplicates refused, before
//! the reserved-action and ownership checks.

use serde_json::json;

use crate::fixture::{Host, assert_error, probe_wearing, request};

const SEGMENTS: &str = r#"
[[capabilities.nsx]]
methods = ["GET", "PATCH", "DELETE"]
path = "/policy/api/v1/infra/segments/*"

[[capabilities.vcenter]]
methods = ["GET", "POST"]
path = "/api/cis/tagging/**"
"#;

#[tokio::test]
async fn encoded_dots_slashes_backslashes_and_parameters_never_reach_the_server() {
    let host = Host::new(&[(&probe_wearing(SEGMENTS), "hostile.wasm")]);
    let tricks = [
        ("/policy/api/v1/infra/segments/%2e%2e", "percent-encodes"),
        ("/policy/api/v1/infra/segments/%2E%2E%2Ftier-1s%2Ft1", "percent-encodes"),
        ("/policy/api/v1/infra/segments/s1%2f..%2f..%2ftier-1s%2ft1", "percent-encodes"),
        ("/policy/api/v1/infra/segments/s1%5c..%5ctier-1s", "percent-encodes"),
        ("/policy/api/v1/infra/segments/%252e%252e", "percent-encodes"),
        ("/policy/api/v1/infra/segments/s1\\..\\tier-1s", "backslash"),
        ("/policy/api/v1/infra/segments/..;/tier-1s/t1", "';' parameters"),
        ("/policy/api/v1/infra/segments/s1;v=1", "';' parameters"),
        ("/policy/api/v1/infra/segments//tier-1s", "empty segment"),
        ("/policy/api/v1/infra/segments/../tier-1s/t1", "'.' or '..'"),
    ];
    let calls: Vec<_> = tricks.iter().map(|(path, _)| request("nsx", "PATCH", path)).collect();
    let seen = host.probe(json!(calls)).await;
    for ((path, why), seen) in tricks.iter().zip(&seen) {
        assert_error(seen, "forbidden", why);
        assert!(seen["message"].as_str().unwrap().contains(path), "names the path: {seen}");
    }
    assert_eq!(host.nsx.sent(), Vec::<String>::new(), "nothing was sent");
    host.assert_responsive().await;
}

#[tokio::test]
async fn a_query_is_judged_decoded_and_a_key_given_twice_is_refused() {
    let host = Host::new(&[(&probe_wearing(SEGMENTS), "hostile.wasm")]);
    let tag = "urn:vmomi:InventoryServiceTag:wasmvisor-plugin-hostile:GLOBAL";
    let smuggled =
        format!("/api/cis/tagging/tag-association/{tag}?%61ction=attach&action=list-attached-objects");
    let encoded = format!("/api/cis/tagging/tag-association/{tag}?%61ction=attach");
    let listed = format!("/api/cis/tagging/tag-association/{tag}?action=list-attached-objects");
    let seen = host
        .probe(json!([
            request("vcenter", "POST", &smuggled),
            request("vcenter", "POST", &encoded),
            request("vcenter", "POST", &listed),
        ]))
        .await;
    assert_error(&seen[0], "forbidden", "query key \"action\" appears more than once");
    // `%61ction` is `action` to the server, so it is an attach to the host too.
    assert_error(
        &seen[1],
        "forbidden",
        &format!("{tag}?action=attach: tagging changes can alter plugin identity"),
    );
    // A real list goes through, sent exactly as judged.
    assert_eq!(seen[2]["status"], 200, "{}", seen[2]);
    assert_eq!(host.vcenter.sent(), vec![format!("POST {listed}")]);
    host.assert_responsive().await;
}
