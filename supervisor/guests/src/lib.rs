//! The guest clusters of the embedded Supervisor: what the VMs of a Tanzu Kubernetes
//! cluster would run, played in-process by `wasmvisor up`.
//!
//! When a cluster's first control-plane VM is powered on with an IP, its guest OS runs
//! kubeadm: here a Kubernetes API server (the embedded [`wasmvisor_apiserver`], its own store
//! under `DATA_DIR/<namespace>/<cluster>/`) starts on that VM's IP:6443 with a certificate
//! for the control-plane VIP too, and the `<cluster>-kubeconfig` Secret appears in the
//! cluster's Supervisor namespace as Cluster API publishes it. Every VM that boots joins as
//! a Node, as its kubelet would (KWOK is the model), and leaves when its VM goes. A node
//! agent stands in for kube-proxy: each node answers on `nodeIP:nodePort` of every NodePort
//! and LoadBalancer Service with a line naming itself. When the cluster is gone its guest
//! stops and its store is removed.
//!
//! The component is a client of the Supervisor like any other (kube-rs over HTTPS); it
//! never links the Supervisor's API server, only starts guest ones.
//!
//! ```no_run
//! # async fn demo(client: kube::Client) {
//! let guests = wasmvisor_guests::Guests::start(wasmvisor_guests::Config {
//!     supervisor: client,
//!     data_dir: "/var/lib/wasmvisor/guests".into(),
//! });
//! // ... until Ctrl-C
//! guests.shutdown().await; // stores are kept: a later start comes back with them
//! # }
//! ```
//!
//! # Map of the crate, in flow order
//!
//! - [`supervise`]: watch caches of VirtualMachines, Clusters, VSphereClusters; after every
//!   change, the guests brought in line with the plan.
//! - [`topology`]: the plan, a pure function of those objects: which clusters run a guest,
//!   where, with which nodes.
//! - [`guest`]: one guest's task: API server, kubeconfig Secret ([`kubeconfig`]), Nodes
//!   ([`node`]), node agent ([`agent`]); retries every failure with backoff.

pub mod agent;
pub mod guest;
pub mod kubeconfig;
pub mod node;
pub mod supervise;
pub mod topology;

pub use supervise::{Config, Guests};
