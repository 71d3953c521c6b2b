//! Plugins from OCI references, against a real registry on loopback
//! (`docker-registry`): loaded from a tag and by digest, run from the cache
//! with the registry gone, refused with a clear reason on a digest
//! mismatch or a non-plugin artifact, and a moved tag re-resolved into a
//! hot reload that refuses a broken version while the old keeps serving.

use std::sync::OnceLock;
use std::time::Duration;

use serde_json::json;
use wasmvisor_host::manifest::{Manifest, section};
use wasmvisor_host::source::PluginSource;
use wasmvisor_host::source::follow::{OciSources, SourceState};
use wasmvisor_oci::artifact::sha256;
use wasmvisor_oci::testing::TestRegistry;
use wasmvisor_oci::{Artifact, PluginRef, Registry, RegistryOptions};
use wasmvisor_plugins::testing::CHAOS;

use crate::harness::{self, Host, eventually};

/// The registry the tests of this binary share.
fn registry() -> &'static TestRegistry {
    static REGISTRY: OnceLock<TestRegistry> = OnceLock::new();
    REGISTRY.get_or_init(TestRegistry::start)
}

/// The chaos component as `version`; `memory` over the grant's ceiling
/// makes a version the host must refuse.
fn chaos(version: &str, memory: &str) -> Vec<u8> {
    let manifest = section::extract(CHAOS.bytes)
        .unwrap()
        .replace("version = \"1.0.0\"", &format!("version = \"{version}\""))
        .replace("memory = \"32MiB\"", &format!("memory = \"{memory}\""));
    section::embed(CHAOS.bytes, &manifest).unwrap()
}

async fn push(host: &str, reference: &str, component: Vec<u8>) -> (PluginRef, String) {
    let reference: PluginRef = format!("{host}/{reference}").parse().unwrap();
    let artifact = Artifact::pack("test", component, Some("https://example.com/chaos")).unwrap();
    let registry = Registry::for_reference(&reference, &RegistryOptions::default()).unwrap();
    let digest = registry.push(&reference, &artifact).await.unwrap();
    (reference, digest)
}

/// Pushes an artifact built by hand: any layer bytes, any config type.
async fn push_raw(reference: &str, layer: &[u8], config_type: &str) -> String {
    let reference: PluginRef = format!("{}/{reference}", registry().host).parse().unwrap();
    let config = br#"{"architecture":"wasm","os":"wasip2","layerDigests":[]}"#.to_vec();
    let descriptor =
        |media: &str, bytes: &[u8]| json!({"mediaType": media, "digest": sha256(bytes), "size": bytes.len()});
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": descriptor(config_type, &config),
        "layers": [descriptor("application/wasm", layer)],
    });
    let artifact = Artifact {
        plugin: Manifest::from_component(CHAOS.bytes).unwrap(),
        component: layer.to_vec(),
        config,
        manifest: serde_json::to_vec(&manifest).unwrap(),
    };
    let registry = Registry::for_reference(&reference, &RegistryOptions::default()).unwrap();
    registry.push(&reference, &artifact).await.unwrap()
}

fn source(reference: &str, refresh: Option<Duration>) -> PluginSource {
    PluginSource { oci: reference.parse().unwrap(), refresh, insecure: false }
}

/// Starts following `source` as the chaos plugin's source, with its data
/// directory in `data`.
async fn follow(host: &Host, data: &std::path::Path, source: PluginSource) -> OciSources {
    let mut plugins = harness::grants().plugins;
    plugins.get_mut("chaos").unwrap().source = Some(wasmvisor_host::source::Source::Oci(source));
    OciSources::start(data, &plugins, host.runtime.clone()).await
}

fn version(host: &Host) -> Option<String> {
    host.runtime.plugin("chaos").map(|p| p.manifest.version.clone())
}

