//! Reading committed records: [`JournalReader`] (everything committed, then
//! stop) and [`JournalTailer`] (non-blocking polls that follow a live writer
//! across segment rolls, in this process or another).
//!
//! Owns the walk from segment to segment. Both read each length with
//! `Acquire` (pairing with the writer's `Release`), so they never return a
//! half-written record: an unpublished record reads as length zero, "nothing
//! more yet". Every record's CRC is checked and sequences must be contiguous;
//! anything else is [`JournalError::Corrupt`]. They never write, never take
//! the writer lock, and never allocate per record (only when moving to the
//! next segment).

use std::io;
use std::path::{Path, PathBuf};

use super::Record;
use super::error::{CorruptionReason, JournalError};
use super::segment::{
    HeaderState, MappedSegment, RecordMeta, SEGMENT_HEADER_LEN, Slot, list_segments, segment_path,
};

/// The walk shared by reader and tailer.
#[derive(Debug)]
struct Follower {
    dir: PathBuf,
    from_seq: u64,
    seg: Option<MappedSegment>,
    pos: usize,
    /// The sequence the record at `pos` must carry.
    expected: u64,
    /// Consecutive polls that found nothing new (tailers), to check for a
    /// removed segment now and then.
    idle: u32,
}

/// A tailer idle in a segment it has read nothing from checks every this
/// many idle polls whether the file was removed (one `stat`).
const UNLINK_CHECK_EVERY: u32 = 64;

impl Follower {
    fn new(dir: &Path, from_seq: u64) -> Self {
        Self {
            dir: dir.to_path_buf(),
            from_seq,
            seg: None,
            pos: SEGMENT_HEADER_LEN,
            expected: 0,
            idle: 0,
        }
    }

    /// Finds the segment holding `from_seq` (the last activated segment whose
    /// first sequence is not after it, or the first one if all are).
    /// `Ok(false)` if there is no activated segment yet.
    ///
    /// If that segment holds no record yet, the walk starts in the one before
    /// it instead (skipping records before `from_seq`): after a crash
    /// between activating segment k+1 and sealing k, k+1 is empty and the
    /// next writer removes it, continues in k and creates a new k+1; a
    /// tailer that had settled in the removed k+1 would wait there forever.
    /// From k it follows whatever the writer does.
    fn locate(&mut self, missing_dir_is_empty: bool) -> Result<bool, JournalError> {
        let files = match list_segments(&self.dir) {
            Ok(files) => files,
            Err(JournalError::Io { source, .. })
                if missing_dir_is_empty && source.kind() == io::ErrorKind::NotFound =>
            {
                return Ok(false);
            }
            Err(e) => return Err(e),
        };
        let mut chosen: Option<(MappedSegment, u64)> = None;
        let mut before: Option<(MappedSegment, u64)> = None;
        for (index, path) in files {
            let seg = MappedSegment::open_read(index, &path)?;
            match seg.header() {
                HeaderState::Valid(h) if h.index == index => {
                    if chosen.is_none() || h.first_seq <= self.from_seq {
                        before = chosen.replace((seg, h.first_seq));
                    } else {
                        break;
                    }
                }
                HeaderState::Valid(_) | HeaderState::Bad => {
                    return Err(JournalError::Corrupt {
                        segment: index,
                        offset: 0,
                        reason: CorruptionReason::BadSegmentHeader,
                    });
                }
                HeaderState::Spare => break,
            }
        }
        if let Some((seg, _)) = &chosen
            && seg.read_slot(SEGMENT_HEADER_LEN) == Slot::Empty
            && before.is_some()
        {
            chosen = before;
        }
        Ok(match chosen {
            Some((seg, first_seq)) => {
                self.seg = Some(seg);
                self.pos = SEGMENT_HEADER_LEN;
                self.expected = first_seq;
                true
            }
            None => false,
        })
    }

