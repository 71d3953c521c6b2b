//! kill -9 during a burst of writes: every acknowledged write survives, resourceVersions
//! keep growing, watches resume from a recent resourceVersion or get 410 from an old one,
//! and a kube-rs reflector that watched through the crash catches up (by resuming or by
//! relisting after 410).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, ensure};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::ResourceExt;
use kube::api::{Api, ListParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use tokio::io::AsyncBufReadExt;
use tokio::process::{Child, Command};

use crate::support::{client_from, eventually};

const WINDOW: &str = "64";

/// Starts a server process on `listen`; returns it and the address it serves on.
async fn spawn_server(dir: &Path, listen: &str) -> anyhow::Result<(Child, String)> {
    spawn_server_with(dir, listen, Duration::ZERO).await
}

/// [`spawn_server`] on a disk as slow as each commit taking `commit_delay` longer.
async fn spawn_server_with(
    dir: &Path,
    listen: &str,
    commit_delay: Duration,
) -> anyhow::Result<(Child, String)> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_apiserver-test-server"))
        .env("APISERVER_COMMIT_DELAY_MS", commit_delay.as_millis().to_string())
        .arg(dir)
        .arg(listen)
        .arg(WINDOW)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child.stdout.take().context("stdout")?;
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let line =
        tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await??.context("no output")?;
    let addr = line.strip_prefix("listening ").with_context(|| format!("unexpected first line: {line}"))?;
    Ok((child, addr.to_owned()))
}

fn rv(cm: &ConfigMap) -> u64 {
    cm.resource_version().and_then(|r| r.parse().ok()).unwrap_or(0)
}

#[tokio::test]
async fn kill_9_in_a_burst_of_writes_loses_nothing_acknowledged() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let (mut child, addr) = spawn_server(&data, "127.0.0.1:0").await?;
    let api: Api<ConfigMap> = Api::namespaced(client_from(&data.join("kubeconfig")).await?, "default");
    let before: u64 =
        api.list(&ListParams::default()).await?.metadata.resource_version.unwrap_or_default().parse()?;

    // A reflector that keeps watching through the crash (retrying with backoff while the
    // server is down), as a controller would.
    let (cache, writer) = reflector::store::<ConfigMap>();
    let stream = reflector::reflector(writer, watcher(api.clone(), watcher::Config::default()))
        .default_backoff()
        .applied_objects();
    let reflector_task = tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while stream.next().await.is_some() {}
    });
    cache.wait_until_ready().await?;

    let acked: Arc<Mutex<Vec<(String, u64)>>> = Arc::default();
    let mut writers = Vec::new();
    for writer in 0..4 {
        let (api, acked) = (api.clone(), acked.clone());
        writers.push(tokio::spawn(async move {
            for i in 0.. {
                let mut cm = ConfigMap::default();
                cm.metadata.name = Some(format!("w{writer}-{i}"));
                match api.create(&PostParams::default(), &cm).await {
                    Ok(created) => acked.lock().expect("lock").push((created.name_any(), rv(&created))),
                    Err(_) => return,
                }
            }
        }));
    }
    eventually("200 acknowledged writes", Duration::from_secs(60), || async {
        let acknowledged = acked.lock().expect("lock").len();
        ensure!(acknowledged >= 200, "{acknowledged} writes acknowledged");
        Ok(())
    })
    .await?;
    child.start_kill()?; // SIGKILL
    child.wait().await?;
    for writer in writers {
        let _ = tokio::time::timeout(Duration::from_secs(30), writer).await;
    }
    let acked = acked.lock().expect("lock").clone();

    // Same address, so the reflector's client reconnects by itself.
    let (_child, _) = spawn_server(&data, &addr).await?;
    let api: Api<ConfigMap> = Api::namespaced(client_from(&data.join("kubeconfig")).await?, "default");
    for (name, acked_rv) in &acked {
        let stored = api.get(name).await.with_context(|| format!("acknowledged {name} is missing"))?;
        assert_eq!(rv(&stored), *acked_rv, "{name}");
    }
    let newest_acked = acked.iter().map(|(_, rv)| *rv).max().unwrap_or(0);
    let mut after = ConfigMap::default();
    after.metadata.name = Some("after-restart".into());
    let after = api.create(&PostParams::default(), &after).await?;
    assert!(rv(&after) > newest_acked, "resourceVersion went back: {} <= {newest_acked}", rv(&after));

    // The reflector caught up: every acknowledged object and the one written after the restart.
    eventually("the reflector to catch up after the restart", Duration::from_secs(60), || async {
        let names: std::collections::HashSet<String> = cache.state().iter().map(|c| c.name_any()).collect();
        let missing: Vec<&String> =
            acked.iter().map(|(name, _)| name).filter(|n| !names.contains(*n)).collect();
        ensure!(
            missing.is_empty() && names.contains("after-restart"),
            "{} objects cached, missing {missing:?}",
            names.len()
        );
        Ok(())
    })
    .await?;
    reflector_task.abort();

    // A recent resourceVersion resumes exactly after it.
    let from = newest_acked - 5;
    let mut events = api.watch(&WatchParams::default().timeout(10), &from.to_string()).await?.boxed();
    match tokio::time::timeout(Duration::from_secs(10), events.try_next()).await?? {
        Some(WatchEvent::Added(cm)) => assert_eq!(rv(&cm), from + 1),
        other => panic!("expected the change after {from}, got {other:?}"),
    }
    // One from before the burst has been compacted away: 410, and the client must relist.
    let mut events = api.watch(&WatchParams::default().timeout(10), &before.to_string()).await?.boxed();
    match tokio::time::timeout(Duration::from_secs(10), events.try_next()).await?? {
        Some(WatchEvent::Error(status)) => {
            assert_eq!((status.code, status.reason.as_str()), (410, "Expired"))
        }
        other => panic!("expected 410 Expired, got {other:?}"),
    }
    Ok(())
}

