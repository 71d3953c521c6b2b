//! Bad components are refused at load, each with a message naming the problem.

use wasmvisor_host::Grants;
use wasmvisor_host::manifest::section;
use wasmvisor_host::runtime::plugin::LoadError;
use wasmvisor_plugins::testing::CHAOS;

use crate::harness::Host;

const MANIFEST: &str = r#"
name = "chaos"
version = "9.9.9"
[[watches]]
api-version = "v1"
kind = "ConfigMap"
"#;

fn component(wat: &str) -> Vec<u8> {
    section::embed(&wat::parse_str(wat).unwrap(), MANIFEST).unwrap()
}

fn refusal(host: &Host, bytes: &[u8]) -> String {
    match host.runtime.load(bytes) {
        Ok(plugin) => panic!("loaded {plugin:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn garbage_bytes_are_not_webassembly() {
    let msg = refusal(&Host::new(), b"this is not wasm at all");
    assert!(msg.starts_with("not a WebAssembly binary"), "{msg}");
}

#[test]
fn a_core_module_is_not_a_component() {
    let msg = refusal(&Host::new(), &wat::parse_str("(module)").unwrap());
    assert!(msg.contains("core WebAssembly module, not a component"), "{msg}");
}

#[test]
fn a_component_without_manifest_is_refused() {
    let msg = refusal(&Host::new(), &wat::parse_str("(component)").unwrap());
    assert!(msg.contains("carries no `wasmvisor-manifest` section"), "{msg}");
}

#[test]
fn missing_export_is_refused() {
    let msg = refusal(&Host::new(), &component("(component)"));
    assert!(
        msg.starts_with("chaos@9.9.9: does not implement world wasmvisor:plugin/reconciler@0.1.0"),
        "{msg}"
    );
    assert!(msg.contains("reconcile"), "names the missing export: {msg}");
}

#[test]
fn wrong_world_is_refused() {
    let wrong = component(
        r#"(component
            (core module $m (func (export "f") (result i32) i32.const 0))
            (core instance $i (instantiate $m))
            (func (export "reconcile") (result u32) (canon lift (core func $i "f")))
            (func (export "finalize") (result u32) (canon lift (core func $i "f"))))"#,
    );
    let msg = refusal(&Host::new(), &wrong);
    assert!(msg.contains("does not implement world"), "{msg}");
    assert!(msg.contains("reconcile"), "{msg}");
}

#[test]
fn imports_outside_the_world_are_refused() {
    let foreign = component(
        r#"(component (import "wasi:http/outgoing-handler@0.2.0" (instance (export "handle" (func)))))"#,
    );
    let msg = refusal(&Host::new(), &foreign);
    assert!(msg.contains("wasi:http/outgoing-handler@0.2.0"), "{msg}");
}

#[test]
fn manifest_over_its_grant_lists_each_missing_capability() {
    let host = Host::new();
    host.runtime.set_grants(
        Grants::parse(
            r#"
            [plugins.chaos.limits]
            memory = "16MiB"
            [[plugins.chaos.capabilities.kube]]
            api-version = "v1"
            kind = "ConfigMap"
            verbs = ["get", "list"]
            namespaces = ["chaos"]
            "#,
        )
        .unwrap(),
    );
    let err = host.runtime.load(CHAOS.bytes).unwrap_err();
    assert!(matches!(err, LoadError::Grant(_)));
    assert_eq!(
        err.to_string(),
        "chaos@1.0.0 asks for more than its grant:\n  \
         - missing capability: kube apply v1/ConfigMap in cluster *, namespace \"chaos\"\n  \
         - missing capability: kube apply-status v1/ConfigMap in cluster *, namespace \"chaos\"\n  \
         - missing capability: kube delete v1/ConfigMap in cluster *, namespace \"chaos\"\n  \
         - missing capability: nsx GET /policy/api/v1/infra/segments/*\n  \
         - missing capability: nsx PATCH /policy/api/v1/infra/segments/*\n  \
         - limit over its ceiling: memory 32MiB (granted at most 16MiB)"
    );
}

#[test]
fn a_plugin_without_a_grant_is_refused() {
    let host = Host::new();
    host.runtime.set_grants(Grants::default());
    let msg = refusal(&host, CHAOS.bytes);
    assert!(msg.contains("has no grant; add a [plugins.chaos] table"), "{msg}");
}
