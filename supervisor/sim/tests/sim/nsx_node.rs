//! The manager-node endpoints clients read first (health, version, tag-limit schemas), and
//! not-found as NSX words it: 404 with error_code 600 from `common-services`.

use anyhow::Result;
use serde_json::json;

use crate::harness::{POLICY, nsx_patch, start_nsx};

#[tokio::test]
async fn health_version_and_tag_limits() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (running, nsx) = start_nsx(dir.path()).await?;
    assert_eq!(nsx.get("/api/v1/reverse-proxy/node/health").await?.expect(200).json["healthy"], true);
    let node = nsx.get("/api/v1/node").await?.expect(200).json;
    assert!(node["node_version"].as_str().is_some_and(|v| v.starts_with("4.")), "{node}");
    let tag = nsx.get("/api/v1/spec/vmware/types/Tag").await?.expect(200).json;
    assert_eq!(
        (tag["properties"]["scope"]["maxLength"].clone(), tag["properties"]["tag"]["maxLength"].clone()),
        (json!(128), json!(256))
    );
    let managed = nsx.get("/api/v1/spec/vmware/types/ManagedResource").await?.expect(200).json;
    assert_eq!(managed["properties"]["tags"]["maxItems"], 30);
    nsx.get("/api/v1/spec/vmware/types/NoSuchType").await?.expect(404);
    running.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_missing_object_is_600_not_a_stale_revision() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (running, nsx) = start_nsx(dir.path()).await?;
    nsx_patch(&nsx, "/infra/segments/seg-a", json!({})).await?;
    let missing = nsx.get(&format!("{POLICY}/infra/segments/SEG-A")).await?.expect(404).json;
    assert_eq!(missing["error_code"], 600);
    assert_eq!(missing["module_name"], "common-services");
    assert_eq!(
        missing["error_message"],
        "The requested object : /infra/segments/SEG-A could not be found. Object identifiers are case sensitive."
    );
    running.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn search_cursors_are_offsets_up_to_result_count() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (running, nsx) = start_nsx(dir.path()).await?;
    for i in 0..3 {
        nsx_patch(&nsx, &format!("/infra/segments/s{i}"), json!({"tags": [{"scope": "o", "tag": "t"}]}))
            .await?;
    }
    let query = format!("{POLICY}/search/query?query=resource_type:Segment%20AND%20tags.scope:o&page_size=2");
    let first = nsx.get(&query).await?.expect(200).json;
    assert_eq!((first["cursor"].clone(), first["result_count"].clone()), (json!("2"), json!(3)));
    let last = nsx.get(&format!("{query}&cursor=2")).await?.expect(200).json;
    assert_eq!(last["results"].as_array().map(Vec::len), Some(1));
    assert_eq!(last["cursor"], "3", "a search's last page still carries the cursor");
    running.shutdown().await;
    Ok(())
}
