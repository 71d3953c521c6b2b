//! No credential reaches a plugin. The probe plugin tries every route it has
//! (reads, writes, errors, denied and reserved paths, a session renewal in
//! between) and reports all it saw: response bodies and error messages (the
//! WIT exposes no headers), and its log lines. Neither the passwords, nor
//! the basic-auth token, nor any session id the host used (recorded by a TLS
//! tap between the host and vCenter) may appear in any of it, nor in
//! anything the host logged.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};
use wasmvisor_host::capability::endpoint::http::Transport;
use wasmvisor_host::capability::endpoint::{EndpointConfig, connect_nsx, connect_vcenter};
use wasmvisor_host::manifest::Method;

use crate::faults::vm_spec;
use crate::harness::{Host, Sims, call, logs};

/// An HTTPS man-in-the-middle the host trusts (same CA as the simulators),
/// recording every vCenter session id that crosses it.
struct Tap {
    upstream: Transport,
    sessions: Mutex<BTreeSet<String>>,
}

async fn forward(State(tap): State<Arc<Tap>>, request: axum::extract::Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 1 << 20).await else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let method = match parts.method.as_str() {
        "GET" => Method::Get,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "PATCH" => Method::Patch,
        "DELETE" => Method::Delete,
        _ => return StatusCode::METHOD_NOT_ALLOWED.into_response(),
    };
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let mut headers = HeaderMap::new();
    for name in ["authorization", "vmware-api-session-id"] {
        if let Some(value) = parts.headers.get(name) {
            headers.insert(name, value.clone());
        }
    }
    if let Some(id) = parts.headers.get("vmware-api-session-id").and_then(|v| v.to_str().ok()) {
        tap.sessions.lock().unwrap().insert(id.to_owned());
    }
    let body = (!body.is_empty()).then(|| String::from_utf8_lossy(&body).into_owned());
    match tap.upstream.send(method, &path, &headers, body.as_deref()).await {
        Ok(raw) => {
            if path == "/api/session"
                && let Ok(id) = serde_json::from_slice::<String>(&raw.body)
            {
                tap.sessions.lock().unwrap().insert(id);
            }
            (raw.status, raw.body).into_response()
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

async fn start_tap(sims: &Sims) -> (String, Arc<Tap>) {
    let ca = wasmvisor_tls::LocalCa::load_or_create(&sims.dir.path().join("ca")).unwrap();
    let upstream = Transport::new(
        &sims.vcenter.base_url,
        Some(&sims.dir.path().join("ca/ca.crt")),
        Duration::from_secs(5),
    )
    .unwrap();
    let tap = Arc::new(Tap { upstream, sessions: Mutex::default() });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(forward).with_state(tap.clone());
    let tls = ca.server_config(&["127.0.0.1"]).unwrap();
    tokio::spawn(wasmvisor_tls::serve(listener, tls, app, std::future::pending()));
    (url, tap)
}

/// Every route the probe has, and some it has not.
fn sweep(vm: Option<&str>) -> Value {
    let mut calls = vec![
        call("nsx", "PATCH", "/policy/api/v1/infra/tier-1s/t-secret", Some(json!({"display_name": "t"}))),
        call("nsx", "GET", "/policy/api/v1/infra/tier-1s/t-secret", None),
        call("nsx", "GET", "/policy/api/v1/infra/tier-1s", None),
        call("nsx", "GET", "/policy/api/v1/infra/ip-pools", None),
        call("nsx", "GET", "/policy/api/v1/search/query?query=resource_type:Tier1", None),
        call("nsx", "GET", "/policy/api/v1/infra/segments/absent", None),
        call("nsx", "PATCH", "/policy/api/v1/infra/segments/bad", Some(json!({"tags": "not a list"}))),
        call(
            "nsx",
            "PATCH",
            "/policy/api/v1/infra/segments/bad2",
            Some(json!({"connectivity_path": "/infra/x"})),
        ),
        call("nsx", "GET", "/api/session/create", None),
        call("nsx", "GET", "/_sim/state", None),
        call("vcenter", "GET", "/api/session", None),
        call("vcenter", "POST", "/api/session", None),
        call("vcenter", "DELETE", "/api/session", None),
        call("vcenter", "GET", "/api/vcenter/vm", None),
        call("vcenter", "GET", "/api/vcenter/folder", None),
        call("vcenter", "GET", "/api/vcenter/network", None),
        call("vcenter", "GET", "/api/cis/tagging/tag", None),
        call("vcenter", "GET", "/api/vcenter/vm/vm-absent", None),
        call("vcenter", "POST", "/api/vcenter/vm", Some(json!({"name": "no-spec"}))),
        call("vcenter", "GET", "/_sim/state", None),
    ];
    if let Some(vm) = vm {
        calls.push(call("vcenter", "GET", &format!("/api/vcenter/vm/{vm}"), None));
        calls.push(call("vcenter", "POST", &format!("/api/vcenter/vm/{vm}/power?action=start"), None));
        calls.push(call("vcenter", "GET", &format!("/api/vcenter/vm/{vm}/guest/identity"), None));
        calls.push(call(
            "vcenter",
            "POST",
            "/api/cis/tagging/tag-association?action=list-attached-tags",
            Some(json!({"object_id": {"type": "VirtualMachine", "id": vm}})),
        ));
    } else {
        calls.push(call("vcenter", "POST", "/api/vcenter/vm", Some(vm_spec("secret-vm"))));
    }
    Value::Array(calls)
}

#[tokio::test]
async fn no_credential_or_session_id_reaches_a_plugin_or_the_log() {
    let sims = Sims::start().await;
    let (tap_url, tap) = start_tap(&sims).await;
    let nsx = connect_nsx(&sims.nsx_config, None, &Default::default()).await.unwrap();
    let vcenter = connect_vcenter(
        &EndpointConfig { url: tap_url, ..sims.vcenter_config.clone() },
        None,
        &Default::default(),
    )
    .await
    .unwrap();
    let host = Host::with(nsx, vcenter);

    let first = host.probe("sweep-1", sweep(None)).await;
    let vm: String = serde_json::from_str(first.last().unwrap()["body"].as_str().unwrap()).unwrap();
    sims.vcenter_clock.advance(Duration::from_secs(31 * 60)); // the session expires mid-run
    let second = host.probe("sweep-2", sweep(Some(&vm))).await;

    let sessions = tap.sessions.lock().unwrap().clone();
    assert_eq!(sessions.len(), 2, "the host logged in, then renewed the expired session");
    let saw: Vec<&Value> = first.iter().chain(&second).collect();
    assert!(saw.iter().any(|o| o["status"] == 200), "some calls went through");
    assert!(saw.iter().any(|o| o["error"] == "forbidden"), "some were refused");
    assert!(saw.iter().any(|o| o["error"] == "invalid"), "some failed upstream");

    let mut secrets: Vec<(String, String)> = Vec::new();
    for (product, sim) in [("nsx", &sims.nsx), ("vcenter", &sims.vcenter)] {
        let c = &sim.credentials;
        secrets.push((format!("{product} password"), c.password.clone()));
        let basic =
            base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", c.username, c.password));
        secrets.push((format!("{product} basic token"), basic));
    }
    secrets.extend(sessions.iter().map(|id| ("vcenter session id".to_owned(), id.clone())));

    let reports: String = ["sweep-1-out", "sweep-2-out"]
        .iter()
        .map(|name| host.config_map("probe", name).expect("report written").to_string())
        .collect();
    let plugin_saw = serde_json::to_string(&saw).unwrap();
    let host_logs = logs();
    assert!(host_logs.contains("probe outcome"), "the plugin's own log lines are captured");
    for (what, secret) in &secrets {
        assert!(!plugin_saw.contains(secret.as_str()), "{what} reached the plugin");
        assert!(!reports.contains(secret.as_str()), "{what} is in what the plugin wrote");
        assert!(!host_logs.contains(secret.as_str()), "{what} is in the host's log");
    }
}
