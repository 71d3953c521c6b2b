//! `wasmvisor`: one binary for plugin tooling, the host and the embedded
//! supervisor, the way `k3s` and `spin` are one binary. A thin clap layer:
//! each subcommand parses its arguments and calls a library.

mod plugin;

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
    /// Plugin tooling: new, build, check.
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WASMVISOR_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Plugin(command) => command.run(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
