//! The state every request handler shares: storage, served resources, authentication and
//! the server's identity.
//!
//! In: built once by [`crate::server`] at start. Out: an `Arc<Context>` that the axum router
//! hands to [`crate::handlers`] and [`crate::discovery`]. It is a plain bag of handles: no
//! module here owns behaviour, so both request paths can depend on it without depending on
//! each other.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::watch;

use crate::auth::Authenticator;
use crate::registry::Registry;
use crate::storage::Store;

/// Everything a request handler needs; one per server instance.
#[derive(Debug)]
pub struct Context {
    /// Object storage.
    pub store: Arc<Store>,
    /// Served resources.
    pub registry: Arc<Registry>,
    /// Token → user.
    pub auth: Authenticator,
    /// Signs and checks ServiceAccount tokens.
    pub tokens: crate::rbac::tokens::TokenIssuer,
    /// The CA certificate (PEM), put into ServiceAccount token Secrets.
    pub ca_pem: String,
    /// Largest accepted request body, in bytes.
    pub max_body: usize,
    /// Flips to true when the server shuts down (ends watches).
    pub shutdown: watch::Receiver<bool>,
    /// The address the server listens on (for `/api`'s serverAddressByClientCIDRs).
    pub addr: SocketAddr,
}
