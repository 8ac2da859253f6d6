//! The single writer: [`JournalWriter`], its configuration and sync policy,
//! and the two small background threads that keep the hot path free of
//! syscalls (the segment preparer and the periodic flusher).
//!
//! Owns appending, rolling, recovery-on-open (applying the cut that
//! `recover.rs` found) and durability. It never reads records back and never
//! blocks in `append` except where [`SyncPolicy::EveryRecord`] asks for it.
//!
//! # Hot path
//!
//! `append`/`append_with` in steady state: a bounds check, three header
//! stores, the payload copy (or the caller's `fill`), a hardware CRC-32C over
//! header fields and payload, one `Release` store of the length, and — only
//! with [`SyncPolicy::Periodic`] — one `Release` store of the write position
//! for the flusher. No allocation, no lock, no syscall, no clock read (with
//! [`SyncPolicy::EveryRecord`], one `msync` per record).
//!
//! # Rolling to the next segment
//!
//! When a record does not fit before the segment's last 8 bytes, the writer
//! takes the next segment, already created, preallocated, mapped and
//! pre-faulted by the **preparer** thread, through a lock-free handoff (an
//! `AtomicU8` state plus an `AtomicPtr` slot); writes its header (magic last,
//! `Release`); stores the end-of-segment marker in the old segment (`Release`);
//! hands the old mapping back to the preparer to unmap (munmap of a populated
//! 64 MiB mapping costs far more than the roll itself); and asks for the one
//! after. In steady state the roll makes at most one syscall: the futex wake
//! of the preparer (none if it is not parked), for both requests. Exceptions,
//! all on the writer's thread: if the preparer has not yet collected the
//! previous retired segment (it had a whole segment's worth of appends to do
//! so), the writer unmaps that one itself (`munmap`); with
//! [`SyncPolicy::EveryRecord`] the roll `msync`s the new header and the end
//! marker; and the synchronous fallback below creates a file.
//!
//! A roll that fails (creating the segment, or an `msync` under
//! `EveryRecord`) returns the error and changes nothing a retry cannot
//! redo: a segment it already activated is kept and reused by the next
//! attempt (with the same first sequence: until a roll succeeds, no record
//! goes into the old segment, so every later append retries the roll), and a
//! leftover spare file (a preparation that failed after its rename) is
//! replaced, never a reason to fail forever.
//!
//! If the preparer has not started on the segment (it was slow to wake), the
//! writer claims it and creates it inline (synchronous fallback); if the
//! preparer is mid-way, the writer yields until it is done (creating the same
//! file twice would be slower). With `prepare_in_background = false` every
//! roll is inline.
//!
//! # Pre-faulting
//!
//! Segments are mapped with `MAP_POPULATE` and then `MADV_POPULATE_WRITE`
//! (see `segment.rs`), so every page is present and writable before the
//! writer reaches it: appends take no first-touch fault. Caveat, inherent to
//! file-backed mappings: once the kernel writes a dirty page back (after
//! `msync`, or the periodic writeback of `vm.dirty_expire_centisecs`, 30 s by
//! default), it write-protects it again, and the next store to that page takes
//! a minor fault. Pages behind the cursor are never written again; the page at
//! the cursor and pages far ahead of a slow writer can be affected.
//!
//! # Durability ([`SyncPolicy`])
//!
//! * `None`: the page cache only. Survives a process crash (the data is in
//!   the kernel), not power loss. Call [`JournalWriter::sync`] at shutdown.
//! * `Periodic { interval }`: a flusher thread wakes every `interval`, reads
//!   the write position the writer published (`Release`/`Acquire`) and
//!   `msync(MS_SYNC)`s the newly written range through its own `PROT_READ`
//!   mapping of the file **opened read-write** (on Linux that is
//!   `vfs_fsync_range` of the file range, whichever mapping dirtied the pages;
//!   through a mapping of a read-only descriptor `msync` succeeds and writes
//!   nothing back, see `MappedSegment::open_flush`). `append` never blocks.
//!   `MS_ASYNC` is not used: on Linux it does nothing.
//! * `EveryRecord`: `append` `msync`s the record's pages before returning.
//!   A blocking syscall per record: the operator opts into it. If that
//!   `msync` fails, the record is nonetheless **committed** (published, and
//!   the sequence consumed): `append` returns [`JournalError::NotDurable`]
//!   with its sequence, so a caller never appends it again; the page stays
//!   dirty and a later `msync` (next record, [`JournalWriter::sync`]) retries.
//!
//! Only [`SyncPolicy::None`] skips the directory fsync after creating a segment.
//!
//! # Helper threads and CPU placement
//!
//! The preparer (`journal-prep`; it pre-faults whole segments) and the
//! flusher (`journal-flush`) must not run on the engine's isolated core. They
//! never inherit the opening thread's pinning: before doing anything else,
//! each sets its own CPU affinity to
//!
//! * [`JournalConfig::background_cpus`] when set, or
//! * by default, the affinity of the process's **main thread** (read at
//!   `open`): where the process was placed (`taskset`, systemd
//!   `CPUAffinity`, the housekeeping CPUs left by `isolcpus`), since the
//!   thread layout pins the threads it spawns, not the main thread.
//!
//! So a journal may be opened on a pinned thread. The rule the default
//! relies on: **do not pin the main thread to a hot core** before opening a
//! journal (or set `background_cpus`). `open` waits until both helpers have
//! applied their affinity and fails if the kernel refuses the set.

use std::cell::Cell;
use std::fs::{File, OpenOptions};
use std::marker::PhantomData;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crossbeam_utils::CachePadded;
use serde::Serialize;

use crate::clock::{Nanos, unix_nanos};

use super::RecordKind;
use super::error::JournalError;
use super::record::{
    END_MARKER_LEN, END_OF_SEGMENT_LEN, END_OF_SEGMENT_TAG, OFF_CRC, OFF_KIND, OFF_RESERVED,
    OFF_SEQ, OFF_TS, OFF_VERSION, RECORD_HEADER_LEN, align8,
};
use super::recover::{ScanMode, SegmentState, TornTail, scan};
use super::segment::{
    MappedSegment, SEGMENT_HEADER_LEN, SegmentHeader, page_size, remove_temp_files, segment_path,
};

/// Default segment size: 64 MiB.
pub const DEFAULT_SEGMENT_SIZE: u64 = 64 << 20;
/// Smallest segment size accepted (tests use small segments to roll often).
pub const MIN_SEGMENT_SIZE: u64 = 4096;
/// Largest segment size accepted (lengths and positions stay well inside u32).
pub const MAX_SEGMENT_SIZE: u64 = 1 << 30;

/// When the writer makes appended records durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SyncPolicy {
    /// Never by itself (page cache only); [`JournalWriter::sync`] on demand.
    #[default]
    None,
    /// A background flusher `msync`s what was written every `interval`.
    Periodic {
        /// Time between flushes.
        interval: Duration,
    },
    /// `msync` each record before `append` returns (blocking).
    EveryRecord,
}

