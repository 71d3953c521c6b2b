//! The `kube` capability: the Kubernetes API of the clusters the host knows,
//! checked per call against the plugin's kube rules (verb, cluster, kind,
//! namespace).
//!
//! In the order a call meets them: the rule is the manifest crate's
//! `KubeRule`, checked in [`host`] (the WIT `kube` host functions) right
//! before the call; the call goes to a [`KubeBackend`] ([`backend`]): in the
//! engine [`cache::CachedKube`] (cached reads from the shared watches,
//! everything else through) over [`client`] (kube-rs, server-side apply),
//! in unit tests and benches [`memory::MemoryKube`]. Inside a granted
//! namespace, applies respect the objects other plugins manage
//! ([`ownership`]).

pub mod backend;
pub mod cache;
pub mod client;
pub mod host;
pub mod memory;
pub mod ownership;

pub use backend::{KubeBackend, KubeError, ReadSource};
pub use memory::MemoryKube;
