//! Runtime-core guarantees, each proven against real components built from
//! `plugins/` (one test binary, a module per guarantee).

#[path = "../common/eventually.rs"]
mod eventually;

mod harness;

mod cache;
mod capabilities;
mod limits;
mod load;
mod oci;
mod reconcile;
mod reload;
mod replay;
mod sandbox;
mod spans;
