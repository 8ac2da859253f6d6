//! Scanning a journal directory: recovery on open, `verify` and `inspect`.
//!
//! Owns the rules that tell a torn tail (cut it) from mid-journal corruption
//! (refuse it). The scan itself never modifies a file; the writer applies the
//! cut it reports (`writer.rs`).
//!
//! # Quiescent and live scans
//!
//! A **quiescent** scan (recovery, which holds the writer lock; `verify` and
//! `inspect` when no writer holds it) reads bytes beyond the published
//! length to tell a torn tail from corruption, so it is exact only when no
//! writer is appending.
//!
//! `verify` and `inspect` first probe `writer.lock` (a non-blocking shared
//! `flock`, released at once: never held, so it cannot keep a writer out for
//! longer than the probe). If a writer holds it, the scan is **live**: it
//! reads only published bytes (each length with `Acquire`, then only the
//! bytes that length covers); the first empty slot of the active segment is
//! the end of the written data and nothing after it is inspected (a live
//! writer cut any torn tail when it opened, and publishes every later record
//! whole); segments activated after that point are reported
//! [`SegmentState::Unchecked`]. The one race with a roll, an empty slot in
//! segment N while segment N+1 already holds records, is resolved exactly:
//! the writer publishes N's end marker before any record of N+1, so once
//! N+1's first length is seen (`Acquire`), re-reading N's slot must show the
//! marker or more records; only if it still does not is it corruption. A
//! damaged published record is corruption in a live scan (never a torn
//! tail). A quiescent `verify` that finds damage re-probes the lock and, if
//! a writer appeared meanwhile, scans again live.
//!
//! # Rules
//!
//! Walking segments in index order and records in each segment:
//!
//! * A valid record must carry the next sequence; a segment's `first_seq` must
//!   continue the previous segment's last sequence.
//! * An end-of-segment marker seals a segment; the next segment must follow.
//! * A zero length ends the written data. If any non-zero bytes follow it in
//!   the segment, they are the unpublished part of an interrupted append: a
//!   **torn tail** (to cut) — unless a valid record with a later sequence can
//!   be found in them, which makes it **corruption**.
//! * A bad length, bad CRC, non-zero reserved field or wrong sequence is a torn
//!   tail if nothing valid follows it (in this segment or any later one), and
//!   corruption otherwise.
//! * Once the data has ended, later segments may only be spares (header
//!   magic zero). A later segment with records is corruption at the point
//!   where the data ended.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::error::{CorruptionReason, JournalError};
use super::record::{END_MARKER_LEN, RECORD_HEADER_LEN, align8};
use super::segment::{
    HeaderState, MappedSegment, SEGMENT_HEADER_LEN, Slot, list_segments, segment_path,
};
use super::writer::writer_is_live;

/// Where and why a journal is damaged in a way that is not a torn tail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Corruption {
    /// Segment index.
    pub segment: u64,
    /// Byte offset in the segment file where the damage starts.
    pub offset: u64,
    /// What is wrong there.
    pub reason: CorruptionReason,
}

/// An interrupted append at the end of the journal: bytes to cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct TornTail {
    /// Segment index.
    pub segment: u64,
    /// Offset of the first byte to cut (where the next record will go).
    pub offset: u64,
    /// Number of bytes from `offset` up to the last non-zero byte.
    pub bytes: u64,
}

/// The state of one segment file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SegmentState {
    /// Ends with an end-of-segment marker: complete.
    Sealed,
    /// Written data ends before the marker: the segment appends go to.
    Active,
    /// Prepared ahead of time, never written (header magic zero).
    Spare,
    /// Damaged (see the report's corruption).
    Damaged,
    /// Not examined: the scan stopped at earlier corruption, or (live scan)
    /// a live writer activated it after the point the scan took as the end
    /// of the written data.
    Unchecked,
}

