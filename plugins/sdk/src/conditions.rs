//! Status conditions (`status.conditions[]`) the way Kubernetes tools read
//! them: one entry per type, `lastTransitionTime` moving only when the
//! status flips.

use serde::{Deserialize, Serialize};

use crate::time::now_rfc3339;

/// `True`, `False` or `Unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConditionStatus {
    /// The condition holds.
    True,
    /// It does not.
    False,
    /// Not known yet.
    Unknown,
}

/// One condition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// e.g. `Ready`.
    #[serde(rename = "type")]
    pub type_: String,
    /// Its status.
    pub status: ConditionStatus,
    /// CamelCase reason.
    #[serde(default)]
    pub reason: String,
    /// For people.
    #[serde(default)]
    pub message: String,
    /// When `status` last changed.
    #[serde(default)]
    pub last_transition_time: String,
    /// The generation this condition describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

impl Condition {
    /// A condition stamped now.
    pub fn new(type_: &str, status: ConditionStatus, reason: &str, message: &str) -> Self {
        Self {
            type_: type_.to_owned(),
            status,
            reason: reason.to_owned(),
            message: message.to_owned(),
            last_transition_time: now_rfc3339(),
            observed_generation: None,
        }
    }

    /// The same condition, for `generation`.
    pub fn observed(mut self, generation: Option<i64>) -> Self {
        self.observed_generation = generation;
        self
    }
}

/// Sets `new` in `conditions`, replacing the entry of the same type; keeps
/// the old `lastTransitionTime` when the status did not change. Returns
/// whether anything changed.
pub fn set_condition(conditions: &mut Vec<Condition>, mut new: Condition) -> bool {
    match conditions.iter_mut().find(|c| c.type_ == new.type_) {
        Some(old) => {
            if old.status == new.status {
                new.last_transition_time = old.last_transition_time.clone();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ready(status: ConditionStatus, at: &str) -> Condition {
        Condition { last_transition_time: at.into(), ..Condition::new("Ready", status, "R", "m") }
    }

    #[test]
    fn transition_time_moves_only_on_status_change() {
        let mut cs = vec![ready(ConditionStatus::False, "t1")];
        assert!(!set_condition(&mut cs, ready(ConditionStatus::False, "t2")));
        assert_eq!(cs[0].last_transition_time, "t1");
        assert!(set_condition(&mut cs, ready(ConditionStatus::True, "t3")));
        assert_eq!(cs[0].last_transition_time, "t3");
        assert!(set_condition(&mut cs, Condition::new("Synced", ConditionStatus::True, "S", "")));
        assert_eq!(cs.len(), 2);
    }

    #[test]
    fn serializes_like_kubernetes() {
        let c = ready(ConditionStatus::True, "2026-01-01T00:00:00Z").observed(Some(3));
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["type"], "Ready");
        assert_eq!(v["status"], "True");
        assert_eq!(v["lastTransitionTime"], "2026-01-01T00:00:00Z");
        assert_eq!(v["observedGeneration"], 3);
    }
}
