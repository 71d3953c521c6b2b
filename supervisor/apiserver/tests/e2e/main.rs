//! End-to-end tests: a real server over HTTPS on loopback, driven by kube-rs, by the real
//! `kubectl` binary and by raw HTTP requests. One test binary, one module per concern.

mod apply;
mod bad_input;
mod chain_crds;
mod crash;
mod discovery;
mod gc;
mod kube_client;
mod kubectl;
mod rbac;
mod support;
mod tls_names;