/// A one-line summary of a segment, for `talon journal inspect`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SegmentSummary {
    /// The segment file.
    pub path: PathBuf,
    /// Segment index.
    pub index: u64,
    /// What state it is in.
    pub state: SegmentState,
    /// First sequence in it (from the header), if activated.
    pub first_seq: Option<u64>,
    /// Last valid sequence in it, if it holds records.
    pub last_seq: Option<u64>,
    /// Valid records in it.
    pub records: u64,
    /// Bytes used: header plus valid records (the write position).
    pub bytes_used: u64,
    /// File size.
    pub capacity: u64,
}

/// The result of [`verify`]: what a journal holds and whether it is sound.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// The journal directory.
    pub dir: PathBuf,
    /// Segment files found (spares included).
    pub segments: usize,
    /// Valid records (up to the first damage).
    pub records: u64,
    /// First valid sequence.
    pub first_seq: Option<u64>,
    /// Last valid sequence.
    pub last_seq: Option<u64>,
    /// Bytes a writer would cut on open (0 if the tail is clean).
    pub torn_tail_bytes: u64,
    /// The torn tail, if any.
    pub torn_tail: Option<TornTail>,
    /// Damage followed by valid data (or otherwise not a torn tail): a writer
    /// refuses to open such a journal.
    pub corruption: Option<Corruption>,
    /// A writer held the journal while it was checked (live scan): only
    /// published records were read, the tail after the last one is not
    /// checked (a live writer may be writing there), and no torn tail is
    /// reported.
    pub live_writer: bool,
    /// Per-segment summaries.
    pub segment_summaries: Vec<SegmentSummary>,
}

impl VerifyReport {
    /// No torn tail and no corruption.
    pub fn is_clean(&self) -> bool {
        self.torn_tail.is_none() && self.corruption.is_none()
    }
}

/// What a scan found; the basis of recovery, verify and inspect.
#[derive(Debug)]
pub(crate) struct Scan {
    pub(crate) summaries: Vec<SegmentSummary>,
    pub(crate) records: u64,
    pub(crate) first_seq: Option<u64>,
    pub(crate) last_seq: Option<u64>,
    /// The sequence the next append gets.
    pub(crate) next_seq: u64,
    pub(crate) torn: Option<TornTail>,
    pub(crate) corruption: Option<Corruption>,
}

/// Where the written data ended, while we look for data after it.
#[derive(Clone, Copy)]
struct DataEnd {
    segment: u64,
    offset: u64,
    /// Why it ended, if not a clean zero length.
    damage: Option<CorruptionReason>,
}

/// How a scan may read a segment (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ScanMode {
    /// No writer appends meanwhile: unpublished bytes may be inspected.
    Quiescent,
    /// A writer may be appending: only published bytes are read.
    Live,
}