/// How to open a journal for writing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalConfig {
    /// Directory holding the segment files (created if missing).
    pub dir: PathBuf,
    /// Size of each new segment file in bytes: a multiple of the page size,
    /// from [`MIN_SEGMENT_SIZE`] to [`MAX_SEGMENT_SIZE`].
    pub segment_size: u64,
    /// Durability policy.
    pub sync: SyncPolicy,
    /// Prepare the next segment on a background thread (default) rather than
    /// inline on the roll.
    pub prepare_in_background: bool,
    /// Pre-fault segment pages for writing when mapping them (default true).
    pub prefault: bool,
    /// CPUs the helper threads (segment preparer, periodic flusher) run on.
    /// `None` (default): wherever the process's main thread may run, read at
    /// `open` (never the opening thread's pinning; see the module docs).
    pub background_cpus: Option<Vec<usize>>,
}

impl JournalConfig {
    /// Defaults (64 MiB segments, no sync, background preparation, pre-fault)
    /// for `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            segment_size: DEFAULT_SEGMENT_SIZE,
            sync: SyncPolicy::None,
            prepare_in_background: true,
            prefault: true,
            background_cpus: None,
        }
    }

    /// Checks ranges; errors name the field.
    pub fn validate(&self) -> Result<(), JournalError> {
        let size = self.segment_size;
        if size < MIN_SEGMENT_SIZE {
            return Err(JournalError::InvalidConfig {
                key: "segment_size",
                reason: "below the minimum of 4096 bytes",
            });
        }
        if size > MAX_SEGMENT_SIZE {
            return Err(JournalError::InvalidConfig {
                key: "segment_size",
                reason: "above the maximum of 1 GiB",
            });
        }
        if !size.is_multiple_of(page_size() as u64) {
            return Err(JournalError::InvalidConfig {
                key: "segment_size",
                reason: "not a multiple of the page size",
            });
        }
        if let SyncPolicy::Periodic { interval } = self.sync
            && interval.is_zero()
        {
            return Err(JournalError::InvalidConfig {
                key: "sync.interval",
                reason: "must be greater than zero",
            });
        }
        if let Some(cpus) = &self.background_cpus {
            if cpus.is_empty() {
                return Err(JournalError::InvalidConfig {
                    key: "background_cpus",
                    reason: "empty CPU list",
                });
            }
            if cpus.iter().any(|&c| c >= CPU_SET_BITS) {
                return Err(JournalError::InvalidConfig {
                    key: "background_cpus",
                    reason: "CPU number beyond the kernel's CPU set size (1024)",
                });
            }
        }
        if self.dir.as_os_str().is_empty() {
            return Err(JournalError::InvalidConfig {
                key: "dir",
                reason: "empty path",
            });
        }
        Ok(())
    }

    /// The largest payload a segment of this size holds.
    pub fn max_payload(&self) -> usize {
        max_payload_for(self.segment_size as usize)
    }
}

impl Default for JournalConfig {
    fn default() -> Self {
        Self::new("journal")
    }
}

/// CPUs a `cpu_set_t` can name.
const CPU_SET_BITS: usize = libc::CPU_SETSIZE as usize;

fn max_payload_for(segment_size: usize) -> usize {
    segment_size.saturating_sub(SEGMENT_HEADER_LEN + END_MARKER_LEN + RECORD_HEADER_LEN)
}

/// What [`JournalWriter::open`] found and did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RecoveryReport {
    /// Segments holding data (spares not counted).
    pub segments: usize,
    /// Valid records found.
    pub records_recovered: u64,
    /// First valid sequence.
    pub first_seq: Option<u64>,
    /// Last valid sequence before any cut.
    pub last_good_seq: Option<u64>,
    /// The sequence the next append gets.
    pub next_seq: u64,
    /// The segment appends continue in.
    pub active_segment: u64,
    /// The torn tail that was cut (zeroed), if any.
    pub torn_tail: Option<TornTail>,
    /// Bytes zeroed by the cut.
    pub bytes_cut: u64,
    /// Spare (never written) segment files and half-created temp files removed.
    pub spares_removed: usize,
}

/// Counters of the writer's cold-path events.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct WriterStats {
    /// Segment rolls.
    pub rolls: u64,
    /// Rolls that took the next segment ready from the preparer.
    pub prepared_in_background: u64,
    /// Rolls that created the next segment inline (synchronous fallback).
    pub prepared_inline: u64,
    /// Completed `msync` rounds (per record, by the flusher, or by `sync()`).
    pub syncs: u64,
    /// Background failures (preparation or flush), see
    /// [`JournalWriter::take_background_error`].
    pub background_failures: u64,
}

// Handoff states for the next segment (`Shared::state`).
/// The writer asked for segment `target`; nobody has started on it.
const REQUESTED: u8 = 0;
/// The preparer claimed it and is creating it.
const PREPARING: u8 = 1;
/// The prepared segment is in `ready`.
const READY: u8 = 2;
/// Nothing requested (the writer took it, or claimed it to create it inline).
const IDLE: u8 = 3;
/// Preparation failed; the writer creates it inline (and reports that error if
/// it fails too).
const FAILED: u8 = 4;

/// State shared by the writer and its background threads.
struct Shared {
    dir: PathBuf,
    segment_size: usize,
    prefault: bool,
    durable: bool,
    /// Handoff state, see the constants above.
    state: CachePadded<AtomicU8>,
    /// Index the writer wants prepared next.
    target: AtomicU64,
    /// Preparer → writer: the prepared segment (from `Box::into_raw`).
    ready: AtomicPtr<MappedSegment>,
    /// Writer → preparer: an old segment to unmap (from `Box::into_raw`).
    retired: AtomicPtr<MappedSegment>,
    /// Writer → flusher: `segment index << 32 | position` of the written data.
    committed: CachePadded<AtomicU64>,
    shutdown: AtomicBool,
    flusher_syncs: AtomicU64,
    failures: AtomicU64,
    /// The first background error, for the writer to report (cold path).
    error: Mutex<Option<JournalError>>,
}

impl Shared {
    fn record_error(&self, e: JournalError) {
        // Relaxed: a statistic; the error itself travels through the mutex.
        self.failures.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut slot) = self.error.lock() {
            slot.get_or_insert(e);
        }
    }
}

fn pack(index: u64, pos: usize) -> u64 {
    (index << 32) | pos as u64
}

fn unpack(v: u64) -> (u64, usize) {
    (v >> 32, (v & 0xFFFF_FFFF) as usize)
}

