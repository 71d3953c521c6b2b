//! What one recorded reconcile or finalize holds, as stored and as `why`
//! and `audit` read it back.
//!
//! Every value here has already been through [`super::redact`]: a record
//! never holds Secret data or credentials in clear.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::controller::queue::Reason;

/// One call of a plugin export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Store row id, newest highest (0 before it is stored).
    #[serde(default)]
    pub id: i64,
    /// Start, milliseconds since the Unix epoch.
    pub started_ms: u64,
    /// The plugin that served the call.
    pub plugin: PluginId,
    /// `reconcile` or `finalize`.
    pub export: String,
    /// The object handed to the plugin.
    pub object: ObjectId,
    /// The namespace the object's cluster comes from (dynamic sources), for
    /// `namespaces = ["$origin"]` grants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// The object handed to the plugin, redacted: what `wasmvisor replay`
    /// hands a candidate. Absent when it was over the size a record keeps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Value>,
    /// Why it ran: the triggers merged while the key waited, first seen first.
    pub triggers: Vec<Reason>,
    /// Triggers beyond the queue's cap, only counted.
    #[serde(default)]
    pub more_triggers: usize,
    /// Every host call, in order.
    pub calls: Vec<HostCall>,
    /// Guest log lines kept by the per-call cap.
    pub logs: Vec<LogLine>,
    /// Clock values the guest read through WASI, in order. Random bytes are
    /// not kept: they may be key material.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wasi: Vec<WasiRead>,
    /// How it ended.
    pub outcome: Outcome,
    /// Wall time of the call, instantiation included, in microseconds.
    pub total_us: u64,
    /// Of which inside host calls.
    pub host_us: u64,
}

#[cfg(test)]
impl Record {
    /// A reconcile of ConfigMap `ns/a` by `p@1` with `calls` ending in
    /// `outcome`, for unit tests.
    pub(crate) fn sample(calls: Vec<HostCall>, outcome: Outcome) -> Record {
        Record {
            id: 1,
            started_ms: 0,
            plugin: PluginId { name: "p".into(), version: "1".into(), digest: String::new() },
            export: "reconcile".into(),
            object: ObjectId {
                cluster: "default".into(),
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                namespace: Some("ns".into()),
                name: "a".into(),
                uid: None,
                resource_version: None,
                generation: None,
            },
            origin: None,
            input: None,
            triggers: Vec::new(),
            more_triggers: 0,
            calls,
            logs: Vec::new(),
            wasi: Vec::new(),
            outcome,
            total_us: 0,
            host_us: 0,
        }
    }
}

impl Record {
    /// Time spent in the guest (instantiation included): total minus host calls.
    pub fn guest_us(&self) -> u64 {
        self.total_us.saturating_sub(self.host_us)
    }
}

/// A plugin version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginId {
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// `sha256:<hex>` of the component.
    pub digest: String,
}

/// The object a call was about, as it was when handed to the plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectId {
    /// Cluster name in the host config.
    pub cluster: String,
    /// `group/version` or `v1`.
    pub api_version: String,
    /// Kind.
    pub kind: String,
    /// Namespace, for namespaced kinds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
    /// `metadata.uid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// `metadata.resourceVersion`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
    /// `metadata.generation`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
}

/// One host call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostCall {
    /// `kube`, `nsx` or `vcenter`.
    pub interface: String,
    /// `get`, `list`, `apply`, `apply-status`, `delete`, `request`.
    pub function: String,
    /// The arguments, redacted.
    pub args: Value,
    /// What came back.
    pub result: CallResult,
    /// Duration in microseconds.
    pub us: u64,
    /// For a kube write: the object as this reconcile last saw it (handed
    /// to the plugin or read by it), redacted; what `why` diffs against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
}

/// The result of a host call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "status")]
pub enum CallResult {
    /// It succeeded; the value it returned, redacted.
    Ok {
        /// The returned value.
        value: Value,
    },
    /// The backend failed; the plugin got this WIT error.
    Error {
        /// `not-found`, `conflict`, ….
        kind: String,
        /// Its message.
        message: String,
    },
    /// Outside the plugin's capabilities: it got `forbidden`.
    Denied {
        /// What was refused.
        what: String,
    },
    /// A limit ended the call (trap).
    Limit {
        /// Which limit.
        message: String,
    },
}

/// A guest log line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// `trace` … `error`.
    pub level: String,
    /// The message.
    pub message: String,
    /// Its fields, rendered `key="value" …`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub fields: String,
}

/// A value the guest read through WASI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "source")]
pub enum WasiRead {
    /// `wasi:clocks/wall-clock.now`: nanoseconds since the epoch (u64
    /// lasts until 2554; serde cannot buffer a u128 in a tagged enum).
    WallClock {
        /// The value.
        nanos: u64,
    },
    /// `wasi:clocks/monotonic-clock.now`.
    MonotonicClock {
        /// The value.
        nanos: u64,
    },
}

/// How a call ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "outcome")]
pub enum Outcome {
    /// Nothing until something changes.
    Done,
    /// The plugin asked to run again after a delay.
    RequeueAfter {
        /// The delay, in milliseconds.
        ms: u64,
    },
    /// The plugin returned an error.
    Error {
        /// The WIT error variant.
        kind: String,
        /// Its message.
        message: String,
    },
    /// The guest trapped or panicked.
    Trap {
        /// What happened.
        message: String,
        /// Guest frames, when wasmtime has them.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        backtrace: Option<String>,
    },
    /// A limit ended the call: deadline, memory, host calls, request size.
    Limit {
        /// Which limit.
        message: String,
    },
    /// The instance could not be created.
    Instantiate {
        /// Why.
        message: String,
    },
}
