//! Segment files: naming, the segment header, creation (preallocated and
//! pre-faulted), mapping, and reading one record slot with `Acquire`.
//!
//! Owns every raw access to mapped memory except the writer's record copy
//! (`writer.rs`). It never decides what a damaged slot means (that is
//! `recover.rs`) and never publishes records.
//!
//! Segment header (64 bytes, records start at offset 64):
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +---------------------------------------------------------------+
//! |                                                               |  0
//! +        magic "TALONJNL" (u64 LE), stored LAST (Release)       +
//! |                  0 = spare, not yet activated                 |
//! +---------------------------------------------------------------+
//! |                 format version (u32 LE) = 1                   |  8
//! +---------------------------------------------------------------+
//! |                 header length (u32 LE) = 64                   | 12
//! +---------------------------------------------------------------+
//! |                                                               | 16
//! +                   segment index (u64 LE)                      +
//! |                                                               |
//! +---------------------------------------------------------------+
//! |                                                               | 24
//! +            first sequence in this segment (u64 LE)            +
//! |                                                               |
//! +---------------------------------------------------------------+
//! |                                                               | 32
//! +              segment size in bytes (u64 LE)                   +
//! |                                                               |
//! +---------------------------------------------------------------+
//! |                                                               | 40
//! +          created, wall clock, Unix ns (u64 LE)                +
//! |                                                               |
//! +---------------------------------------------------------------+
//! |                  reserved (8 bytes, zero)                     | 48
//! +---------------------------------------------------------------+
//! |         header crc32c (u32 LE) over bytes 0..56               | 56
//! +---------------------------------------------------------------+
//! |                  reserved (u32, zero)                         | 60
//! +---------------------------------------------------------------+
//! ```
//!
//! File: `<dir>/<index, 20 decimal digits>.journal`, exactly `segment size`
//! bytes. The last 8 bytes are reserved for the end-of-segment marker.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use memmap2::{MmapOptions, MmapRaw};

use super::error::{CorruptionReason, JournalError};
use super::record::{
    END_MARKER_LEN, END_OF_SEGMENT_LEN, END_OF_SEGMENT_TAG, OFF_CRC, OFF_KIND, OFF_RESERVED,
    OFF_SEQ, OFF_TS, OFF_VERSION, RECORD_HEADER_LEN, align8,
};

/// Bytes of the segment header; the first record starts here.
pub const SEGMENT_HEADER_LEN: usize = 64;
/// The on-disk format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
pub(crate) const SEGMENT_MAGIC: u64 = u64::from_le_bytes(*b"TALONJNL");

const H_MAGIC: usize = 0;
const H_FORMAT: usize = 8;
const H_HEADER_LEN: usize = 12;
const H_INDEX: usize = 16;
const H_FIRST_SEQ: usize = 24;
const H_SIZE: usize = 32;
const H_CREATED: usize = 40;
const H_CRC: usize = 56;

const SEGMENT_SUFFIX: &str = ".journal";
const TEMP_SUFFIX: &str = ".journal.tmp";
/// The smallest file that can hold a header, one empty record and the marker.
pub(crate) const MIN_FILE_LEN: usize = SEGMENT_HEADER_LEN + RECORD_HEADER_LEN + END_MARKER_LEN;

/// The path of segment `index` in `dir`.
pub(crate) fn segment_path(dir: &Path, index: u64) -> PathBuf {
    dir.join(format!("{index:020}{SEGMENT_SUFFIX}"))
}

/// The index encoded in a segment file name, if `name` is one.
pub(crate) fn parse_segment_name(name: &str) -> Option<u64> {
    let stem = name.strip_suffix(SEGMENT_SUFFIX)?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

/// Every segment file in `dir`, sorted by index. Cold path.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, JournalError> {
    let mut out = Vec::new();
    let entries = fs::read_dir(dir).map_err(|e| JournalError::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| JournalError::io(dir, e))?;
        let name = entry.file_name();
        if let Some(index) = name.to_str().and_then(parse_segment_name) {
            out.push((index, entry.path()));
        }
    }
    out.sort_unstable_by_key(|(index, _)| *index);
    Ok(out)
}