/// The journal's only writer. See the module docs for the hot path, rolling
/// and durability.
///
/// Single writer by construction: `append` takes `&mut self`, the type is
/// neither `Clone` nor `Sync`, and `open` takes an exclusive `flock` on
/// `<dir>/writer.lock`, so a second writer (in this or another process) is
/// refused with [`JournalError::WriterLocked`]. It is `Send`: open it at
/// startup, then move it to the engine thread.
pub struct JournalWriter {
    /// Base of the current segment's writable mapping (cached from `seg`).
    base: *mut u8,
    /// Next write offset in the current segment (8-aligned).
    pos: usize,
    /// A record must end at or before this offset (segment size minus the
    /// end-marker reserve; `pos` while a failed roll is `pending`).
    limit: usize,
    next_seq: u64,
    max_payload: usize,
    sync: SyncPolicy,
    seg: Box<MappedSegment>,
    /// The next segment, activated by a roll that then failed: the retry
    /// reuses it. While set, `limit == pos`, so every append retries the roll.
    pending: Option<Box<MappedSegment>>,
    shared: Arc<Shared>,
    preparer: Option<JoinHandle<()>>,
    flusher: Option<JoinHandle<()>>,
    /// First segment index not yet covered by a `sync()`.
    unsynced_from: u64,
    rolls: u64,
    prepared_bg: u64,
    prepared_inline: u64,
    syncs: u64,
    _lock: File,
    /// Test-only fault injection (see `fault_point!`).
    #[cfg(test)]
    fault: Option<FailMsync>,
    /// Not `Sync`: all mutation goes through `&mut self` anyway, but sharing
    /// a writer between threads is never what the caller meant.
    _not_sync: PhantomData<Cell<()>>,
}

// SAFETY: `base` points into the mapping owned by `self.seg` (a heap box that
// moves with the writer); a mapping is valid from any thread. Everything else
// is `Send`. The writer stays `!Sync` (PhantomData<Cell>).
unsafe impl Send for JournalWriter {}

impl std::fmt::Debug for JournalWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JournalWriter")
            .field("dir", &self.shared.dir)
            .field("segment", &self.seg.index)
            .field("pos", &self.pos)
            .field("next_seq", &self.next_seq)
            .field("sync", &self.sync)
            .finish()
    }
}

/// Zeroes a payload region if `fill` panics, so no half-written bytes are
/// left beyond the write position (the next append assumes zeros there).
struct ZeroOnUnwind {
    ptr: *mut u8,
    len: usize,
}

impl Drop for ZeroOnUnwind {
    fn drop(&mut self) {
        // SAFETY: constructed over the unpublished payload region of the
        // current record inside the writer's mapping; only reached on unwind
        // (the happy path `mem::forget`s the guard).
        unsafe { ptr::write_bytes(self.ptr, 0, self.len) };
    }
}

/// Test-only points where a unit test can make the next step fail once.
#[cfg(test)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FailMsync {
    /// The per-record `msync` under `EveryRecord`.
    Record,
    /// The `msync` of the next segment's header in a roll (`EveryRecord`).
    Header,
    /// The `msync` of the end marker in a roll (`EveryRecord`).
    Marker,
}

/// `Err` once if a unit test armed `$point` on `$w`; `Ok(())` otherwise
/// (always, and with no code, outside tests).
macro_rules! fault_point {
    ($w:expr, $point:ident) => {{
        #[cfg(test)]
        let r = if $w.fault == Some(FailMsync::$point) {
            $w.fault = None;
            Err(std::io::Error::other(concat!(
                "injected fault: ",
                stringify!($point)
            )))
        } else {
            Ok(())
        };
        #[cfg(not(test))]
        let r: std::io::Result<()> = Ok(());
        r
    }};
}

impl JournalWriter {
    /// Opens (or creates) the journal in `config.dir`: validates the config,
    /// locks the directory, scans the segments, cuts a torn tail (zeroing it,
    /// so it can never be replayed) and positions the writer after the last
    /// valid record.
    ///
    /// Corruption followed by valid data is never cut: `open` fails with
    /// [`JournalError::Corrupt`] and leaves every file untouched.
    pub fn open(config: JournalConfig) -> Result<(JournalWriter, RecoveryReport), JournalError> {
        config.validate()?;
        let dir = config.dir.clone();
        std::fs::create_dir_all(&dir).map_err(|e| JournalError::io(&dir, e))?;
        let lock = lock_dir(&dir)?;
        let mut spares_removed = remove_temp_files(&dir)?;
        // Quiescent: this writer holds the lock, nobody else appends.
        let found = scan(&dir, ScanMode::Quiescent)?;
        if let Some(c) = found.corruption {
            return Err(JournalError::Corrupt {
                segment: c.segment,
                offset: c.offset,
                reason: c.reason,
            });
        }
        let durable = config.sync != SyncPolicy::None;
        for s in found
            .summaries
            .iter()
            .filter(|s| s.state == SegmentState::Spare)
        {
            std::fs::remove_file(&s.path).map_err(|e| JournalError::io(&s.path, e))?;
            spares_removed += 1;
        }
        let data: Vec<_> = found
            .summaries
            .iter()
            .filter(|s| s.state != SegmentState::Spare)
            .collect();
        let size = config.segment_size as usize;
        let next_seq = found.next_seq;
        let (seg, pos, bytes_cut) = match data.last() {
            None => {
                let seg = MappedSegment::create(&dir, 0, size, config.prefault, durable)?;
                seg.activate(&new_header(0, next_seq, size));
                (seg, SEGMENT_HEADER_LEN, 0)
            }
            Some(last) if last.state == SegmentState::Sealed => {
                let index = last.index.checked_add(1).ok_or(JournalError::Exhausted)?;
                let seg = MappedSegment::create(&dir, index, size, config.prefault, durable)?;
                seg.activate(&new_header(index, next_seq, size));
                (seg, SEGMENT_HEADER_LEN, 0)
            }
            Some(last) => {
                let seg = MappedSegment::open_write(last.index, &last.path, config.prefault)?;
                let mut cut = 0;
                if let Some(t) = found.torn
                    && t.segment == last.index
                {
                    seg.zero_and_sync(t.offset as usize, t.bytes as usize)?;
                    cut = t.bytes;
                }
                (seg, last.bytes_used as usize, cut)
            }
        };
        if durable && bytes_cut == 0 {
            // The header of a segment created above.
            seg.flush_range(0, SEGMENT_HEADER_LEN)?;
        }
        let index = seg.index;
        if index >= 1 << 32 {
            return Err(JournalError::Exhausted);
        }
        let report = RecoveryReport {
            segments: data.len(),
            records_recovered: found.records,
            first_seq: found.first_seq,
            last_good_seq: found.last_seq,
            next_seq,
            active_segment: index,
            torn_tail: found.torn,
            bytes_cut,
            spares_removed,
        };

        let shared = Arc::new(Shared {
            dir: dir.clone(),
            segment_size: size,
            prefault: config.prefault,
            durable,
            state: CachePadded::new(AtomicU8::new(IDLE)),
            target: AtomicU64::new(0),
            ready: AtomicPtr::new(ptr::null_mut()),
            retired: AtomicPtr::new(ptr::null_mut()),
            committed: CachePadded::new(AtomicU64::new(pack(index, pos))),
            shutdown: AtomicBool::new(false),
            flusher_syncs: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            error: Mutex::new(None),
        });
        let cpus = helper_cpu_set(config.background_cpus.as_deref());
        let seg = Box::new(seg);
        let mut writer = JournalWriter {
            base: seg.base_mut(),
            pos,
            limit: seg.len() - END_MARKER_LEN,
            next_seq,
            max_payload: max_payload_for(size),
            sync: config.sync,
            seg,
            pending: None,
            shared,
            preparer: None,
            flusher: None,
            unsynced_from: index,
            rolls: 0,
            prepared_bg: 0,
            prepared_inline: 0,
            syncs: 0,
            _lock: lock,
            #[cfg(test)]
            fault: None,
            _not_sync: PhantomData,
        };
        // Helpers are attached as they start: if one fails, dropping
        // `writer` stops and joins the ones already running.
        if config.prepare_in_background {
            let s = Arc::clone(&writer.shared);
            writer.preparer = Some(spawn_helper("journal-prep", cpus, &dir, move || {
                run_preparer(&s)
            })?);
        }
        if let SyncPolicy::Periodic { interval } = config.sync {
            let s = Arc::clone(&writer.shared);
            writer.flusher = Some(spawn_helper("journal-flush", cpus, &dir, move || {
                run_flusher(&s, interval, (index, pos))
            })?);
        }
        writer.request_next(index + 1);
        Ok((writer, report))
    }