    /// The next committed record at or after `from_seq`, or `None` if nothing
    /// more is committed yet.
    /// `follow`: a tailer (the directory may not exist yet; an idle tailer
    /// re-locates if its segment was removed).
    fn advance(&mut self, follow: bool) -> Result<Option<RecordMeta>, JournalError> {
        let missing_dir_is_empty = follow;
        loop {
            if self.seg.is_none() && !self.locate(missing_dir_is_empty)? {
                return Ok(None);
            }
            let Some(seg) = self.seg.as_ref() else {
                return Ok(None);
            };
            match seg.read_slot(self.pos) {
                Slot::Empty => {
                    // A tailer still waiting for the first record of its
                    // segment checks now and then that the file was not
                    // removed under it (see `locate`); if so, it finds its
                    // place again from the next sequence it needs.
                    if follow && self.pos == SEGMENT_HEADER_LEN {
                        self.idle = self.idle.wrapping_add(1);
                        if self.idle.is_multiple_of(UNLINK_CHECK_EVERY) && seg.unlinked() {
                            self.from_seq = self.from_seq.max(self.expected);
                            self.seg = None;
                            continue;
                        }
                    }
                    return Ok(None);
                }
                Slot::Record(meta) => {
                    self.idle = 0;
                    if meta.seq != self.expected {
                        return Err(JournalError::Corrupt {
                            segment: seg.index,
                            offset: self.pos as u64,
                            reason: CorruptionReason::SequenceGap,
                        });
                    }
                    self.pos = meta.next;
                    self.expected = meta.seq + 1;
                    if meta.seq >= self.from_seq {
                        return Ok(Some(meta));
                    }
                }
                Slot::EndOfSegment => {
                    let index = seg.index + 1;
                    let path = segment_path(&self.dir, index);
                    if !path.exists() {
                        return Ok(None);
                    }
                    let next = MappedSegment::open_read(index, &path)?;
                    match next.header() {
                        // The writer activates the next segment before it
                        // publishes the marker, so this is only seen after a
                        // crash mid-roll: wait for a writer to continue.
                        HeaderState::Spare => return Ok(None),
                        HeaderState::Valid(h) if h.index == index => {
                            if h.first_seq != self.expected {
                                return Err(JournalError::Corrupt {
                                    segment: index,
                                    offset: 0,
                                    reason: CorruptionReason::SequenceGap,
                                });
                            }
                        }
                        HeaderState::Valid(_) | HeaderState::Bad => {
                            return Err(JournalError::Corrupt {
                                segment: index,
                                offset: 0,
                                reason: CorruptionReason::BadSegmentHeader,
                            });
                        }
                    }
                    self.seg = Some(next);
                    self.pos = SEGMENT_HEADER_LEN;
                }
                Slot::Bad(reason) => {
                    return Err(JournalError::Corrupt {
                        segment: seg.index,
                        offset: self.pos as u64,
                        reason,
                    });
                }
            }
        }
    }

    fn record(&self, meta: &RecordMeta) -> Option<Record<'_>> {
        self.seg.as_ref().map(|seg| seg.record(meta))
    }
}

/// Iterates every committed record, in sequence order, across segments.
///
/// A lending iterator: each [`Record`] borrows the reader until the next call.
///
/// ```no_run
/// # fn main() -> Result<(), talon_core::journal::JournalError> {
/// use talon_core::journal::JournalReader;
/// let mut reader = JournalReader::open("journal".as_ref())?;
/// while let Some(rec) = reader.next() {
///     let rec = rec?;
///     println!("{} {:?} {} bytes", rec.seq, rec.kind(), rec.payload.len());
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct JournalReader {
    follower: Follower,
    failed: bool,
}

impl JournalReader {
    /// A reader from the first record in `dir`.
    pub fn open(dir: &Path) -> Result<Self, JournalError> {
        Self::open_from(dir, 0)
    }

    /// A reader starting at the first record with sequence `>= from_seq`.
    pub fn open_from(dir: &Path, from_seq: u64) -> Result<Self, JournalError> {
        let mut follower = Follower::new(dir, from_seq);
        follower.locate(false)?;
        Ok(Self {
            follower,
            failed: false,
        })
    }

    /// The next committed record; `None` at the end of the committed data
    /// (or after an error was returned).
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<Result<Record<'_>, JournalError>> {
        if self.failed {
            return None;
        }
        match self.follower.advance(false) {
            Ok(Some(meta)) => self.follower.record(&meta).map(Ok),
            Ok(None) => None,
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }

