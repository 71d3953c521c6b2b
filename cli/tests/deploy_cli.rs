//! The deploy kit (`deploy/`): its RBAC is exactly what `wasmvisor rbac`
//! writes for the configured plugins (so the two cannot drift), its host
//! configs load and grant each plugin what it asks, and `kubectl apply
//! --dry-run=server -k` accepts both kustomizations against `wasmvisor
//! apiserver`.

mod support;

use std::path::{Path, PathBuf};

use support::{Process, apply, command, kubectl, path, text, wasmvisor};
use wasmvisor_host::config::HostConfig;
use wasmvisor_host::manifest::Manifest;
use wasmvisor_plugins::Bundled;

/// Each kustomization in `deploy/` and the bundled plugins its host.toml configures.
fn kits() -> [(&'static str, Vec<Bundled>); 2] {
    use wasmvisor_plugins::{CHAIN, NAMESPACE_CONFIG};
    [("deploy", vec![NAMESPACE_CONFIG]), ("deploy/supervisor", CHAIN.to_vec())]
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

fn ok(out: &std::process::Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what}: exit {:?}\n{}{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

#[test]
fn deploy_rbac_is_what_wasmvisor_rbac_writes_and_every_plugin_fits_its_grant() {
    let scratch = tempfile::tempdir().unwrap();
    for (kit, plugins) in kits() {
        let dir = repo().join(kit);
        let config = dir.join("host.toml");
        let loaded = HostConfig::load(&config).unwrap_or_else(|e| panic!("{kit}/host.toml: {e}"));
        let mut args = vec!["rbac".to_owned(), "--config".into(), path(&config).into()];
        for plugin in &plugins {
            let file = scratch.path().join(plugin.file);
            std::fs::write(&file, plugin.bytes).unwrap();
            let name = plugin.file.trim_end_matches(".wasm");
            assert!(loaded.plugins[name].source.is_some(), "{kit}: {name} comes from an OCI reference");
            let manifest = Manifest::from_component(plugin.bytes).unwrap();
            if let Err(error) = loaded.grants().admit(&manifest) {
                panic!("{kit}/host.toml: {error}");
            }
            args.extend(["--plugin".into(), path(&file).into()]);
        }
        let written = scratch.path().join("rbac.yaml");
        args.extend(["--output".into(), path(&written).into()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ok(&wasmvisor(&args), "wasmvisor rbac");
        let expected = std::fs::read_to_string(&written).unwrap();
        let shipped = std::fs::read_to_string(dir.join("rbac.yaml")).unwrap();
        assert!(
            shipped == expected,
            "{kit}/rbac.yaml differs from what `wasmvisor rbac` writes; regenerate it:\n  wasmvisor {}\n(with {kit}/rbac.yaml as --output)",
            args.join(" ")
        );
    }
}

#[test]
fn kubectl_dry_run_server_accepts_each_kit_against_wasmvisor_apiserver() {
    let dir = tempfile::tempdir().unwrap();
    let mut apiserver = Process::spawn(
        "wasmvisor apiserver",
        command(&["apiserver", "--data-dir", path(&dir.path().join("api")), "--listen", "127.0.0.1:0"]),
    );
    let kubeconfig = PathBuf::from(apiserver.wait_for_line("kubeconfig: ").trim());
    // As on a real server, a dry run does not create the namespace its
    // namespaced objects need; an operator's first apply does.
    apply(&kubeconfig, &std::fs::read_to_string(repo().join("deploy/base/namespace.yaml")).unwrap());
    for (kit, _) in kits() {
        let out = kubectl(&kubeconfig, &["apply", "--dry-run=server", "-k", path(&repo().join(kit))], "");
        let stdout = ok(&out, &format!("kubectl apply --dry-run=server -k {kit}"));
        for object in ["deployment.apps/wasmvisor", "configmap/wasmvisor-config", "serviceaccount/wasmvisor"]
        {
            assert!(
                stdout.contains(&format!("{object} created (server dry run)")),
                "{kit}: {object}\n{stdout}"
            );
        }
    }
    // Validated, not just stored: a Deployment whose selector misses its
    // template is refused naming the field.
    let broken = std::fs::read_to_string(repo().join("deploy/base/deployment.yaml")).unwrap().replace(
        "      app.kubernetes.io/name: wasmvisor\n  strategy",
        "      app.kubernetes.io/name: other\n  strategy",
    );
    let out = kubectl(&kubeconfig, &["apply", "--dry-run=server", "-f", "-"], &broken);
    assert!(!out.status.success(), "a mismatched selector must be refused");
    assert!(text(&out.stderr).contains("spec.template.metadata.labels"), "{}", text(&out.stderr));
}
