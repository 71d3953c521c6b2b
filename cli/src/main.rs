//! `wasmvisor`: one binary for plugin tooling, the host and the embedded
//! supervisor, the way `k3s` and `spin` are one binary. A thin clap layer:
//! each subcommand parses its arguments and calls a library.

mod apiserver;
mod audit;
mod install;
mod least_privilege;
mod malloc;
mod plugin;
mod rbac;
mod replay;
mod run;
mod shadow;
mod sim;
mod up;
mod why;
mod window;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// A controller runtime whose reconcilers are WebAssembly components.
#[derive(Debug, Parser)]
#[command(name = "wasmvisor", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The local default: embedded API server, NSX and vCenter simulators, host and bundled plugins.
    Up(up::Args),
    /// The host against the clusters and endpoints a host config names.
    Run(run::Args),
    /// Plugin tooling: new, build, check.
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
    /// The embedded Kubernetes-compatible API server alone; writes DIR/kubeconfig.
    Apiserver(apiserver::Args),
    /// Print the ServiceAccount and (Cluster)Roles the configured plugins' kube grants need.
    Rbac(rbac::Args),
    /// One NSX or vCenter simulator alone, until Ctrl-C.
    Sim(sim::Args),
    /// Why an object was reconciled, what each reconcile called and changed (flight recorder).
    Why(why::Args),
    /// Capabilities each plugin used against its grant, and the smallest grant that covers them.
    Audit(audit::Args),
    /// Run a candidate version offline on recorded reconciles; exit 1 if any differs.
    Replay(replay::Args),
    /// A candidate beside a live plugin (PLUGIN_DIR/NAME.shadow.wasm): report, promote, drop.
    #[command(subcommand)]
    Shadow(shadow::ShadowCommand),
}

fn main() -> ExitCode {
    malloc::limit_arenas();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WASMVISOR_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        // Colour for a terminal only: a log file or a pipe gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Up(args) => up::run(args),
        Command::Run(args) => run::run(args),
        Command::Plugin(command) => command.run(),
        Command::Apiserver(args) => apiserver::run(args),
        Command::Rbac(args) => rbac::run(args),
        Command::Sim(args) => sim::run(args),
        Command::Why(args) => why::run(args),
        Command::Audit(args) => audit::run(args),
        Command::Replay(args) => return replay::exit(args),
        Command::Shadow(command) => command.run(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
