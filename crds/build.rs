//! Lists the CRD files of this folder into `OUT_DIR/crds.rs`, so a file
//! added here is installed by `wasmvisor up` with no list to keep in step.

use std::path::PathBuf;

fn main() {
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    println!("cargo::rerun-if-changed={}", dir.display());
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("crds/ is readable")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .filter(|p| p.file_name().is_some_and(|n| n != "kustomization.yaml"))
        .collect();
    files.sort();
    let entries: String = files
        .iter()
        .map(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).expect("a UTF-8 file name");
            format!("    ({name:?}, include_str!({:?})),\n", p.display().to_string())
        })
        .collect();
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo")).join("crds.rs");
    std::fs::write(out, format!("&[\n{entries}]")).expect("OUT_DIR is writable");
}
