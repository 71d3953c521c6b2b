//! `wasmvisor rbac --config FILE [--plugin FILE...]`: prints the
//! ServiceAccount, (Cluster)Roles and bindings the configured plugins' kube
//! grants need, and nothing more (see `wasmvisor_host::rbac`).

use std::path::PathBuf;

use anyhow::Context as _;
use wasmvisor_host::config::HostConfig;
use wasmvisor_host::manifest::Manifest;
use wasmvisor_host::rbac::{RbacOptions, generate};

/// Arguments of `rbac`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Host config whose `[plugins.NAME]` grants are turned into RBAC.
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Plugin components (.wasm) whose watches and owned kinds the host
    /// itself reads, watches and patches (finalizers, status); repeatable.
    #[arg(long = "plugin", value_name = "FILE")]
    plugins: Vec<PathBuf>,
    /// ServiceAccount name (also the roles' and bindings' name).
    #[arg(long, default_value = "wasmvisor")]
    service_account: String,
    /// Namespace the host runs in.
    #[arg(long, default_value = "wasmvisor-system")]
    namespace: String,
    /// Cluster (host-config name) the ServiceAccount lives in; grants for other clusters are left out.
    #[arg(long, default_value = wasmvisor_host::manifest::DEFAULT_CLUSTER)]
    cluster: String,
    /// Lease name, if the host runs with leader election.
    #[arg(long, value_name = "LEASE")]
    leader_election: Option<String>,
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.config)
        .with_context(|| format!("reading {}", args.config.display()))?;
    let config = HostConfig::parse(&text)
        .with_context(|| format!("{} is not a valid host config", args.config.display()))?;
    let grants = config.grants();
    let mut manifests = Vec::new();
    for path in &args.plugins {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        manifests.push(
            Manifest::from_component(&bytes)
                .with_context(|| format!("{} is not a plugin", path.display()))?,
        );
    }
    let kubeconfig_secrets = config.kubeconfig_secret_namespaces(&args.cluster);
    let options = RbacOptions {
        service_account: args.service_account,
        namespace: args.namespace,
        cluster: args.cluster,
        leader_election: args.leader_election,
        kubeconfig_secrets,
    };
    print!("{}", generate(&grants, &manifests, &options).to_yaml()?);
    Ok(())
}
