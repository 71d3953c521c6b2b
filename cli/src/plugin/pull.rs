//! `wasmvisor plugin pull REF [-o FILE]`: a plugin from a registry, every
//! digest verified, written atomically.

use std::path::PathBuf;

use anyhow::Context as _;
use wasmvisor_oci::PluginRef;

use super::registry::RegistryArgs;

/// Arguments of `plugin pull`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// What to pull: REGISTRY/REPOSITORY:TAG or REGISTRY/REPOSITORY@sha256:DIGEST.
    reference: String,
    /// Where to write the component (default: NAME.wasm, the plugin's name).
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    #[command(flatten)]
    registry: RegistryArgs,
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let reference: PluginRef = args.reference.parse()?;
    let pulled = args.registry.pull(&reference)?;
    let output = args.output.unwrap_or_else(|| PathBuf::from(format!("{}.wasm", pulled.plugin.name)));
    let staging = output.with_file_name(format!(
        ".{}.partial",
        output.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    ));
    std::fs::write(&staging, &pulled.component).with_context(|| format!("writing {}", staging.display()))?;
    std::fs::rename(&staging, &output).with_context(|| format!("writing {}", output.display()))?;
    println!("pulled    {} ({} bytes)", pulled.plugin.id(), pulled.component.len());
    println!("from      {reference}");
    println!("digest    {}", pulled.digest);
    println!("file      {}", output.display());
    Ok(())
}
