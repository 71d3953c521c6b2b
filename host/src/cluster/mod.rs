//! The clusters a host talks to, and the kube-rs backend behind the `kube`
//! host functions.
//!
//! Every cluster (a kubeconfig context, the in-cluster service account, or
//! the embedded API server through its kubeconfig) is reached the same way:
//! HTTPS with kube-rs. Kinds are only known from plugin manifests, so calls
//! go through `DynamicObject` with API resources found by discovery.

pub mod client;
pub mod config;
pub mod secrets;

pub use client::{ClusterError, Clusters};
pub use config::{ClusterConfig, ClusterSource, member_name, member_namespace};
