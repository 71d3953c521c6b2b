//! Change notifications: who learns that a committed transaction wrote under a collection
//! prefix.
//!
//! In: the collections a transaction `put` or `delete`d, reported by `crate::store` after
//! the commit. Out: a bump of every [`watch`] channel subscribed to a prefix of one of
//! them. Invariant: a subscriber that reads the store after seeing a bump sees that write
//! (the bump comes after the commit); bumps coalesce, so a subscriber must re-read its
//! whole state (level-based), never count bumps. Writes by another process on the same
//! data dir are not seen.

use std::collections::BTreeSet;
use std::sync::Mutex;

use tokio::sync::watch;

/// The subscribers of one store; shared by every clone of it.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    watchers: Mutex<Vec<Watcher>>,
}

#[derive(Debug)]
struct Watcher {
    prefix: String,
    bump: watch::Sender<u64>,
}

impl Changes {
    /// A receiver bumped after every committed transaction that wrote a collection
    /// starting with `prefix`. Dropping it unsubscribes (at the next write).
    pub(crate) fn subscribe(&self, prefix: &str) -> watch::Receiver<u64> {
        let (bump, receiver) = watch::channel(0);
        self.lock().push(Watcher { prefix: prefix.to_owned(), bump });
        receiver
    }

    /// Tells the subscribers whose prefix matches one of `touched` (called after commit).
    pub(crate) fn committed(&self, touched: &BTreeSet<String>) {
        if touched.is_empty() {
            return;
        }
        self.lock().retain(|w| {
            if touched.iter().any(|c| c.starts_with(&w.prefix)) {
                w.bump.send_modify(|n| *n = n.wrapping_add(1));
            }
            !w.bump.is_closed()
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Watcher>> {
        // The list holds no invariant a panic could break: recover it.
        self.watchers.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn bumps_only_matching_prefixes_and_forgets_dropped_receivers() {
        let changes = Changes::default();
        let mut lb = changes.subscribe("/infra/lb-");
        let segments = changes.subscribe("/infra/segments");
        changes.committed(&set(&["/infra/lb-pools"]));
        assert!(lb.has_changed().unwrap_or(false));
        assert!(!segments.has_changed().unwrap_or(true));
        lb.borrow_and_update();
        changes.committed(&set(&["/infra/tier-1s", "vcenter/vms"]));
        assert!(!lb.has_changed().unwrap_or(true), "no lb-* write, no bump");
        drop(segments);
        changes.committed(&set(&["/infra/segments"]));
        assert_eq!(changes.lock().len(), 1, "the dropped receiver is gone");
    }
}
