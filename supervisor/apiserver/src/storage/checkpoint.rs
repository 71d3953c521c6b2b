//! WAL checkpoints between commits, not inside one.
//!
//! SQLite's automatic checkpoint runs inside the `COMMIT` that fills the WAL past 1000
//! pages: it copies the WAL into the database file and fsyncs that, a few milliseconds in
//! which the commit's writers are not answered and its watchers not told. Here the WAL hook
//! only records how full the WAL is, and the committer checkpoints once the batch is
//! published, when no write is queued; writes that arrive meanwhile queue for the next
//! commit. Under a load that never leaves the queue empty, the WAL is checkpointed before
//! the next commit once it is [`OVERDUE`], so it cannot grow without bound.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use rusqlite::Connection;

/// WAL pages that make a checkpoint due when the committer is idle (SQLite's default).
pub(super) const DUE: u32 = 1000;

/// WAL pages past which the checkpoint goes before the next commit, however busy.
pub(super) const OVERDUE: u32 = 4 * DUE;

/// When the WAL wants checkpointing, from the frame count its hook records.
#[derive(Default)]
pub(super) struct WalPages(Arc<AtomicU32>);

impl WalPages {
    /// Replaces SQLite's automatic checkpoint on `conn` with a hook that counts pages.
    pub(super) fn watch(conn: &mut Connection) -> rusqlite::Result<WalPages> {
        let pages = WalPages::default();
        let counted = pages.0.clone();
        conn.wal_hook(Some(move |_: &mut rusqlite::hooks::Wal, frames: std::ffi::c_int| {
            counted.store(u32::try_from(frames).unwrap_or(0), Ordering::Relaxed);
            Ok(())
        }))?;
        Ok(pages)
    }

    /// Whether to checkpoint before the next commit or wait, given whether writes are
    /// waiting to be committed.
    pub(super) fn due(&self, writes_waiting: bool) -> bool {
        let pages = self.0.load(Ordering::Relaxed);
        pages >= OVERDUE || (!writes_waiting && pages >= DUE)
    }

    /// Copies the WAL into the database, so the next commit starts the WAL over.
    ///
    /// A failed checkpoint loses nothing (the WAL still holds every commit); it is logged
    /// and tried again after the next commit.
    pub(super) fn checkpoint(&self, conn: &Connection) {
        // Counted afresh by the next commit's hook, so a failure is not retried in a loop.
        self.0.store(0, Ordering::Relaxed);
        if let Err(error) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| row.get::<_, i64>(0)) {
            tracing::warn!(%error, "checkpointing the write-ahead log failed; trying again after the next commit");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_when_idle_overdue_even_when_busy() {
        let pages = WalPages::default();
        assert!(!pages.due(false));
        pages.0.store(DUE, Ordering::Relaxed);
        assert!(!pages.due(true), "writes waiting go first");
        assert!(pages.due(false));
        pages.0.store(OVERDUE, Ordering::Relaxed);
        assert!(pages.due(true), "the WAL must not grow without bound");
    }

    #[test]
    fn the_hook_counts_pages_instead_of_checkpointing_and_a_checkpoint_starts_the_wal_over() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join("db")).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        let pages = WalPages::watch(&mut conn).unwrap();
        conn.execute_batch("CREATE TABLE t (v BLOB)").unwrap();
        for _ in 0..500 {
            conn.execute("INSERT INTO t VALUES (zeroblob(8000))", []).unwrap();
        }
        let counted = pages.0.load(Ordering::Relaxed);
        assert!(counted > DUE, "SQLite checkpointed by itself: only {counted} pages in the WAL");
        pages.checkpoint(&conn);
        assert!(!pages.due(false));
        conn.execute("INSERT INTO t VALUES (1)", []).unwrap();
        let counted = pages.0.load(Ordering::Relaxed);
        assert!(counted < 10, "the WAL did not start over after the checkpoint: {counted} pages");
    }
}
