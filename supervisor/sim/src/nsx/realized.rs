//! Realized state: what NSX reports about an intent object once it is in the data plane.
//!
//! An object is `UNREALIZED` (status `IN_PROGRESS`) for the configured realization delay
//! after each change (`NsxSettings::realization_delay`, default zero), then `REALIZED`,
//! except objects IPAM could not satisfy, which are `ERROR` with an alarm (see `ipam`).
//! The identifier NCP reads (`realization_specific_identifier`, e.g. the logical switch
//! UUID of a segment) is the object's `unique_id`; an allocation reports its IP in `extended_attributes`
//! (`allocation_ip`), as nsxlib's `get_realized_allocated_ip` expects.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::NsxState;
use super::error::NsxError;
use super::ipam::REALIZATION_ERROR;
use super::kinds::{self, Kind, ObjectPath, View};
use super::paging::{ListParams, page};

/// Prefix of a realized path; the intent path follows it.
const REALIZED_PREFIX: &str = "/infra/realized-state/enforcement-points/default";

/// Where an object is in realization.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Realization {
    /// Changed less than the realization delay ago.
    Pending,
    /// In the data plane.
    Realized,
    /// Could not be realized (see the alarm).
    Failed,
}

/// The realization of `stored` at `now_ms` given the realization delay.
pub(crate) fn realization(stored: &Value, now_ms: u64, delay_ms: u64) -> Realization {
    let changed = stored.get("_last_modified_time").and_then(Value::as_u64).unwrap_or(0);
    if now_ms.saturating_sub(changed) < delay_ms {
        Realization::Pending
    } else if stored.get(REALIZATION_ERROR).is_some() {
        Realization::Failed
    } else {
        Realization::Realized
    }
}

/// The realized entity of a stored intent object.
pub(crate) fn entity(object: &ObjectPath, stored: &Value, realization: Realization) -> Value {
    let error = stored.get(REALIZATION_ERROR).filter(|_| realization == Realization::Failed);
    let mut attributes = Vec::new();
    for (kind, key) in [(Kind::IpAllocation, "allocation_ip"), (Kind::IpPoolSubnet, "cidr")] {
        if object.kind == kind
            && realization == Realization::Realized
            && let Some(value) = stored.get(key).and_then(Value::as_str)
        {
            attributes
                .push(json!({"key": key, "values": [value], "data_type": "STRING", "multivalue": false}));
        }
    }
    let alarms: Vec<Value> = error
        .map(|e| {
            let message = e.get("message").cloned().unwrap_or(Value::Null);
            json!({"message": message, "error_details": {
                "error_code": e.get("error_code").cloned().unwrap_or(Value::Null),
                "error_message": message,
                "related_errors": [],
            }})
        })
        .into_iter()
        .collect();
    json!({
        "resource_type": "GenericPolicyRealizedResource",
        "id": object.id,
        "display_name": object.id,
        "entity_type": object.kind.realized_entity(),
        "state": match realization {
            Realization::Pending => "UNREALIZED",
            Realization::Realized => "REALIZED",
            Realization::Failed => "ERROR",
        },
        "realization_specific_identifier": stored.get("unique_id").cloned().unwrap_or(Value::Null),
        "intent_paths": [object.path],
        "realized_path": format!("{REALIZED_PREFIX}{}", object.path),
        "extended_attributes": attributes,
        "alarms": alarms,
        "runtime_status": "UNKNOWN",
        "publish_status": if realization == Realization::Pending { "IN_PROGRESS" } else { "REALIZED" },
        "_revision": stored.get("_revision").cloned().unwrap_or(json!(0)),
    })
}

/// `…/state` and `…/detailed-status` of a stored object.
pub(crate) fn view(object: &ObjectPath, stored: &Value, view: View, realization: Realization) -> Value {
    match view {
        View::State => json!({
            "intent_path": object.path,
            "state": match realization {
                Realization::Pending => "in_progress",
                Realization::Realized => "success",
                Realization::Failed => "failed",
            },
            "details": [],
        }),
        View::DetailedStatus => json!({
            "service_path": object.path,
            "service_status": if stored.get("enabled") == Some(&json!(false)) { "DISABLED" } else { "UP" },
            "instance_detail_per_tz": [],
        }),
    }
}

