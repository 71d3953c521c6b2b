//! Paged lists with `cursor`/`result_count`, sorting, and tag search.

use std::collections::BTreeSet;

use anyhow::Result;
use serde_json::json;

use crate::harness::{POLICY, nsx_patch, start_nsx};

#[tokio::test]
async fn lists_every_object_once_across_pages() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (running, nsx) = start_nsx(dir.path()).await?;
    for i in 0..5 {
        nsx_patch(&nsx, &format!("/infra/segments/seg-{i}"), json!({"display_name": format!("z-{}", 9 - i)}))
            .await?;
    }
    let mut seen = Vec::new();
    let mut url = format!("{POLICY}/infra/segments?page_size=2");
    let mut pages = 0;
    loop {
        let page = nsx.get(&url).await?.expect(200).json;
        pages += 1;
        assert_eq!(page["result_count"], 5, "result_count is the total: {page}");
        let results = page["results"].as_array().cloned().unwrap_or_default();
        assert!(results.len() <= 2);
        seen.extend(results.iter().filter_map(|r| r["id"].as_str().map(str::to_owned)));
        match page["cursor"].as_str() {
            Some(cursor) => url = format!("{POLICY}/infra/segments?page_size=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 5);
    assert_eq!(seen.iter().cloned().collect::<BTreeSet<_>>().len(), 5, "no object twice: {seen:?}");

    let sorted =
        nsx.get(&format!("{POLICY}/infra/segments?sort_by=display_name&sort_ascending=true")).await?;
    let sorted = sorted.expect(200).json;
    assert_eq!(sorted["results"][0]["id"], "seg-4");
    assert_eq!(sorted["sort_by"], "display_name");
    assert!(sorted.get("cursor").is_none());
    nsx.get(&format!("{POLICY}/infra/segments?cursor=not-a-cursor")).await?.expect(400);
    running.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn child_collections_list_only_their_children() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (running, nsx) = start_nsx(dir.path()).await?;
    nsx_patch(&nsx, "/infra/segments/a", json!({})).await?;
    nsx_patch(&nsx, "/infra/segments/b", json!({})).await?;
    nsx_patch(
        &nsx,
        "/infra/segments/a/ports/p1",
        json!({"address_bindings": [{"mac_address": "00:50:56:00:00:aa"}]}),
    )
    .await?;
    let ports = nsx.get(&format!("{POLICY}/infra/segments/a/ports")).await?.expect(200).json;
    assert_eq!(ports["result_count"], 1);
    assert_eq!(ports["results"][0]["path"], "/infra/segments/a/ports/p1");
    let none = nsx.get(&format!("{POLICY}/infra/segments/b/ports")).await?.expect(200).json;
    assert_eq!(none["result_count"], 0);
    running.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn search_finds_objects_by_type_and_tags() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (running, nsx) = start_nsx(dir.path()).await?;
    let mine = json!([{"scope": "wasmvisor/cluster", "tag": "c1"}]);
    let theirs = json!([{"scope": "wasmvisor/cluster", "tag": "c2"}]);
    nsx_patch(&nsx, "/infra/segments/mine", json!({"tags": mine})).await?;
    nsx_patch(&nsx, "/infra/segments/theirs", json!({"tags": theirs})).await?;
    nsx_patch(&nsx, "/infra/tier-1s/mine-t1", json!({"tags": mine})).await?;
    let query = "resource_type:Segment%20AND%20tags.scope:wasmvisor%5C%2Fcluster%20AND%20tags.tag:c1";
    let hits = nsx.get(&format!("{POLICY}/search/query?query={query}")).await?.expect(200).json;
    assert_eq!(hits["result_count"], 1, "{hits}");
    assert_eq!(hits["results"][0]["id"], "mine");
    let old_path = nsx.get(&format!("{POLICY}/search?query={query}")).await?.expect(200).json;
    assert_eq!(old_path, hits, "the pre-3.0 search path answers the same");
    nsx.get(&format!("{POLICY}/search/query?query=a:b%20OR%20c:d")).await?.expect(400);
    running.shutdown().await;
    Ok(())
}