/// Removes half-created segment files left by a crash during preparation.
pub(crate) fn remove_temp_files(dir: &Path) -> Result<usize, JournalError> {
    let mut removed = 0;
    let entries = fs::read_dir(dir).map_err(|e| JournalError::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| JournalError::io(dir, e))?;
        if entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.ends_with(TEMP_SUFFIX))
        {
            let path = entry.path();
            fs::remove_file(&path).map_err(|e| JournalError::io(&path, e))?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// fsync of a directory, so created and renamed entries survive power loss.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), JournalError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| JournalError::io(dir, e))
}

/// The decoded header of an activated segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SegmentHeader {
    pub(crate) index: u64,
    pub(crate) first_seq: u64,
    pub(crate) size: u64,
    pub(crate) created_unix_ns: u64,
}

/// What a segment's first 64 bytes say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HeaderState {
    /// Magic not stored yet: a prepared segment the writer has not rolled into.
    Spare,
    /// A valid header.
    Valid(SegmentHeader),
    /// Magic present but something else is wrong.
    Bad,
}

impl SegmentHeader {
    /// The header bytes, magic included.
    pub(crate) fn encode(&self) -> [u8; SEGMENT_HEADER_LEN] {
        let mut b = [0u8; SEGMENT_HEADER_LEN];
        b[H_MAGIC..H_MAGIC + 8].copy_from_slice(&SEGMENT_MAGIC.to_le_bytes());
        b[H_FORMAT..H_FORMAT + 4].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        b[H_HEADER_LEN..H_HEADER_LEN + 4]
            .copy_from_slice(&(SEGMENT_HEADER_LEN as u32).to_le_bytes());
        b[H_INDEX..H_INDEX + 8].copy_from_slice(&self.index.to_le_bytes());
        b[H_FIRST_SEQ..H_FIRST_SEQ + 8].copy_from_slice(&self.first_seq.to_le_bytes());
        b[H_SIZE..H_SIZE + 8].copy_from_slice(&self.size.to_le_bytes());
        b[H_CREATED..H_CREATED + 8].copy_from_slice(&self.created_unix_ns.to_le_bytes());
        let crc = crc32c::crc32c(&b[..H_CRC]);
        b[H_CRC..H_CRC + 4].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes and checks a header.
    pub(crate) fn decode(b: &[u8; SEGMENT_HEADER_LEN]) -> HeaderState {
        let u64_at = |o: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[o..o + 8]);
            u64::from_le_bytes(w)
        };
        let u32_at = |o: usize| {
            let mut w = [0u8; 4];
            w.copy_from_slice(&b[o..o + 4]);
            u32::from_le_bytes(w)
        };
        let magic = u64_at(H_MAGIC);
        if magic == 0 {
            return HeaderState::Spare;
        }
        if magic != SEGMENT_MAGIC
            || u32_at(H_FORMAT) != FORMAT_VERSION
            || u32_at(H_HEADER_LEN) as usize != SEGMENT_HEADER_LEN
            || u32_at(H_CRC) != crc32c::crc32c(&b[..H_CRC])
        {
            return HeaderState::Bad;
        }
        HeaderState::Valid(SegmentHeader {
            index: u64_at(H_INDEX),
            first_seq: u64_at(H_FIRST_SEQ),
            size: u64_at(H_SIZE),
            created_unix_ns: u64_at(H_CREATED),
        })
    }
}

/// A record slot as read at one position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Slot {
    /// Length zero: nothing published here (yet).
    Empty,
    /// The end-of-segment marker: continue in the next segment.
    EndOfSegment,
    /// A complete record whose CRC matched.
    Record(RecordMeta),
    /// A published length that cannot be, or a CRC mismatch.
    Bad(CorruptionReason),
}

