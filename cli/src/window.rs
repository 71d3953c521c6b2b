//! `--since DURATION` of the commands that read the flight recorder
//! (`audit`, `replay`): a humantime window back from now.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A humantime duration, parsed as the host config parses them.
pub(crate) fn humantime_duration(text: &str) -> Result<Duration, String> {
    #[derive(serde::Deserialize)]
    struct Window(#[serde(with = "wasmvisor_host::manifest::limits::duration")] Duration);
    serde_json::from_value::<Window>(serde_json::Value::String(text.to_owned()))
        .map(|w| w.0)
        .map_err(|e| e.to_string())
}

/// The start of `window` back from now, in Unix milliseconds; 0 (all
/// recorded) without one.
pub(crate) fn since_ms(window: Option<Duration>) -> u64 {
    let Some(window) = window else { return 0 };
    let start = SystemTime::now().checked_sub(window).unwrap_or(UNIX_EPOCH);
    u64::try_from(start.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis()).unwrap_or(0)
}
