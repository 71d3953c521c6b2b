//! The host's operational parts against real sockets and the embedded API
//! server: the admin endpoint, leader election, and the generated RBAC.

mod admin;
mod leader;
mod rbac;
mod support;
