//! `wasmvisor audit [--plugin NAME] [--since DURATION] [--data-dir DIR]
//! [--config FILE] [-o json]`: from the flight recorder, the capabilities
//! each plugin used against those it declared and was granted, the unused
//! ones, the denials, and the smallest grant covering every recorded call
//! (host-config TOML and the RBAC `wasmvisor rbac` would print).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use wasmvisor_host::Grants;
use wasmvisor_host::recorder::store::Reader;
use wasmvisor_host::recorder::{STORE_FILE, audit};

use crate::window::{humantime_duration, since_ms};

/// Arguments of `audit`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Only this plugin.
    #[arg(long)]
    plugin: Option<String>,
    /// Only reconciles this recent (`1h`, `7d`); default: all recorded.
    #[arg(long, value_parser = humantime_duration)]
    since: Option<Duration>,
    /// The host's data directory.
    #[arg(long, env = "WASMVISOR_DATA_DIR", value_name = "DIR")]
    data_dir: PathBuf,
    /// The host config, for what each plugin is granted; without it the
    /// manifests are taken as the grants (as `wasmvisor up` trusts them).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Output: `text` or `json`.
    #[arg(short = 'o', long, default_value = "text", value_parser = ["text", "json"])]
    output: String,
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let grants = match &args.config {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            Some(
                Grants::from_host_config(&text)
                    .with_context(|| format!("{} is not a valid host config", path.display()))?,
            )
        }
        None => None,
    };
    let reader = Reader::open(&args.data_dir.join(STORE_FILE))?;
    let records = reader.since(args.plugin.as_deref(), since_ms(args.since))?;
    let audits = audit::audit(&records, &reader.manifests()?, grants.as_ref());
    if args.output == "json" {
        let json: Vec<serde_json::Value> = audits
            .iter()
            .map(|a| {
                let mut v = serde_json::to_value(a).expect("an audit serializes");
                v["grant_toml"] = a.grant_toml().into();
                v["rbac_yaml"] = a.rbac_yaml().into();
                v
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        print!("{}", audit::render(&audits));
    }
    Ok(())
}
