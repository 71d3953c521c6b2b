//! The NSX-T Policy API simulator: `https://ADDR/policy/api/v1/infra/…` with basic auth.
//!
//! Request flow: fault injection → basic auth or a session (`session`) → one of
//! - `objects` (GET/PATCH/PUT/DELETE of objects, GET of collections, `…/state`),
//! - `realized` (`/infra/realized-state/…`),
//! - `search` (`/search/query`, and `/search` as NSX before 3.0 spelled it),
//! - `node` (the manager's `/api/v1/node`, its health and the tag-limit schemas).
//!
//! Beside the API, `dataplane` serves every enabled virtual server as a TCP listener.
//!
//! Each request is one transaction on the shared world (`crate::store`), so what it
//! answers is already persisted. Kind-specific rules: `segments`, `ipam`, `lb`; the
//! path grammar: `kinds`; paging: `paging`; the error body: `error`.

mod dataplane;
pub(crate) mod deletion;
mod error;
mod ipam;
pub(crate) mod kinds;
mod lb;
mod node;
pub(crate) mod objects;
mod paging;
mod realized;
mod search;
mod seed;
pub(crate) mod segments;
mod session;
pub(crate) mod stamp;
mod tags;

pub use seed::{CLUSTER_NETWORK_BLOCK, INGRESS_POOL, INGRESS_SUBNET};

use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::routing::{any, get, post};

use crate::auth::{BasicAuth, require_basic};
use crate::config::{NsxSettings, SimConfig};
use crate::faults::{FaultLayer, inject};
use crate::server::{Ctx, Running, StartError, launch};

/// File in the data dir holding generated NSX credentials.
pub const CREDENTIALS_FILE: &str = "nsx-credentials.json";
/// User name used when credentials are generated.
pub const DEFAULT_USER: &str = "admin";

/// The NSX-T Policy API simulator.
#[derive(Debug)]
pub struct NsxSim;

impl NsxSim {
    /// Opens the world in `config.data_dir` and serves the Policy API over HTTPS on
    /// `config.listen` until [`Running::shutdown`], with [`NsxSettings::default`]. Every
    /// enabled virtual server already in the world is listening when this returns
    /// (see the README's "Data plane").
    pub async fn start(config: SimConfig) -> Result<Running, StartError> {
        NsxSim::start_with(config, NsxSettings::default()).await
    }

    /// [`NsxSim::start`] with NSX-only settings: the realization delay and the address
    /// ranges created at start.
    pub async fn start_with(config: SimConfig, settings: NsxSettings) -> Result<Running, StartError> {
        let seeds = seed::Seeds::parse(&settings)?;
        let mut data_plane = None;
        let slot = &mut data_plane;
        let mut running = launch(config, CREDENTIALS_FILE, DEFAULT_USER, move |ctx| async move {
            seeds.apply(&ctx).await?;
            *slot = Some(dataplane::start(ctx.store.clone()).await);
            Ok(router(NsxState { ctx, settings }))
        })
        .await?;
        if let Some(companion) = data_plane {
            running.attach(companion);
        }
        Ok(running)
    }
}

/// What NSX handlers see.
#[derive(Clone, Debug)]
pub(crate) struct NsxState {
    pub(crate) ctx: Ctx,
    pub(crate) settings: NsxSettings,
}

impl NsxState {
    /// Runs `f` in one transaction after purging objects whose delete is realized.
    pub(crate) async fn transact<T, F>(&self, f: F) -> Result<T, error::NsxError>
    where
        T: Send + 'static,
        F: FnOnce(&crate::store::Tx<'_>) -> Result<T, error::NsxError> + Send + 'static,
    {
        let now = self.ctx.clock.now_ms();
        let delay = crate::clock::millis(self.settings.realization_delay);
        self.ctx
            .store
            .transact(move |tx| {
                deletion::purge(tx, now, delay)?;
                f(tx)
            })
            .await
    }

    /// The realization of a stored object now.
    pub(crate) fn realization(&self, stored: &serde_json::Value) -> realized::Realization {
        realized::realization(
            stored,
            self.ctx.clock.now_ms(),
            crate::clock::millis(self.settings.realization_delay),
        )
    }
}

/// The routes, with faults and auth in front.
fn router(state: NsxState) -> Router {
    let ctx = state.ctx.clone();
    let auth = BasicAuth { credentials: ctx.credentials.clone(), render: error::render };
    let faults = FaultLayer { faults: ctx.faults.clone(), render: error::render };
    let sessions = session::NsxAuth::new(ctx.credentials.clone());
    let login = Router::new()
        .route("/api/session/create", post(session::create))
        .route("/api/session/destroy", post(session::destroy))
        .with_state(sessions.clone());
    let api = Router::new()
        .route("/policy/api/v1/infra/realized-state/realized-entities", get(realized::entities))
        .route("/policy/api/v1/infra/realized-state/realized-entity", get(realized::one_entity))
        .route("/policy/api/v1/infra/realized-state/status", get(realized::status))
        .route("/policy/api/v1/search/query", get(search::query))
        .route("/policy/api/v1/search", get(search::query))
        .route("/api/v1/reverse-proxy/node/health", get(node::health))
        .route("/api/v1/node", get(node::node))
        .route("/api/v1/spec/vmware/types/{name}", get(node::spec_type))
        .route("/policy/api/v1/{*rest}", any(objects::handle))
        .with_state(state)
        .layer(from_fn_with_state(sessions, session::require))
        .merge(login)
        .layer(from_fn_with_state(faults, inject));
    let admin = crate::admin::routes(ctx.store.clone(), ctx.faults.clone())
        .layer(from_fn_with_state(auth, require_basic));
    api.merge(admin)
}
