//! The sandbox against a hostile plugin author: each attack is tried by a
//! real component (a test plugin, or the probe wearing a hostile manifest)
//! and each test asserts that it achieved nothing and that the host still
//! serves (a well-behaved plugin reconciles). One binary, one fixture.

mod fixture;

mod cluster_scope;
mod contained;
mod credentials;
mod endpoint_paths;
mod host_memory;
mod identity_routes;
mod impostors;
mod log_flood;
mod ownership;
mod starvation;
