//! Tails a journal directory into a [`Store`].
//!
//! Owns the [`JournalTailer`] positioned at `last_applied_seq + 1` and the
//! batch buffer. Each [`Projector::poll`] copies up to `batch` newly
//! committed records and applies them in one store transaction. It never
//! blocks waiting for records, never writes the journal, and after a failed
//! apply it reopens the tailer from the store's sequence, so no record is
//! skipped.

use std::path::{Path, PathBuf};

use talon_core::clock::Nanos;
use talon_core::journal::{JournalTailer, Record};

use super::{Store, StoreError};

/// Default records per transaction.
pub const DEFAULT_BATCH: usize = 1024;

/// An owned copy of a journal record (the tailer's records borrow its map).
#[derive(Debug)]
struct Owned {
    seq: u64,
    ts: Nanos,
    kind: u16,
    version: u16,
    payload: Vec<u8>,
}

/// Projects a journal directory into a store, one bounded batch per poll.
#[derive(Debug)]
pub struct Projector {
    store: Store,
    dir: PathBuf,
    tailer: Option<JournalTailer>,
    batch: usize,
    buf: Vec<Owned>,
}

impl Projector {
    /// A projector of the journal in `dir` into `store`, at most `batch`
    /// records (at least 1) per transaction. The tailer opens lazily, from
    /// `store.last_applied_seq() + 1`.
    pub fn new(store: Store, dir: &Path, batch: usize) -> Projector {
        Projector {
            store,
            dir: dir.to_path_buf(),
            tailer: None,
            batch: batch.max(1),
            buf: Vec::new(),
        }
    }

    /// Applies whatever the journal committed since the last poll, up to one
    /// batch. Returns how many records were projected (`Ok(0)`: nothing new).
    pub fn poll(&mut self) -> Result<usize, StoreError> {
        let from = self.store.last_applied_seq().saturating_add(1);
        let tailer = match &mut self.tailer {
            Some(t) => t,
            None => self.tailer.insert(JournalTailer::open(&self.dir, from)?),
        };
        self.buf.clear();
        let buf = &mut self.buf;
        let polled = tailer.poll(self.batch, |r| {
            buf.push(Owned {
                seq: r.seq,
                ts: r.ts,
                kind: r.kind,
                version: r.version,
                payload: r.payload.to_vec(),
            });
        });
        if let Err(e) = polled {
            self.tailer = None;
            return Err(e.into());
        }
        let records = self.buf.iter().map(|o| Record {
            seq: o.seq,
            ts: o.ts,
            kind: o.kind,
            version: o.version,
            payload: &o.payload,
        });
        match self.store.apply(records) {
            Ok(report) => Ok(report.applied),
            Err(e) => {
                // The tailer moved past records the store did not keep.
                self.tailer = None;
                Err(e)
            }
        }
    }

    /// Polls until a poll projects nothing; returns the total projected.
    pub fn catch_up(&mut self) -> Result<usize, StoreError> {
        let mut total = 0;
        loop {
            match self.poll()? {
                0 => return Ok(total),
                n => total += n,
            }
        }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The store, to give it back to its owner.
    pub fn into_store(self) -> Store {
        self.store
    }
}
