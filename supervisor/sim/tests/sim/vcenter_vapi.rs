//! The vAPI JSON-RPC protocol on `POST /api` next to the REST paths: one model and one
//! set of sessions underneath both, typed errors in `result.error`, and unknown REST paths
//! answered 404 (never 401) to a live session.

use anyhow::{Result, bail};
use hyper::Method;
use hyper::body::Bytes;
use serde_json::{Value, json};

use crate::client::{Auth, Client};
use crate::harness::{fast_timing, start_vcenter, vm_spec};

/// One `invoke` over `POST /api` with `security` as the security context; returns
/// `result` (200 is required: the SDK raises on any other status before reading the body).
async fn invoke(
    client: &Client,
    service: &str,
    operation: &str,
    input: Value,
    security: Value,
) -> Result<Value> {
    let body = json!({
        "jsonrpc": "2.0", "method": "invoke", "id": "42",
        "params": {
            "serviceId": service, "operationId": operation,
            "input": {"STRUCTURE": {"operation-input": input}},
            "ctx": {"appCtx": {}, "securityCtx": security},
        },
    });
    let reply = client.post("/api", Some(&body)).await?.expect(200);
    if reply.json["jsonrpc"] != "2.0" || reply.json["id"] != "42" {
        bail!("not a JSON-RPC 2.0 answer to id 42: {}", reply.text);
    }
    Ok(reply.json["result"].clone())
}

fn session(id: &str) -> Value {
    json!({"schemeId": "com.vmware.vapi.std.security.session_id", "sessionId": id})
}

#[tokio::test]
async fn json_rpc_and_rest_share_one_model_and_one_session_table() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (running, vc) = start_vcenter(dir.path(), fast_timing()).await?;
    let anonymous = Client::new(&running)?;
    let creds = &running.credentials;
    let login = json!({"schemeId": "com.vmware.vapi.std.security.user_pass",
                       "userName": creds.username, "password": creds.password});
    let created = invoke(&anonymous, "com.vmware.cis.session", "create", json!({}), login).await?;
    let Some(id) = created["output"]["SECRET"].as_str() else { bail!("no session id: {created}") };

    // A VM made over REST is listed over JSON-RPC, with the optional fields wrapped.
    let rest_vm = vc.post("/api/vcenter/vm", Some(&vm_spec("from-rest", json!([])))).await?.expect(201).json;
    let filter = json!({"filter": {"OPTIONAL": {"STRUCTURE": {"com.vmware.vcenter.VM.filter_spec": {
        "names": {"OPTIONAL": ["from-rest"]}}}}}});
    let listed = invoke(&anonymous, "com.vmware.vcenter.VM", "list", filter, session(id)).await?;
    let summary = &listed["output"][0]["STRUCTURE"]["com.vmware.vcenter.VM.summary"];
    assert_eq!(summary["vm"], rest_vm, "{listed}");
    assert_eq!(summary["cpu_count"], json!({"OPTIONAL": 2}));

    // And back: a VM made over JSON-RPC is read over REST, with the JSON-RPC session.
    let spec = json!({"spec": {"STRUCTURE": {"com.vmware.vcenter.VM.create_spec": {
        "guest_OS": "UBUNTU_64", "name": {"OPTIONAL": "from-rpc"},
        "placement": {"OPTIONAL": {"STRUCTURE": {"com.vmware.vcenter.VM.placement_spec": {
            "folder": {"OPTIONAL": "group-v3"}, "resource_pool": {"OPTIONAL": "resgroup-8"}}}}}}}}});
    let made = invoke(&anonymous, "com.vmware.vcenter.VM", "create", spec, session(id)).await?;
    let Some(rpc_vm) = made["output"].as_str() else { bail!("no VM id: {made}") };
    let rest = anonymous.with(Auth::Session(id.to_owned()));
    assert_eq!(rest.get(&format!("/api/vcenter/vm/{rpc_vm}")).await?.expect(200).json["name"], "from-rpc");

    // Refusals are typed vAPI errors inside a 200 answer.
    rest.post(&format!("/api/vcenter/vm/{rpc_vm}/power?action=start"), None).await?.expect(204);
    let vm_input = json!({"vm": rpc_vm});
    let refused = invoke(&anonymous, "com.vmware.vcenter.VM", "delete", vm_input, session(id)).await?;
    let error = &refused["error"]["ERROR"]["com.vmware.vapi.std.errors.not_allowed_in_current_state"];
    assert_eq!(error["error_type"], json!({"OPTIONAL": "NOT_ALLOWED_IN_CURRENT_STATE"}), "{refused}");
    let message = &error["messages"][0]["STRUCTURE"]["com.vmware.vapi.std.localizable_message"];
    assert_eq!(message["default_message"], "Virtual machine is powered on.");
    let unknown = invoke(&anonymous, "com.vmware.vcenter.VM", "clone", json!({}), session(id)).await?;
    assert!(
        unknown["error"]["ERROR"]["com.vmware.vapi.std.errors.operation_not_found"].is_object(),
        "{unknown}"
    );

    // Logging out over JSON-RPC ends the session for REST too.
    invoke(&anonymous, "com.vmware.cis.session", "delete", json!({}), session(id)).await?;
    rest.get("/api/vcenter/vm").await?.expect(401);
    let gone = invoke(&anonymous, "com.vmware.vcenter.VM", "list", json!({}), session(id)).await?;
    assert!(gone["error"]["ERROR"]["com.vmware.vapi.std.errors.unauthenticated"].is_object(), "{gone}");
    let bad_login = json!({"schemeId": "com.vmware.vapi.std.security.user_pass",
                           "userName": creds.username, "password": "wrong"});
    let refused = invoke(&anonymous, "com.vmware.cis.session", "create", json!({}), bad_login).await?;
    assert!(refused["error"]["ERROR"]["com.vmware.vapi.std.errors.unauthenticated"].is_object());
    running.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn malformed_envelopes_get_json_rpc_errors() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (running, vc) = start_vcenter(dir.path(), fast_timing()).await?;
    let garbage = Some(("application/json", Bytes::from_static(b"{not json")));
    let reply = vc.send_raw(Method::POST, "/api", &[], garbage).await?.expect(200);
    assert_eq!(reply.json["error"]["code"], -32700);
    let other = json!({"jsonrpc": "2.0", "method": "call", "id": 1});
    assert_eq!(vc.post("/api", Some(&other)).await?.expect(200).json["error"]["code"], -32601);
    running.shutdown().await;
    Ok(())
}