    /// The sequence of the next record this reader would return.
    pub fn next_seq(&self) -> u64 {
        self.follower.expected.max(self.follower.from_seq)
    }
}

/// Follows a live journal: each [`JournalTailer::poll`] returns whatever was
/// committed since the last one, never blocking and never returning a
/// half-written record. Works from another process too (it maps the segment
/// files itself) and follows the writer across segment rolls via the
/// end-of-segment marker. The directory need not exist yet.
#[derive(Debug)]
pub struct JournalTailer {
    follower: Follower,
}

impl JournalTailer {
    /// A tailer starting at the first record with sequence `>= from_seq`
    /// (0 or 1: from the beginning).
    pub fn open(dir: &Path, from_seq: u64) -> Result<Self, JournalError> {
        let mut follower = Follower::new(dir, from_seq);
        follower.locate(true)?;
        Ok(Self { follower })
    }

    /// Calls `f` for up to `limit` newly committed records, in order, and
    /// returns how many. `Ok(0)`: nothing new. Never blocks.
    pub fn poll<F: FnMut(Record<'_>)>(
        &mut self,
        limit: usize,
        mut f: F,
    ) -> Result<usize, JournalError> {
        let mut n = 0;
        while n < limit {
            let Some(meta) = self.follower.advance(true)? else {
                break;
            };
            if let Some(rec) = self.follower.record(&meta) {
                f(rec);
            }
            n += 1;
        }
        Ok(n)
    }

    /// The sequence of the next record `poll` would deliver.
    pub fn next_seq(&self) -> u64 {
        self.follower.expected.max(self.follower.from_seq)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::clock::Nanos;
    use crate::journal::{JournalConfig, JournalWriter, RecordKind};

    /// 56-byte frames in 8 KiB segments.
    const PER: u64 = (8192 - 64 - 8) / 56;

    fn config(dir: &Path) -> JournalConfig {
        let mut c = JournalConfig::new(dir);
        c.segment_size = 8192;
        c
    }

    #[test]
    fn idle_tailer_in_a_removed_segment_finds_its_place_again() {
        let dir = tempfile::tempdir().unwrap();
        let (mut w, _) = JournalWriter::open(config(dir.path())).unwrap();
        for _ in 0..=PER {
            w.append(RecordKind::Blob, 1, Nanos(0), &[1; 24]).unwrap();
        }
        drop(w);
        // Crash mid-roll: segment 0 unsealed, segment 1 activated but empty.
        let eos = SEGMENT_HEADER_LEN + PER as usize * 56;
        let p0 = segment_path(dir.path(), 0);
        let mut b = std::fs::read(&p0).unwrap();
        b[eos..eos + 8].fill(0);
        std::fs::write(&p0, b).unwrap();
        let p1 = segment_path(dir.path(), 1);
        let mut b = std::fs::read(&p1).unwrap();
        b[SEGMENT_HEADER_LEN..SEGMENT_HEADER_LEN + 56].fill(0);
        std::fs::write(&p1, b).unwrap();

        // A tailer that settled in segment 1 anyway (as `locate` used to).
        let mut follower = Follower::new(dir.path(), PER + 1);
        follower.seg = Some(MappedSegment::open_read(1, &p1).unwrap());
        follower.expected = PER + 1;
        let mut tailer = JournalTailer { follower };
        assert_eq!(tailer.poll(10, |_| {}).unwrap(), 0);

        // The next writer removes segment 1, continues in 0 and rolls into a
        // new segment 1.
        let (mut w, report) = JournalWriter::open(config(dir.path())).unwrap();
        assert!(report.spares_removed >= 1);
        for _ in 0..3 {
            w.append(RecordKind::Blob, 1, Nanos(0), &[2; 24]).unwrap();
        }
        let mut seen = Vec::new();
        for _ in 0..10 * UNLINK_CHECK_EVERY {
            tailer.poll(10, |r| seen.push(r.seq)).unwrap();
            if seen.len() == 3 {
                break;
            }
        }
        assert_eq!(seen, [PER + 1, PER + 2, PER + 3]);
    }
}
