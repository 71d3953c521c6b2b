//! Compiles the guest crates of this workspace for wasm32-wasip2 and embeds
//! each one's plugin.toml, so `cargo build`, `cargo test` and `cargo run`
//! need no extra step. Guests share `<target>/guests` as target directory,
//! so debug and release builds of the host reuse one guest build.

use std::path::{Path, PathBuf};

use wasmvisor_build::{CargoBuild, check_rust_target, package, read_manifest};

/// (package, directory under plugins/, output file stem)
const GUESTS: &[(&str, &str)] = &[
    ("namespace-config", "example"),
    ("chaos-plugin", "testing/chaos"),
    ("bench-plugin", "testing/bench"),
    ("probe-plugin", "testing/probe"),
    ("widget-plugin", "testing/widget"),
    ("rollout-plugin", "testing/rollout"),
    ("tkc-plugin", "tkc"),
    ("capi-plugin", "capi"),
    ("capw-plugin", "capw"),
    ("vm-service-plugin", "vm-service"),
    ("ncp-plugin", "ncp"),
    ("cloud-provider-plugin", "cloud-provider"),
    ("calico-plugin", "calico"),
];

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let plugins = manifest_dir.parent().expect("plugins/bundle has a parent").to_owned();
    let root = plugins.parent().expect("plugins/ has a parent").to_owned();
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
    for watched in [
        "wit",
        "plugins/sdk",
        "plugins/example",
        "plugins/testing",
        "plugins/build/src",
        "plugins/chain-api",
        "plugins/tkc",
        "plugins/capi",
        "plugins/capw",
        "plugins/vm-service",
        "plugins/ncp",
        "plugins/cloud-provider",
        "plugins/calico",
        "crds/guest",
    ] {
        println!("cargo::rerun-if-changed={}", root.join(watched).display());
    }
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    if let Err(e) = check_rust_target(&rustc) {
        panic!("cannot build the bundled plugins: {e}");
    }
    let build = CargoBuild {
        cargo: std::env::var_os("CARGO").map(PathBuf::from).unwrap_or_else(|| "cargo".into()),
        manifest_path: root.join("Cargo.toml"),
        packages: GUESTS.iter().map(|(p, _)| p.to_string()).collect(),
        profile: "guest".into(),
        target_dir: guest_target_dir(&out_dir, &root),
    };
    if let Err(e) = build.run() {
        panic!("cannot build the bundled plugins: {e}");
    }
    for (package_name, dir) in GUESTS {
        let (text, manifest) = read_manifest(&plugins.join(dir)).unwrap_or_else(|e| panic!("{e}"));
        let out = out_dir.join(format!("{}.wasm", manifest.name));
        package(&build.artifact(package_name), &text, &out).unwrap_or_else(|e| panic!("{e}"));
    }
}

/// `<target>/guests`: OUT_DIR is `<target>/[<triple>/]<profile>/build/<pkg>-<hash>/out`.
fn guest_target_dir(out_dir: &Path, root: &Path) -> PathBuf {
    out_dir
        .ancestors()
        .find(|a| a.file_name().is_some_and(|n| n == "build"))
        .and_then(Path::parent)
        .and_then(Path::parent)
        .map(|target| target.join("guests"))
        .unwrap_or_else(|| root.join("target/guests"))
}