/// Scans `dir`. Never modifies anything.
pub(crate) fn scan(dir: &Path, mode: ScanMode) -> Result<Scan, JournalError> {
    let live = mode == ScanMode::Live;
    let mut files = list_segments(dir)?;
    if live && let (Some(&(first, _)), Some(&(last, _))) = (files.first(), files.last()) {
        // `readdir` is no snapshot: a segment renamed into place while it ran
        // may be missing from the listing although a later one is in it. A
        // live writer creates segments in index order and never removes one,
        // so look each index up by name instead (a gap left is a real one).
        files = (first..=last)
            .map(|i| (i, segment_path(dir, i)))
            .filter(|(_, p)| p.exists())
            .collect();
    }
    let mut out = Scan {
        summaries: Vec::with_capacity(files.len()),
        records: 0,
        first_seq: None,
        last_seq: None,
        next_seq: 1,
        torn: None,
        corruption: None,
    };
    let mut expected: Option<u64> = None;
    let mut ended: Option<DataEnd> = None;
    let mut prev_index: Option<u64> = None;

    for (index, path) in &files {
        let index = *index;
        if out.corruption.is_some() {
            out.summaries.push(unchecked(index, path));
            continue;
        }
        let mut summary = SegmentSummary {
            path: path.clone(),
            index,
            state: SegmentState::Damaged,
            first_seq: None,
            last_seq: None,
            records: 0,
            bytes_used: 0,
            capacity: 0,
        };
        if let Some(p) = prev_index
            && index != p + 1
        {
            out.corruption = Some(Corruption {
                segment: p + 1,
                offset: 0,
                reason: CorruptionReason::MissingSegment,
            });
            out.summaries.push(unchecked(index, path));
            continue;
        }
        prev_index = Some(index);
        let seg = match MappedSegment::open_read(index, path) {
            Ok(seg) => seg,
            Err(JournalError::Corrupt {
                segment,
                offset,
                reason,
            }) => {
                out.corruption = Some(Corruption {
                    segment,
                    offset,
                    reason,
                });
                out.summaries.push(summary);
                continue;
            }
            Err(e) => return Err(e),
        };
        let cap = seg.len();
        summary.capacity = cap as u64;
        let body_is_zero =
            || last_nonzero_end(seg.bytes(), SEGMENT_HEADER_LEN) == SEGMENT_HEADER_LEN;
        let header = match seg.header() {
            // A prepared segment never written to (the writer may have been
            // interrupted while activating it: only header bytes then). A
            // live writer publishes no record in a segment before its magic,
            // so a live scan does not look at the body (the writer may be
            // activating and filling it right now).
            HeaderState::Spare if live || body_is_zero() => {
                summary.state = SegmentState::Spare;
                summary.bytes_used = SEGMENT_HEADER_LEN as u64;
                if ended.is_none() {
                    ended = Some(DataEnd {
                        segment: index,
                        offset: 0,
                        damage: None,
                    });
                }
                out.summaries.push(summary);
                continue;
            }
            HeaderState::Valid(h) if h.index == index && h.size == cap as u64 => Some(h),
            HeaderState::Spare | HeaderState::Valid(_) | HeaderState::Bad => None,
        };
        let Some(header) = header else {
            out.corruption = Some(Corruption {
                segment: index,
                offset: 0,
                reason: CorruptionReason::BadSegmentHeader,
            });
            out.summaries.push(summary);
            continue;
        };
        if let Some(end) = ended {
            if live {
                // Activated after the point this scan took as the end (the
                // empty slot was checked against this segment then): a live
                // writer is writing here; not examined.
                let mut u = unchecked(index, path);
                u.first_seq = Some(header.first_seq);
                u.capacity = cap as u64;
                out.summaries.push(u);
                continue;
            }
            if body_is_zero() {
                // Activated by a roll that was interrupted before the previous
                // segment was sealed: holds nothing, so it is as good as a spare.
                summary.state = SegmentState::Spare;
                summary.first_seq = Some(header.first_seq);
                summary.bytes_used = SEGMENT_HEADER_LEN as u64;
                out.summaries.push(summary);
                continue;
            }
            // Records after the place the data ended: corruption there.
            out.torn = None;
            out.corruption = Some(Corruption {
                segment: end.segment,
                offset: end.offset,
                reason: end.damage.unwrap_or(CorruptionReason::UnsealedSegment),
            });
            for s in out.summaries.iter_mut().filter(|s| s.index == end.segment) {
                s.state = SegmentState::Damaged;
            }
            out.summaries.push(unchecked(index, path));
            continue;
        }
        if let Some(e) = expected
            && header.first_seq != e
        {
            out.corruption = Some(Corruption {
                segment: index,
                offset: 0,
                reason: CorruptionReason::SequenceGap,
            });
            out.summaries.push(summary);
            continue;
        }
        let mut next_seq = header.first_seq;
        summary.first_seq = Some(header.first_seq);
        let mut pos = SEGMENT_HEADER_LEN;
        loop {
            let damage = match seg.read_slot(pos) {
                Slot::Record(meta) if meta.seq == next_seq => {
                    summary.records += 1;
                    summary.last_seq = Some(meta.seq);
                    out.records += 1;
                    out.first_seq.get_or_insert(meta.seq);
                    out.last_seq = Some(meta.seq);
                    next_seq = meta.seq + 1;
                    pos = meta.next;
                    continue;
                }
                Slot::EndOfSegment => {
                    summary.state = SegmentState::Sealed;
                    break;
                }
                Slot::Empty if live => {
                    if !next_holds_records(dir, index) {
                        // The end of the written data, as of now.
                        summary.state = SegmentState::Active;
                        ended = Some(DataEnd {
                            segment: index,
                            offset: pos as u64,
                            damage: None,
                        });
                        break;
                    }
                    // The next segment holds a published record, so the writer
                    // sealed this one before (program order) and our Acquire
                    // of that record's length made the marker visible: this
                    // slot now reads as the marker or a record (Acquire again,
                    // in `read_slot`; the loop reads it once more, published
                    // and stable).
                    if seg.read_slot(pos) != Slot::Empty {
                        continue;
                    }
                    CorruptionReason::UnsealedSegment
                }
                Slot::Empty => {
                    summary.state = SegmentState::Active;
                    if last_nonzero_end(seg.bytes(), pos) == pos {
                        ended = Some(DataEnd {
                            segment: index,
                            offset: pos as u64,
                            damage: None,
                        });
                        break;
                    }
                    // Bytes after a zero length: an unpublished record.
                    CorruptionReason::UnpublishedRecord
                }
                Slot::Record(_) => CorruptionReason::SequenceGap,
                Slot::Bad(reason) => reason,
            };
            if live {
                // A live writer cut any torn tail when it opened and publishes
                // every later record whole: damage in published bytes is
                // corruption. Nothing after it is read.
                summary.state = SegmentState::Damaged;
                out.corruption = Some(Corruption {
                    segment: index,
                    offset: pos as u64,
                    reason: damage,
                });
                ended = Some(DataEnd {
                    segment: index,
                    offset: pos as u64,
                    damage: Some(damage),
                });
                break;
            }
            let end = last_nonzero_end(seg.bytes(), pos).max(pos + END_MARKER_LEN);
            if valid_record_after(&seg, pos, next_seq) {
                summary.state = SegmentState::Damaged;
                out.corruption = Some(Corruption {
                    segment: index,
                    offset: pos as u64,
                    reason: damage,
                });
            } else {
                summary.state = SegmentState::Active;
                out.torn = Some(TornTail {
                    segment: index,
                    offset: pos as u64,
                    bytes: (end - pos) as u64,
                });
            }
            ended = Some(DataEnd {
                segment: index,
                offset: pos as u64,
                damage: Some(damage),
            });
            break;
        }
        summary.bytes_used = pos as u64;
        expected = Some(next_seq);
        out.next_seq = next_seq;
        out.summaries.push(summary);
    }
    Ok(out)
}

