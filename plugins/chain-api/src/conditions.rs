//! Status conditions in the two shapes the chain's APIs use: Cluster API style
//! (`clusterv1.Condition`, with severity; TKC, CAPI, CAPV, vm-operator v1alpha1) and NCP
//! style (four plain strings, no timestamps; VirtualNetwork, VirtualNetworkInterface).
//!
//! Both keep one entry per type. [`set_condition`] replaces the entry of the same type and,
//! as the sdk's `set_condition` does for `metav1.Condition`, keeps `lastTransitionTime` when
//! the status did not change, so a reconcile that finds nothing new writes nothing new.

use serde::{Deserialize, Serialize};
pub use wasmvisor_sdk::ConditionStatus;
use wasmvisor_sdk::time::now_rfc3339;

/// How bad a `False` condition is (`clusterv1.ConditionSeverity`); set only when status is `False`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub enum Severity {
    /// The condition is `False` because something failed.
    Error,
    /// The condition is `False` and may need attention.
    Warning,
    /// The condition is `False` as part of normal progress (e.g. still provisioning).
    Info,
}

/// One Cluster API style condition (`clusterv1.Condition`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Condition {
    /// Condition type in CamelCase, e.g. `Ready` or `VMProvisioned`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    #[cfg_attr(test, schemars(with = "String"))]
    pub status: ConditionStatus,
    /// How bad a `False` status is; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    /// When the status last changed (RFC 3339).
    #[serde(default)]
    pub last_transition_time: String,
    /// CamelCase reason for the last transition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Human-readable details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl Condition {
    /// A condition of `type_` that holds, stamped now.
    pub fn true_(type_: &str) -> Self {
        Self::stamped(type_, ConditionStatus::True, None, None, None)
    }

    /// A condition of `type_` that does not hold, with its reason and severity, stamped now.
    pub fn false_(type_: &str, reason: &str, severity: Severity, message: &str) -> Self {
        Self::stamped(type_, ConditionStatus::False, Some(severity), Some(reason), Some(message))
    }

    /// A condition of `type_` whose status is not known yet, stamped now.
    pub fn unknown(type_: &str, reason: &str, message: &str) -> Self {
        Self::stamped(type_, ConditionStatus::Unknown, None, Some(reason), Some(message))
    }

    fn stamped(
        type_: &str,
        status: ConditionStatus,
        severity: Option<Severity>,
        reason: Option<&str>,
        message: Option<&str>,
    ) -> Self {
        let text = |s: Option<&str>| s.filter(|s| !s.is_empty()).map(str::to_owned);
        Self {
            type_: type_.to_owned(),
            status,
            severity,
            last_transition_time: now_rfc3339(),
            reason: text(reason),
            message: text(message),
        }
    }

    /// Whether the status is `True`.
    pub fn is_true(&self) -> bool {
        self.status == ConditionStatus::True
    }
}

/// One NCP condition (`VirtualNetworkCondition`): plain strings, no timestamps.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct NcpCondition {
    /// Condition type; NCP reports `Ready`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// `"True"` or `"False"` as a plain string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Machine-readable reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Human-readable details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl NcpCondition {
    /// A `Ready` condition with status `"True"` or `"False"`.
    pub fn ready(ready: bool, reason: &str, message: &str) -> Self {
        let text = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        Self {
            type_: Some(crate::ncp::condition::READY.to_owned()),
            status: Some(if ready { "True" } else { "False" }.to_owned()),
            reason: text(reason),
            message: text(message),
        }
    }
}

/// What [`set_condition`] needs from a condition entry.
pub trait ConditionEntry {
    /// The condition type (the list's merge key).
    fn condition_type(&self) -> &str;
    /// Whether `self` and `other` report the same status.
    fn same_status(&self, other: &Self) -> bool;
    /// Takes `old`'s transition time (called when the status did not change).
    fn keep_transition_time(&mut self, old: &Self);
}

impl ConditionEntry for Condition {
    fn condition_type(&self) -> &str {
        &self.type_
    }

    fn same_status(&self, other: &Self) -> bool {
        self.status == other.status
    }

