//! Batches of watch events: the lines already waiting for a client leave as one body chunk.
//!
//! Why: each chunk a watch body yields costs the connection a chunk header, a TLS record
//! and a `writev` to the socket, and that, not the encoding, is most of a delivery's CPU.
//! When changes arrive faster than a client is served (a burst of writes, the initial
//! state, a catch-up from the change log), the lines waiting are joined into one chunk.
//! A batch of one line is that line's shared [`Bytes`], not a copy: the common case, one
//! change at a time, costs no copy at all.
//!
//! Invariant: lines keep the order they were pushed in, each whole.

use bytes::{Bytes, BytesMut};

/// A batch grows past this only by its first line: one large object is sent alone.
pub(crate) const MAX_BATCH_BYTES: usize = 64 * 1024;

/// Encoded watch events (whole lines) to send as one chunk, in order.
#[derive(Debug, Default)]
pub(crate) enum Batch {
    /// Nothing yet.
    #[default]
    Empty,
    /// One line, still the shared encoding.
    One(Bytes),
    /// Several lines, copied one after the other.
    Many(BytesMut),
}

impl Batch {
    /// Appends `line` after the lines already in the batch.
    pub(crate) fn push(&mut self, line: Bytes) {
        *self = match std::mem::take(self) {
            Batch::Empty => Batch::One(line),
            Batch::One(first) => {
                let mut joined = BytesMut::with_capacity(first.len() + line.len());
                joined.extend_from_slice(&first);
                joined.extend_from_slice(&line);
                Batch::Many(joined)
            }
            Batch::Many(mut joined) => {
                joined.extend_from_slice(&line);
                Batch::Many(joined)
            }
        };
    }

    /// Whether the batch should be sent before taking another line.
    pub(crate) fn is_full(&self) -> bool {
        let len = match self {
            Batch::Empty => 0,
            Batch::One(line) => line.len(),
            Batch::Many(lines) => lines.len(),
        };
        len >= MAX_BATCH_BYTES
    }

    /// The chunk to send; `None` when the batch is empty.
    pub(crate) fn into_bytes(self) -> Option<Bytes> {
        match self {
            Batch::Empty => None,
            Batch::One(line) => Some(line),
            Batch::Many(lines) => Some(lines.freeze()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_keep_their_order() {
        let mut batch = Batch::default();
        for line in ["a\n", "bb\n", "ccc\n"] {
            batch.push(Bytes::from_static(line.as_bytes()));
        }
        assert_eq!(batch.into_bytes().unwrap(), "a\nbb\nccc\n");
    }

    #[test]
    fn one_line_is_not_copied() {
        let line = Bytes::from("{\"type\":\"ADDED\"}\n");
        let mut batch = Batch::default();
        batch.push(line.clone());
        assert_eq!(batch.into_bytes().unwrap().as_ptr(), line.as_ptr());
    }

    #[test]
    fn full_at_the_byte_limit_even_by_one_line() {
        let mut batch = Batch::default();
        batch.push(Bytes::from(vec![b'x'; MAX_BATCH_BYTES - 1]));
        assert!(!batch.is_full());
        batch.push(Bytes::from_static(b"\n"));
        assert!(batch.is_full());
        let mut large = Batch::default();
        large.push(Bytes::from(vec![b'y'; MAX_BATCH_BYTES * 2]));
        assert!(large.is_full());
        assert!(Batch::default().into_bytes().is_none());
    }
}
