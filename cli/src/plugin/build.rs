//! `wasmvisor plugin build [DIR]`: compile a plugin project into its
//! component with the language's own tool, embed plugin.toml, print the path.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use wasmvisor_build::{CargoBuild, check_rust_target, package, read_manifest};

/// Arguments of `plugin build`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The project directory (holding plugin.toml).
    #[arg(default_value = ".")]
    pub(crate) dir: PathBuf,
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let path = build(&args.dir)?;
    println!("{}", path.display());
    Ok(())
}

/// Builds the project in `dir`; returns the component's path.
pub(crate) fn build(dir: &Path) -> anyhow::Result<PathBuf> {
    let (manifest_text, manifest) = read_manifest(dir)?;
    let cargo_toml = dir.join("Cargo.toml");
    if !cargo_toml.is_file() {
        bail!("{}: no Cargo.toml; `wasmvisor plugin build` builds Rust projects (made by `wasmvisor plugin new`)", dir.display());
    }
    let crate_name = package_name(&cargo_toml)?;
    check_rust_target("rustc".as_ref())?;
    let target_dir = dir.join("target");
    let build = CargoBuild {
        cargo: std::env::var_os("CARGO").map_or_else(|| "cargo".into(), PathBuf::from),
        manifest_path: cargo_toml,
        packages: Vec::new(),
        profile: "release".into(),
        target_dir: target_dir.clone(),
    };
    build.run()?;
    let out_dir = target_dir.join("wasmvisor");
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let out = out_dir.join(format!("{}.wasm", manifest.name));
    package(&build.artifact(&crate_name), &manifest_text, &out)?;
    Ok(out.canonicalize().unwrap_or(out))
}

fn package_name(cargo_toml: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(cargo_toml).with_context(|| format!("reading {}", cargo_toml.display()))?;
    let value: toml::Value = toml::from_str(&text).with_context(|| format!("parsing {}", cargo_toml.display()))?;
    value
        .get("package")
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str())
        .map(str::to_owned)
        .with_context(|| format!("{} has no [package] name", cargo_toml.display()))
}
