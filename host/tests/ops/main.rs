//! The host's operational parts against real sockets and the embedded API
//! server: the admin endpoint, leader election, and the generated RBAC.

#[path = "../common/eventually.rs"]
mod eventually;

mod admin;
mod leader;
mod rbac;
mod support;