/// `GET /infra/realized-state/realized-entities?intent_path=P`: the list envelope with
/// the one entity of P.
pub(crate) async fn entities(State(state): State<NsxState>, RawQuery(query): RawQuery) -> Response {
    let result = async {
        let params = ListParams::parse(query.as_deref())?;
        let path = query_param(query.as_deref(), "intent_path")?;
        let (object, stored) = load(&state, path).await?;
        let realization = state.realization(&stored);
        Ok::<_, NsxError>(page(vec![entity(&object, &stored, realization)], &params))
    };
    respond(result.await)
}

/// `GET /infra/realized-state/realized-entity?realized_path=R`: one entity.
pub(crate) async fn one_entity(State(state): State<NsxState>, RawQuery(query): RawQuery) -> Response {
    let result = async {
        let realized = query_param(query.as_deref(), "realized_path")?;
        let path = realized.strip_prefix(REALIZED_PREFIX).unwrap_or(&realized).to_owned();
        let (object, stored) = load(&state, path).await?;
        Ok::<_, NsxError>(entity(&object, &stored, state.realization(&stored)))
    };
    respond(result.await)
}

/// `GET /infra/realized-state/status?intent_path=P`: the consolidated status.
pub(crate) async fn status(State(state): State<NsxState>, RawQuery(query): RawQuery) -> Response {
    let result = async {
        let path = query_param(query.as_deref(), "intent_path")?;
        let (object, stored) = load(&state, path).await?;
        let state = match state.realization(&stored) {
            Realization::Pending => "IN_PROGRESS",
            Realization::Realized => "SUCCESS",
            Realization::Failed => "ERROR",
        };
        Ok::<_, NsxError>(json!({
            "intent_path": object.path,
            "publish_status": "REALIZED",
            "consolidated_status": {"consolidated_status": state},
        }))
    };
    respond(result.await)
}

async fn load(state: &NsxState, path: String) -> Result<(ObjectPath, Value), NsxError> {
    let object = kinds::parse_object(&path).ok_or_else(|| NsxError::not_found(&path))?;
    state
        .transact(move |tx| {
            let stored = tx.get(&object.collection, &object.id)?;
            let stored = stored.ok_or_else(|| NsxError::not_found(&object.path))?;
            Ok((object, stored))
        })
        .await
}

fn query_param(query: Option<&str>, name: &str) -> Result<String, NsxError> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| {
            NsxError::new(
                StatusCode::BAD_REQUEST,
                super::error::INVALID_REQUEST,
                format!("{name} is required."),
            )
        })
}

fn respond(result: Result<Value, NsxError>) -> Response {
    match result {
        Ok(body) => axum::Json(body).into_response(),
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocation_reports_its_ip_or_its_alarm() {
        let Some(object) = kinds::parse_object("/infra/ip-pools/p/ip-allocations/a") else { panic!() };
        let ok =
            entity(&object, &json!({"allocation_ip": "10.0.0.2", "unique_id": "u"}), Realization::Realized);
        assert_eq!(ok["state"], "REALIZED");
        assert_eq!(ok["extended_attributes"][0]["values"][0], "10.0.0.2");
        assert_eq!(ok["realization_specific_identifier"], "u");
        let stored = json!({REALIZATION_ERROR: {"error_code": 8212, "message": "full"}});
        assert_eq!(realization(&stored, 10, 0), Realization::Failed);
        let failed = entity(&object, &stored, Realization::Failed);
        assert_eq!(failed["state"], "ERROR");
        assert_eq!(failed["alarms"][0]["error_details"]["error_code"], 8212);
    }

    #[test]
    fn changes_are_pending_for_the_delay() {
        let Some(object) = kinds::parse_object("/infra/ip-pools/p/ip-allocations/a") else { panic!() };
        let stored = json!({"allocation_ip": "10.0.0.2", "_last_modified_time": 1_000});
        assert_eq!(realization(&stored, 1_499, 500), Realization::Pending);
        assert_eq!(realization(&stored, 1_500, 500), Realization::Realized);
        let pending = entity(&object, &stored, Realization::Pending);
        assert_eq!(pending["state"], "UNREALIZED");
        assert_eq!(pending["extended_attributes"], json!([]), "no IP before realization");
    }
}
