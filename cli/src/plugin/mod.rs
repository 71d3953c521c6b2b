//! `wasmvisor plugin ...`: scaffold, build, check, push and pull plugin components.

pub(crate) mod build;
pub(crate) mod check;
pub(crate) mod list;
pub(crate) mod new;
pub(crate) mod pull;
pub(crate) mod push;
pub(crate) mod registry;

use clap::Subcommand;

/// Plugin subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum PluginCommand {
    /// Scaffold a plugin project that builds and passes `check` as is.
    New(new::Args),
    /// Build a plugin project into its component and print the component's path.
    Build(build::Args),
    /// Validate a component (a file or an OCI reference): bytes, world, manifest and (with --grant) its grant.
    Check(check::Args),
    /// Push a component to an OCI registry as a wasm artifact.
    Push(push::Args),
    /// Pull a component from an OCI registry, verifying its digests.
    Pull(pull::Args),
    /// List what a running host has loaded: name, version, digest, state, last error.
    List(list::Args),
}

impl PluginCommand {
    /// Runs the subcommand.
    pub(crate) fn run(self) -> anyhow::Result<()> {
        match self {
            PluginCommand::New(args) => new::run(args),
            PluginCommand::Build(args) => build::run(args),
            PluginCommand::Check(args) => check::run(args),
            PluginCommand::List(args) => list::run(args),
            PluginCommand::Push(args) => push::run(args),
            PluginCommand::Pull(args) => pull::run(args),
        }
    }
}
