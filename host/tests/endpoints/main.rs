//! The NSX and vCenter host clients and the capability checks in front of
//! them, against the real simulators over HTTPS (one test binary, a module
//! per guarantee).

#[path = "../common/embedded.rs"]
mod embedded;

mod harness;

mod chain_boundaries;
mod conflict;
mod credentials;
mod denials;
mod faults;
mod hang;
mod identity;
mod secrets;
mod shadow;
