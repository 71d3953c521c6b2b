//! `wasmvisor why KIND/NAME [-n NS] [--cluster C] [--last N] [--data-dir DIR |
//! --admin URL --token T] [-o json]`: an object's recent reconciles from the
//! flight recorder, newest first — why each ran, what it called, what it
//! changed and how it ended.

use std::path::PathBuf;

use anyhow::Context as _;
use wasmvisor_host::admin::AdminEndpoint;
use wasmvisor_host::recorder::store::{ObjectQuery, Reader};
use wasmvisor_host::recorder::{STORE_FILE, render};

/// Arguments of `why`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The object, `KIND/NAME` (kind case-insensitive: `ConfigMap/web`, `configmap/web`).
    #[arg(value_name = "KIND/NAME")]
    object: String,
    /// Its namespace (default: any).
    #[arg(short = 'n', long)]
    namespace: Option<String>,
    /// Its cluster, as the host config names it (default: any).
    #[arg(long)]
    cluster: Option<String>,
    /// How many reconciles, newest first.
    #[arg(long, default_value_t = 5)]
    last: usize,
    /// The host's data directory, read directly (the host may be running or not).
    #[arg(long, env = "WASMVISOR_DATA_DIR", value_name = "DIR", conflicts_with = "admin")]
    data_dir: Option<PathBuf>,
    /// A running host's admin endpoint, instead of --data-dir.
    #[arg(long, value_name = "URL", requires = "token")]
    admin: Option<String>,
    /// The admin token, with --admin.
    #[arg(long, env = "WASMVISOR_ADMIN_TOKEN", value_name = "T", hide_env_values = true)]
    token: Option<String>,
    /// Output: `text` or `json`.
    #[arg(short = 'o', long, default_value = "text", value_parser = ["text", "json"])]
    output: String,
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let (kind, name) = args
        .object
        .split_once('/')
        .filter(|(k, n)| !k.is_empty() && !n.is_empty() && !n.contains('/'))
        .with_context(|| format!("{:?} is not KIND/NAME (for example ConfigMap/web)", args.object))?;
    let query = ObjectQuery {
        kind: kind.to_owned(),
        name: name.to_owned(),
        namespace: args.namespace,
        cluster: args.cluster,
        last: args.last,
    };
    let records = match (args.admin, args.data_dir) {
        (Some(url), _) => {
            let token = args.token.context("--admin needs --token")?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            runtime.block_on(AdminEndpoint { url, token }.recordings(&query))?
        }
        (None, Some(dir)) => Reader::open(&dir.join(STORE_FILE))?.object(&query)?,
        (None, None) => anyhow::bail!(
            "say where the recordings are: --data-dir DIR (the host's data directory) or --admin URL --token T"
        ),
    };
    if args.output == "json" {
        println!("{}", serde_json::to_string_pretty(&records)?);
    } else {
        print!("{}", render::why(&records));
    }
    Ok(())
}
