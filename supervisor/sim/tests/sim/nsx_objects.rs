//! PATCH/PUT create-or-update by id, `_revision`, metadata, tags, auth and error bodies.

use anyhow::Result;
use serde_json::json;

use crate::client::Auth;
use crate::harness::{POLICY, start_nsx, tier1};

#[tokio::test]
async fn patch_creates_then_merges_and_bumps_revision() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (running, nsx) = start_nsx(dir.path()).await?;
    let url = format!("{POLICY}/infra/tier-1s/t1");
    let tags = json!([{"scope": "wasmvisor/owner", "tag": "VirtualNetwork/ns1/vnet"}]);
    let created =
        nsx.patch(&url, &json!({"tier0_path": "/infra/tier-0s/t0", "tags": tags})).await?.expect(200);
    assert!(created.text.is_empty(), "PATCH answers an empty body: {}", created.text);

    let got = nsx.get(&url).await?.expect(200).json;
    assert_eq!(got["id"], "t1");
    assert_eq!(got["path"], "/infra/tier-1s/t1");
    assert_eq!(got["parent_path"], "/infra");
    assert_eq!(got["resource_type"], "Tier1");
    assert_eq!(got["display_name"], "t1");
    assert_eq!(got["_revision"], 0);
    assert_eq!(got["tags"], tags);
    assert!(got["unique_id"].is_string());

    nsx.patch(&url, &json!({"display_name": "renamed"})).await?.expect(200);
    let got = nsx.get(&url).await?.expect(200).json;
    assert_eq!(got["_revision"], 1);
    assert_eq!(got["display_name"], "renamed");
    assert_eq!(got["tier0_path"], "/infra/tier-0s/t0", "PATCH keeps fields it does not name");
    assert_eq!(got["tags"], tags);
    running.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn put_replaces_only_with_the_current_revision() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (running, nsx) = start_nsx(dir.path()).await?;
    let url = format!("{POLICY}/infra/lb-pools/pool-1");
    let created =
        nsx.put(&url, &json!({"members": [{"ip_address": "10.0.0.5", "port": "6443"}]})).await?.expect(200);
    assert_eq!(created.json["_revision"], 0, "PUT answers the stored object");
    assert_eq!(created.json["resource_type"], "LBPool");

    let missing = nsx.put(&url, &json!({"members": []})).await?.expect(412);
    assert_eq!(missing.json["error_code"], 604);
    let stale = nsx.put(&url, &json!({"members": [], "_revision": 7})).await?.expect(412);
    assert_eq!(stale.json["httpStatus"], "PRECONDITION_FAILED");

    let replaced = nsx.put(&url, &json!({"algorithm": "IP_HASH", "_revision": 0})).await?.expect(200);
    assert_eq!(replaced.json["_revision"], 1);
    assert_eq!(replaced.json["algorithm"], "IP_HASH");
    assert!(replaced.json.get("members").is_none(), "PUT replaces the whole object");
    running.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn malformed_writes_are_400_with_the_nsx_body() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (running, nsx) = start_nsx(dir.path()).await?;
    let url = format!("{POLICY}/infra/segments/s1");
    let mismatch = nsx.patch(&url, &json!({"id": "other"})).await?.expect(400);
    assert_eq!(mismatch.json["module_name"], "Policy");
    assert_eq!(mismatch.json["httpStatus"], "BAD_REQUEST");
    let too_many: Vec<_> = (0..31).map(|i| json!({"scope": "s", "tag": i.to_string()})).collect();
    nsx.patch(&url, &json!({"tags": too_many})).await?.expect(400);
    nsx.patch(&url, &json!({"resource_type": "Tier1"})).await?.expect(400);
    nsx.patch(&url, &json!({"subnets": [{"gateway_address": "10.0.0.1"}]})).await?.expect(400);
    let not_json = nsx.send(hyper::Method::PATCH, &url, None).await?.expect(400);
    assert!(not_json.json["error_message"].as_str().is_some_and(|m| m.contains("JSON")));
    nsx.get(&url).await?.expect(404);
    running.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn auth_failures_are_401_and_unknown_paths_404() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (running, nsx) = start_nsx(dir.path()).await?;
    let url = format!("{POLICY}/infra/segments");
    let anonymous = nsx.with(Auth::None).get(&url).await?.expect(401);
    assert_eq!(anonymous.json["error_code"], 403);
    assert!(anonymous.headers.contains_key("www-authenticate"));
    nsx.with(Auth::Basic(running.credentials.username.clone(), "wrong".into())).get(&url).await?.expect(401);
    let unknown = nsx.get(&format!("{POLICY}/infra/tier-0s/t0")).await?.expect(404);
    assert_eq!(unknown.json["httpStatus"], "NOT_FOUND");
    let missing = nsx.get(&format!("{POLICY}/infra/segments/nope")).await?.expect(404);
    assert_eq!(missing.json["error_code"], 600, "not 500090, which clients read as a stale revision");
    assert_eq!(missing.json["module_name"], "common-services");
    nsx.post(&url, None).await?.expect(405);
    running.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn generated_credentials_are_written_0600() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (running, _) = start_nsx(dir.path()).await?;
    let file: serde_json::Value = serde_json::from_slice(&std::fs::read(&running.credentials_file)?)?;
    assert_eq!(file["username"], running.credentials.username);
    assert_eq!(file["password"], running.credentials.password);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&running.credentials_file)?.permissions().mode() & 0o777, 0o600);
    }
    running.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn views_and_realized_state_of_a_segment() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (running, nsx) = start_nsx(dir.path()).await?;
    tier1(&nsx, "t1").await?;
    let body =
        json!({"connectivity_path": "/infra/tier-1s/t1", "subnets": [{"gateway_address": "10.244.0.1/28"}]});
    nsx.patch(&format!("{POLICY}/infra/segments/s1"), &body).await?.expect(200);
    let seg = nsx.get(&format!("{POLICY}/infra/segments/s1")).await?.expect(200).json;
    assert_eq!(seg["subnets"][0]["network"], "10.244.0.0/28");
    assert_eq!(seg["type"], "ROUTED");

    let url = format!("{POLICY}/infra/realized-state/realized-entities?intent_path=/infra/segments/s1");
    let realized = nsx.get(&url).await?.expect(200).json;
    assert_eq!(realized["result_count"], 1);
    let entity = &realized["results"][0];
    assert_eq!(entity["entity_type"], "RealizedLogicalSwitch");
    assert_eq!(entity["state"], "REALIZED");
    assert_eq!(entity["realization_specific_identifier"], seg["unique_id"]);
    let status =
        nsx.get(&format!("{POLICY}/infra/realized-state/status?intent_path=/infra/segments/s1")).await?;
    assert_eq!(status.expect(200).json["consolidated_status"]["consolidated_status"], "SUCCESS");
    let state = nsx.get(&format!("{POLICY}/infra/segments/s1/state")).await?.expect(200).json;
    assert_eq!(state["state"], "success");
    nsx.get(&format!("{POLICY}/infra/realized-state/realized-entities?intent_path=/infra/segments/nope"))
        .await?
        .expect(404);
    running.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn session_login_with_xsrf_token() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (running, nsx) = start_nsx(dir.path()).await?;
    let anonymous = nsx.with(Auth::None);
    let creds = &running.credentials;
    let form = |pass: &str| {
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("j_username", &creds.username)
            .append_pair("j_password", pass)
            .finish();
        Some(("application/x-www-form-urlencoded", hyper::body::Bytes::from(body)))
    };
    let refused = anonymous.send_raw(hyper::Method::POST, "/api/session/create", &[], form("wrong")).await?;
    assert_eq!(refused.expect(403).json["error_code"], 403);

    let login =
        anonymous.send_raw(hyper::Method::POST, "/api/session/create", &[], form(&creds.password)).await?;
    let login = login.expect(200);
    let set_cookie = login.headers.get("set-cookie").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let cookie = set_cookie.split(';').next().unwrap_or_default().to_owned();
    assert!(cookie.starts_with("JSESSIONID="), "{set_cookie}");
    let token =
        login.headers.get("x-xsrf-token").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();

    let url = format!("{POLICY}/infra/segments");
    let with_session = [("cookie", cookie.as_str()), ("x-xsrf-token", token.as_str())];
    anonymous.send_raw(hyper::Method::GET, &url, &with_session, None).await?.expect(200);
    let bad_token = [("cookie", cookie.as_str()), ("x-xsrf-token", "forged")];
    let forged = anonymous.send_raw(hyper::Method::GET, &url, &bad_token, None).await?.expect(403);
    assert_eq!(forged.json["error_code"], 98);

    anonymous.send_raw(hyper::Method::POST, "/api/session/destroy", &with_session, None).await?.expect(200);
    anonymous.send_raw(hyper::Method::GET, &url, &with_session, None).await?.expect(401);
    running.shutdown().await;
    Ok(())
}
