//! The `/_sim` admin routes both simulators serve: fault settings and a state dump.
//!
//! They sit behind basic auth with the simulator's credentials but outside fault
//! injection, so a test (or a person with curl) can always read the world and switch
//! faults off again.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value};

use crate::faults::{Faults, get_faults, put_faults};
use crate::store::{Store, StoreError};

/// `/_sim/faults` (GET, PUT) and `/_sim/state` (GET).
pub(crate) fn routes(store: Store, faults: Faults) -> Router {
    Router::new()
        .route("/_sim/faults", get(get_faults).put(put_faults))
        .with_state(faults)
        .merge(Router::new().route("/_sim/state", get(dump)).with_state(store))
}

/// `GET /_sim/state`: every stored document as `{collection: {id: document}}`.
async fn dump(State(store): State<Store>) -> Response {
    let world = store
        .transact::<_, StoreError, _>(|tx| {
            let mut out = Map::new();
            for (collection, id, body) in tx.list_under("")? {
                let entry = out.entry(collection).or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(map) = entry {
                    map.insert(id, body);
                }
            }
            Ok(Value::Object(out))
        })
        .await;
    match world {
        Ok(world) => axum::Json(world).into_response(),
        Err(error) => {
            tracing::error!(error = &error as &dyn std::error::Error, "state dump failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "state dump failed").into_response()
        }
    }
}
