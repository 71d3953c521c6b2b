//! Kubernetes label syntax and label selectors (`app=web,tier!=db`,
//! `env in (a,b)`, `!legacy`), in one place.
//!
//! The host answers a plugin's list from its watch cache or from the API
//! server, and the embedded API server answers everyone else: if the two
//! parsed or matched a selector differently, the same call would see
//! different objects depending on where it was served. So both use this
//! crate, whose rules and messages are the real API server's.

mod selector;
pub mod syntax;

pub use selector::{LabelSelector, SelectorError};
