//! Fault injection: added latency, 5xx answers, throttling (429 + Retry-After) and
//! dropped connections, for testing clients that must converge anyway.
//!
//! Faults sit in front of every API route (not the `/_sim/...` admin routes, so a test
//! can always switch them off again). They are set at start ([`crate::SimConfig::faults`])
//! or replaced at run time with `PUT /_sim/faults`. Each kind has a deterministic
//! counter (`*_next`: the next N requests get it) consumed before the random `*_rate`
//! applies, so tests can ask for "exactly two 429s, then success".
//!
//! Order per request: latency first, then drop, then throttle, then error.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use wasmvisor_tls::ConnectionKill;

/// What faults to inject. All zero (the default) means none.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultSettings {
    /// Added to every API request before it is handled, in milliseconds.
    pub latency_ms: u64,
    /// Share of requests (0.0–1.0) answered with `error_status`.
    pub error_rate: f64,
    /// The next N requests are answered with `error_status`.
    pub error_next: u32,
    /// The 5xx status for injected errors; 0 means 503.
    pub error_status: u16,
    /// Share of requests (0.0–1.0) answered 429 with `Retry-After`.
    pub throttle_rate: f64,
    /// The next N requests are answered 429.
    pub throttle_next: u32,
    /// `Retry-After` seconds sent with a 429; 0 is sent as 0.
    pub retry_after_secs: u64,
    /// Share of requests (0.0–1.0) whose connection is closed without an answer.
    pub drop_rate: f64,
    /// The connections of the next N requests are closed without an answer.
    pub drop_next: u32,
}

/// Why fault settings were refused.
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum FaultSettingsError {
    /// A rate is outside 0.0–1.0.
    #[error("{field} must be between 0.0 and 1.0, got {value}")]
    RateOutOfRange {
        /// The field name.
        field: &'static str,
        /// The value given.
        value: f64,
    },
    /// `error_status` is not a 5xx status.
    #[error("error_status must be 500-599 (or 0 for 503), got {0}")]
    NotServerError(u16),
    /// The text is not the JSON object `PUT /_sim/faults` takes.
    #[error("{0}")]
    Json(String),
}

/// The JSON `PUT /_sim/faults` takes (unset fields off), validated: what
/// `wasmvisor sim --faults` parses, so a typo fails before the simulator starts.
impl std::str::FromStr for FaultSettings {
    type Err = FaultSettingsError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let settings: FaultSettings =
            serde_json::from_str(text).map_err(|e| FaultSettingsError::Json(e.to_string()))?;
        settings.validate()?;
        Ok(settings)
    }
}

impl FaultSettings {
    /// Checks rates and the error status.
    pub fn validate(&self) -> Result<(), FaultSettingsError> {
        for (field, value) in [
            ("error_rate", self.error_rate),
            ("throttle_rate", self.throttle_rate),
            ("drop_rate", self.drop_rate),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(FaultSettingsError::RateOutOfRange { field, value });
            }
        }
        if self.error_status != 0 && !(500..=599).contains(&self.error_status) {
            return Err(FaultSettingsError::NotServerError(self.error_status));
        }
        Ok(())
    }

    fn error_status(&self) -> StatusCode {
        StatusCode::from_u16(self.error_status)
            .ok()
            .filter(StatusCode::is_server_error)
            .unwrap_or(StatusCode::SERVICE_UNAVAILABLE)
    }
}

/// The fault decided for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    Drop,
    Throttle { retry_after_secs: u64 },
    Error(StatusCode),
}

/// The live fault settings of one simulator; cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    settings: Arc<Mutex<FaultSettings>>,
}

impl Faults {
    /// Faults starting with `settings`.
    pub fn new(settings: FaultSettings) -> Faults {
        Faults { settings: Arc::new(Mutex::new(settings)) }
    }

