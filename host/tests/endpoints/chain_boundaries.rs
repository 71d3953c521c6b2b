//! The chain plugins at the boundary. Each one runs under a grant that is
//! exactly its manifest, and what its role never needs is refused with
//! `forbidden` naming the capability: tkc and capw reaching NSX or vCenter,
//! ncp reaching vCenter, vm-service reaching NSX, tkc reading Secrets.
//!
//! The calls come from the probe component wearing each chain plugin's own
//! manifest (plus the right to write its report ConfigMap in a namespace of
//! its name), so the manifest and grant under test are the shipped ones.

use serde_json::{Value, json};
use wasmvisor_host::Grants;
use wasmvisor_host::manifest::{Manifest, section};
use wasmvisor_plugins::testing::PROBE;
use wasmvisor_plugins::{Bundled, CAPW, CLOUD_PROVIDER, NCP, TKC, VM_SERVICE};

use crate::harness::{Host, Sims, assert_error, call};

/// The probe's code under `plugin`'s manifest; returns it and the plugin's name.
fn wearing(plugin: &Bundled) -> (Vec<u8>, String) {
    let manifest = section::extract(plugin.bytes).unwrap();
    let name = Manifest::parse(manifest).unwrap().name;
    let report = format!(
        "\n[[capabilities.kube]]\napi-version = \"v1\"\nkind = \"ConfigMap\"\nverbs = [\"apply\"]\nnamespaces = [\"{name}\"]\n"
    );
    (section::embed(PROBE.bytes, &format!("{manifest}{report}")).unwrap(), name)
}

/// Has `plugin` (the probe wearing its manifest, granted exactly that) send `calls`.
async fn attempt(sims: &Sims, plugin: &Bundled, calls: Value) -> (Host, Vec<Value>) {
    attempt_from(sims, plugin, "default", calls).await
}

/// As [`attempt`], for an object of `cluster` (a guest cluster's member name).
async fn attempt_from(sims: &Sims, plugin: &Bundled, cluster: &str, calls: Value) -> (Host, Vec<Value>) {
    let (component, name) = wearing(plugin);
    let nsx = wasmvisor_host::capability::endpoint::connect_nsx(&sims.nsx_config, None, &Default::default())
        .await
        .unwrap();
    let vcenter = wasmvisor_host::capability::endpoint::connect_vcenter(
        &sims.vcenter_config,
        None,
        &Default::default(),
    )
    .await
    .unwrap();
    let trusted = Grants { trust_manifests: true, ..Grants::default() };
    let host = Host::build(nsx, vcenter, trusted, &[(component, "impostor.wasm")]);
    host.reconcile_in(cluster, &name, "attempt", json!({"calls": calls.to_string()})).await.unwrap();
    let out = host.config_map_in(cluster, &name, "attempt-out").expect("the report was written");
    let seen = serde_json::from_str(out["data"]["outcomes"].as_str().unwrap()).unwrap();
    (host, seen)
}

const T1: &str = "/policy/api/v1/infra/tier-1s/any";
const VMS: &str = "/api/vcenter/vm";

#[tokio::test]
async fn tkc_reaches_neither_nsx_nor_vcenter_nor_secrets() {
    let sims = Sims::start().await;
    let calls = json!([
        call("nsx", "GET", T1, None),
        call("vcenter", "GET", VMS, None),
        call("kube", "GET", "v1/Secret/tkgs-ns/tkgs-cluster-1-kubeconfig", None),
    ]);
    let (host, seen) = attempt(&sims, &TKC, calls).await;
    assert_error(&seen[0], "forbidden", &format!("nsx GET {T1}"));
    assert_error(&seen[1], "forbidden", &format!("vcenter GET {VMS}"));
    assert_error(
        &seen[2],
        "forbidden",
        "kube get v1/Secret \"tkgs-cluster-1-kubeconfig\" in cluster \"default\", namespace \"tkgs-ns\"",
    );
    assert_eq!(
        (host.denied("tkc", "nsx"), host.denied("tkc", "vcenter"), host.denied("tkc", "kube")),
        (1, 1, 1)
    );
}

#[tokio::test]
async fn capw_reaches_neither_nsx_nor_vcenter() {
    let sims = Sims::start().await;
    let (host, seen) = attempt(
        &sims,
        &CAPW,
        json!([call("nsx", "PATCH", T1, Some(json!({}))), call("vcenter", "POST", VMS, Some(json!({})))]),
    )
    .await;
    assert_error(&seen[0], "forbidden", &format!("nsx PATCH {T1}"));
    assert_error(&seen[1], "forbidden", &format!("vcenter POST {VMS}"));
    assert_eq!((host.denied("capw", "nsx"), host.denied("capw", "vcenter")), (1, 1));
}

#[tokio::test]
async fn ncp_does_not_reach_vcenter() {
    let sims = Sims::start().await;
    let (host, seen) =
        attempt(&sims, &NCP, json!([call("vcenter", "GET", VMS, None), call("nsx", "GET", T1, None)])).await;
    assert_error(&seen[0], "forbidden", &format!("vcenter GET {VMS}"));
    assert_eq!(seen[1]["error"], "not-found", "its NSX reads go through: {}", seen[1]);
    assert_eq!(host.denied("ncp", "vcenter"), 1);
}

#[tokio::test]
async fn vm_service_does_not_reach_nsx() {
    let sims = Sims::start().await;
    let (host, seen) =
        attempt(&sims, &VM_SERVICE, json!([call("nsx", "GET", T1, None), call("vcenter", "GET", VMS, None)]))
            .await;
    assert_error(&seen[0], "forbidden", &format!("nsx GET {T1}"));
    assert_eq!(seen[1]["status"], 200, "{}", seen[1]);
    assert_eq!(host.denied("vm-service", "nsx"), 1);
}

/// cloud-provider reaches the Supervisor only in the namespace of the guest
/// cluster the reconciled object comes from, whatever it asks, and holds
/// nothing on Secrets, NSX or vCenter.
#[tokio::test]
async fn cloud_provider_writes_only_in_its_origin_clusters_namespace() {
    let sims = Sims::start().await;
    let vms = |ns: &str| {
        format!("vmoperator.vmware.com/v1alpha1/VirtualMachineService/{ns}/tkc-a-0123456789abcdef01234")
    };
    let supervisor =
        |path: &str| json!({"endpoint": "kube", "method": "GET", "path": path, "cluster": "default"});
    let calls = json!([
        supervisor(&vms("team-a")),
        supervisor(&vms("team-b")),
        supervisor("v1/Secret/team-a/tkc-a-kubeconfig"),
        call("nsx", "GET", T1, None),
        call("vcenter", "GET", VMS, None),
    ]);
    let (host, seen) = attempt_from(&sims, &CLOUD_PROVIDER, "guests/team-a/tkc-a-kubeconfig", calls).await;
    assert_eq!(seen[0]["error"], "not-found", "its own origin's namespace is reachable: {}", seen[0]);
    assert_error(
        &seen[1],
        "forbidden",
        "kube get vmoperator.vmware.com/v1alpha1/VirtualMachineService \"tkc-a-0123456789abcdef01234\" in cluster \"default\", namespace \"team-b\"",
    );
    assert_error(
        &seen[2],
        "forbidden",
        "kube get v1/Secret \"tkc-a-kubeconfig\" in cluster \"default\", namespace \"team-a\"",
    );
    assert_error(&seen[3], "forbidden", &format!("nsx GET {T1}"));
    assert_error(&seen[4], "forbidden", &format!("vcenter GET {VMS}"));
    assert_eq!(host.denied("cloud-provider", "kube"), 2);
}
