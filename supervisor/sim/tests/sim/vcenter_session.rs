//! Sessions: basic auth → id; the id header on every call; 401 when unknown, deleted or
//! idle-expired; an unknown path with a live session is 404, not 401.

use std::time::Duration;

use anyhow::Result;
use wasmvisor_sim::{VcenterSim, VcenterTiming};

use crate::client::{Auth, Client};
use crate::harness::{config, eventually, fast_timing, start_vcenter, vcenter_login};

#[tokio::test]
async fn login_use_and_logout() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (running, vc) = start_vcenter(dir.path(), fast_timing()).await?;
    let info = vc.get("/api/session").await?.expect(200).json;
    assert_eq!(info["user"], running.credentials.username);
    assert!(info["created_time"].as_str().is_some_and(|t| t.ends_with('Z')));
    vc.get("/api/vcenter/vm").await?.expect(200);

    vc.delete("/api/session").await?.expect(204);
    let gone = vc.get("/api/vcenter/vm").await?.expect(401);
    assert_eq!(gone.json["error_type"], "UNAUTHENTICATED");
    assert!(gone.json["messages"][0]["default_message"].is_string());
    running.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn bad_credentials_and_missing_sessions_are_401() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (running, vc) = start_vcenter(dir.path(), fast_timing()).await?;
    let anonymous = Client::new(&running)?;
    anonymous.get("/api/vcenter/vm").await?.expect(401);
    anonymous.with(Auth::Session("made-up".into())).get("/api/vcenter/vm").await?.expect(401);
    let wrong = anonymous.with(Auth::Basic(running.credentials.username.clone(), "nope".into()));
    assert_eq!(wrong.post("/api/session", None).await?.expect(401).json["error_type"], "UNAUTHENTICATED");
    // Basic auth alone does not open the API: only a session does.
    let basic = anonymous
        .with(Auth::Basic(running.credentials.username.clone(), running.credentials.password.clone()));
    basic.get("/api/vcenter/vm").await?.expect(401);
    vc.get("/api/vcenter/vm").await?.expect(200);
    running.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn idle_sessions_expire() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let timing = VcenterTiming { session_idle_timeout: Duration::from_millis(300), ..fast_timing() };
    let running = VcenterSim::start(config(dir.path()), timing).await?;
    let vc = vcenter_login(&running).await?;
    vc.get("/api/vcenter/vm").await?.expect(200);
    let started = std::time::Instant::now();
    let status = eventually(Duration::from_secs(5), || {
        let vc = vc.clone();
        async move {
            // Only probe the session once it has been idle long enough; probing resets it.
            tokio::time::sleep(Duration::from_millis(350)).await;
            let reply = vc.get("/api/session").await.map_err(|e| e.to_string())?;
            if reply.status == 401 { Ok(reply.json) } else { Err(format!("status {}", reply.status)) }
        }
    })
    .await?;
    assert_eq!(status["error_type"], "UNAUTHENTICATED");
    assert!(started.elapsed() >= Duration::from_millis(300));
    vcenter_login(&running).await?.get("/api/vcenter/vm").await?.expect(200);
    running.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn unknown_paths_with_a_session_are_404_not_401() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (running, vc) = start_vcenter(dir.path(), fast_timing()).await?;
    let missing = vc.get("/api/vcenter/no-such-thing").await?.expect(404);
    assert_eq!(missing.json["error_type"], "NOT_FOUND");
    assert!(
        missing.json["messages"][0]["default_message"].as_str().is_some_and(|m| m.contains("no-such-thing"))
    );
    vc.get("/api/vcenter/vm/vm-1/hardware/ethernet").await?.expect(404);
    Client::new(&running)?.get("/api/vcenter/no-such-thing").await?.expect(401);
    running.shutdown().await;
    Ok(())
}
