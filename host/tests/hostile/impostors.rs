//! A plugin's identity is bound by the operator, not by the name its
//! manifest claims: an impostor claiming a loaded plugin's name is refused
//! the same way on every start, whatever the directory order, and the
//! message names both files.

use std::path::Path;
use std::sync::Arc;

use wasmvisor_host::manifest::Manifest;
use wasmvisor_host::runtime::claims::Claims;
use wasmvisor_host::runtime::reload::PluginDir;
use wasmvisor_host::runtime::scope::OutputLimits;
use wasmvisor_host::source::Source;
use wasmvisor_host::{Grant, Grants};

use crate::fixture::{Host, probe_named};

/// The plugin everyone wants to be.
const VICTIM: &str = "victim";

/// Starts a host on `plugins` (a directory) with `grants`, keeping
/// first-seen owners in `record`; returns it and what it serves `VICTIM` from.
async fn start(grants: &Grants, plugins: &Path, record: &Path) -> (Host, Arc<PluginDir>, Option<String>) {
    let host = Host::build(grants.clone(), OutputLimits::default(), &[]);
    let dir = Arc::new(PluginDir::open(plugins).unwrap().with_claims(Claims::recorded(record).unwrap()));
    dir.sync(&host.runtime).await.unwrap();
    let source = host.runtime.plugins().into_iter().find(|p| p.name == VICTIM).map(|p| p.source);
    (host, dir, source)
}

fn error_of(dir: &PluginDir, file: &str) -> String {
    dir.states()[file].error.clone().unwrap_or_else(|| panic!("{file} was not refused"))
}

#[tokio::test]
async fn with_trust_manifests_the_first_owner_keeps_its_name_across_restarts() {
    let temp = tempfile::tempdir().unwrap();
    let (plugins, record) = (temp.path().join("plugins"), temp.path().join("plugin-names.json"));
    std::fs::create_dir(&plugins).unwrap();
    let trusted = Grants { trust_manifests: true, ..Grants::default() };
    std::fs::write(plugins.join("victim.wasm"), probe_named(VICTIM, "")).unwrap();
    let (_host, _dir, source) = start(&trusted, &plugins, &record).await;
    assert_eq!(source.as_deref(), Some("victim.wasm"));

    // After a restart an impostor that sorts earlier claims the name.
    std::fs::write(plugins.join("aaa.wasm"), probe_named(VICTIM, "")).unwrap();
    for _restart in 0..2 {
        let (host, dir, source) = start(&trusted, &plugins, &record).await;
        assert_eq!(source.as_deref(), Some("victim.wasm"), "the first owner keeps serving");
        let refused = error_of(&dir, "aaa.wasm");
        assert!(
            refused.contains("belongs to victim.wasm") && refused.contains("aaa.wasm claims it"),
            "{refused}"
        );
        host.assert_responsive().await;
    }
}

#[tokio::test]
async fn a_name_bound_to_a_source_is_served_by_it_alone_in_any_order() {
    let temp = tempfile::tempdir().unwrap();
    let (plugins, record) = (temp.path().join("plugins"), temp.path().join("plugin-names.json"));
    std::fs::create_dir(&plugins).unwrap();
    let manifest = Manifest::from_component(&probe_named(VICTIM, "")).unwrap();
    let bound = Grant {
        capabilities: manifest.capabilities,
        source: Some(Source::try_from("victim.wasm".to_owned()).unwrap()),
        limits: Grant::default_ceiling(),
    };
    let grants = Grants { plugins: [(VICTIM.to_owned(), bound)].into(), ..Grants::default() };
    std::fs::write(plugins.join("victim.wasm"), probe_named(VICTIM, "")).unwrap();
    for impostor in ["aaa.wasm", "zzz.wasm"] {
        std::fs::write(plugins.join(impostor), probe_named(VICTIM, "")).unwrap();
        let (host, dir, source) = start(&grants, &plugins, &record).await;
        assert_eq!(source.as_deref(), Some("victim.wasm"));
        assert_eq!(
            error_of(&dir, impostor),
            format!(
                "plugin name \"victim\" is bound to victim.wasm in the host config; {impostor} claims it"
            )
        );
        std::fs::remove_file(plugins.join(impostor)).unwrap();
        host.assert_responsive().await;
    }
    // The bound file claiming another name serves nothing.
    std::fs::write(plugins.join("victim.wasm"), probe_named("other", "")).unwrap();
    let (_host, dir, source) = start(&grants, &plugins, &record).await;
    assert_eq!(source, None);
    assert_eq!(
        error_of(&dir, "victim.wasm"),
        "victim.wasm is bound to plugin \"victim\" in the host config, but its manifest claims \"other\""
    );
}
