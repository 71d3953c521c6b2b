//! `wasmvisor plugin list [--data-dir DIR | --admin URL --token T]`: what a
//! running host has loaded, from its admin endpoint.

use std::path::PathBuf;

use anyhow::Context as _;
use wasmvisor_host::admin::{AdminEndpoint, PluginStatus};

/// Arguments of `plugin list`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The running host's data directory (its `admin.json` says where the host listens).
    #[arg(long, env = "WASMVISOR_DATA_DIR", value_name = "DIR")]
    pub(crate) data_dir: Option<PathBuf>,
    /// The admin endpoint's URL, instead of --data-dir.
    #[arg(long, value_name = "URL", requires = "token")]
    pub(crate) admin: Option<String>,
    /// The admin token, with --admin.
    #[arg(long, env = "WASMVISOR_ADMIN_TOKEN", value_name = "T", hide_env_values = true)]
    pub(crate) token: Option<String>,
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let endpoint = match (args.admin, args.data_dir) {
        (Some(url), _) => {
            let token = args.token.context("--admin needs --token")?;
            AdminEndpoint { url, token }
        }
        (None, Some(dir)) => AdminEndpoint::read(&dir)?,
        (None, None) => anyhow::bail!(
            "say where the host is: --data-dir DIR (the host's data directory) or --admin URL --token T"
        ),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let plugins = runtime.block_on(endpoint.plugins())?;
    print!("{}", table(&plugins));
    Ok(())
}

/// The rows as an aligned table; digests shortened to 12 hex digits, errors to their first line.
fn table(plugins: &[PluginStatus]) -> String {
    let dash = || "-".to_owned();
    let mut rows = vec![["NAME", "VERSION", "DIGEST", "STATE", "LAST-ERROR"].map(str::to_owned)];
    for p in plugins {
        rows.push([
            p.name.clone(),
            p.version.clone().unwrap_or_else(dash),
            p.digest.as_deref().map_or_else(dash, |d| d.chars().take("sha256:".len() + 12).collect()),
            p.state.to_string(),
            p.last_error.as_deref().and_then(|e| e.lines().next()).map_or_else(dash, str::to_owned),
        ]);
    }
    let mut widths = [0usize; 5];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (i, (cell, width)) in row.iter().zip(widths).enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}  "));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    if plugins.is_empty() {
        out.push_str("(no plugins loaded)\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use wasmvisor_host::admin::PluginState;

    use super::*;

    #[test]
    fn table_aligns_columns_and_shortens_digests_and_errors() {
        let rows = [
            PluginStatus {
                name: "chaos".into(),
                version: Some("1.0.0".into()),
                digest: Some(format!("sha256:{}", "ab".repeat(32))),
                source: Some("chaos.wasm".into()),
                state: PluginState::Serving,
                last_error: None,
            },
            PluginStatus {
                name: "broken.wasm".into(),
                version: None,
                digest: None,
                source: Some("broken.wasm".into()),
                state: PluginState::Refused,
                last_error: Some("not a component\nmore detail".into()),
            },
        ];
        assert_eq!(
            table(&rows),
            "NAME         VERSION  DIGEST               STATE    LAST-ERROR\n\
             chaos        1.0.0    sha256:abababababab  serving  -\n\
             broken.wasm  -        -                    refused  not a component\n"
        );
        assert!(table(&[]).ends_with("(no plugins loaded)\n"));
    }
}
