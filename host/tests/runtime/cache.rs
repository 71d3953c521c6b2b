//! Compiled components are cached by digest and engine settings.

use wasmvisor_host::runtime::compile_cache::Provenance;
use wasmvisor_host::runtime::engine::EngineSettings;
use wasmvisor_host::runtime::scope::OutputLimits;
use wasmvisor_plugins::testing::CHAOS;

use crate::harness::Host;

#[tokio::test]
async fn a_second_load_hits_the_cache() {
    let first = Host::new();
    let cold = first.runtime.load(CHAOS.bytes).unwrap();
    assert_eq!(cold.provenance, Provenance::Compiled);
    let entries = std::fs::read_dir(first.cache.path()).unwrap().count();
    assert_eq!(entries, 1, "one artifact written");

    // A new host (a restart) on the same cache directory.
    let restarted = Host::with(EngineSettings::default(), OutputLimits::default(), first.cache);
    let warm = restarted.runtime.load(CHAOS.bytes).unwrap();
    assert_eq!(warm.provenance, Provenance::Cached);
    assert!(warm.load_time < cold.load_time, "cached {:?} vs compiled {:?}", warm.load_time, cold.load_time);
    restarted.runtime.install(warm, CHAOS.file).unwrap();
    restarted.assert_still_serving().await;
}

#[test]
fn a_corrupt_cache_entry_costs_a_compile_not_a_failure() {
    let host = Host::new();
    host.runtime.load(CHAOS.bytes).unwrap();
    for entry in std::fs::read_dir(host.cache.path()).unwrap() {
        std::fs::write(entry.unwrap().path(), b"corrupt").unwrap();
    }
    let again = Host::with(EngineSettings::default(), OutputLimits::default(), host.cache);
    let plugin = again.runtime.load(CHAOS.bytes).unwrap();
    assert_eq!(plugin.provenance, Provenance::Compiled);
}
