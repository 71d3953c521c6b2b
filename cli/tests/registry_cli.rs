//! `wasmvisor plugin push / pull / check REF` against a real registry on
//! loopback (`docker-registry`), and interop with an independent client,
//! `skopeo`: what wasmvisor pushes skopeo copies byte for byte, and what
//! skopeo pushes wasmvisor pulls and the host's loader accepts.

mod support;

use std::path::Path;
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::{Value, json};
use support::{path, text, wasmvisor};
use wasmvisor_oci::artifact::sha256;
use wasmvisor_oci::testing::TestRegistry;
use wasmvisor_plugins::testing::CHAOS;

fn registry() -> &'static TestRegistry {
    static REGISTRY: OnceLock<TestRegistry> = OnceLock::new();
    REGISTRY.get_or_init(TestRegistry::start)
}

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "exit {:?}\n{}{}", out.status.code(), text(&out.stdout), text(&out.stderr));
    text(&out.stdout)
}

/// The value after `key` on its line of `wasmvisor plugin ...` output.
fn field(stdout: &str, key: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .unwrap_or_else(|| panic!("no {key:?} line in:\n{stdout}"))
        .trim()
        .to_owned()
}

fn chaos_file(dir: &Path) -> std::path::PathBuf {
    let file = dir.join("chaos.wasm");
    std::fs::write(&file, CHAOS.bytes).unwrap();
    file
}

#[test]
fn push_then_pull_by_tag_and_by_digest_returns_the_same_component() {
    let dir = tempfile::tempdir().unwrap();
    let file = chaos_file(dir.path());
    let reference = format!("{}/team/chaos:1.0.0", registry().host);
    let pushed =
        ok(&wasmvisor(&["plugin", "push", path(&file), &reference, "--source", "https://example.com/chaos"]));
    let digest = field(&pushed, "digest");
    assert!(digest.starts_with("sha256:") && digest.len() == 71, "{pushed}");
    assert_eq!(field(&pushed, "pinned"), format!("{}/team/chaos@{digest}", registry().host));

    let by_tag = dir.path().join("by-tag.wasm");
    let pulled = ok(&wasmvisor(&["plugin", "pull", &reference, "-o", path(&by_tag)]));
    assert_eq!(field(&pulled, "digest"), digest);
    assert_eq!(std::fs::read(&by_tag).unwrap(), CHAOS.bytes);
    let by_digest = dir.path().join("by-digest.wasm");
    ok(&wasmvisor(&["plugin", "pull", &field(&pushed, "pinned"), "-o", path(&by_digest)]));
    assert_eq!(std::fs::read(&by_digest).unwrap(), CHAOS.bytes);

    // Pushing the same component again names the same digest.
    let again =
        ok(&wasmvisor(&["plugin", "push", path(&file), &reference, "--source", "https://example.com/chaos"]));
    assert_eq!(field(&again, "digest"), digest);

    let checked = ok(&wasmvisor(&["plugin", "check", &reference]));
    assert_eq!(field(&checked, "plugin"), "chaos@1.0.0");
    assert!(field(&checked, "file").starts_with(&field(&pushed, "pinned")), "{checked}");
    assert!(checked.contains("world     wasmvisor:plugin/reconciler@0.1.0: ok"), "{checked}");
}

#[test]
fn bad_input_and_registry_failures_exit_non_zero_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.wasm");
    std::fs::write(&garbage, b"not wasm").unwrap();
    let host = &registry().host;
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let cases: Vec<(Vec<String>, String)> = vec![
        (
            vec!["plugin".into(), "push".into(), path(&garbage).into(), format!("{host}/junk:1")],
            "is not a wasmvisor plugin artifact".into(),
        ),
        (
            vec!["plugin".into(), "pull".into(), format!("{host}/absent/plugin:1")],
            "not found in the registry".into(),
        ),
        (
            vec!["plugin".into(), "pull".into(), format!("127.0.0.1:{closed}/chaos:1")],
            format!("registry 127.0.0.1:{closed} is unreachable"),
        ),
        (vec!["plugin".into(), "pull".into(), "chaos:1".into()], "names no registry host".into()),
    ];
    for (args, expected) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = wasmvisor(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = text(&out.stderr);
        assert!(stderr.starts_with("error: ") && stderr.contains(&expected), "{args:?}: {stderr}");
    }
}

