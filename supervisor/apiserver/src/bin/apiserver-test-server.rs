//! Test server.
fn main() {}
