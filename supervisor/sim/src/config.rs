//! How a simulator is started: where it keeps its world, where it listens, who may log in,
//! which faults to inject from the first request on.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::clock::Clock;
use crate::credentials::Credentials;
use crate::faults::FaultSettings;

/// Settings shared by both simulators.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Holds `world.sqlite3`, the generated credentials file and (unless `ca_dir` is set)
    /// the CA in `ca/`. Created if missing. Give both simulators the same directory to
    /// share one world.
    pub data_dir: PathBuf,
    /// Where to listen; port 0 picks a free port (read it from `Running::addr`).
    pub listen: SocketAddr,
    /// The accepted user name and password; `None` generates them once and keeps them in
    /// a 0600 file in `data_dir`.
    pub credentials: Option<Credentials>,
    /// Faults to inject from the start; change them later with `PUT /_sim/faults`.
    pub faults: FaultSettings,
    /// Directory of the CA that signs the serving certificate; `None` means
    /// `data_dir/ca`. Point every supervisor server at one CA so clients trust one file.
    pub ca_dir: Option<PathBuf>,
    /// The time source; [`Clock::System`] except in unit tests.
    pub clock: Clock,
}

impl SimConfig {
    /// Defaults: generated credentials, no faults, CA in `data_dir/ca`, system clock.
    pub fn new(data_dir: impl Into<PathBuf>, listen: SocketAddr) -> SimConfig {
        SimConfig {
            data_dir: data_dir.into(),
            listen,
            credentials: None,
            faults: FaultSettings::default(),
            ca_dir: None,
            clock: Clock::System,
        }
    }
}

/// vCenter-only timing: session expiry and the guest boot model.
#[derive(Clone, Debug)]
pub struct VcenterTiming {
    /// A session unused for this long is gone (401). Default 30 minutes, vCenter's
    /// idle timeout.
    pub session_idle_timeout: Duration,
    /// After power-on, VMware Tools reports `NOT_RUNNING` (guest calls answer 503) for
    /// this long. Default 1 s.
    pub tools_after: Duration,
    /// After power-on, the guest IP appears in identity/interfaces only after this long
    /// (at least `tools_after`). Default 3 s: long enough that clients must poll, short
    /// enough for `wasmvisor up`.
    pub ip_after: Duration,
}

impl Default for VcenterTiming {
    fn default() -> VcenterTiming {
        VcenterTiming {
            session_idle_timeout: Duration::from_secs(30 * 60),
            tools_after: Duration::from_secs(1),
            ip_after: Duration::from_secs(3),
        }
    }
}

/// NSX-only settings.
#[derive(Clone, Debug)]
pub struct NsxSettings {
    /// How long after each change an object stays `UNREALIZED` (status `IN_PROGRESS`)
    /// before it is `REALIZED`, and a deleted object stays `marked_for_delete`. Default
    /// zero: realized and deleted at once.
    pub realization_delay: Duration,
    /// The Supervisor's ingress CIDR: at start, unless they exist, IP pool
    /// [`INGRESS_POOL`](crate::INGRESS_POOL) and its static subnet of this CIDR are
    /// created; VIPs are allocated from it. Default `192.168.100.0/24`; `None` creates
    /// nothing.
    pub ingress_cidr: Option<String>,
    /// The cluster (namespace) network CIDR: at start, unless it exists, IP block
    /// [`CLUSTER_NETWORK_BLOCK`](crate::CLUSTER_NETWORK_BLOCK) of this CIDR is created;
    /// segment subnets are carved from it. Default `10.244.0.0/16`; `None` creates
    /// nothing.
    pub cluster_network_cidr: Option<String>,
}

impl Default for NsxSettings {
    fn default() -> NsxSettings {
        NsxSettings {
            realization_delay: Duration::ZERO,
            ingress_cidr: Some("192.168.100.0/24".into()),
            cluster_network_cidr: Some("10.244.0.0/16".into()),
        }
    }
}
