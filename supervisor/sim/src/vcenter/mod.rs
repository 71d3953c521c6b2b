//! The vCenter REST (`/api/...`) and vAPI JSON-RPC (`POST /api`) simulator: sessions, inventory, VMs, power, guest info and
//! tagging.
//!
//! Request flow: fault injection → (except `/api/session`) a live session from
//! `vmware-api-session-id` → the handler, one transaction on the shared world.
//! `POST /api` is the vAPI JSON-RPC protocol of the vSphere Automation SDK (`vapi`),
//! authenticated by its own security context, over the same model functions.
//! Modules: `session` (login/expiry), `inventory` (fixed inventory + networks from
//! `world`), `vm` (create/list/get/delete), `power`, `guest` (the boot model),
//! `tagging`, `filters` (query filters), `model` (what is stored), `error` (the body).

mod error;
mod filters;
mod guest;
mod inventory;
pub(crate) mod model;
mod power;
mod session;
mod tagging;
mod vapi;
mod vm;

pub use session::SESSION_HEADER;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};

use crate::auth::{BasicAuth, require_basic};
use crate::config::{SimConfig, VcenterTiming};
use crate::faults::{FaultLayer, inject};
use crate::server::{Ctx, Running, StartError, launch};
use guest::GuestView;
use inventory::List;
use session::Sessions;
use tagging::Collection;

/// File in the data dir holding generated vCenter credentials.
pub const CREDENTIALS_FILE: &str = "vcenter-credentials.json";
/// User name used when credentials are generated.
pub const DEFAULT_USER: &str = "administrator@vsphere.local";

/// The vCenter REST simulator.
#[derive(Debug)]
pub struct VcenterSim;

impl VcenterSim {
    /// Opens the world in `config.data_dir` and serves the `/api` endpoints over HTTPS on
    /// `config.listen` until [`Running::shutdown`].
    pub async fn start(config: SimConfig, timing: VcenterTiming) -> Result<Running, StartError> {
        let sessions = Sessions::new(timing.session_idle_timeout, config.clock.clone());
        launch(config, CREDENTIALS_FILE, DEFAULT_USER, move |ctx| async move {
            Ok(router(VcState { ctx, sessions, timing }))
        })
        .await
    }
}

/// What vCenter handlers see.
#[derive(Clone, Debug)]
pub(crate) struct VcState {
    pub(crate) ctx: Ctx,
    pub(crate) sessions: Sessions,
    pub(crate) timing: VcenterTiming,
}

/// A path the simulator does not serve, asked with a live session: 404 `NOT_FOUND`
/// with the vCenter body. Never 401: that would send session-aware clients into a
/// re-login loop.
async fn unknown_path(uri: axum::http::Uri) -> error::VcError {
    error::VcError::new(
        error::ErrorType::NotFound,
        "com.vmware.vapi.rest.httpNotFound",
        format!("Not found: {}.", uri.path()),
    )
}

fn router(state: VcState) -> Router {
    let faults = FaultLayer { faults: state.ctx.faults.clone(), render: error::render };
    let auth = BasicAuth { credentials: state.ctx.credentials.clone(), render: error::render };
    let inventory = |which: List| get(move |s: State<VcState>, q: RawQuery| inventory::list(s, q, which));
    let guest_view =
        |view: GuestView| get(move |s: State<VcState>, p: Path<String>| guest::guest(s, p, view));
    let tag_collection = |which: Collection| {
        get(move |s: State<VcState>| tagging::list(s, which))
            .post(move |s: State<VcState>, b: axum::body::Bytes| tagging::create(s, b, which))
    };
    let tag_item = |which: Collection| {
        get(move |s: State<VcState>, p: Path<String>| tagging::get(s, p, which))
            .patch(move |s: State<VcState>, p: Path<String>, b: axum::body::Bytes| {
                tagging::update(s, p, b, which)
            })
            .delete(move |s: State<VcState>, p: Path<String>| tagging::delete(s, p, which))
    };
    let protected = Router::new()
        .route("/api/vcenter/datacenter", inventory(List::Datacenter))
        .route("/api/vcenter/folder", inventory(List::Folder))
        .route("/api/vcenter/resource-pool", inventory(List::ResourcePool))
        .route("/api/vcenter/cluster", inventory(List::Cluster))
        .route("/api/vcenter/host", inventory(List::Host))
        .route("/api/vcenter/datastore", inventory(List::Datastore))
        .route("/api/vcenter/network", inventory(List::Network))
        .route("/api/vcenter/vm", get(vm::list).post(vm::create))
        .route("/api/vcenter/vm/{vm}", get(vm::get).delete(vm::delete))
        .route("/api/vcenter/vm/{vm}/power", get(power::get).post(power::act))
        .route("/api/vcenter/vm/{vm}/hardware/ethernet", get(vm::ethernet_list))
        .route("/api/vcenter/vm/{vm}/hardware/ethernet/{nic}", get(vm::ethernet_get))
        .route("/api/vcenter/vm/{vm}/tools", get(guest::tools))
        .route("/api/vcenter/vm/{vm}/guest/power", get(power::guest_get).post(power::guest_act))
        .route("/api/vcenter/vm/{vm}/guest/identity", guest_view(GuestView::Identity))
        .route("/api/vcenter/vm/{vm}/guest/networking", guest_view(GuestView::Networking))
        .route("/api/vcenter/vm/{vm}/guest/networking/interfaces", guest_view(GuestView::Interfaces))
        .route("/api/cis/tagging/category", tag_collection(Collection::Category))
        .route("/api/cis/tagging/category/{id}", tag_item(Collection::Category))
        .route("/api/cis/tagging/tag", tag_collection(Collection::Tag))
        .route("/api/cis/tagging/tag/{id}", tag_item(Collection::Tag))
        .route("/api/cis/tagging/tag-association", post(tagging::object_action))
        .route("/api/cis/tagging/tag-association/{id}", post(tagging::tag_action))
        .fallback(unknown_path)
        .layer(from_fn_with_state(state.clone(), session::require));
    let api = Router::new()
        .route("/api/session", post(session::create).get(session::get).delete(session::delete))
        .route("/api", post(vapi::invoke))
        .merge(protected)
        .with_state(state.clone())
        .layer(from_fn_with_state(faults, inject));
    let admin = crate::admin::routes(state.ctx.store.clone(), state.ctx.faults.clone())
        .layer(from_fn_with_state(auth, require_basic));
    api.merge(admin)
}
