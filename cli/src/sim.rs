//! `wasmvisor sim nsx|vcenter --data-dir DIR --listen ADDR [--username U --password P]
//! [--faults JSON]`: one simulator alone over HTTPS, until Ctrl-C.
//!
//! Without `--username/--password` the simulator generates credentials once
//! and keeps them in a 0600 file in DIR; this command prints where, never the
//! password itself.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use wasmvisor_sim::{Credentials, FaultSettings, NsxSim, Running, SimConfig, VcenterSim, VcenterTiming};

/// Which product to simulate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Product {
    /// The NSX-T Policy API (basic auth).
    Nsx,
    /// The vSphere Automation REST API (sessions).
    Vcenter,
}

/// Arguments of `sim`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The product to simulate.
    #[arg(value_enum)]
    product: Product,
    /// Holds the world (shared by both simulators when given the same DIR),
    /// the CA in `ca/` and generated credentials. Created if missing.
    #[arg(long, env = "WASMVISOR_SIM_DATA_DIR")]
    data_dir: PathBuf,
    /// Address to serve HTTPS on; port 0 picks a free one (printed).
    #[arg(long, env = "WASMVISOR_SIM_LISTEN", default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// User name to accept (default: generated, kept in DIR).
    #[arg(long, env = "WASMVISOR_SIM_USERNAME", requires = "password")]
    username: Option<String>,
    /// Password to accept (default: generated, kept in DIR).
    #[arg(long, env = "WASMVISOR_SIM_PASSWORD", requires = "username", hide_env_values = true)]
    password: Option<String>,
    /// Faults to inject from the first request on, as the JSON that
    /// `PUT /_sim/faults` takes, e.g. '{"latency_ms": 50, "throttle_rate": 0.1,
    /// "retry_after_secs": 1}'. Fields: latency_ms, error_rate, error_next,
    /// error_status, throttle_rate, throttle_next, retry_after_secs, drop_rate,
    /// drop_next. Default: none.
    #[arg(long, env = "WASMVISOR_SIM_FAULTS")]
    faults: Option<FaultSettings>,
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let mut config = SimConfig::new(&args.data_dir, args.listen);
        let given = args.username.zip(args.password);
        config.credentials = given.clone().map(|(username, password)| Credentials { username, password });
        config.faults = args.faults.unwrap_or_default();
        let (name, running) = match args.product {
            Product::Nsx => ("NSX", NsxSim::start(config).await),
            Product::Vcenter => ("vCenter", VcenterSim::start(config, VcenterTiming::default()).await),
        };
        let running = running
            .with_context(|| format!("starting the {name} simulator in {}", args.data_dir.display()))?;
        print_summary(name, &running, &args.data_dir, given.is_some());
        tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
        running.shutdown().await;
        Ok(())
    })
}

fn print_summary(name: &str, running: &Running, data_dir: &std::path::Path, given: bool) {
    // The simulators keep their CA in DATA_DIR/ca (SimConfig::ca_dir unset).
    let ca = data_dir.join("ca").join("ca.crt");
    let ca = ca.canonicalize().unwrap_or(ca);
    println!("{name} simulator listening on {}", running.base_url);
    println!("CA certificate: {}", ca.display());
    if given {
        println!(
            "credentials: user {:?} with the password given (not written to disk)",
            running.credentials.username
        );
    } else {
        let file =
            running.credentials_file.canonicalize().unwrap_or_else(|_| running.credentials_file.clone());
        println!("credentials: {} (user {:?})", file.display(), running.credentials.username);
        let section = if name == "NSX" { "nsx" } else { "vcenter" };
        println!("\nhost config:\n[{section}]");
        println!("url = {:?}\nca-file = {:?}", running.base_url, ca.display().to_string());
        println!("credentials = {{ file = {:?} }}", file.display().to_string());
    }
    if running.faults.get() != FaultSettings::default() {
        println!("\nfaults from --faults are on; GET or PUT {}/_sim/faults", running.base_url);
    }
    println!("\nCtrl-C stops it; the world stays in {}", data_dir.display());
}