    /// Appends one record with `payload` and returns its sequence.
    ///
    /// `ts` is stored verbatim; by convention the engine passes its duty-cycle
    /// `now` (monotonic; segment headers carry wall-clock creation times).
    #[inline]
    pub fn append(
        &mut self,
        kind: RecordKind,
        version: u16,
        ts: Nanos,
        payload: &[u8],
    ) -> Result<u64, JournalError> {
        self.append_with(kind, version, ts, payload.len(), |dst| {
            dst.copy_from_slice(payload)
        })
    }

    /// Appends one record of `len` payload bytes written in place by `fill`
    /// (zero copy: encode an event straight into the mapped segment). The
    /// slice `fill` gets is zeroed; bytes it leaves alone stay zero.
    #[inline]
    pub fn append_with<F: FnOnce(&mut [u8])>(
        &mut self,
        kind: RecordKind,
        version: u16,
        ts: Nanos,
        len: usize,
        fill: F,
    ) -> Result<u64, JournalError> {
        if len > self.max_payload {
            return Err(JournalError::RecordTooLarge {
                len,
                max: self.max_payload,
            });
        }
        let frame = RECORD_HEADER_LEN + len;
        let aligned = align8(frame);
        if self.pos + aligned > self.limit {
            self.roll()?;
        }
        let seq = self.next_seq;
        let start = self.pos;
        // SAFETY: `start + aligned <= limit < segment length` (checked above,
        // and `roll` leaves a fresh segment where any payload up to
        // `max_payload` fits), so every pointer below is inside the writable
        // mapping owned by `self.seg`. `start` is 8-aligned and the mapping
        // page-aligned, so the u64/u32/u16 stores are aligned. The bytes from
        // `start` on are unpublished: no reader reads them before the Release
        // store of the length below, and this writer is the only one.
        unsafe {
            let rec = self.base.add(start);
            rec.add(OFF_SEQ).cast::<u64>().write(seq.to_le());
            rec.add(OFF_TS).cast::<u64>().write(ts.0.to_le());
            rec.add(OFF_KIND).cast::<u16>().write(kind.as_u16().to_le());
            rec.add(OFF_VERSION).cast::<u16>().write(version.to_le());
            rec.add(OFF_RESERVED).cast::<u32>().write(0);
            let payload_ptr = rec.add(RECORD_HEADER_LEN);
            let guard = ZeroOnUnwind {
                ptr: payload_ptr,
                len,
            };
            fill(std::slice::from_raw_parts_mut(payload_ptr, len));
            std::mem::forget(guard);
            let body = std::slice::from_raw_parts(rec.add(OFF_SEQ), frame - OFF_SEQ);
            let crc = super::crc::crc32c(body);
            rec.add(OFF_CRC).cast::<u32>().write(crc.to_le());
            let len_word = AtomicU32::from_ptr(rec.cast::<u32>());
            // Release: publishes the header fields, CRC and payload written
            // above. Pairs with the Acquire load in `MappedSegment::read_slot`
            // (readers, tailers, recovery): a reader that sees this length sees
            // the whole record.
            len_word.store((frame as u32).to_le(), Ordering::Release);
        }
        self.pos = start + aligned;
        self.next_seq = seq + 1;
        match self.sync {
            SyncPolicy::None => {}
            SyncPolicy::Periodic { .. } => {
                // Release: pairs with the Acquire load in `run_flusher`; the
                // flusher syncs up to a position whose bytes are all written.
                self.shared
                    .committed
                    .store(pack(self.seg.index, self.pos), Ordering::Release);
            }
            SyncPolicy::EveryRecord => {
                // The record is published and its sequence consumed: a failed
                // msync must not read as "not appended" (a retry would
                // duplicate it), hence NotDurable with the sequence.
                if let Err(source) =
                    fault_point!(self, Record).and_then(|()| self.seg.msync(start, aligned))
                {
                    return Err(JournalError::NotDurable {
                        seq,
                        path: self.seg.path.clone(),
                        source,
                    });
                }
                self.syncs += 1;
            }
        }
        Ok(seq)
    }

    /// The sequence the next append will get.
    #[inline]
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The index of the segment being written.
    pub fn segment_index(&self) -> u64 {
        self.seg.index
    }

    /// The write offset in the current segment.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The journal directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// The largest payload `append` accepts.
    pub fn max_payload(&self) -> usize {
        self.max_payload
    }

    /// Cold-path counters.
    pub fn stats(&self) -> WriterStats {
        // Relaxed: statistics, read for reporting only.
        let flusher_syncs = self.shared.flusher_syncs.load(Ordering::Relaxed);
        WriterStats {
            rolls: self.rolls,
            prepared_in_background: self.prepared_bg,
            prepared_inline: self.prepared_inline,
            syncs: self.syncs + flusher_syncs,
            background_failures: self.shared.failures.load(Ordering::Relaxed),
        }
    }

    /// The first error a background thread hit (preparing a segment or
    /// flushing), if any; cleared by this call.
    pub fn take_background_error(&self) -> Option<JournalError> {
        self.shared.error.lock().ok().and_then(|mut e| e.take())
    }

    /// Makes everything appended so far durable: `msync(MS_SYNC)` of the
    /// current segment's written range and `fdatasync` of earlier segments
    /// written since the last `sync`. Blocking: for clean shutdown and tools,
    /// not the hot path.
    pub fn sync(&mut self) -> Result<(), JournalError> {
        for index in self.unsynced_from..self.seg.index {
            let path = segment_path(&self.shared.dir, index);
            let file = File::open(&path).map_err(|e| JournalError::io(&path, e))?;
            file.sync_data().map_err(|e| JournalError::io(&path, e))?;
        }
        self.seg.flush_range(0, self.pos)?;
        self.unsynced_from = self.seg.index;
        self.syncs += 1;
        Ok(())
    }

