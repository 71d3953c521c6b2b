//! Plugins in Python and JavaScript beside Rust: each language's component
//! loads under the same grants, reconciles against the host's kube backend
//! (in memory; the JS one also against the embedded API server), is refused
//! when it reaches beyond its grant, and is hot-reloaded.
//!
//! The components are built once per test process from `plugins/python/`
//! and `plugins/js/` with the toolchains `.ci/toolchains` installs; a
//! missing toolchain fails the tests with the command that installs it.

#[path = "../common/embedded.rs"]
mod embedded;

#[path = "../common/eventually.rs"]
mod eventually;

#[allow(dead_code, unreachable_pub)]
mod guests;
mod harness;

mod apiserver;
mod capabilities;
mod reconcile;
mod reload;