/// Where a verified record sits; turned into a [`super::Record`] by
/// [`MappedSegment::record`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RecordMeta {
    pub(crate) seq: u64,
    pub(crate) ts: u64,
    pub(crate) kind: u16,
    pub(crate) version: u16,
    pub(crate) payload_off: usize,
    pub(crate) payload_len: usize,
    /// Offset of the slot after this record.
    pub(crate) next: usize,
}

/// One mapped segment file.
///
/// The mapping is `MAP_SHARED`: the writer's stores land in the page cache and
/// are seen by every other mapping of the file, in this process or another.
#[derive(Debug)]
pub(crate) struct MappedSegment {
    pub(crate) index: u64,
    pub(crate) path: PathBuf,
    map: MmapRaw,
    writable: bool,
    /// Device and inode of the mapped file, to notice it being removed or
    /// replaced under its name (see [`Self::unlinked`]).
    id: (u64, u64),
}

/// Length, device and inode of an open file.
fn file_meta(file: &File, path: &Path) -> Result<(u64, (u64, u64)), JournalError> {
    use std::os::unix::fs::MetadataExt;
    let m = file.metadata().map_err(|e| JournalError::io(path, e))?;
    Ok((m.len(), (m.dev(), m.ino())))
}

impl MappedSegment {
    /// Maps an existing segment read-only.
    pub(crate) fn open_read(index: u64, path: &Path) -> Result<Self, JournalError> {
        let file = File::open(path).map_err(|e| JournalError::io(path, e))?;
        Self::map_read_only(index, path, &file)
    }

