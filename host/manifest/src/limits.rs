//! Per-reconcile resource limits a plugin declares and an operator caps.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A byte count written as `64MiB`, `512KiB`, `1GiB` or plain bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

impl FromStr for ByteSize {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
        let (digits, unit) = text.split_at(split);
        let number: u64 =
            digits.parse().map_err(|_| format!("{text:?} is not a size; write e.g. \"64MiB\""))?;
        let factor = match unit.trim() {
            "" | "B" => 1,
            "KiB" => 1 << 10,
            "MiB" => 1 << 20,
            "GiB" => 1 << 30,
            other => return Err(format!("unknown size unit {other:?} in {text:?}; use B, KiB, MiB or GiB")),
        };
        number.checked_mul(factor).map(ByteSize).ok_or_else(|| format!("{text:?} is too large"))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (unit, factor) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
            if self.0 >= factor && self.0.is_multiple_of(factor) {
                return write!(f, "{}{unit}", self.0 / factor);
            }
        }
        write!(f, "{}B", self.0)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// A duration as people write it (`5s`, `250ms`).
pub fn format_duration(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// Serde for durations written as `5s`, `250ms`, `1m`.
pub mod duration {
    use super::*;

    /// Serializes a duration in humantime form.
    pub fn serialize<S: Serializer>(value: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&humantime::format_duration(*value))
    }

    /// Parses a humantime duration (`5s`, `250ms`).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text).map_err(|e| {
            serde::de::Error::custom(format!("{text:?} is not a duration ({e}); write e.g. \"5s\""))
        })
    }
}

/// What one reconcile (or finalize) of this plugin may consume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct Limits {
    /// Linear memory of the instance (default 64MiB).
    pub memory: ByteSize,
    /// Wall-clock time per call (default 5s), enforced by epoch interruption
    /// for guest code and by a timer around host calls.
    #[serde(with = "duration")]
    pub timeout: Duration,
    /// Host calls (kube, nsx, vcenter; not log) per call (default 1000).
    pub host_calls: u32,
    /// The plugin's CPU share: how many of its calls may run guest code past
    /// their first epoch tick at once (default 1, one core). Calls over the
    /// share wait their turn, so a plugin that loops costs at most this
    /// many cores, however many reconciles it has in flight.
    pub cpu_share: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self { memory: ByteSize(64 << 20), timeout: Duration::from_secs(5), host_calls: 1000, cpu_share: 1 }
    }
}

impl Limits {
    /// Each way `self` exceeds `cap`, for a load error.
    pub fn exceeding(&self, cap: &Limits) -> Vec<String> {
        let mut over = Vec::new();
        if self.memory > cap.memory {
            over.push(format!("memory {} (granted at most {})", self.memory, cap.memory));
        }
        if self.timeout > cap.timeout {
            over.push(format!(
                "timeout {} (granted at most {})",
                humantime::format_duration(self.timeout),
                humantime::format_duration(cap.timeout)
            ));
        }
        if self.host_calls > cap.host_calls {
            over.push(format!("host-calls {} (granted at most {})", self.host_calls, cap.host_calls));
        }
        if self.cpu_share > cap.cpu_share {
            over.push(format!("cpu-share {} (granted at most {})", self.cpu_share, cap.cpu_share));
        }
        over
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_and_print() {
        assert_eq!("64MiB".parse(), Ok(ByteSize(64 << 20)));
        assert_eq!("4096".parse(), Ok(ByteSize(4096)));
        assert_eq!(ByteSize(1 << 30).to_string(), "1GiB");
        assert_eq!(ByteSize(1500).to_string(), "1500B");
        assert!("64MB".parse::<ByteSize>().unwrap_err().contains("unknown size unit"));
        assert!("lots".parse::<ByteSize>().is_err());
    }

    #[test]
    fn limits_default_and_parse() {
        let l: Limits = toml::from_str("memory = \"16MiB\"\ntimeout = \"250ms\"").unwrap();
        assert_eq!(l.memory, ByteSize(16 << 20));
        assert_eq!(l.timeout, Duration::from_millis(250));
        assert_eq!(l.host_calls, 1000);
        assert_eq!(l.cpu_share, 1);
        assert!(toml::from_str::<Limits>("timeout = \"soon\"").is_err());
    }

    #[test]
    fn exceeding_names_each_limit() {
        let cap = Limits::default();
        let wanted = Limits { memory: ByteSize(1 << 30), host_calls: 5, cpu_share: 2, ..cap };
        assert_eq!(
            wanted.exceeding(&cap),
            vec![
                "memory 1GiB (granted at most 64MiB)".to_string(),
                "cpu-share 2 (granted at most 1)".to_string()
            ]
        );
    }
}