fn unchecked(index: u64, path: &Path) -> SegmentSummary {
    let capacity = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    SegmentSummary {
        path: path.to_path_buf(),
        index,
        state: SegmentState::Unchecked,
        first_seq: None,
        last_seq: None,
        records: 0,
        bytes_used: 0,
        capacity,
    }
}

/// The end of the last non-zero 8-byte word in `bytes[from..]`, or `from`
/// if they are all zero. `from` is 8-aligned.
pub(crate) fn last_nonzero_end(bytes: &[u8], from: usize) -> usize {
    let mut end = bytes.len() - bytes.len() % 8;
    while end > from {
        let start = end - 8;
        if bytes[start..end].iter().any(|&b| b != 0) {
            return end;
        }
        end = start;
    }
    from
}

/// Whether a valid record with a sequence at or after `next_seq` starts
/// anywhere after `pos` in `seg` (8-aligned positions). Cheap plausibility
/// checks (length range, sequence range) come before the CRC, so scanning a
/// large garbage region stays fast.
fn valid_record_after(seg: &MappedSegment, pos: usize, next_seq: u64) -> bool {
    let bytes = seg.bytes();
    let limit = bytes.len().saturating_sub(END_MARKER_LEN);
    let mut q = pos + 8;
    while q + RECORD_HEADER_LEN <= limit {
        let len = u32::from_le_bytes([bytes[q], bytes[q + 1], bytes[q + 2], bytes[q + 3]]) as usize;
        if len >= RECORD_HEADER_LEN && q + align8(len) <= limit {
            let mut w = [0u8; 8];
            w.copy_from_slice(&bytes[q + 8..q + 16]);
            let seq = u64::from_le_bytes(w);
            if seq >= next_seq
                && seq - next_seq < (1 << 32)
                && let Slot::Record(meta) = seg.read_slot(q)
                && meta.seq >= next_seq
            {
                return true;
            }
        }
        q += 8;
    }
    false
}