    /// Maps an existing segment for the periodic flusher: the file is opened
    /// **read-write** and mapped `PROT_READ`, `MAP_SHARED`, not pre-faulted.
    ///
    /// Read-write matters: Linux only keeps `VM_SHARED` on a shared mapping of
    /// a file opened with write access, and `msync` only syncs `VM_SHARED`
    /// mappings. Through a mapping of a read-only descriptor `msync(MS_SYNC)`
    /// succeeds and writes nothing back. Through this one it is
    /// `vfs_fsync_range(file, range, datasync)`: it writes back every dirty
    /// page of the file in the range, whichever mapping dirtied it, and waits.
    /// (`fdatasync` would write the whole file, including pages pre-faulted
    /// for write far ahead of the cursor; `sync_file_range` alone does not
    /// flush the disk cache or metadata.) Never written through.
    pub(crate) fn open_flush(index: u64, path: &Path) -> Result<Self, JournalError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| JournalError::io(path, e))?;
        Self::map_read_only(index, path, &file)
    }

    /// Maps segment `index` at `path`, opened as `file`, `PROT_READ` and
    /// `MAP_SHARED`, not pre-faulted, after checking its size.
    fn map_read_only(index: u64, path: &Path, file: &File) -> Result<Self, JournalError> {
        let (len, id) = file_meta(file, path)?;
        check_file_len(index, len)?;
        let map = MmapOptions::new()
            .map_raw_read_only(file)
            .map_err(|e| JournalError::io(path, e))?;
        Ok(Self {
            index,
            path: path.to_path_buf(),
            map,
            writable: false,
            id,
        })
    }

    /// Maps an existing segment read-write for the writer, pre-faulted.
    pub(crate) fn open_write(
        index: u64,
        path: &Path,
        prefault: bool,
    ) -> Result<Self, JournalError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| JournalError::io(path, e))?;
        let (len, id) = file_meta(&file, path)?;
        check_file_len(index, len)?;
        let mut opts = MmapOptions::new();
        if prefault {
            opts.populate();
        }
        let map = opts.map_raw(&file).map_err(|e| JournalError::io(path, e))?;
        let seg = Self {
            index,
            path: path.to_path_buf(),
            map,
            writable: true,
            id,
        };
        if prefault {
            seg.prefault_write();
        }
        Ok(seg)
    }

    /// Creates segment `index` of `size` bytes: a temp file is preallocated
    /// (`posix_fallocate`, falling back to `set_len`), mapped, pre-faulted for
    /// writing, then renamed into place. Its header stays zero (a spare) until
    /// the writer activates it. With `durable`, the file and the directory are
    /// fsynced so the new entry survives power loss.
    pub(crate) fn create(
        dir: &Path,
        index: u64,
        size: usize,
        prefault: bool,
        durable: bool,
    ) -> Result<Self, JournalError> {
        let path = segment_path(dir, index);
        if path.exists() {
            // A spare already in place: what a preparation that failed after
            // its rename (the directory fsync) leaves. Replace it, so a failed
            // preparation cannot wedge every later roll. Anything else (an
            // activated segment) is never touched.
            if !Self::is_replaceable_spare(index, &path, size) {
                return Err(JournalError::io(
                    &path,
                    io::Error::new(io::ErrorKind::AlreadyExists, "segment already exists"),
                ));
            }
            fs::remove_file(&path).map_err(|e| JournalError::io(&path, e))?;
        }
        let tmp = dir.join(format!("{index:020}{TEMP_SUFFIX}"));
        match fs::remove_file(&tmp) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(JournalError::io(&tmp, e)),
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| JournalError::io(&tmp, e))?;
        preallocate(&file, size).map_err(|e| JournalError::io(&tmp, e))?;
        let mut opts = MmapOptions::new();
        if prefault {
            opts.populate();
        }
        let map = opts.map_raw(&file).map_err(|e| JournalError::io(&tmp, e))?;
        let (_, id) = file_meta(&file, &tmp)?;
        if durable {
            file.sync_all().map_err(|e| JournalError::io(&tmp, e))?;
        }
        fs::rename(&tmp, &path).map_err(|e| JournalError::io(&path, e))?;
        if durable {
            sync_dir(dir)?;
        }
        let seg = Self {
            index,
            path,
            map,
            writable: true,
            id,
        };
        if prefault {
            seg.prefault_write();
        }
        Ok(seg)
    }

    /// Whether the file at `path` is a spare of exactly `size` bytes that
    /// holds nothing (header magic and body all zero), so replacing it loses
    /// nothing. Cold: reads the whole file.
    fn is_replaceable_spare(index: u64, path: &Path, size: usize) -> bool {
        let Ok(seg) = Self::open_read(index, path) else {
            return false;
        };
        seg.len() == size
            && seg.header() == HeaderState::Spare
            // Only the writer (the caller, under the writer lock) writes to a
            // segment, and it has not activated this one: nothing changes
            // under the scan.
            && seg.bytes().iter().all(|&b| b == 0)
    }

    /// Whether the mapped file no longer is the one named `path` (removed,
    /// or replaced by another file). One `stat`; cold (idle tailers).
    pub(crate) fn unlinked(&self) -> bool {
        use std::os::unix::fs::MetadataExt;
        match fs::metadata(&self.path) {
            Ok(m) => (m.dev(), m.ino()) != self.id,
            Err(e) => e.kind() == io::ErrorKind::NotFound,
        }
    }

    /// Mapped length (the segment size).
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Base of the writable mapping. Only the writer calls this.
    #[inline]
    pub(crate) fn base_mut(&self) -> *mut u8 {
        debug_assert!(self.writable);
        self.map.as_mut_ptr()
    }

    /// Makes every page of the mapping present and writable, so the writer's
    /// first store to a page takes no fault. `MAP_POPULATE` alone maps shared
    /// file pages read-only (the kernel avoids dirtying them), which would
    /// leave a write-protect fault on first store; `MADV_POPULATE_WRITE`
    /// (Linux 5.14) takes that fault now. Older kernels: touch each page with
    /// a value-preserving atomic RMW instead.
    fn prefault_write(&self) {
        let ptr = self.map.as_mut_ptr();
        let len = self.map.len();
        // SAFETY: `ptr..ptr+len` is exactly our live mapping; MADV_POPULATE_WRITE
        // only faults pages in and never changes their contents.
        let rc = unsafe { libc::madvise(ptr.cast(), len, libc::MADV_POPULATE_WRITE) };
        if rc == 0 {
            return;
        }
        let page = page_size();
        let mut off = 0;
        while off + 8 <= len {
            // SAFETY: `off` is page-aligned (so 8-aligned) and `off + 8 <= len`,
            // inside our live writable mapping. `fetch_or(0)` writes back the
            // value it read, atomically, so a concurrent reader of this word
            // (a tailer Acquire-loading a length) sees no change.
            let word = unsafe { AtomicU64::from_ptr(ptr.add(off).cast::<u64>()) };
            // Relaxed: only the page fault matters, not ordering.
            word.fetch_or(0, Ordering::Relaxed);
            off += page;
        }
    }

    /// Reads the header: `Acquire`-loads the magic (pairs with the `Release`
    /// store in [`Self::activate`]) and then copies the rest.
    pub(crate) fn header(&self) -> HeaderState {
        let ptr = self.map.as_ptr();
        // SAFETY: the mapping is at least MIN_FILE_LEN > 8 bytes and page
        // aligned; an atomic load of an aligned u64 of read-only memory is
        // allowed (lock-free, native size, load only).
        let magic = unsafe { AtomicU64::from_ptr(ptr.cast_mut().cast::<u64>()) };
        // Acquire: pairs with the Release store of the magic in `activate`, so
        // the header fields stored before it are visible.
        if magic.load(Ordering::Acquire) == 0 {
            return HeaderState::Spare;
        }
        let mut bytes = [0u8; SEGMENT_HEADER_LEN];
        // SAFETY: 64 bytes inside the mapping; once the magic is published the
        // writer never changes the header again.
        unsafe { std::ptr::copy_nonoverlapping(ptr, bytes.as_mut_ptr(), SEGMENT_HEADER_LEN) };
        SegmentHeader::decode(&bytes)
    }

    /// Writes the header of a spare segment, magic last with `Release`.
    /// Writer only, before any record is written to this segment.
    pub(crate) fn activate(&self, header: &SegmentHeader) {
        let bytes = header.encode();
        let ptr = self.base_mut();
        // SAFETY: bytes 8..64 of our writable mapping; no reader looks at
        // them before the magic below is published, and only this writer
        // writes to the segment.
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr().add(8),
                ptr.add(8),
                SEGMENT_HEADER_LEN - 8,
            );
        }
        // SAFETY: offset 0 of a page-aligned mapping, valid for 8 bytes.
        let magic = unsafe { AtomicU64::from_ptr(ptr.cast::<u64>()) };
        // Release: pairs with the Acquire load in `header()`, so a reader that
        // sees the magic sees the fields written above.
        magic.store(SEGMENT_MAGIC, Ordering::Release);
    }

    /// Reads the slot at `pos` (8-aligned): `Acquire`-loads the length,
    /// checks it, then checks the CRC.
    pub(crate) fn read_slot(&self, pos: usize) -> Slot {
        let cap = self.map.len();
        if !pos.is_multiple_of(8) || pos + END_MARKER_LEN > cap {
            return Slot::Bad(CorruptionReason::BadLength);
        }
        let base = self.map.as_ptr();
        // SAFETY: `pos` is 8-aligned and `pos + 8 <= cap`, inside the mapping;
        // an atomic load of an aligned u32 is fine on read-only memory.
        let len_word = unsafe { AtomicU32::from_ptr(base.add(pos).cast_mut().cast::<u32>()) };
        // Acquire: pairs with the Release store of the length in
        // `JournalWriter::append_with` (and of the end marker in `roll`), so the
        // header fields and payload written before it are visible here.
        let len = u32::from_le(len_word.load(Ordering::Acquire));
        if len == 0 {
            return Slot::Empty;
        }
        if len == END_OF_SEGMENT_LEN {
            // SAFETY: pos + 8 <= cap, 4-aligned; an atomic load because a
            // writer retrying a failed roll stores the same tag again.
            let tag = unsafe { AtomicU32::from_ptr(base.add(pos + 4).cast_mut().cast::<u32>()) };
            // Relaxed: ordered by the Acquire load of the length above (the
            // tag was stored before its Release).
            let tag = tag.load(Ordering::Relaxed);
            return if u32::from_le(tag) == END_OF_SEGMENT_TAG {
                Slot::EndOfSegment
            } else {
                Slot::Bad(CorruptionReason::BadLength)
            };
        }
        let len = len as usize;
        if len < RECORD_HEADER_LEN || pos + align8(len) > cap - END_MARKER_LEN {
            return Slot::Bad(CorruptionReason::BadLength);
        }
        // SAFETY: `pos..pos+len` is inside the mapping (checked above) and,
        // being published, is never written again by the writer.
        let rec = unsafe { std::slice::from_raw_parts(base.add(pos), len) };
        let field32 = |o: usize| u32::from_le_bytes([rec[o], rec[o + 1], rec[o + 2], rec[o + 3]]);
        let field16 = |o: usize| u16::from_le_bytes([rec[o], rec[o + 1]]);
        let field64 = |o: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&rec[o..o + 8]);
            u64::from_le_bytes(w)
        };
        if super::crc::crc32c(&rec[OFF_SEQ..]) != field32(OFF_CRC) {
            return Slot::Bad(CorruptionReason::BadCrc);
        }
        if field32(OFF_RESERVED) != 0 {
            return Slot::Bad(CorruptionReason::BadReserved);
        }
        Slot::Record(RecordMeta {
            seq: field64(OFF_SEQ),
            ts: field64(OFF_TS),
            kind: field16(OFF_KIND),
            version: field16(OFF_VERSION),
            payload_off: pos + RECORD_HEADER_LEN,
            payload_len: len - RECORD_HEADER_LEN,
            next: pos + align8(len),
        })
    }

    /// The borrowed record for a slot [`Self::read_slot`] verified.
    pub(crate) fn record(&self, meta: &RecordMeta) -> super::Record<'_> {
        let end = meta.payload_off.saturating_add(meta.payload_len);
        let payload: &[u8] = if end <= self.map.len() {
            // SAFETY: in bounds (checked); `meta` came from `read_slot`, so the
            // length was published and these bytes never change again while
            // the mapping (borrowed by the result) lives.
            unsafe {
                std::slice::from_raw_parts(
                    self.map.as_ptr().add(meta.payload_off),
                    meta.payload_len,
                )
            }
        } else {
            &[]
        };
        super::Record {
            seq: meta.seq,
            ts: crate::clock::Nanos(meta.ts),
            kind: meta.kind,
            version: meta.version,
            payload,
        }
    }

    /// The whole mapping as bytes, for offline scans (recovery, verify).
    ///
    /// Only meaningful when no writer is appending: bytes beyond the published
    /// length may be changing under a live writer. Recovery holds the writer
    /// lock; `verify` documents the caveat.
    pub(crate) fn bytes(&self) -> &[u8] {
        // SAFETY: the full live mapping; see the doc comment for the
        // no-live-writer requirement the callers uphold.
        unsafe { std::slice::from_raw_parts(self.map.as_ptr(), self.map.len()) }
    }

    /// Zeroes `off..off+len` (recovery's cut) and syncs it. Writer only.
    pub(crate) fn zero_and_sync(&self, off: usize, len: usize) -> Result<(), JournalError> {
        if off.saturating_add(len) > self.map.len() || len == 0 {
            return Ok(());
        }
        // SAFETY: in bounds of our writable mapping (checked above); recovery
        // runs before the writer appends and the range holds no published
        // record (it is the torn tail), so no reader borrows these bytes.
        unsafe { std::ptr::write_bytes(self.base_mut().add(off), 0, len) };
        self.flush_range(off, len)
    }

    /// `msync(MS_SYNC)` of `off..off+len` (rounded out to pages by memmap2).
    pub(crate) fn flush_range(&self, off: usize, len: usize) -> Result<(), JournalError> {
        self.msync(off, len)
            .map_err(|e| JournalError::io(&self.path, e))
    }

    /// [`Self::flush_range`] with the bare I/O error.
    pub(crate) fn msync(&self, off: usize, len: usize) -> io::Result<()> {
        if len == 0 {
            return Ok(());
        }
        self.map.flush_range(off, len)
    }
}

