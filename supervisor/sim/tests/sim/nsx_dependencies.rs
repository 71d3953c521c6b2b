//! DELETE with dependency checks: in-use objects answer 400 with the NSX error body
//! naming what still uses them; references must name existing objects.

use anyhow::Result;
use serde_json::json;

use crate::harness::{POLICY, nsx_patch, start_nsx, tier1};

#[tokio::test]
async fn tier1_referenced_by_a_segment_cannot_be_deleted() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (running, nsx) = start_nsx(dir.path()).await?;
    nsx_patch(&nsx, "/infra/tier-1s/t1-ns1", json!({})).await?;
    nsx_patch(&nsx, "/infra/segments/seg-a", json!({"connectivity_path": "/infra/tier-1s/t1-ns1"})).await?;

    let refused = nsx.delete(&format!("{POLICY}/infra/tier-1s/t1-ns1")).await?.expect(400);
    assert_eq!(refused.json["httpStatus"], "BAD_REQUEST");
    assert_eq!(refused.json["error_code"], 500030);
    assert_eq!(refused.json["module_name"], "Policy");
    let message = refused.json["error_message"].as_str().unwrap_or_default();
    assert!(message.contains("/infra/segments/seg-a"), "names the referrer: {message}");
    nsx.get(&format!("{POLICY}/infra/tier-1s/t1-ns1")).await?.expect(200);

    nsx.delete(&format!("{POLICY}/infra/segments/seg-a")).await?.expect(200);
    nsx.delete(&format!("{POLICY}/infra/tier-1s/t1-ns1")).await?.expect(200);
    nsx.get(&format!("{POLICY}/infra/tier-1s/t1-ns1")).await?.expect(404);
    nsx.delete(&format!("{POLICY}/infra/tier-1s/t1-ns1")).await?.expect(200);
    running.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn segment_with_ports_is_503040_and_children_block_parents() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (running, nsx) = start_nsx(dir.path()).await?;
    tier1(&nsx, "t1").await?;
    nsx_patch(&nsx, "/infra/segments/s", json!({})).await?;
    nsx_patch(&nsx, "/infra/segments/s/ports/p", json!({})).await?;
    let refused = nsx.delete(&format!("{POLICY}/infra/segments/s")).await?.expect(400);
    assert_eq!(refused.json["error_code"], 503040);
    nsx.delete(&format!("{POLICY}/infra/segments/s/ports/p")).await?.expect(200);
    nsx.delete(&format!("{POLICY}/infra/segments/s")).await?.expect(200);

    let with_locale = nsx.delete(&format!("{POLICY}/infra/tier-1s/t1")).await?.expect(400);
    assert_eq!(with_locale.json["error_code"], 500030);
    assert!(with_locale.text.contains("/infra/tier-1s/t1/locale-services/default"), "{}", with_locale.text);
    running.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn load_balancer_chain_deletes_in_order() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (running, nsx) = start_nsx(dir.path()).await?;
    nsx_patch(&nsx, "/infra/tier-1s/bare", json!({})).await?;
    let no_edge = nsx
        .patch(
            &format!("{POLICY}/infra/lb-services/lbs"),
            &json!({"connectivity_path": "/infra/tier-1s/bare"}),
        )
        .await?
        .expect(400);
    assert!(no_edge.text.contains("edge"), "{}", no_edge.text);

    tier1(&nsx, "t1").await?;
    nsx_patch(
        &nsx,
        "/infra/lb-services/lbs",
        json!({"connectivity_path": "/infra/tier-1s/t1", "size": "SMALL"}),
    )
    .await?;
    nsx_patch(
        &nsx,
        "/infra/lb-pools/pool",
        json!({"members": [{"ip_address": "10.244.0.2", "port": "6443"}]}),
    )
    .await?;
    let vs = json!({
        "ip_address": "192.168.100.5", "ports": ["6443"],
        "lb_service_path": "/infra/lb-services/lbs", "pool_path": "/infra/lb-pools/pool",
        "application_profile_path": "/infra/lb-app-profiles/default-tcp-lb-app-profile",
    });
    nsx_patch(&nsx, "/infra/lb-virtual-servers/vs", vs.clone()).await?;
    let status = nsx.get(&format!("{POLICY}/infra/lb-services/lbs/detailed-status")).await?.expect(200);
    assert_eq!(status.json["service_status"], "UP");

    for (path, referrer) in [
        ("/infra/lb-pools/pool", "/infra/lb-virtual-servers/vs"),
        ("/infra/lb-services/lbs", "/infra/lb-virtual-servers/vs"),
        ("/infra/tier-1s/t1", "/infra/"),
    ] {
        let refused = nsx.delete(&format!("{POLICY}{path}")).await?.expect(400);
        assert_eq!(refused.json["error_code"], 500030, "{path}: {}", refused.text);
        assert!(refused.text.contains(referrer), "{path}: {}", refused.text);
    }
    for path in ["/infra/lb-virtual-servers/vs", "/infra/lb-pools/pool", "/infra/lb-services/lbs"] {
        nsx.delete(&format!("{POLICY}{path}")).await?.expect(200);
    }

    let mut no_profile = vs;
    no_profile.as_object_mut().map(|m| m.remove("application_profile_path"));
    nsx.patch(&format!("{POLICY}/infra/lb-virtual-servers/vs2"), &no_profile).await?.expect(400);
    running.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn references_and_parents_must_exist() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (running, nsx) = start_nsx(dir.path()).await?;
    let dangling = nsx
        .patch(&format!("{POLICY}/infra/segments/s"), &json!({"connectivity_path": "/infra/tier-1s/ghost"}))
        .await?
        .expect(400);
    assert_eq!(dangling.json["error_code"], 500012);
    assert!(dangling.text.contains("/infra/tier-1s/ghost"));
    let orphan = nsx.patch(&format!("{POLICY}/infra/segments/ghost/ports/p"), &json!({})).await?.expect(400);
    assert!(orphan.text.contains("/infra/segments/ghost"), "{}", orphan.text);
    // Paths of kinds the simulator does not manage are taken as given.
    nsx_patch(&nsx, "/infra/tier-1s/t1", json!({"tier0_path": "/infra/tier-0s/anything"})).await?;
    running.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn deletes_are_pending_for_the_realization_delay() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let settings = wasmvisor_sim::NsxSettings {
        realization_delay: std::time::Duration::from_millis(300),
        ..wasmvisor_sim::NsxSettings::default()
    };
    let running = wasmvisor_sim::NsxSim::start_with(crate::harness::config(dir.path()), settings).await?;
    let nsx = crate::harness::nsx_client(&running)?;
    nsx_patch(&nsx, "/infra/tier-1s/t1", json!({})).await?;
    nsx_patch(&nsx, "/infra/segments/s", json!({"connectivity_path": "/infra/tier-1s/t1"})).await?;
    let segment = format!("{POLICY}/infra/segments/s");
    // Taken before the request, so no later than the simulator's delete: the lower
    // bound below then holds however slowly the answer comes back.
    let deleted_at = std::time::Instant::now();
    nsx.delete(&segment).await?.expect(200);

    let marked = nsx.get(&segment).await?.expect(200).json;
    assert_eq!(marked["marked_for_delete"], true);
    nsx.delete(&segment).await?.expect(200);
    let recreate = nsx.patch(&segment, &json!({})).await?.expect(400);
    assert_eq!(recreate.json["error_code"], 500045);
    let early = nsx.delete(&format!("{POLICY}/infra/tier-1s/t1")).await?.expect(400);
    assert_eq!(
        early.json["error_code"], 500030,
        "the segment still refers to the Tier-1 until its delete is realized"
    );

    crate::harness::eventually(std::time::Duration::from_secs(5), || {
        let (nsx, url) = (nsx.clone(), format!("{POLICY}/infra/tier-1s/t1"));
        async move {
            let reply = nsx.delete(&url).await.map_err(|e| e.to_string())?;
            if reply.status == 200 { Ok(()) } else { Err(reply.text) }
        }
    })
    .await?;
    // Whole epoch milliseconds in the simulator: "300 ms" is anything above 299.
    assert!(deleted_at.elapsed() > std::time::Duration::from_millis(299));
    nsx.get(&segment).await?.expect(404);
    crate::harness::eventually(std::time::Duration::from_secs(5), || {
        let (nsx, url) = (nsx.clone(), format!("{POLICY}/infra/tier-1s/t1"));
        async move {
            let reply = nsx.get(&url).await.map_err(|e| e.to_string())?;
            if reply.status == 404 { Ok(()) } else { Err(reply.text) }
        }
    })
    .await?;
    nsx_patch(&nsx, "/infra/segments/s", json!({})).await?;
    running.shutdown().await;
    Ok(())
}
