//! `wasmvisor up [--data-dir DIR]`: the local default. The embedded API
//! server, the NSX and vCenter simulators, the guest clusters and the host
//! with the bundled plugins, on one machine, until Ctrl-C.
//!
//! The host reaches the API server over HTTPS with the kubeconfig it wrote,
//! exactly as `wasmvisor run` reaches a real cluster; `up` only writes the
//! host config (`DIR/host.toml`) that `run` would read, and with `--no-host`
//! leaves the host to `wasmvisor run --config DIR/host.toml`. Layout of DIR:
//!
//! | path | what |
//! | --- | --- |
//! | `kubeconfig` | admin kubeconfig for kubectl (0600) |
//! | `apiserver/` | the API server's SQLite store, CA and token |
//! | `sim/` | the NSX/vCenter world, their CA and generated credentials |
//! | `guests/<namespace>/<cluster>/` | each guest cluster's API server store (removed with the cluster) |
//! | `plugins/` | hot-reloaded; each bundled plugin is placed here once (`bundled` lists them) |
//! | `cache/`, `admin.json` | the host's compile cache and admin endpoint |
//! | `plugin-names.json` | the first file seen with each plugin name, which keeps it |
//! | `host.toml` | the generated host config (rewritten at every start) |
//!
//! A second `up` on the same DIR comes back with the same objects, world
//! and plugins. Plugins run with `trust-manifests`: on a one-person machine
//! the operator is the plugin author, so a plugin dropped into `plugins/`
//! gets what its manifest declares (and no more: every call is still
//! checked).
//!
//! The guest clusters ([`wasmvisor_guests`]) play what a Tanzu cluster's VMs
//! would run: an API server on the control-plane VM's IP:6443, a Node per VM,
//! a node agent on NodePorts. They follow the Supervisor's VirtualMachines
//! through the same HTTPS client as the host.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use wasmvisor_apiserver::ApiServer;
use wasmvisor_chain_api::supervisor::NetworkSettings;
use wasmvisor_host::capability::endpoint::{CredentialsSource, EndpointConfig};
use wasmvisor_host::cluster::Clusters;
use wasmvisor_host::cluster::{ClusterConfig, ClusterSource};
use wasmvisor_host::config::HostConfig;
use wasmvisor_host::host::Host;
use wasmvisor_sim::{FaultSettings, NsxSettings, NsxSim, SimConfig, VcenterSim, VcenterTiming};

/// The dynamic cluster source of the guest clusters, in `DIR/host.toml`.
const GUESTS: &str = "guests";

/// Arguments of `up`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Everything lives here (created if missing; default
    /// `$XDG_DATA_HOME/wasmvisor`, else `~/.local/share/wasmvisor`).
    #[arg(long, env = "WASMVISOR_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Address of the API server (HTTPS); port 0 picks a free one.
    #[arg(long, env = "WASMVISOR_LISTEN", default_value = "127.0.0.1:6443")]
    listen: SocketAddr,
    /// Use the API server this kubeconfig reaches instead of starting the
    /// embedded one (`wasmvisor apiserver` in a process of its own, which
    /// can then be restarted under a running chain); `--listen` is then unused.
    #[arg(long, env = "WASMVISOR_APISERVER_KUBECONFIG", value_name = "FILE")]
    apiserver_kubeconfig: Option<PathBuf>,
    /// The Supervisor's namespace network: each cluster's segment subnet is
    /// carved from it, so its VMs' IPs come from here. Loopback by default,
    /// so every address is one this machine can connect to. Takes effect on
    /// a data directory's first start (NSX keeps its IP block).
    #[arg(long, env = "WASMVISOR_NAMESPACE_NETWORK", value_name = "CIDR", default_value = "127.160.0.0/16")]
    namespace_network: ipnet::Ipv4Net,
    /// Where load balancer VIPs come from (NSX's ingress IP pool); first start only, as above.
    #[arg(long, env = "WASMVISOR_INGRESS_CIDR", value_name = "CIDR", default_value = "127.170.0.0/24")]
    ingress_cidr: ipnet::Ipv4Net,
    /// Where SNAT addresses come from.
    #[arg(long, env = "WASMVISOR_EGRESS_CIDR", value_name = "CIDR", default_value = "127.180.0.0/24")]
    egress_cidr: ipnet::Ipv4Net,
    /// Faults both simulators inject from the start, as the JSON `PUT
    /// /_sim/faults` takes, e.g. '{"latency_ms": 50, "error_rate": 0.05,
    /// "throttle_rate": 0.02, "retry_after_secs": 1}': plugins meet flaky
    /// endpoints as they would in a real Supervisor.
    #[arg(long, env = "WASMVISOR_SIM_FAULTS", value_name = "JSON")]
    sim_faults: Option<FaultSettings>,
    /// Run the host under the ServiceAccount `wasmvisor rbac` generates for
    /// the placed plugins (`DIR/host-kubeconfig`), not as the API server's
    /// administrator. A plugin dropped in later that needs more gets 403s
    /// until the next start.
    #[arg(long, env = "WASMVISOR_LEAST_PRIVILEGE")]
    least_privilege: bool,
    /// Start everything but the host and leave it to `wasmvisor run --config
    /// DIR/host.toml` in a process of its own, to restart, debug or measure
    /// the host apart from the Supervisor it runs against.
    #[arg(long, env = "WASMVISOR_NO_HOST")]
    no_host: bool,
}

