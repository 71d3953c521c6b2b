#![doc = include_str!("../README.md")]

mod admin;
mod auth;
mod changes;
mod cidr;
mod clock;
mod config;
mod credentials;
mod faults;
mod nsx;
mod server;
mod store;
mod vcenter;
mod world;

pub use clock::Clock;
pub use config::{NsxSettings, SimConfig, VcenterTiming};
pub use credentials::{Credentials, CredentialsError};
pub use faults::{FaultSettings, FaultSettingsError, Faults};
pub use nsx::{CLUSTER_NETWORK_BLOCK, INGRESS_POOL, INGRESS_SUBNET, NsxSim};
pub use server::{Running, StartError};
pub use store::{StoreError, WORLD_FILE};
pub use vcenter::{SESSION_HEADER, VcenterSim};

/// File names and default users, for wiring the CLI and reading generated credentials.
pub mod files {
    pub use crate::nsx::{CREDENTIALS_FILE as NSX_CREDENTIALS_FILE, DEFAULT_USER as NSX_DEFAULT_USER};
    pub use crate::store::WORLD_FILE;
    pub use crate::vcenter::{
        CREDENTIALS_FILE as VCENTER_CREDENTIALS_FILE, DEFAULT_USER as VCENTER_DEFAULT_USER,
    };
}