    /// Moves to the next segment. Cold: once per segment.
    ///
    /// On error nothing is lost and a retry (the next append) redoes the
    /// roll: a segment already activated is kept in `pending` and reused, and
    /// `limit` drops to `pos` so no record goes into the old segment (the
    /// pending header's first sequence stays right).
    #[cold]
    #[inline(never)]
    fn roll(&mut self) -> Result<(), JournalError> {
        let index = self.seg.index + 1;
        if index >= 1 << 32 {
            return Err(JournalError::Exhausted);
        }
        let next = match self.pending.take() {
            Some(next) => next,
            None => {
                let next = self.take_next(index)?;
                next.activate(&new_header(index, self.next_seq, next.len()));
                next
            }
        };
        if let Err(e) = self.seal(&next) {
            self.pending = Some(next);
            self.limit = self.pos;
            return Err(e);
        }
        let old = std::mem::replace(&mut self.seg, next);
        self.base = self.seg.base_mut();
        self.limit = self.seg.len() - END_MARKER_LEN;
        self.pos = SEGMENT_HEADER_LEN;
        self.rolls += 1;
        if let SyncPolicy::Periodic { .. } = self.sync {
            // Release: as in `append_with`.
            self.shared
                .committed
                .store(pack(index, self.pos), Ordering::Release);
        }
        self.retire(old);
        self.request_next(index + 1);
        Ok(())
    }

    /// The part of a roll after activating `next`: makes its header durable
    /// (`EveryRecord`), stores the end marker in the current segment and
    /// makes it durable (`EveryRecord`). Idempotent, so a failed roll can
    /// redo it: storing the marker again stores the same bytes.
    fn seal(&mut self, next: &MappedSegment) -> Result<(), JournalError> {
        if self.sync == SyncPolicy::EveryRecord {
            fault_point!(self, Header)
                .and_then(|()| next.msync(0, SEGMENT_HEADER_LEN))
                .map_err(|e| JournalError::io(&next.path, e))?;
        }
        let at = self.pos;
        // SAFETY: `at + END_MARKER_LEN <= segment length` (every record ends at
        // or before `len - END_MARKER_LEN`, and `at` is where the last one
        // ended); 8-aligned; bytes no record was published in, which only this
        // writer touches (or the marker itself, rewritten with the same value
        // on a retry: the atomic store below keeps that race-free).
        unsafe {
            let rec = self.base.add(at);
            let tag = AtomicU32::from_ptr(rec.add(4).cast::<u32>());
            // Relaxed: published by the Release store of the length below.
            tag.store(END_OF_SEGMENT_TAG.to_le(), Ordering::Relaxed);
            let len_word = AtomicU32::from_ptr(rec.cast::<u32>());
            // Release: publishes the tag and, before it, the next segment's
            // header (written through the same process, in program order).
            // Pairs with the Acquire in `read_slot`: a tailer that sees the
            // marker finds the next segment activated.
            len_word.store(END_OF_SEGMENT_LEN.to_le(), Ordering::Release);
        }
        if self.sync == SyncPolicy::EveryRecord {
            fault_point!(self, Marker)
                .and_then(|()| self.seg.msync(at, END_MARKER_LEN))
                .map_err(|e| JournalError::io(&self.seg.path, e))?;
        }
        Ok(())
    }

    /// Takes segment `index`: ready from the preparer, or created inline.
    fn take_next(&mut self, index: u64) -> Result<Box<MappedSegment>, JournalError> {
        if self.preparer.is_some() {
            loop {
                // Acquire on success/failure: pairs with the preparer's
                // Release store of READY/FAILED, so `ready` is visible.
                match self.shared.state.compare_exchange(
                    REQUESTED,
                    IDLE,
                    Ordering::Acquire,
                    Ordering::Acquire,
                ) {
                    // The preparer never started: claimed, create it here.
                    Ok(_) => break,
                    Err(READY) => {
                        // Acquire: pairs with the preparer's store of the pointer
                        // (also ordered by the READY Release above).
                        let p = self.shared.ready.swap(ptr::null_mut(), Ordering::Acquire);
                        // Relaxed: only this writer moves the state out of READY.
                        self.shared.state.store(IDLE, Ordering::Relaxed);
                        if !p.is_null() {
                            // SAFETY: `p` came from `Box::into_raw` in the
                            // preparer and was swapped out exactly once.
                            let seg = unsafe { Box::from_raw(p) };
                            if seg.index == index {
                                self.prepared_bg += 1;
                                return Ok(seg);
                            }
                            // Not the one we need (cannot happen: the preparer
                            // only builds `target`). Let it go and build ours.
                            drop(seg);
                        }
                        break;
                    }
                    Err(PREPARING) => thread::yield_now(),
                    Err(_) => break,
                }
            }
        }
        self.prepared_inline += 1;
        let seg = MappedSegment::create(
            &self.shared.dir,
            index,
            self.shared.segment_size,
            self.shared.prefault,
            self.shared.durable,
        )?;
        Ok(Box::new(seg))
    }

    /// Hands an old segment to the preparer to unmap (or unmaps it here).
    /// Does not wake the preparer: `request_next`, which always follows,
    /// does (one wake for both).
    fn retire(&mut self, old: Box<MappedSegment>) {
        match &self.preparer {
            Some(_) => {
                // AcqRel: Release publishes the box to the preparer (pairs with
                // its Acquire swap); Acquire in case we get back one it had not
                // collected yet, which we then drop here.
                let prev = self
                    .shared
                    .retired
                    .swap(Box::into_raw(old), Ordering::AcqRel);
                if !prev.is_null() {
                    // SAFETY: from `Box::into_raw` above on an earlier roll,
                    // swapped out exactly once.
                    drop(unsafe { Box::from_raw(prev) });
                }
            }
            None => drop(old),
        }
    }

    /// Asks the preparer for segment `index` (and so also to collect a
    /// retired segment): one unpark.
    fn request_next(&mut self, index: u64) {
        if let Some(handle) = &self.preparer {
            // Relaxed: published by the Release store of REQUESTED below.
            self.shared.target.store(index, Ordering::Relaxed);
            // Release: pairs with the preparer's Acquire CAS, making `target`
            // visible to it.
            self.shared.state.store(REQUESTED, Ordering::Release);
            handle.thread().unpark();
        }
    }
}