impl Args {
    /// The network settings these flags give.
    fn network(&self) -> NetworkSettings {
        NetworkSettings {
            namespace_network_cidr: self.namespace_network.trunc(),
            ingress_cidr: self.ingress_cidr.trunc(),
            egress_cidr: self.egress_cidr.trunc(),
            ..NetworkSettings::default()
        }
    }
}

/// The parent of the API server's own default (`…/wasmvisor/apiserver`).
fn default_data_dir() -> PathBuf {
    let apiserver = wasmvisor_apiserver::Config::default_data_dir();
    apiserver.parent().map_or_else(|| PathBuf::from("wasmvisor"), Path::to_path_buf)
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let network = args.network();
    let dir = args.data_dir.unwrap_or_else(default_data_dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let dir = dir.canonicalize().with_context(|| format!("resolving {}", dir.display()))?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let faults = args.sim_faults.unwrap_or_default();
    let api = match args.apiserver_kubeconfig {
        Some(kubeconfig) => Api::External(kubeconfig),
        None => Api::Embedded(args.listen),
    };
    let options = Options { least_privilege: args.least_privilege, host: !args.no_host };
    runtime.block_on(up(&dir, api, network, faults, options))
}

/// How `up` runs the host.
struct Options {
    /// Under the generated least-privilege ServiceAccount.
    least_privilege: bool,
    /// In this process (else `DIR/host.toml` waits for `wasmvisor run`).
    host: bool,
}

/// The API server `up` runs the chain against.
enum Api {
    /// Started here on this address, stored in `DIR/apiserver`.
    Embedded(SocketAddr),
    /// Already running, reached through this kubeconfig.
    External(PathBuf),
}

/// A running embedded API server, or the address of an external one.
enum RunningApi {
    Embedded(wasmvisor_apiserver::Running),
    External(String),
}

impl RunningApi {
    /// Starts the embedded API server, or reads where the external one is;
    /// either way its kubeconfig is copied to `kubeconfig`.
    async fn start(api: Api, dir: &Path, kubeconfig: &Path) -> anyhow::Result<Self> {
        match api {
            Api::Embedded(listen) => {
                let api = ApiServer::start(wasmvisor_apiserver::Config::new(dir.join("apiserver")).listen(listen))
                    .await
                    .with_context(|| {
                        format!("starting the API server on {listen} (another `up` running? pick a port with --listen)")
                    })?;
                copy_private(api.kubeconfig_path(), kubeconfig)?;
                Ok(RunningApi::Embedded(api))
            }
            Api::External(from) => {
                let text =
                    std::fs::read_to_string(&from).with_context(|| format!("reading {}", from.display()))?;
                let parsed: serde_json::Value = serde_yaml::from_str(&text)
                    .with_context(|| format!("{} is not a kubeconfig", from.display()))?;
                let server = parsed["clusters"][0]["cluster"]["server"].as_str().with_context(|| {
                    format!("{} names no cluster server (clusters[0].cluster.server)", from.display())
                })?;
                let server = server.to_owned();
                copy_private(&from, kubeconfig)?;
                Ok(RunningApi::External(server))
            }
        }
    }

    /// Its URL.
    fn url(&self) -> String {
        match self {
            RunningApi::Embedded(api) => format!("https://{}", api.addr()),
            RunningApi::External(server) => server.clone(),
        }
    }

    /// Stops the embedded API server; an external one keeps running.
    async fn shutdown(self) -> anyhow::Result<()> {
        match self {
            RunningApi::Embedded(api) => api.shutdown().await.context("stopping the API server"),
            RunningApi::External(_) => Ok(()),
        }
    }
}

async fn up(
    dir: &Path,
    api: Api,
    network: NetworkSettings,
    faults: FaultSettings,
    options: Options,
) -> anyhow::Result<()> {
    let kubeconfig = dir.join("kubeconfig");
    let api = RunningApi::start(api, dir, &kubeconfig).await?;
    let cluster =
        ClusterConfig { source: ClusterSource::Kubeconfig { kubeconfig: kubeconfig.clone(), context: None } };
    let clusters = Clusters::connect(&[(wasmvisor_host::manifest::DEFAULT_CLUSTER.into(), cluster.clone())])
        .await
        .context("connecting to the API server")?;
    let client =
        clusters.client(wasmvisor_host::manifest::DEFAULT_CLUSTER).context("the API server's client")?;
    crate::install::install(&client, &network)
        .await
        .context("installing the chain's CRDs and the Supervisor's defaults")?;

    let guests = wasmvisor_guests::Guests::start(wasmvisor_guests::Config {
        supervisor: client.clone(),
        data_dir: dir.join("guests"),
    });

    let sim_dir = dir.join("sim");
    let loopback: SocketAddr = "127.0.0.1:0".parse().expect("a literal address");
    let nsx_settings = NsxSettings {
        ingress_cidr: Some(network.ingress_cidr.to_string()),
        cluster_network_cidr: Some(network.namespace_network_cidr.to_string()),
        ..NsxSettings::default()
    };
    let sim_config = SimConfig { faults, ..SimConfig::new(&sim_dir, loopback) };
    let nsx =
        NsxSim::start_with(sim_config.clone(), nsx_settings).await.context("starting the NSX simulator")?;
    let vcenter = VcenterSim::start(sim_config, VcenterTiming::default())
        .await
        .context("starting the vCenter simulator")?;

    let plugin_dir = dir.join("plugins");
    let placed = place_bundled(&plugin_dir)?;
    let ca = sim_dir.join("ca").join("ca.crt");
    let endpoint = |url: &str, credentials: &Path| EndpointConfig {
        ca_file: Some(ca.clone()),
        credentials: CredentialsSource::File(credentials.to_owned()),
        ..EndpointConfig::new(url, credentials)
    };
    let mut config =
        HostConfig::parse(&format!("data-dir = {:?}\ntrust-manifests = true", dir.display().to_string()))
            .context("the built-in host config")?;
    config.plugin_dir = Some(plugin_dir.clone());
    config.clusters.insert(wasmvisor_host::manifest::DEFAULT_CLUSTER.into(), cluster);
    // Every guest cluster, one member per `<cluster>-kubeconfig` Secret
    // Cluster API publishes in the Supervisor (what cloud-provider watches).
    config.clusters.insert(
        GUESTS.into(),
        ClusterConfig {
            source: ClusterSource::KubeconfigSecrets {
                cluster: wasmvisor_host::manifest::DEFAULT_CLUSTER.into(),
                label_selector: "cluster.x-k8s.io/cluster-name".into(),
                namespace: None,
                key: "value".into(),
                name_suffix: Some("-kubeconfig".into()),
            },
        },
    );
    config.nsx = Some(endpoint(&nsx.base_url, &nsx.credentials_file));
    config.vcenter = Some(endpoint(&vcenter.base_url, &vcenter.credentials_file));
    if options.least_privilege {
        let host_kubeconfig = crate::least_privilege::service_account_kubeconfig(
            &client,
            &kubeconfig,
            &config,
            &plugin_dir,
            &dir.join("host-kubeconfig"),
        )
        .await
        .context("setting up the host's least-privilege ServiceAccount")?;
        let source = ClusterSource::Kubeconfig { kubeconfig: host_kubeconfig, context: None };
        config.clusters.insert(wasmvisor_host::manifest::DEFAULT_CLUSTER.into(), ClusterConfig { source });
    }
    let host_toml = dir.join("host.toml");
    write_config(&host_toml, &config)?;

    let host =
        if options.host { Some(Host::start(config).await.context("starting the host")?) } else { None };
    println!("wasmvisor is up (data in {})", dir.display());
    println!("  API server  {}", api.url());
    println!("  kubeconfig  {}", kubeconfig.display());
    println!("  NSX         {}", nsx.base_url);
    println!("  vCenter     {}", vcenter.base_url);
    println!(
        "  guests      {} (an API server per cluster on its control-plane VM's IP:6443)",
        dir.join("guests").display()
    );
    println!("  plugins     {} (hot-reloaded)", plugin_dir.display());
    for plugin in host.iter().flat_map(|host| host.runtime().plugins()) {
        println!("              {}@{} {}", plugin.name, plugin.version, plugin.digest);
    }
    if !placed.is_empty() {
        println!("              placed there now: {}", placed.join(", "));
    }
    match &host {
        Some(host) => println!("  admin       {}", host.admin().url),
        None => println!(
            "  host        not started here (--no-host): wasmvisor run --config {}",
            host_toml.display()
        ),
    }
    println!();
    println!("try:  export KUBECONFIG={}", kubeconfig.display());
    println!(
        "      kubectl apply -f examples/tkc.yaml   # a TanzuKubernetesCluster (see examples/README.md)"
    );
    println!("      kubectl get tkc,cluster,machines,vm,vnet,vnetif,vmservice,svc -A");
    println!(
        "      kubectl get secret -n tkgs-ns tkgs-cluster-1-kubeconfig -o jsonpath='{{.data.value}}' | base64 -d > guest.kubeconfig"
    );
    println!("      kubectl --kubeconfig guest.kubeconfig get nodes");
    println!("      wasmvisor plugin list --data-dir {}", dir.display());
    println!(
        "Ctrl-C stops everything; `wasmvisor up --data-dir {}` brings it back as it was.",
        dir.display()
    );

    crate::run::shutdown_signal().await?;
    println!("stopping: finishing reconciles in flight");
    if let Some(host) = host {
        host.shutdown().await;
    }
    guests.shutdown().await;
    nsx.shutdown().await;
    vcenter.shutdown().await;
    api.shutdown().await?;
    Ok(())
}

/// Writes each bundled plugin into the plugin directory once: on a later
/// start only plugins bundled since (a newer wasmvisor) are added, and one
/// the user removed stays removed. `DIR/bundled` lists what was placed.
fn place_bundled(plugin_dir: &Path) -> anyhow::Result<Vec<String>> {
    std::fs::create_dir_all(plugin_dir).with_context(|| format!("creating {}", plugin_dir.display()))?;
    let record = plugin_dir.parent().unwrap_or(plugin_dir).join("bundled");
    let before = std::fs::read_to_string(&record).unwrap_or_default();
    let mut known: Vec<String> = before.lines().map(str::to_owned).collect();
    let first_start = known.is_empty() && std::fs::read_dir(plugin_dir)?.next().is_none();
    let mut placed = Vec::new();
    for plugin in wasmvisor_plugins::BUNDLED {
        if known.iter().any(|k| k == plugin.file) {
            continue;
        }
        // Before the record existed, a plugin directory was only ever
        // filled on first start: a file of that name is the user's.
        let path = plugin_dir.join(plugin.file);
        if first_start || !path.exists() {
            std::fs::write(&path, plugin.bytes).with_context(|| format!("writing {}", path.display()))?;
            placed.push(plugin.file.to_owned());
        }
        known.push(plugin.file.to_owned());
    }
    let text: String = known.iter().map(|k| format!("{k}\n")).collect();
    if text != before {
        std::fs::write(&record, text).with_context(|| format!("writing {}", record.display()))?;
    }
    Ok(placed)
}

fn copy_private(from: &Path, to: &Path) -> anyhow::Result<()> {
    let bytes = std::fs::read(from).with_context(|| format!("reading {}", from.display()))?;
    write_private(to, &bytes)
}

/// Writes `bytes` to `to`, readable by its owner only (it holds a credential).
pub(crate) fn write_private(to: &Path, bytes: impl AsRef<[u8]>) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::write(to, bytes).with_context(|| format!("writing {}", to.display()))?;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("restricting {}", to.display()))
}

fn write_config(path: &Path, config: &HostConfig) -> anyhow::Result<()> {
    let body = toml::to_string(config).context("encoding the host config")?;
    let text = format!(
        "# Written by `wasmvisor up` at every start; `wasmvisor run --config {}`\n# runs the same host against these endpoints.\n{body}",
        path.display()
    );
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}
