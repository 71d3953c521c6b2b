//! `wasmvisor plugin push FILE REF`: a plugin component as a wasm OCI
//! artifact (see `wasmvisor_oci::artifact`).

use std::path::PathBuf;

use anyhow::Context as _;
use wasmvisor_oci::{Artifact, PluginRef};

use super::registry::{RegistryArgs, block_on};

/// Arguments of `plugin push`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The component (.wasm).
    file: PathBuf,
    /// Where to push: REGISTRY/REPOSITORY:TAG (or @sha256:DIGEST).
    reference: String,
    /// URL of the plugin's source, recorded as the
    /// `org.opencontainers.image.source` annotation.
    #[arg(long, value_name = "URL")]
    source: Option<String>,
    #[command(flatten)]
    registry: RegistryArgs,
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let reference: PluginRef = args.reference.parse()?;
    let bytes = std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let label = args.file.display().to_string();
    let artifact = Artifact::pack(&label, bytes, args.source.as_deref())?;
    let registry = args.registry.client(&reference)?;
    let digest =
        block_on(registry.push(&reference, &artifact)).with_context(|| format!("pushing to {reference}"))?;
    println!("pushed    {} ({} bytes)", artifact.plugin.id(), artifact.component.len());
    println!("to        {reference}");
    println!("digest    {digest}");
    println!("pinned    {}", reference.pinned(&digest));
    Ok(())
}