impl Drop for JournalWriter {
    fn drop(&mut self) {
        // Release: pairs with the Acquire loads in the background loops.
        self.shared.shutdown.store(true, Ordering::Release);
        for handle in [self.preparer.take(), self.flusher.take()]
            .into_iter()
            .flatten()
        {
            handle.thread().unpark();
            // A panicked background thread has nothing left to clean up.
            let _ = handle.join();
        }
        drop(self.pending.take());
        for slot in [&self.shared.ready, &self.shared.retired] {
            // Acquire: the threads are joined; pairs with their last stores.
            let p = slot.swap(ptr::null_mut(), Ordering::Acquire);
            if !p.is_null() {
                // SAFETY: from `Box::into_raw`, swapped out exactly once.
                drop(unsafe { Box::from_raw(p) });
            }
        }
        if self.sync != SyncPolicy::None {
            // Best effort: the caller asked for durability; errors have no
            // one to go to from `drop` (call `sync()` to see them).
            let _ = self.sync();
        }
    }
}

fn new_header(index: u64, first_seq: u64, size: usize) -> SegmentHeader {
    SegmentHeader {
        index,
        first_seq,
        size: size as u64,
        created_unix_ns: unix_nanos(),
    }
}

/// The lock file a writer holds (`flock`, exclusive) while it is open.
const LOCK_FILE: &str = "writer.lock";

/// Exclusive, non-blocking `flock` on `<dir>/writer.lock`.
fn lock_dir(dir: &Path) -> Result<File, JournalError> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| JournalError::io(&path, e))?;
    // SAFETY: plain syscall on a valid, owned file descriptor.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
            return Err(JournalError::WriterLocked { path });
        }
        return Err(JournalError::io(&path, err));
    }
    Ok(file)
}

/// Whether a writer (in this or another process) holds `<dir>/writer.lock`.
///
/// Probes with a non-blocking **shared** `flock` and releases it at once, so
/// it never keeps a writer out for longer than the probe itself (a writer
/// opening in exactly that window gets [`JournalError::WriterLocked`] and may
/// retry). Never creates the lock file.
pub(crate) fn writer_is_live(dir: &Path) -> Result<bool, JournalError> {
    let path = dir.join(LOCK_FILE);
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(JournalError::io(&path, e)),
    };
    // SAFETY: plain syscall on a valid, owned file descriptor.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) };
    if rc == 0 {
        // SAFETY: as above. (Closing the file would release it too; this
        // releases it now, whatever happens to `file`.)
        unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_UN) };
        return Ok(false);
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
        return Ok(true);
    }
    Err(JournalError::io(&path, err))
}

/// The CPU set for the helper threads: `cpus`, or by default the affinity of
/// the process's main thread (see the module docs). If that cannot be read
/// (the main thread has exited), every CPU: the kernel narrows an affinity
/// to the CPUs the process's cpuset allows.
fn helper_cpu_set(cpus: Option<&[usize]>) -> libc::cpu_set_t {
    // SAFETY: all-zero bytes are a valid, empty `cpu_set_t`.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    if let Some(cpus) = cpus {
        for &cpu in cpus {
            // SAFETY: `cpu < CPU_SETSIZE` (`JournalConfig::validate`), so the
            // bit is inside the set.
            unsafe { libc::CPU_SET(cpu, &mut set) };
        }
        return set;
    }
    // SAFETY: `getpid` has no preconditions; the main thread's id is the
    // process id. `set` is valid for writes of the size passed.
    let rc =
        unsafe { libc::sched_getaffinity(libc::getpid(), std::mem::size_of_val(&set), &mut set) };
    if rc != 0 {
        for cpu in 0..CPU_SET_BITS {
            // SAFETY: `cpu < CPU_SETSIZE`.
            unsafe { libc::CPU_SET(cpu, &mut set) };
        }
    }
    set
}

/// Spawns helper thread `name`, which first sets its own CPU affinity to
/// `cpus` and reports back, then runs `body`. Waits for that report (cold:
/// `open` only), so a helper never runs where it was not meant to: if the
/// kernel refuses the set, the thread exits without running `body` and
/// `open` fails.
fn spawn_helper(
    name: &str,
    cpus: libc::cpu_set_t,
    dir: &Path,
    body: impl FnOnce() + Send + 'static,
) -> Result<JoinHandle<()>, JournalError> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<std::io::Result<()>>(1);
    let handle = thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            // SAFETY: `cpus` is a valid `cpu_set_t` of the size passed; pid 0
            // is the calling thread.
            let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&cpus), &cpus) };
            let pinned = if rc == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            };
            let go = pinned.is_ok();
            // The receiver waits for this; if it is gone there is no one to
            // tell (and `go` still decides).
            let _ = tx.send(pinned);
            if go {
                body();
            }
        })
        .map_err(|e| JournalError::io(dir, e))?;
    let pinned = rx
        .recv()
        .unwrap_or_else(|_| Err(std::io::Error::other("journal helper thread died")));
    match pinned {
        Ok(()) => Ok(handle),
        Err(e) => {
            // It exits right after reporting; nothing to clean up.
            let _ = handle.join();
            if e.raw_os_error() == Some(libc::EINVAL) {
                Err(JournalError::InvalidConfig {
                    key: "background_cpus",
                    reason: "none of these CPUs is available to this process",
                })
            } else {
                Err(JournalError::io(dir, e))
            }
        }
    }
}

/// The preparer: creates the requested next segment and unmaps retired ones.
/// Parks between requests (the writer unparks it on every roll).
fn run_preparer(shared: &Shared) {
    loop {
        // Acquire: pairs with the writer's Release in `Drop`.
        let stop = shared.shutdown.load(Ordering::Acquire);
        // Acquire: pairs with the writer's Release swap in `retire`.
        let old = shared.retired.swap(ptr::null_mut(), Ordering::Acquire);
        if !old.is_null() {
            // SAFETY: from `Box::into_raw` in `retire`, swapped out once.
            drop(unsafe { Box::from_raw(old) });
        }
        if stop {
            return;
        }
        // Acquire: pairs with the writer's Release store of REQUESTED, so
        // `target` is visible.
        if shared
            .state
            .compare_exchange(REQUESTED, PREPARING, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            // Relaxed: ordered by the Acquire CAS above.
            let index = shared.target.load(Ordering::Relaxed);
            match MappedSegment::create(
                &shared.dir,
                index,
                shared.segment_size,
                shared.prefault,
                shared.durable,
            ) {
                Ok(seg) => {
                    // Relaxed: published by the Release store of READY.
                    shared
                        .ready
                        .store(Box::into_raw(Box::new(seg)), Ordering::Relaxed);
                    // Release: pairs with the writer's Acquire in `take_next`.
                    shared.state.store(READY, Ordering::Release);
                }
                Err(e) => {
                    shared.record_error(e);
                    // Release: as above; the writer then creates it inline.
                    shared.state.store(FAILED, Ordering::Release);
                }
            }
            continue;
        }
        thread::park();
    }
}