fn skopeo(args: &[&str]) -> String {
    let out = Command::new("skopeo")
        .args(args)
        .output()
        .expect("skopeo is installed (apt-get install -y skopeo, or bash .ci/toolchains)");
    ok(&out)
}

#[test]
fn skopeo_copies_what_push_pushed_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let file = chaos_file(dir.path());
    let reference = format!("{}/interop/chaos:1.0.0", registry().host);
    let digest = field(&ok(&wasmvisor(&["plugin", "push", path(&file), &reference])), "digest");

    let layout = dir.path().join("layout");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{reference}"),
        &format!("oci:{}:copy", path(&layout)),
    ]);
    let index: Value = serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"][0]["digest"], digest.as_str(), "skopeo kept the manifest as pushed");
    let blob = |digest: &str| std::fs::read(layout.join("blobs/sha256").join(&digest[7..])).unwrap();
    let manifest: Value = serde_json::from_slice(&blob(&digest)).unwrap();
    assert_eq!(manifest["config"]["mediaType"], "application/vnd.wasm.config.v0+json");
    assert_eq!(manifest["layers"][0]["mediaType"], "application/wasm");
    assert_eq!(manifest["annotations"]["org.opencontainers.image.title"], "chaos");
    assert_eq!(manifest["annotations"]["org.opencontainers.image.version"], "1.0.0");
    let layer = manifest["layers"][0]["digest"].as_str().unwrap().to_owned();
    assert_eq!(blob(&layer), CHAOS.bytes, "the component, byte-identical");
}

/// An OCI layout written here by hand (not by wasmvisor), pushed by skopeo.
#[test]
fn what_skopeo_pushes_wasmvisor_pulls_and_the_host_loads() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let blobs = layout.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| {
        let digest = sha256(bytes);
        std::fs::write(blobs.join(&digest[7..]), bytes).unwrap();
        json!({"digest": digest, "size": bytes.len()})
    };
    let layer = put(CHAOS.bytes);
    let config = put(json!({"architecture": "wasm", "os": "wasip2", "layerDigests": [layer["digest"]]})
        .to_string()
        .as_bytes());
    let with = |mut d: Value, media: &str| {
        d["mediaType"] = media.into();
        d
    };
    let manifest = put(json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": with(config, "application/vnd.wasm.config.v0+json"),
        "layers": [with(layer, "application/wasm")],
        "annotations": {"org.opencontainers.image.title": "chaos"},
    })
    .to_string()
    .as_bytes());
    let manifest = with(manifest, "application/vnd.oci.image.manifest.v1+json");
    let index = json!({"schemaVersion": 2, "manifests": [
        {"mediaType": manifest["mediaType"], "digest": manifest["digest"], "size": manifest["size"],
         "annotations": {"org.opencontainers.image.ref.name": "1.0.0"}}
    ]});
    std::fs::write(layout.join("index.json"), index.to_string()).unwrap();
    std::fs::write(layout.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();

    let reference = format!("{}/by-skopeo/chaos:1.0.0", registry().host);
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{}:1.0.0", path(&layout)),
        &format!("docker://{reference}"),
    ]);

    let out = dir.path().join("pulled.wasm");
    let pulled = ok(&wasmvisor(&["plugin", "pull", &reference, "-o", path(&out)]));
    assert_eq!(field(&pulled, "digest"), manifest["digest"].as_str().unwrap());
    assert_eq!(std::fs::read(&out).unwrap(), CHAOS.bytes);
    // `check` runs the host's loader: compile, link, manifest, grant.
    let checked = ok(&wasmvisor(&["plugin", "check", &reference]));
    assert!(checked.contains("world     wasmvisor:plugin/reconciler@0.1.0: ok"), "{checked}");
}
