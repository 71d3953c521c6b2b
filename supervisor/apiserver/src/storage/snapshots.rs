//! Consistent paging: the rest of a paged list is kept at the resourceVersion of its first
//! page, so every later page shows the collection as it was then, as kube-apiserver serves
//! later pages from etcd at the first page's revision.
//!
//! A snapshot is the list of objects after a first page, in (namespace, name) order, shared
//! (`Arc`) by every page that follows. At most [`MAX_SNAPSHOTS`] are kept, each for at most
//! [`KEEP_FOR`] (kube-apiserver's etcd compacts every five minutes); a continue token whose
//! snapshot is gone gets 410 `Expired`, as one whose revision was compacted does.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Stored;

/// How long the rest of a paged list stays readable at its first page's resourceVersion.
pub(super) const KEEP_FOR: Duration = Duration::from_secs(5 * 60);
/// How many paged lists may be in progress at once before the oldest one expires.
pub(super) const MAX_SNAPSHOTS: usize = 64;

/// The objects of one list after a page, in (namespace, name) order.
pub(super) type Rest = Arc<[Arc<Stored>]>;

/// What a snapshot is a snapshot of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Of {
    pub resource: String,
    pub namespace: Option<String>,
    pub rv: u64,
}

/// The snapshots of paged lists in progress, oldest first.
#[derive(Debug, Default)]
pub(super) struct Snapshots {
    kept: VecDeque<(Of, Instant, Rest)>,
}

impl Snapshots {
    /// The snapshot of `of`, if it is still kept.
    pub(super) fn get(&mut self, of: &Of) -> Option<Rest> {
        self.expire(Instant::now());
        self.kept.iter().find(|(kept, _, _)| kept == of).map(|(_, _, rest)| rest.clone())
    }

    /// Keeps `rest` as the snapshot of `of`, unless one is kept already (a page of the same
    /// list at the same resourceVersion: its rest contains this one).
    pub(super) fn keep(&mut self, of: Of, rest: impl FnOnce() -> Rest) {
        let now = Instant::now();
        self.expire(now);
        if self.kept.iter().any(|(kept, _, _)| *kept == of) {
            return;
        }
        if self.kept.len() == MAX_SNAPSHOTS {
            self.kept.pop_front();
        }
        self.kept.push_back((of, now, rest()));
    }

    /// Drops every snapshot (as if all had expired). For tests.
    #[cfg(test)]
    pub(super) fn kept_clear(&mut self) {
        self.kept.clear();
    }

    fn expire(&mut self, now: Instant) {
        while self.kept.front().is_some_and(|(_, taken, _)| now.duration_since(*taken) > KEEP_FOR) {
            self.kept.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(rv: u64) -> Of {
        Of { resource: "/configmaps".into(), namespace: None, rv }
    }

    fn rest(names: &[&str]) -> Rest {
        names.iter().map(|n| Arc::new(Stored::new(serde_json::Value::String((*n).to_owned())))).collect()
    }

    #[test]
    fn keeps_one_snapshot_per_list_and_drops_the_oldest() {
        let mut snapshots = Snapshots::default();
        snapshots.keep(of(1), || rest(&["b", "c"]));
        snapshots.keep(of(1), || rest(&["c"]));
        assert_eq!(snapshots.get(&of(1)).map(|r| r.len()), Some(2), "the first rest is kept");
        for rv in 2..=MAX_SNAPSHOTS as u64 {
            snapshots.keep(of(rv), || rest(&["x"]));
        }
        assert!(snapshots.get(&of(1)).is_some());
        snapshots.keep(of(1000), || rest(&["x"]));
        assert!(snapshots.get(&of(1)).is_none(), "the oldest made room");
        assert!(snapshots.get(&of(2)).is_some());
    }
}