/// The periodic flusher: every `interval`, `msync(MS_SYNC)`s the range
/// written since its last round, through its own `PROT_READ` mapping of each
/// segment file opened read-write (`MappedSegment::open_flush`).
///
/// `start` is the write position at `open` (everything before it was synced
/// by recovery or is a fresh header): the first round syncs from there, so
/// records appended before this thread got to run are not skipped.
fn run_flusher(shared: &Shared, interval: Duration, start: (u64, usize)) {
    let (mut done_index, mut done_pos) = start;
    let mut current: Option<MappedSegment> = None;
    loop {
        thread::park_timeout(interval);
        // Acquire: pairs with the writer's Release in `Drop`.
        let stop = shared.shutdown.load(Ordering::Acquire);
        // Acquire: pairs with the writer's Release store after each append.
        let (index, pos) = unpack(shared.committed.load(Ordering::Acquire));
        if (index, pos) != (done_index, done_pos) {
            match flush_span(shared, &mut current, (done_index, done_pos), (index, pos)) {
                Ok(()) => {
                    (done_index, done_pos) = (index, pos);
                    // Relaxed: a statistic.
                    shared.flusher_syncs.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => shared.record_error(e),
            }
        }
        if stop {
            return;
        }
    }
}

fn flush_span(
    shared: &Shared,
    current: &mut Option<MappedSegment>,
    from: (u64, usize),
    to: (u64, usize),
) -> Result<(), JournalError> {
    let mut index = from.0;
    let mut start = from.1;
    loop {
        if current.as_ref().is_none_or(|m| m.index != index) {
            let path = segment_path(&shared.dir, index);
            // Read-write descriptor: `msync` through a mapping of a read-only
            // one writes nothing back (see `MappedSegment::open_flush`).
            *current = Some(MappedSegment::open_flush(index, &path)?);
        }
        let Some(seg) = current.as_ref() else {
            return Ok(());
        };
        let end = if index == to.0 { to.1 } else { seg.len() };
        let from_page = start - start % page_size();
        seg.flush_range(from_page, end.saturating_sub(from_page))?;
        if index >= to.0 {
            return Ok(());
        }
        index += 1;
        start = 0;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::journal::{JournalReader, verify};

    fn small(dir: &Path) -> JournalConfig {
        let mut c = JournalConfig::new(dir);
        c.segment_size = 8192;
        c
    }

    #[test]
    fn config_validation_names_the_key() {
        let mut c = JournalConfig::new("/tmp/x");
        assert!(c.validate().is_ok());
        assert_eq!(c.segment_size, DEFAULT_SEGMENT_SIZE);
        c.segment_size = 1024;
        assert!(matches!(
            c.validate(),
            Err(JournalError::InvalidConfig {
                key: "segment_size",
                ..
            })
        ));
        c.segment_size = 4096 + 8;
        assert!(matches!(
            c.validate(),
            Err(JournalError::InvalidConfig {
                key: "segment_size",
                ..
            })
        ));
        c.segment_size = 2 << 30;
        assert!(c.validate().is_err());
        c.segment_size = 4096;
        c.sync = SyncPolicy::Periodic {
            interval: Duration::ZERO,
        };
        assert!(matches!(
            c.validate(),
            Err(JournalError::InvalidConfig {
                key: "sync.interval",
                ..
            })
        ));
        c.sync = SyncPolicy::None;
        c.dir = PathBuf::new();
        assert!(matches!(
            c.validate(),
            Err(JournalError::InvalidConfig { key: "dir", .. })
        ));
    }

    #[test]
    fn appends_round_trip_and_roll() {
        let dir = tempfile::tempdir().unwrap();
        let (mut w, report) = JournalWriter::open(small(dir.path())).unwrap();
        assert_eq!(report.next_seq, 1);
        assert_eq!(report.records_recovered, 0);
        for i in 0..500u64 {
            let payload = vec![i as u8; (i % 97) as usize];
            assert_eq!(
                w.append(RecordKind::Blob, 3, Nanos(i), &payload).unwrap(),
                i + 1
            );
        }
        assert!(w.stats().rolls > 0);
        assert_eq!(w.next_seq(), 501);
        drop(w);
        let mut r = JournalReader::open(dir.path()).unwrap();
        let mut n = 0u64;
        while let Some(rec) = r.next() {
            let rec = rec.unwrap();
            assert_eq!(rec.seq, n + 1);
            assert_eq!(rec.ts, Nanos(n));
            assert_eq!(rec.version, 3);
            assert_eq!(rec.payload, vec![n as u8; (n % 97) as usize].as_slice());
            n += 1;
        }
        assert_eq!(n, 500);
        let v = verify(dir.path()).unwrap();
        assert!(v.is_clean(), "{v:?}");
        assert_eq!(
            (v.first_seq, v.last_seq, v.records),
            (Some(1), Some(500), 500)
        );
    }

    #[test]
    fn append_with_fills_in_place_and_leaves_untouched_bytes_zero() {
        let dir = tempfile::tempdir().unwrap();
        let (mut w, _) = JournalWriter::open(small(dir.path())).unwrap();
        w.append_with(RecordKind::OrderCommand, 1, Nanos(1), 16, |b| {
            b[..4].copy_from_slice(b"abcd")
        })
        .unwrap();
        drop(w);
        let mut r = JournalReader::open(dir.path()).unwrap();
        let rec = r.next().unwrap().unwrap();
        assert_eq!(rec.kind(), Some(RecordKind::OrderCommand));
        assert_eq!(&rec.payload[..4], b"abcd");
        assert!(rec.payload[4..].iter().all(|&b| b == 0));
    }

    #[test]
    fn too_large_record_is_refused_without_side_effects() {
        let dir = tempfile::tempdir().unwrap();
        let (mut w, _) = JournalWriter::open(small(dir.path())).unwrap();
        let max = w.max_payload();
        assert_eq!(max, 8192 - 64 - 8 - 32);
        let err = w
            .append(RecordKind::Blob, 1, Nanos(0), &vec![1; max + 1])
            .unwrap_err();
        assert!(matches!(err, JournalError::RecordTooLarge { .. }));
        assert_eq!(
            w.append(RecordKind::Blob, 1, Nanos(0), &vec![1; max])
                .unwrap(),
            1
        );
        assert_eq!(
            w.append(RecordKind::Blob, 1, Nanos(0), &vec![2; max])
                .unwrap(),
            2
        );
        assert_eq!(w.segment_index(), 1);
    }

    #[test]
    fn second_writer_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (_w, _) = JournalWriter::open(small(dir.path())).unwrap();
        let err = JournalWriter::open(small(dir.path())).unwrap_err();
        assert!(matches!(err, JournalError::WriterLocked { .. }));
    }

    #[test]
    fn panicking_fill_publishes_nothing_and_leaves_zeros() {
        let dir = tempfile::tempdir().unwrap();
        let (mut w, _) = JournalWriter::open(small(dir.path())).unwrap();
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _ = w.append_with(RecordKind::Blob, 1, Nanos(0), 200, |b| {
                b.fill(0xAB);
                panic!("encoder bug");
            });
        }));
        assert!(caught.is_err());
        assert_eq!(w.append(RecordKind::Blob, 1, Nanos(0), b"x").unwrap(), 1);
        drop(w);
        let v = verify(dir.path()).unwrap();
        assert!(v.is_clean(), "{v:?}");
        assert_eq!(v.records, 1);
    }

    #[test]
    fn reopen_continues_sequence_in_place_and_after_sealed_segment() {
        let dir = tempfile::tempdir().unwrap();
        for round in 0..3u64 {
            let mut c = small(dir.path());
            c.prepare_in_background = round % 2 == 0;
            let (mut w, report) = JournalWriter::open(c).unwrap();
            assert_eq!(report.next_seq, round * 100 + 1);
            assert_eq!(report.bytes_cut, 0);
            for _ in 0..100 {
                w.append(RecordKind::Blob, 1, Nanos(0), &[7; 100]).unwrap();
            }
        }
        let v = verify(dir.path()).unwrap();
        assert!(v.is_clean(), "{v:?}");
        assert_eq!(v.last_seq, Some(300));
    }

    /// `PER` records of 24-byte payloads (56-byte frames) fill an 8 KiB
    /// segment: (8192 - 64 - 8) / 56.
    const PER: u64 = (8192 - 64 - 8) / 56;

    fn every_record(dir: &Path, background: bool) -> JournalConfig {
        let mut c = small(dir);
        c.sync = SyncPolicy::EveryRecord;
        c.prepare_in_background = background;
        c
    }

    fn read_all(dir: &Path) -> Vec<u64> {
        let mut r = JournalReader::open(dir).unwrap();
        let mut seqs = Vec::new();
        while let Some(rec) = r.next() {
            seqs.push(rec.unwrap().seq);
        }
        seqs
    }

    #[test]
    fn failed_record_msync_reports_the_committed_seq() {
        let dir = tempfile::tempdir().unwrap();
        let (mut w, _) = JournalWriter::open(every_record(dir.path(), true)).unwrap();
        assert_eq!(
            w.append(RecordKind::Blob, 1, Nanos(0), &[1; 24]).unwrap(),
            1
        );
        w.fault = Some(FailMsync::Record);
        let err = w
            .append(RecordKind::Blob, 1, Nanos(0), &[2; 24])
            .unwrap_err();
        assert!(
            matches!(err, JournalError::NotDurable { seq: 2, .. }),
            "{err:?}"
        );
        // Committed: the caller does not append it again, the next one is 3.
        assert_eq!(w.next_seq(), 3);
        assert_eq!(
            w.append(RecordKind::Blob, 1, Nanos(0), &[3; 24]).unwrap(),
            3
        );
        w.sync().unwrap();
        drop(w);
        assert_eq!(read_all(dir.path()), [1, 2, 3]);
    }

    #[test]
    fn a_roll_that_fails_after_activating_is_retried_cleanly() {
        for (fault, background) in [
            (FailMsync::Header, true),
            (FailMsync::Header, false),
            (FailMsync::Marker, true),
            (FailMsync::Marker, false),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let (mut w, _) = JournalWriter::open(every_record(dir.path(), background)).unwrap();
            for _ in 0..PER {
                w.append(RecordKind::Blob, 1, Nanos(0), &[7; 24]).unwrap();
            }
            assert_eq!(w.segment_index(), 0);
            w.fault = Some(fault);
            // This append needs the roll, which fails after activating
            // segment 1: nothing appended, a plain I/O error.
            let err = w
                .append(RecordKind::Blob, 1, Nanos(0), &[8; 24])
                .unwrap_err();
            assert!(matches!(err, JournalError::Io { .. }), "{fault:?}: {err:?}");
            assert_eq!(w.next_seq(), PER + 1, "{fault:?}");
            // A small record that would still fit in segment 0 must not go
            // there (segment 1's header already says it starts at PER + 1),
            // nor over the end marker.
            assert_eq!(
                w.append(RecordKind::Blob, 1, Nanos(0), b"").unwrap(),
                PER + 1,
                "{fault:?}"
            );
            assert_eq!(w.segment_index(), 1, "{fault:?}");
            for _ in 0..PER + 3 {
                w.append(RecordKind::Blob, 1, Nanos(0), &[9; 24]).unwrap();
            }
            assert_eq!(w.stats().rolls, 2, "{fault:?}");
            let last = w.next_seq() - 1;
            drop(w);
            let v = verify(dir.path()).unwrap();
            assert!(v.is_clean(), "{fault:?}: {v:?}");
            assert_eq!(read_all(dir.path()), (1..=last).collect::<Vec<_>>());
            // And a writer opens it again where it ended.
            let (_w, report) = JournalWriter::open(every_record(dir.path(), background)).unwrap();
            assert_eq!(report.next_seq, last + 1);
        }
    }

    #[test]
    fn a_writer_dropped_after_a_failed_roll_reopens_cleanly() {
        for fault in [FailMsync::Header, FailMsync::Marker] {
            let dir = tempfile::tempdir().unwrap();
            let (mut w, _) = JournalWriter::open(every_record(dir.path(), false)).unwrap();
            for _ in 0..PER {
                w.append(RecordKind::Blob, 1, Nanos(0), &[7; 24]).unwrap();
            }
            w.fault = Some(fault);
            assert!(w.append(RecordKind::Blob, 1, Nanos(0), &[8; 24]).is_err());
            drop(w);
            assert!(verify(dir.path()).unwrap().is_clean(), "{fault:?}");
            let (mut w, report) = JournalWriter::open(every_record(dir.path(), false)).unwrap();
            assert_eq!(report.next_seq, PER + 1, "{fault:?}");
            assert_eq!(
                w.append(RecordKind::Blob, 1, Nanos(0), &[8; 24]).unwrap(),
                PER + 1
            );
            drop(w);
            assert_eq!(read_all(dir.path()), (1..=PER + 1).collect::<Vec<_>>());
        }
    }

    #[test]
    fn background_cpus_are_validated() {
        let mut c = JournalConfig::new("/tmp/x");
        c.background_cpus = Some(vec![]);
        assert!(matches!(
            c.validate(),
            Err(JournalError::InvalidConfig {
                key: "background_cpus",
                ..
            })
        ));
        c.background_cpus = Some(vec![CPU_SET_BITS]);
        assert!(c.validate().is_err());
        c.background_cpus = Some(vec![0]);
        assert!(c.validate().is_ok());
    }

    #[test]
    fn writer_lock_probe_sees_a_writer_and_never_blocks_one() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!writer_is_live(dir.path()).unwrap());
        let (w, _) = JournalWriter::open(small(dir.path())).unwrap();
        assert!(writer_is_live(dir.path()).unwrap());
        drop(w);
        assert!(!writer_is_live(dir.path()).unwrap());
        // The probe released its lock: a writer opens right after it.
        let (_w, _) = JournalWriter::open(small(dir.path())).unwrap();
    }
}