    /// The current settings (counters show what is left).
    pub fn get(&self) -> FaultSettings {
        self.settings.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Replaces the settings after validating them.
    pub fn set(&self, settings: FaultSettings) -> Result<(), FaultSettingsError> {
        settings.validate()?;
        if let Ok(mut current) = self.settings.lock() {
            *current = settings;
        }
        Ok(())
    }

    /// Returns the latency to add and the fault (if any) for the next request, consuming
    /// one deterministic counter when one is set.
    fn decide(&self, roll: impl Fn() -> f64) -> (Duration, Option<Fault>) {
        let Ok(mut s) = self.settings.lock() else { return (Duration::ZERO, None) };
        let latency = Duration::from_millis(s.latency_ms);
        let fault = if s.drop_next > 0 {
            s.drop_next -= 1;
            Some(Fault::Drop)
        } else if s.throttle_next > 0 {
            s.throttle_next -= 1;
            Some(Fault::Throttle { retry_after_secs: s.retry_after_secs })
        } else if s.error_next > 0 {
            s.error_next -= 1;
            Some(Fault::Error(s.error_status()))
        } else if s.drop_rate > 0.0 && roll() < s.drop_rate {
            Some(Fault::Drop)
        } else if s.throttle_rate > 0.0 && roll() < s.throttle_rate {
            Some(Fault::Throttle { retry_after_secs: s.retry_after_secs })
        } else if s.error_rate > 0.0 && roll() < s.error_rate {
            Some(Fault::Error(s.error_status()))
        } else {
            None
        };
        (latency, fault)
    }
}

/// Renders an injected error in the simulated product's own error body.
pub(crate) type RenderError = fn(StatusCode, &str) -> Response;

/// State of the fault middleware: the settings and the product's error renderer.
#[derive(Clone)]
pub(crate) struct FaultLayer {
    pub(crate) faults: Faults,
    pub(crate) render: RenderError,
}

/// Middleware applying [`Faults`] to one request.
pub(crate) async fn inject(State(layer): State<FaultLayer>, request: Request, next: Next) -> Response {
    let (latency, fault) = layer.faults.decide(rand::random::<f64>);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match fault {
        None => next.run(request).await,
        Some(Fault::Drop) => match request.extensions().get::<ConnectionKill>() {
            Some(kill) => {
                kill.fire();
                // The connection task drops this future together with the connection.
                std::future::pending().await
            }
            // Not behind our accept loop (an in-process test): the closest answer.
            None => (layer.render)(StatusCode::BAD_GATEWAY, "injected fault: connection dropped"),
        },
        Some(Fault::Throttle { retry_after_secs }) => {
            let mut response =
                (layer.render)(StatusCode::TOO_MANY_REQUESTS, "injected fault: too many requests");
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            response
        }
        Some(Fault::Error(status)) => (layer.render)(status, "injected fault: server error"),
    }
}

/// `GET /_sim/faults`: the current settings.
pub(crate) async fn get_faults(State(faults): State<Faults>) -> Response {
    axum::Json(faults.get()).into_response()
}

/// `PUT /_sim/faults`: replaces the settings; 400 with the reason when invalid.
pub(crate) async fn put_faults(
    State(faults): State<Faults>,
    axum::Json(settings): axum::Json<FaultSettings>,
) -> Response {
    match faults.set(settings) {
        Ok(()) => axum::Json(faults.get()).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse_from_json_and_bad_ones_are_refused() {
        let faults: FaultSettings =
            r#"{"latency_ms": 50, "throttle_rate": 0.1, "retry_after_secs": 1}"#.parse().unwrap();
        assert_eq!(
            faults,
            FaultSettings {
                latency_ms: 50,
                throttle_rate: 0.1,
                retry_after_secs: 1,
                ..FaultSettings::default()
            }
        );
        let typo = r#"{"latency": 50}"#.parse::<FaultSettings>().unwrap_err().to_string();
        assert!(typo.starts_with("unknown field `latency`"), "{typo}");
        let rate = r#"{"drop_rate": 2}"#.parse::<FaultSettings>().unwrap_err();
        assert_eq!(rate, FaultSettingsError::RateOutOfRange { field: "drop_rate", value: 2.0 });
    }

    fn never() -> f64 {
        1.0
    }

    #[test]
    fn counters_come_before_rates_and_run_out() {
        let faults =
            Faults::new(FaultSettings { throttle_next: 2, retry_after_secs: 3, ..FaultSettings::default() });
        let throttled = Fault::Throttle { retry_after_secs: 3 };
        assert_eq!(faults.decide(never).1, Some(throttled));
        assert_eq!(faults.decide(never).1, Some(throttled));
        assert_eq!(faults.decide(never).1, None);
        assert_eq!(faults.get().throttle_next, 0);
    }

    #[test]
    fn rates_use_the_roll() {
        let faults = Faults::new(FaultSettings { error_rate: 0.5, ..FaultSettings::default() });
        assert_eq!(faults.decide(|| 0.4).1, Some(Fault::Error(StatusCode::SERVICE_UNAVAILABLE)));
        assert_eq!(faults.decide(|| 0.6).1, None);
    }

    #[test]
    fn drop_wins_over_throttle_and_error() {
        let faults = Faults::new(FaultSettings {
            drop_next: 1,
            throttle_next: 1,
            error_next: 1,
            error_status: 500,
            ..FaultSettings::default()
        });
        assert_eq!(faults.decide(never).1, Some(Fault::Drop));
        assert!(matches!(faults.decide(never).1, Some(Fault::Throttle { .. })));
        assert_eq!(faults.decide(never).1, Some(Fault::Error(StatusCode::INTERNAL_SERVER_ERROR)));
    }

    #[test]
    fn invalid_settings_are_refused() {
        let faults = Faults::default();
        let bad_rate = FaultSettings { drop_rate: 1.5, ..FaultSettings::default() };
        assert_eq!(
            faults.set(bad_rate),
            Err(FaultSettingsError::RateOutOfRange { field: "drop_rate", value: 1.5 })
        );
        let bad_status = FaultSettings { error_status: 404, ..FaultSettings::default() };
        assert_eq!(faults.set(bad_status), Err(FaultSettingsError::NotServerError(404)));
    }
}