/// Group commit under kill -9: sixteen writers in flight on a slow disk, so one commit
/// holds many writes, and the server killed the moment the 300th acknowledgement arrives;
/// three times. After each restart every acknowledged write is there with the
/// resourceVersion it was acknowledged with (an acknowledgement is never sent before the
/// commit holding the write is durable); the burst's objects have consecutive
/// resourceVersions from the one before the burst (a commit is all or nothing and no
/// resourceVersion is reused); and the server reports exactly the newest of them.
#[tokio::test]
async fn kill_9_during_concurrent_writes_keeps_every_acknowledged_one() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    for round in 0..3 {
        let before = burst_then_kill(&data, round).await.with_context(|| format!("round {round}"))?;
        let (_child, _) = spawn_server(&data, "127.0.0.1:0").await?;
        let api: Api<ConfigMap> = Api::namespaced(client_from(&data.join("kubeconfig")).await?, "default");
        let list = api.list(&ListParams::default().labels(&format!("burst={round}"))).await?;
        let current: u64 = list.metadata.resource_version.clone().unwrap_or_default().parse()?;
        let stored: std::collections::HashMap<String, u64> =
            list.items.iter().map(|cm| (cm.name_any(), rv(cm))).collect();
        let (before, acked) = before;
        let lost: Vec<&(String, u64)> =
            acked.iter().filter(|(name, acked_rv)| stored.get(name) != Some(acked_rv)).collect();
        ensure!(
            lost.is_empty(),
            "round {round}: {} acknowledged writes lost or changed: {lost:?}",
            lost.len()
        );
        let mut rvs: Vec<u64> = stored.values().copied().collect();
        rvs.sort_unstable();
        let expected: Vec<u64> = (before + 1..=before + rvs.len() as u64).collect();
        ensure!(rvs == expected, "round {round}: the burst's resourceVersions have gaps or repeats");
        ensure!(current == before + rvs.len() as u64, "round {round}: the server reports {current}");
    }
    Ok(())
}

/// Starts a server on a slow disk, runs sixteen writers against it and kills it with
/// SIGKILL the moment 300 writes are acknowledged. Returns the resourceVersion before the
/// burst and the acknowledged writes (name, resourceVersion), labelled `burst=ROUND`.
async fn burst_then_kill(data: &Path, round: usize) -> anyhow::Result<(u64, Vec<(String, u64)>)> {
    const WRITERS: usize = 16;
    const ACKS: usize = 300;
    // Writes queue behind every commit and share the next one, so the kill lands while
    // a batch is queued or committing.
    let (mut child, _) = spawn_server_with(data, "127.0.0.1:0", Duration::from_millis(5)).await?;
    let api: Api<ConfigMap> = Api::namespaced(client_from(&data.join("kubeconfig")).await?, "default");
    let before: u64 =
        api.list(&ListParams::default()).await?.metadata.resource_version.unwrap_or_default().parse()?;
    let acked: Arc<Mutex<Vec<(String, u64)>>> = Arc::default();
    let enough = Arc::new(tokio::sync::Notify::new());
    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        let (api, acked, enough) = (api.clone(), acked.clone(), enough.clone());
        writers.push(tokio::spawn(async move {
            for i in 0.. {
                let mut cm = ConfigMap::default();
                cm.metadata.name = Some(format!("r{round}-w{writer}-{i}"));
                cm.metadata.labels = Some([("burst".to_owned(), round.to_string())].into());
                match api.create(&PostParams::default(), &cm).await {
                    Ok(created) => {
                        let mut acked = acked.lock().expect("lock");
                        acked.push((created.name_any(), rv(&created)));
                        if acked.len() >= ACKS {
                            enough.notify_one();
                        }
                    }
                    Err(_) => return,
                }
            }
        }));
    }
    // Kill the moment an acknowledgement arrives: a write acknowledged before the commit
    // holding it is durable would most likely still be queued or committing now.
    tokio::time::timeout(Duration::from_secs(120), enough.notified())
        .await
        .context("300 acknowledged writes")?;
    child.start_kill()?;
    child.wait().await?;
    for writer in writers {
        let _ = tokio::time::timeout(Duration::from_secs(30), writer).await;
    }
    let acked = acked.lock().expect("lock").clone();
    Ok((before, acked))
}
