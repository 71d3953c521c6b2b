//! `wasmvisor shadow report|promote|drop NAME [--data-dir DIR]
//! [--plugin-dir PATH]`: a shadow candidate placed beside a live plugin as
//! `PLUGIN_DIR/NAME.shadow.wasm` (see `wasmvisor_host::shadow`). `report`
//! prints what it did differently; `promote` renames it over `NAME.wasm`,
//! so the host hot-reloads it as the live version (refusing it, and
//! keeping the old one, if it is broken); `drop` removes it.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use wasmvisor_host::host::SHADOW_REPORTS;
use wasmvisor_host::manifest::Manifest;
use wasmvisor_host::shadow::report::Report;
use wasmvisor_host::shadow::{file_name, report_path};

/// `wasmvisor shadow …`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum ShadowCommand {
    /// What the shadow of NAME did against the live plugin: counts and the latest differences.
    Report(Args),
    /// Make the shadow of NAME the live version (through hot reload).
    Promote(Args),
    /// Remove the shadow of NAME.
    Drop(Args),
}

/// Arguments of each `shadow` command.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The live plugin's name.
    name: String,
    /// The host's data directory.
    #[arg(long, env = "WASMVISOR_DATA_DIR", value_name = "DIR")]
    data_dir: PathBuf,
    /// The plugin directory (default: DIR/plugins, as `wasmvisor up` has it).
    #[arg(long, value_name = "PATH")]
    plugin_dir: Option<PathBuf>,
    /// Output of `report`: `text` or `json`.
    #[arg(short = 'o', long, default_value = "text", value_parser = ["text", "json"])]
    output: String,
}

impl Args {
    fn plugin_dir(&self) -> PathBuf {
        self.plugin_dir.clone().unwrap_or_else(|| self.data_dir.join("plugins"))
    }

    fn shadow_file(&self) -> anyhow::Result<PathBuf> {
        let file = self.plugin_dir().join(file_name(&self.name));
        anyhow::ensure!(
            file.is_file(),
            "no shadow of {:?}: {} does not exist (place a candidate there first)",
            self.name,
            file.display()
        );
        Ok(file)
    }
}

impl ShadowCommand {
    pub(crate) fn run(self) -> anyhow::Result<()> {
        match self {
            ShadowCommand::Report(args) => report(&args),
            ShadowCommand::Promote(args) => promote(&args),
            ShadowCommand::Drop(args) => {
                let file = args.shadow_file()?;
                std::fs::remove_file(&file).with_context(|| format!("removing {}", file.display()))?;
                println!("dropped the shadow of {}: {} removed", args.name, file.display());
                Ok(())
            }
        }
    }
}

fn report(args: &Args) -> anyhow::Result<()> {
    let path = report_path(&args.data_dir.join(SHADOW_REPORTS), &args.name);
    let report = Report::load(&path).with_context(|| {
        format!("no report of a shadow of {:?} at {} (has the host loaded one?)", args.name, path.display())
    })?;
    if args.output == "json" {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.render());
    }
    Ok(())
}

/// Renames the shadow over the live file: one atomic step the host's
/// plugin-directory watch sees as a new version of NAME.
fn promote(args: &Args) -> anyhow::Result<()> {
    let file = args.shadow_file()?;
    let manifest = manifest_of(&file)?;
    anyhow::ensure!(
        manifest.name == args.name,
        "{} holds plugin {:?}, not a version of {:?}; not promoted",
        file.display(),
        manifest.name,
        args.name
    );
    let live = args.plugin_dir().join(format!("{}.wasm", args.name));
    std::fs::rename(&file, &live)
        .with_context(|| format!("renaming {} to {}", file.display(), live.display()))?;
    println!(
        "promoted {} to {}: the host hot-reloads it as the live {} (a refused version leaves the old one serving)",
        manifest.id(),
        live.display(),
        args.name
    );
    Ok(())
}

fn manifest_of(file: &Path) -> anyhow::Result<Manifest> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    Manifest::from_component(&bytes).with_context(|| format!("{} is not a wasmvisor plugin", file.display()))
}