/// Whether segment `index + 1` exists, is activated and has a published
/// first slot (length read with `Acquire`). Live scans only.
fn next_holds_records(dir: &Path, index: u64) -> bool {
    let Some(next) = index.checked_add(1) else {
        return false;
    };
    let path = segment_path(dir, next);
    let Ok(seg) = MappedSegment::open_read(next, &path) else {
        // Not there (or unreadable): nothing published in it.
        return false;
    };
    match seg.header() {
        HeaderState::Valid(h) if h.index == next => {
            seg.read_slot(SEGMENT_HEADER_LEN) != Slot::Empty
        }
        HeaderState::Valid(_) | HeaderState::Spare | HeaderState::Bad => false,
    }
}

/// Scans for `verify`/`inspect`: live if a writer holds the journal (before
/// the scan, or after a quiescent scan that found damage: a writer that
/// opened meanwhile may be what it saw). Returns the scan and whether it was
/// live.
fn scan_for_report(dir: &Path) -> Result<(Scan, bool), JournalError> {
    if writer_is_live(dir)? {
        return Ok((scan(dir, ScanMode::Live)?, true));
    }
    let quiet = scan(dir, ScanMode::Quiescent)?;
    if (quiet.torn.is_some() || quiet.corruption.is_some()) && writer_is_live(dir)? {
        return Ok((scan(dir, ScanMode::Live)?, true));
    }
    Ok((quiet, false))
}

/// Checks a journal without modifying it: records, sequence range, torn tail
/// and mid-journal corruption.
///
/// With a live writer (it holds `writer.lock`; probed without being held,
/// see the module docs) only published records are checked and the tail
/// after the last one is not: [`VerifyReport::live_writer`] says so, and no
/// torn tail is reported. Without one, everything is checked.
pub fn verify(dir: &Path) -> Result<VerifyReport, JournalError> {
    let (scan, live_writer) = scan_for_report(dir)?;
    Ok(VerifyReport {
        dir: dir.to_path_buf(),
        segments: scan.summaries.len(),
        records: scan.records,
        first_seq: scan.first_seq,
        last_seq: scan.last_seq,
        torn_tail_bytes: scan.torn.map_or(0, |t| t.bytes),
        torn_tail: scan.torn,
        corruption: scan.corruption,
        live_writer,
        segment_summaries: scan.summaries,
    })
}

/// Per-segment summaries (file, index, state, first/last sequence, records,
/// bytes used, capacity) for `talon journal inspect`. Never modifies files.
/// With a live writer, as [`verify`]: segments it activated after the end of
/// the data seen are [`SegmentState::Unchecked`].
pub fn inspect(dir: &Path) -> Result<Vec<SegmentSummary>, JournalError> {
    Ok(scan_for_report(dir)?.0.summaries)
}
