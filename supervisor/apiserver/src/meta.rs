//! Object metadata the server owns: uids, timestamps, generated names, ages.
//!
//! Used by the write pipeline, tables and tokens. Timestamps are RFC 3339 UTC through
//! `jiff`, the one time formatter of the supervisor side (the simulators use it too), so
//! every timestamp the server writes parses back to the same second.

use std::time::{SystemTime, UNIX_EPOCH};

use rand::Rng;
use serde_json::{Map, Value};

/// The `metadata` fields the server sets or that name the object: no field manager ever
/// owns them (see [`crate::apply`]).
pub const SERVER_METADATA: [&str; 11] = [
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
];

/// The `metadata` fields clients set and field managers own.
pub const CLIENT_METADATA: [&str; 4] = ["labels", "annotations", "ownerReferences", "finalizers"];

/// Whether `field` is a `metadata` field this server knows (anything else is pruned as
/// unknown, see [`crate::pipeline`]).
pub fn is_metadata_field(field: &str) -> bool {
    SERVER_METADATA.contains(&field) || CLIENT_METADATA.contains(&field)
}

/// The object at `object.field`, created (or replacing a non-object) if needed; `None` only
/// when `object` itself is not a JSON object.
pub fn object_field<'a>(object: &'a mut Value, field: &str) -> Option<&'a mut Map<String, Value>> {
    let slot = object.as_object_mut()?.entry(field).or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    slot.as_object_mut()
}

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// The current time as RFC 3339 with second precision (`2026-01-02T03:04:05Z`).
pub fn now() -> String {
    format_time(unix_now())
}

/// Formats Unix seconds as RFC 3339 UTC with second precision (`2026-01-02T03:04:05Z`).
///
/// Seconds beyond jiff's range (years -9999 to 9999) are clamped to its ends, so no input
/// (a protobuf body carries any `int64`) makes this panic.
pub fn format_time(secs: i64) -> String {
    let secs = secs.clamp(jiff::Timestamp::MIN.as_second(), jiff::Timestamp::MAX.as_second());
    let time = jiff::Timestamp::from_second(secs).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    format!("{time:.0}")
}

/// Parses an RFC 3339 UTC timestamp (`...Z`, optional fraction) into Unix seconds.
pub fn parse_time(text: &str) -> Option<i64> {
    if !text.ends_with('Z') {
        return None;
    }
    text.parse::<jiff::Timestamp>().ok().map(jiff::Timestamp::as_second)
}

/// A random RFC 4122 version 4 uid.
pub fn new_uid() -> String {
    let mut bytes: [u8; 16] = rand::rng().random();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

/// `prefix` plus five random characters, as the real server expands `generateName`.
pub fn generate_name(prefix: &str) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    let suffix: String = (0..5).map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())])).collect();
    let max = 63usize.saturating_sub(5);
    let prefix = if prefix.len() > max { &prefix[..prefix.floor_char_boundary(max)] } else { prefix };
    format!("{prefix}{suffix}")
}

/// A duration as kubectl prints ages (`45s`, `5m3s`, `2h`, `3d4h`, `2y`).
pub fn human_duration(secs: i64) -> String {
    let secs = secs.max(0);
    let (m, h, d) = (secs / 60, secs / 3600, secs / 86_400);
    if secs < 120 {
        format!("{secs}s")
    } else if m < 10 {
        if secs % 60 == 0 { format!("{m}m") } else { format!("{m}m{}s", secs % 60) }
    } else if h < 3 {
        format!("{m}m")
    } else if h < 8 {
        if m % 60 == 0 { format!("{h}h") } else { format!("{h}h{}m", m % 60) }
    } else if h < 48 {
        format!("{h}h")
    } else if h < 192 {
        if h % 24 == 0 { format!("{d}d") } else { format!("{d}d{}h", h % 24) }
    } else if d < 365 * 2 {
        format!("{d}d")
    } else if d < 365 * 8 {
        if d % 365 == 0 { format!("{}y", d / 365) } else { format!("{}y{}d", d / 365, d % 365) }
    } else {
        format!("{}y", d / 365)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_fields_are_created_or_refused() {
        let mut object = serde_json::json!({"spec": 1});
        object_field(&mut object, "spec").unwrap().insert("a".into(), Value::Bool(true));
        assert_eq!(object, serde_json::json!({"spec": {"a": true}}));
        assert!(object_field(&mut Value::Null, "spec").is_none());
    }

    #[test]
    fn timestamps_round_trip() {
        assert_eq!(format_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_time(1_709_251_199), "2024-02-29T23:59:59Z");
        assert_eq!(parse_time("2024-02-29T23:59:59Z"), Some(1_709_251_199));
        assert_eq!(parse_time("2024-02-29T23:59:59.123456Z"), Some(1_709_251_199));
        let now = unix_now();
        assert_eq!(parse_time(&format_time(now)), Some(now));
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(parse_time("2024-02-29T23:59:59+01:00"), None, "UTC only");
        assert_eq!(format_time(i64::MAX), "9999-12-30T22:00:00Z", "clamped to jiff's range, not a panic");
    }

    #[test]
    fn uids_and_generated_names_look_right() {
        let uid = new_uid();
        assert_eq!(uid.len(), 36);
        assert_eq!(&uid[14..15], "4");
        assert_ne!(uid, new_uid());
        let name = generate_name("web-");
        assert!(name.starts_with("web-") && name.len() == 9);
    }

    #[test]
    fn ages_print_like_kubectl() {
        assert_eq!(human_duration(45), "45s");
        assert_eq!(human_duration(303), "5m3s");
        assert_eq!(human_duration(3600), "60m");
        assert_eq!(human_duration(4 * 3600), "4h");
        assert_eq!(human_duration(3 * 86_400 + 4 * 3600), "3d4h");
    }
}
