//! `wasmvisor audit [--plugin NAME] [--since DURATION] [--data-dir DIR]
//! [--config FILE] [-o json]`: from the flight recorder, the capabilities
//! each plugin used against those it declared and was granted, the unused
//! ones, the denials, and the smallest grant covering every recorded call
//! (host-config TOML and the RBAC `wasmvisor rbac` would print).

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use wasmvisor_host::Grants;
use wasmvisor_host::recorder::store::Reader;
use wasmvisor_host::recorder::{STORE_FILE, audit};

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

/// A humantime duration, parsed as the host config parses them.
fn humantime_duration(text: &str) -> Result<Duration, String> {
    #[derive(serde::Deserialize)]
    struct Window(#[serde(with = "wasmvisor_host::manifest::limits::duration")] Duration);
    serde_json::from_value::<Window>(serde_json::Value::String(text.to_owned()))
        .map(|w| w.0)
        .map_err(|e| e.to_string())
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
    let since_ms = match args.since {
        Some(window) => {
            let start = SystemTime::now().checked_sub(window).unwrap_or(UNIX_EPOCH);
            u64::try_from(start.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis()).unwrap_or(0)
        }
        None => 0,
    };
    let reader = Reader::open(&args.data_dir.join(STORE_FILE))?;
    let records = reader.since(args.plugin.as_deref(), since_ms)?;
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