fn state(sources: &OciSources) -> SourceState {
    sources.states().into_values().next().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_loads_then_a_restart_without_the_registry_runs_the_cached_digest() {
    // Its own registry: this test stops it.
    let mut own = TestRegistry::start();
    let (reference, digest) = push(&own.host, "team/chaos:stable", chaos("1.0.0", "32MiB")).await;
    let data = tempfile::tempdir().unwrap();
    let host = Host::new();
    let sources = follow(&host, data.path(), source(&reference.to_string(), None)).await;
    assert_eq!(version(&host).as_deref(), Some("1.0.0"), "{:?}", state(&sources));
    assert_eq!(state(&sources).serving.unwrap().1, digest);
    assert_eq!(host.runtime.plugins()[0].source, format!("oci://{reference}"));
    host.assert_still_serving().await;

    own.stop();
    let restarted = Host::new();
    let sources = follow(&restarted, data.path(), source(&reference.to_string(), None)).await;
    assert_eq!(version(&restarted).as_deref(), Some("1.0.0"), "{:?}", state(&sources));
    assert_eq!(state(&sources).serving.unwrap().1, digest, "the digest it ran before");
    restarted.assert_still_serving().await;

    // Never pulled here and the registry down: a clear error, nothing loaded.
    let empty = tempfile::tempdir().unwrap();
    let fresh = Host::new();
    let sources = follow(&fresh, empty.path(), source(&reference.to_string(), None)).await;
    let error = state(&sources).error.unwrap();
    assert!(error.contains("is unreachable") && error.contains("no copy of"), "{error}");
    assert!(fresh.runtime.plugin("chaos").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_digest_pin_loads_that_digest_even_after_the_tag_moves() {
    let host_name = &registry().host;
    let (reference, v1) = push(host_name, "pin/chaos:1", chaos("1.0.0", "32MiB")).await;
    push(host_name, "pin/chaos:1", chaos("1.0.1", "32MiB")).await;
    let pinned = reference.pinned(&v1);
    let data = tempfile::tempdir().unwrap();
    let host = Host::new();
    let sources = follow(&host, data.path(), source(&pinned.to_string(), None)).await;
    assert_eq!(version(&host).as_deref(), Some("1.0.0"), "{:?}", state(&sources));
    sources.sync().await;
    assert_eq!(version(&host).as_deref(), Some("1.0.0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_digest_mismatch_is_refused_and_the_running_plugin_keeps_serving() {
    let host_name = &registry().host;
    let component = chaos("3.0.0", "32MiB");
    let layer = sha256(&component);
    let (reference, digest) = push(host_name, "tampered/chaos:1", component.clone()).await;
    // The registry now serves other bytes under the layer's digest.
    let mut bad = component;
    *bad.last_mut().unwrap() ^= 0xff;
    std::fs::write(registry().blob_path(&layer), &bad).unwrap();

    let host = Host::new().with_chaos();
    let data = tempfile::tempdir().unwrap();
    let sources = follow(&host, data.path(), source(&reference.pinned(&digest).to_string(), None)).await;
    let error = state(&sources).error.unwrap();
    assert!(error.contains("digest mismatch") && error.contains(&layer), "{error}");
    assert_eq!(version(&host).as_deref(), Some("1.0.0"), "the running plugin stays");
    host.assert_still_serving().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn artifacts_that_are_not_plugins_are_refused_saying_what_they_are() {
    let not_wasm =
        push_raw("junk/chaos:1", b"#!/bin/sh\necho not a component\n", "application/vnd.wasm.config.v0+json")
            .await;
    let image = push_raw("image/chaos:1", CHAOS.bytes, "application/vnd.oci.image.config.v1+json").await;
    let cases = [
        (format!("{}/junk/chaos@{not_wasm}", registry().host), "not a wasmvisor component"),
        (
            format!("{}/image/chaos@{image}", registry().host),
            "config media type is \"application/vnd.oci.image.config.v1+json\"",
        ),
        (format!("{}/absent/chaos:1", registry().host), "not found"),
    ];
    for (reference, expected) in cases {
        let host = Host::new().with_chaos();
        let data = tempfile::tempdir().unwrap();
        let sources = follow(&host, data.path(), source(&reference, None)).await;
        let error = state(&sources).error.unwrap();
        assert!(error.contains(expected), "{reference}: {error}");
        assert_eq!(version(&host).as_deref(), Some("1.0.0"), "{reference}: the running plugin stays");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moved_tag_is_hot_reloaded_on_refresh_and_a_broken_version_refused() {
    let host_name = &registry().host;
    let (reference, _) = push(host_name, "moving/chaos:stable", chaos("1.0.0", "32MiB")).await;
    let data = tempfile::tempdir().unwrap();
    let host = Host::new();
    let sources =
        follow(&host, data.path(), source(&reference.to_string(), Some(Duration::from_secs(1)))).await;
    assert_eq!(version(&host).as_deref(), Some("1.0.0"));

    let (_, v2) = push(host_name, "moving/chaos:stable", chaos("2.0.0", "32MiB")).await;
    // The source records what it serves once the new version is installed.
    eventually("the refresh to serve 2.0.0", || async {
        state(&sources).serving.filter(|(_, digest)| *digest == v2)
    })
    .await;
    assert_eq!(version(&host).as_deref(), Some("2.0.0"));
    host.assert_still_serving_as("chaos@2.0.0").await;

    // Over its grant's memory ceiling: refused, 2.0.0 keeps serving.
    let (_, broken) = push(host_name, "moving/chaos:stable", chaos("3.0.0", "1GiB")).await;
    sources.sync().await;
    let now = state(&sources);
    assert_eq!(now.refused.as_deref(), Some(broken.as_str()));
    assert!(now.error.as_deref().unwrap().contains("limit over its ceiling"), "{now:?}");
    assert_eq!(now.serving.unwrap().1, v2);
    host.assert_still_serving_as("chaos@2.0.0").await;
}
