//! Two replicas against one API server: one leads and reconciles, the
//! other stands by and takes over when the leader goes.

use serde_json::json;
use wasmvisor_host::config::LeaderElection;
use wasmvisor_host::host::Host;
use wasmvisor_plugins::testing::WIDGET;

use crate::support::{Env, at, create_widget, ensure_namespace, eventually, host_config};

fn replica_config(env: &Env, name: &str) -> wasmvisor_host::config::HostConfig {
    let dir = env.dir().join(name);
    std::fs::create_dir_all(dir.join("plugins")).unwrap();
    std::fs::write(dir.join("plugins").join(WIDGET.file), WIDGET.bytes).unwrap();
    let mut config = host_config(&dir, env.kubeconfig(), &[WIDGET]);
    config.leader_election = Some(LeaderElection {
        cluster: "default".into(),
        namespace: "wasmvisor-system".into(),
        lease: "wasmvisor".into(),
        identity: Some(name.into()),
        lease_duration: std::time::Duration::from_secs(2),
        renew_deadline: std::time::Duration::from_millis(1500),
        retry_period: std::time::Duration::from_millis(100),
    });
    config
}

fn successes(host: &Host) -> u64 {
    let labels = wasmvisor_host::metrics::ReconcileLabels { plugin: "widget".into(), result: "success" };
    host.runtime().metrics().reconciles.get_or_create(&labels).get()
}

async fn ready(env: &Env, name: &str) {
    let widgets = env.widgets("apps");
    eventually(&format!("{name} to be reconciled"), || {
        let widgets = widgets.clone();
        async move { widgets.get(name).await.ok().filter(|w| at(w, "/status/phase") == "Ready").map(drop) }
    })
    .await;
}

/// A leader that reconciled `before` and `during` alone, and a standby.
async fn leader_and_standby(env: &Env) -> (Host, Host) {
    ensure_namespace(&env.client, "wasmvisor-system").await;
    let first = Host::start(replica_config(env, "first")).await.unwrap();
    create_widget(env, "apps", "before", json!({})).await;
    ready(env, "before").await;
    let second = Host::start(replica_config(env, "second")).await.unwrap();
    create_widget(env, "apps", "during", json!({})).await;
    ready(env, "during").await;
    eventually("the leader to count its reconciles", || async { (successes(&first) >= 2).then_some(()) })
        .await;
    assert_eq!(successes(&second), 0, "the standby reconciled while the first replica led");
    (first, second)
}

/// The standby leads: it reconciles an object created after the leader went.
async fn standby_leads(env: &Env, second: Host) {
    create_widget(env, "apps", "after", json!({})).await;
    ready(env, "after").await;
    eventually("the new leader to count its reconciles", || async {
        (successes(&second) >= 1).then_some(())
    })
    .await;
    second.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_replica_leads_and_a_standby_takes_over_when_it_shuts_down() {
    let env = Env::start_api_only().await;
    let (first, second) = leader_and_standby(&env).await;
    // Shut down: the leader releases the Lease, the standby takes it at once.
    first.shutdown().await;
    standby_leads(&env, second).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_takes_over_when_the_leader_dies_without_releasing_the_lease() {
    let env = Env::start_api_only().await;
    let (first, second) = leader_and_standby(&env).await;
    // Dropped, not shut down: the Lease is not released, as when a process
    // is killed; the standby waits out the 2 s lease, then leads.
    drop(first);
    standby_leads(&env, second).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_shards_split_the_objects_between_them() {
    use wasmvisor_host::controller::shard::{Sharding, shard_of};
    use wasmvisor_host::manifest::section;
    let env = Env::start_api_only().await;
    // Shard 1 runs the widget plugin under another name, so each object's
    // finalizer says which replica took it.
    let text = section::extract(WIDGET.bytes).unwrap().replace("name = \"widget\"", "name = \"widget-b\"");
    let renamed = section::embed(WIDGET.bytes, &text).unwrap();
    let mut hosts = Vec::new();
    for (shard, bytes) in [(0, WIDGET.bytes.to_vec()), (1, renamed)] {
        let dir = env.dir().join(format!("shard-{shard}"));
        std::fs::create_dir_all(dir.join("plugins")).unwrap();
        std::fs::write(dir.join("plugins").join("w.wasm"), &bytes).unwrap();
        let mut config = host_config(&dir, env.kubeconfig(), &[]);
        config.trust_manifests = true;
        config.controller.sharding = Some(Sharding { shards: 2, shard });
        hosts.push(Host::start(config).await.unwrap());
    }
    let names: Vec<String> = (0..12).map(|i| format!("w{i}")).collect();
    for name in &names {
        create_widget(&env, "apps", name, json!({})).await;
    }
    let mut per_shard = [0; 2];
    for name in &names {
        ready(&env, name).await;
        let key = wasmvisor_host::ObjectRef {
            cluster: "default".into(),
            api_version: "test.wasmvisor.dev/v1".into(),
            kind: "Widget".into(),
            namespace: Some("apps".into()),
            name: name.clone(),
        };
        let shard = shard_of(&key, 2);
        per_shard[shard as usize] += 1;
        let expected = if shard == 0 { "wasmvisor.dev/widget" } else { "wasmvisor.dev/widget-b" };
        let widget = env.widgets("apps").get(name).await.unwrap();
        assert_eq!(at(&widget, "/metadata/finalizers"), json!([expected]), "{name} is on shard {shard}");
    }
    assert!(per_shard.iter().all(|n| *n > 0), "12 names should land on both shards: {per_shard:?}");
    for host in hosts {
        host.shutdown().await;
    }
}
