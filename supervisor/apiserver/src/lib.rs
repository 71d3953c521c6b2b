//! An embedded Kubernetes-compatible API server persisted in SQLite.
//!
//! It serves the part of the Kubernetes API that controllers (kube-rs, controller-runtime)
//! and kubectl use, over HTTPS on loopback with a bearer token, the way k3s embeds SQLite
//! through kine. `wasmvisor up` starts it in-process; `wasmvisor apiserver --data-dir DIR
//! --listen ADDR` runs it alone. The host never links this crate: it talks to the server
//! with kube-rs over HTTPS, exactly as to a real cluster.
//!
//! # Entry point
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use wasmvisor_apiserver::{ApiServer, Config};
//! let running = ApiServer::start(Config::new("/var/lib/wasmvisor/apiserver")
//!     .listen("127.0.0.1:6443".parse()?)).await?;
//! println!("kubectl --kubeconfig {} get ns", running.kubeconfig_path().display());
//! // A CLI would wait for Ctrl-C here: tokio::signal::ctrl_c().await?;
//! running.shutdown().await?;
//! # Ok(()) }
//! ```
//!
//! [`Config::new`] defaults to `127.0.0.1:6443`; [`Config::default_data_dir`] gives the
//! conventional data directory. [`ApiServer::start`] returns once the server is listening
//! and `DATA_DIR/kubeconfig` (mode 0600) is written. See the crate README for the data
//! directory layout, what is served, and the benchmark.
//!
//! # Map of the crate, in request order
//!
//! - [`server`]: start/stop an instance (data dir, CA, token, kubeconfig, listener).
//! - [`auth`]: bearer token → user (401 otherwise): the admin, or a ServiceAccount
//!   ([`rbac::tokens`]).
//! - [`impersonation`]: `Impersonate-*` headers (`kubectl --as`) swap the user for
//!   another, when RBAC allows the caller to `impersonate` it.
//! - [`rbac`]: every resource request authorized by Roles and bindings (403 otherwise).
//! - [`request`]: URL → target resource, verb and typed query parameters.
//! - [`context`]: the handles every request handler shares (storage, registry, tokens).
//! - [`handlers`]: authentication middleware, routing, body decoding and one module per
//!   verb group; body limits and media types ([`protobuf`] bodies for the kinds kubectl
//!   1.32+ sends that way).
//! - [`pipeline`]: what a write does to an object (identity, server-owned metadata, status
//!   subresource, strategy, validation, finalizers).
//! - [`apply`]: server-side apply and field ownership (`managedFields`) for every write.
//! - [`builtin`] and [`crd`]: per-kind strategies, each describing what it serves as a
//!   [`resource`] that [`registry`] serves. [`service_addresses`] gives Services their
//!   cluster IP and node ports.
//! - [`patch`], [`selectors`], [`table`], [`watch`], [`discovery`]: the rest of the API.
//! - [`gc`]: garbage collection (ownerReferences, [`propagation`] policies) and namespace
//!   termination, as a task fed by the storage change stream.
//! - [`storage`]: SQLite behind an in-memory cache every read is served from; group
//!   commit (one fsync for many concurrent writes), one global resourceVersion, change log
//!   for watch resume.
//! - [`status`]: every refusal as a Kubernetes `Status`.

pub mod apply;
pub mod auth;
pub mod builtin;
pub mod context;
pub mod crd;
pub mod deployment;
pub mod discovery;
pub mod gc;
pub mod handlers;
pub mod impersonation;
pub mod kubeconfig;
pub mod meta;
pub mod patch;
pub mod pipeline;
pub mod propagation;
pub mod protobuf;
pub mod rbac;
pub mod registry;
pub mod request;
pub mod resource;
pub mod selectors;
pub mod server;
pub mod service_addresses;
pub mod status;
pub mod storage;
pub mod table;
pub mod validation;
pub mod watch;

pub use server::{ApiServer, Config, Running, StartError};
