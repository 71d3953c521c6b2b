//! Concurrent writers: through one server, and through two servers on one data dir (as
//! two `wasmvisor sim` processes would be), every write lands exactly once.

use anyhow::Result;
use serde_json::json;

use crate::harness::{POLICY, start_nsx};

#[tokio::test]
async fn concurrent_patches_from_two_servers_all_land() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (a_running, a) = start_nsx(dir.path()).await?;
    let (b_running, b) = start_nsx(dir.path()).await?;
    let url = format!("{POLICY}/infra/segments/shared");
    a.patch(&url, &json!({})).await?.expect(200);
    let mut writers = tokio::task::JoinSet::new();
    for i in 0..20 {
        let (client, url) = (if i % 2 == 0 { a.clone() } else { b.clone() }, url.clone());
        writers.spawn(async move {
            let tag = json!({"tags": [{"scope": "writer", "tag": i.to_string()}]});
            client.patch(&url, &tag).await.map(|r| r.status)
        });
        let (client, id) = (if i % 2 == 0 { b.clone() } else { a.clone() }, i);
        writers.spawn(async move {
            client.patch(&format!("{POLICY}/infra/segments/s-{id}"), &json!({})).await.map(|r| r.status)
        });
    }
    while let Some(status) = writers.join_next().await {
        assert_eq!(status??, 200);
    }
    let shared = b.get(&url).await?.expect(200).json;
    assert_eq!(shared["_revision"], 20, "each of the 20 updates bumped the revision once");
    let list = a.get(&format!("{POLICY}/infra/segments")).await?.expect(200).json;
    assert_eq!(list["result_count"], 21);
    a_running.shutdown().await;
    b_running.shutdown().await;
    Ok(())
}
