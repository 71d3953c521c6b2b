//! The plugin components built from this workspace, as bytes.
//!
//! `build.rs` compiles them for wasm32-wasip2 and embeds their manifests;
//! nothing here is read from disk at run time.

/// A plugin that ships with wasmvisor.
#[derive(Debug, Clone, Copy)]
pub struct Bundled {
    /// File name to install it under, e.g. `namespace-config.wasm`.
    pub file: &'static str,
    /// The component, manifest embedded.
    pub bytes: &'static [u8],
}

/// The example plugin (`plugins/example`).
pub const NAMESPACE_CONFIG: Bundled = Bundled {
    file: "namespace-config.wasm",
    bytes: include_bytes!(concat!(env!("OUT_DIR"), "/namespace-config.wasm")),
};

/// Declares a bundled chain plugin built from `plugins/<name>`.
macro_rules! chain_plugin {
    ($(#[$doc:meta])* $constant:ident, $name:literal) => {
        $(#[$doc])*
        pub const $constant: Bundled =
            Bundled { file: concat!($name, ".wasm"), bytes: include_bytes!(concat!(env!("OUT_DIR"), "/", $name, ".wasm")) };
    };
}

chain_plugin!(
    /// `plugins/tkc`: TanzuKubernetesCluster → Cluster API objects.
    TKC,
    "tkc"
);
chain_plugin!(
    /// `plugins/capi`: Cluster API core and the kubeadm bootstrap provider.
    CAPI,
    "capi"
);
chain_plugin!(
    /// `plugins/capw`: CAPV in supervisor mode.
    CAPW,
    "capw"
);
chain_plugin!(
    /// `plugins/vm-service`: VirtualMachines in vCenter, VirtualMachineServices.
    VM_SERVICE,
    "vm-service"
);
chain_plugin!(
    /// `plugins/ncp`: networks, interfaces and load balancers in NSX.
    NCP,
    "ncp"
);

chain_plugin!(
    /// `plugins/cloud-provider`: guest LoadBalancer Services through the Supervisor.
    CLOUD_PROVIDER,
    "cloud-provider"
);

chain_plugin!(
    /// `plugins/calico`: Calico's IPAM in each guest cluster.
    CALICO,
    "calico"
);

/// The Supervisor chain, in chain order.
pub const CHAIN: &[Bundled] = &[TKC, CAPI, CAPW, VM_SERVICE, NCP, CLOUD_PROVIDER, CALICO];

/// Plugins `wasmvisor up` places in its plugin directory.
pub const BUNDLED: &[Bundled] = &[NAMESPACE_CONFIG, TKC, CAPI, CAPW, VM_SERVICE, NCP, CLOUD_PROVIDER, CALICO];

/// Test-only components; not shipped.
pub mod testing {
    use super::Bundled;

    /// `plugins/testing/chaos`: misbehaves on request.
    pub const CHAOS: Bundled =
        Bundled { file: "chaos.wasm", bytes: include_bytes!(concat!(env!("OUT_DIR"), "/chaos.wasm")) };

    /// `plugins/testing/bench`: the runtime benchmark's reconcile.
    pub const BENCH: Bundled =
        Bundled { file: "bench.wasm", bytes: include_bytes!(concat!(env!("OUT_DIR"), "/bench.wasm")) };

    /// `plugins/testing/probe`: sends the NSX/vCenter requests it is handed
    /// and reports all it saw.
    pub const PROBE: Bundled =
        Bundled { file: "probe.wasm", bytes: include_bytes!(concat!(env!("OUT_DIR"), "/probe.wasm")) };

    /// `plugins/testing/widget`: reconciles Widgets as their spec asks (the
    /// engine's tests and benchmark).
    pub const WIDGET: Bundled =
        Bundled { file: "widget.wasm", bytes: include_bytes!(concat!(env!("OUT_DIR"), "/widget.wasm")) };

    /// `plugins/testing/rollout`: derives one ConfigMap from another; its
    /// behaviour word makes candidates (replay and shadow tests).
    pub const ROLLOUT: Bundled =
        Bundled { file: "rollout.wasm", bytes: include_bytes!(concat!(env!("OUT_DIR"), "/rollout.wasm")) };

    /// The rollout component as a candidate: its behaviour word (`label`,
    /// `drop`, `fail`, `read`, `extra`, `trap`, `loop`; see the plugin's
    /// docs) written over `same` in its bytes, and its manifest's version
    /// set to `version`.
    pub fn rollout_candidate(word: &str, version: &str) -> Vec<u8> {
        const BASELINE: &[u8] = b"behaviour=same......";
        let patched = format!("behaviour={word:.<10}");
        assert_eq!(patched.len(), BASELINE.len(), "a behaviour word has at most 10 letters");
        let mut bytes = ROLLOUT.bytes.to_vec();
        let mut at =
            bytes.windows(BASELINE.len()).enumerate().filter(|(_, w)| *w == BASELINE).map(|(i, _)| i);
        let (Some(start), None) = (at.next(), at.next()) else {
            panic!("the behaviour word appears exactly once in the rollout component")
        };
        bytes[start..start + BASELINE.len()].copy_from_slice(patched.as_bytes());
        let manifest = wasmvisor_manifest::section::extract(&bytes)
            .expect("the rollout component carries its manifest")
            .replace("version = \"1.0.0\"", &format!("version = \"{version}\""));
        wasmvisor_manifest::section::embed(&bytes, &manifest).expect("the manifest fits back")
    }
}