fn check_file_len(index: u64, len: u64) -> Result<(), JournalError> {
    if len < MIN_FILE_LEN as u64 || !len.is_multiple_of(8) || len > (1 << 32) {
        return Err(JournalError::Corrupt {
            segment: index,
            offset: 0,
            reason: CorruptionReason::BadSegmentSize,
        });
    }
    Ok(())
}

/// Reserves `size` bytes of disk for `file` so a later store through the
/// mapping cannot hit ENOSPC (SIGBUS); falls back to a sparse `set_len` on
/// file systems without fallocate.
fn preallocate(file: &File, size: usize) -> io::Result<()> {
    let len =
        libc::off_t::try_from(size).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: plain syscall wrapper on a valid, owned file descriptor.
    let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len) };
    if rc == 0 {
        return Ok(());
    }
    if rc == libc::EOPNOTSUPP || rc == libc::EINVAL {
        return file.set_len(size as u64);
    }
    Err(io::Error::from_raw_os_error(rc))
}

/// The system page size.
pub(crate) fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p <= 0 { 4096 } else { p as usize }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn segment_names_round_trip() {
        let p = segment_path(Path::new("/x"), 42);
        let name = p.file_name().unwrap().to_str().unwrap();
        assert_eq!(name, "00000000000000000042.journal");
        assert_eq!(parse_segment_name(name), Some(42));
        assert_eq!(parse_segment_name("42.journal"), None);
        assert_eq!(parse_segment_name("0000000000000000004x.journal"), None);
        assert_eq!(parse_segment_name("00000000000000000042.journal.tmp"), None);
    }

    #[test]
    fn header_round_trips_and_detects_damage() {
        let h = SegmentHeader {
            index: 3,
            first_seq: 77,
            size: 65536,
            created_unix_ns: 123,
        };
        let mut b = h.encode();
        assert_eq!(SegmentHeader::decode(&b), HeaderState::Valid(h));
        b[30] ^= 1;
        assert_eq!(SegmentHeader::decode(&b), HeaderState::Bad);
        assert_eq!(SegmentHeader::decode(&[0u8; 64]), HeaderState::Spare);
    }

    #[test]
    fn created_segment_is_a_sized_spare_and_activates() {
        let dir = tempfile::tempdir().unwrap();
        let seg = MappedSegment::create(dir.path(), 0, 8192, true, false).unwrap();
        assert_eq!(seg.len(), 8192);
        assert_eq!(seg.header(), HeaderState::Spare);
        assert_eq!(seg.read_slot(SEGMENT_HEADER_LEN), Slot::Empty);
        let h = SegmentHeader {
            index: 0,
            first_seq: 1,
            size: 8192,
            created_unix_ns: 9,
        };
        seg.activate(&h);
        let ro = MappedSegment::open_read(0, &segment_path(dir.path(), 0)).unwrap();
        assert_eq!(ro.header(), HeaderState::Valid(h));
        assert!(MappedSegment::create(dir.path(), 0, 8192, true, false).is_err());
    }

    #[test]
    fn too_small_file_is_a_bad_segment() {
        let dir = tempfile::tempdir().unwrap();
        let path = segment_path(dir.path(), 0);
        fs::write(&path, [0u8; 16]).unwrap();
        let err = MappedSegment::open_read(0, &path).unwrap_err();
        assert!(matches!(
            err,
            JournalError::Corrupt {
                reason: CorruptionReason::BadSegmentSize,
                ..
            }
        ));
    }
}