    fn keep_transition_time(&mut self, old: &Self) {
        self.last_transition_time.clone_from(&old.last_transition_time);
    }
}

impl ConditionEntry for NcpCondition {
    fn condition_type(&self) -> &str {
        self.type_.as_deref().unwrap_or("")
    }

    fn same_status(&self, other: &Self) -> bool {
        self.status == other.status
    }

    /// NCP conditions carry no timestamp.
    fn keep_transition_time(&mut self, _old: &Self) {}
}

/// Sets `new` in `conditions`, replacing the entry of the same type; keeps the old
/// `lastTransitionTime` when the status did not change. Returns whether anything changed.
pub fn set_condition<C: ConditionEntry + PartialEq>(conditions: &mut Vec<C>, mut new: C) -> bool {
    match conditions.iter_mut().find(|c| c.condition_type() == new.condition_type()) {
        Some(old) => {
            if old.same_status(&new) {
                new.keep_transition_time(old);
            }
            let changed = *old != new;
            *old = new;
            changed
        }
        None => {
            conditions.push(new);
            true
        }
    }
}

/// The condition of `type_`, if present.
pub fn find<'a, C: ConditionEntry>(conditions: &'a [C], type_: &str) -> Option<&'a C> {
    conditions.iter().find(|c| c.condition_type() == type_)
}

/// Whether the CAPI-style condition of `type_` is present and `True`.
pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    find(conditions, type_).is_some_and(Condition::is_true)
}

/// Whether an NCP object reports ready the way vm-operator checks it: some condition whose
/// type contains `Ready` has a status containing `True`.
pub fn ncp_ready(conditions: &[NcpCondition]) -> bool {
    conditions.iter().any(|c| {
        c.type_.as_deref().is_some_and(|t| t.contains("Ready"))
            && c.status.as_deref().is_some_and(|s| s.contains("True"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(mut c: Condition, time: &str) -> Condition {
        c.last_transition_time = time.to_owned();
        c
    }

    #[test]
    fn transition_time_moves_only_on_status_change() {
        let waiting = Condition::false_("LoadBalancerReady", "WaitingForLoadBalancerIP", Severity::Info, "");
        let mut cs = vec![at(waiting.clone(), "t1")];
        assert!(!set_condition(&mut cs, at(waiting, "t2")));
        assert_eq!(cs[0].last_transition_time, "t1");
        let failed =
            Condition::false_("LoadBalancerReady", "LoadBalancerCreationFailed", Severity::Error, "x");
        assert!(set_condition(&mut cs, at(failed, "t3")));
        assert_eq!(
            (cs[0].last_transition_time.as_str(), cs[0].reason.as_deref()),
            ("t1", Some("LoadBalancerCreationFailed"))
        );
        assert!(set_condition(&mut cs, at(Condition::true_("LoadBalancerReady"), "t4")));
        assert_eq!(cs[0].last_transition_time, "t4");
        assert!(set_condition(&mut cs, Condition::true_("Ready")));
        assert_eq!(cs.len(), 2);
        assert!(is_true(&cs, "Ready") && !is_true(&cs, "Missing"));
    }

    #[test]
    fn serializes_only_what_is_set() {
        let c = at(Condition::true_("Ready"), "2026-01-01T00:00:00Z");
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"})
        );
        let f = serde_json::to_value(Condition::false_("VMProvisioned", "PoweringOn", Severity::Info, ""))
            .unwrap();
        assert_eq!((f["severity"].as_str(), f.get("message")), (Some("Info"), None));
    }

    #[test]
    fn ncp_conditions_replace_by_type_and_read_like_vm_operator() {
        let mut cs = vec![NcpCondition::ready(false, "Pending", "")];
        assert!(!ncp_ready(&cs));
        assert!(set_condition(&mut cs, NcpCondition::ready(true, "", "")));
        assert_eq!(cs.len(), 1);
        assert!(ncp_ready(&cs));
        assert!(!set_condition(&mut cs, NcpCondition::ready(true, "", "")));
        let v = serde_json::to_value(&cs[0]).unwrap();
        assert_eq!(v, serde_json::json!({"type": "Ready", "status": "True"}));
    }
}
