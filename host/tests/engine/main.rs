//! The controller engine against the embedded API server over HTTPS, with
//! real plugin components: one test binary, a module per guarantee.

#[path = "../common/eventually.rs"]
mod eventually;

mod cache;
mod clusters;
mod failures;
mod finalizers;
mod least_privilege;
mod queueing;
mod reconcile;
mod recorder;
mod related;
mod reload;
mod replicas;
mod shadow;
mod support;
