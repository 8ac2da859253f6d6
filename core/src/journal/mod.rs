//! The append-only, crash-consistent audit journal (DESIGN.md §8).
//!
//! Owns the segment files in one directory: writing them
//! ([`JournalWriter`], one per directory), reading them ([`JournalReader`],
//! [`JournalTailer`]), recovering them on open and checking them
//! ([`verify`], [`inspect`]). It is the only module of talon-core with
//! `unsafe` (mapped memory); every block carries a `// SAFETY:` comment.
//! It never interprets payloads (that is `event::JournalPayload`), never
//! allocates or makes a syscall in `append` in steady state (a segment roll
//! wakes the preparer, and [`SyncPolicy::EveryRecord`] `msync`s; see
//! `writer.rs`), and never silently drops or replays a damaged record.
//!
//! # Files
//!
//! ```text
//! <dir>/writer.lock                      flock held by the one writer
//! <dir>/00000000000000000000.journal     segment 0
//! <dir>/00000000000000000001.journal     segment 1 ...
//! <dir>/<index>.journal.tmp              a segment being created (removed on open)
//! ```
//!
//! # Segment layout
//!
//! Every segment file is exactly its segment size (default 64 MiB,
//! preallocated with `posix_fallocate`), mapped `MAP_SHARED` and pre-faulted
//! for writing, so appends take no *first-touch* page fault. (Once the kernel
//! writes a dirty page back, by `msync` or its own periodic writeback, it
//! write-protects it again and the next store to that page takes a minor
//! fault; see `writer.rs`.)
//!
//! ```text
//! offset 0        64                                               size-8   size
//!        +--------+--------+--------+-- ... --+--------+------------+--------+
//!        | header | rec 1  | rec 2  |         | rec n  | end marker | (zero) |
//!        +--------+--------+--------+-- ... --+--------+------------+--------+
//!                                                         ^ or zeros: not sealed
//! ```
//!
//! The 64-byte header (drawn bit by bit in `segment.rs`) holds the magic
//! `"TALONJNL"`, format version 1, header length, segment index, the first
//! sequence in the segment, the segment size, the wall-clock creation time
//! and a CRC-32C of the header. The magic is stored last, with `Release`; a
//! zero magic marks a **spare**: a segment the background preparer created
//! ahead of time that the writer has not rolled into.
//!
//! # Record layout
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +---------------------------------------------------------------+
//! |         length (u32 LE) = 32 + payload length, 0 = none       |  0  stored LAST (Release)
//! +---------------------------------------------------------------+
//! |         crc32c (u32 LE) over bytes 8 .. length                |  4
//! +---------------------------------------------------------------+
//! |                      sequence (u64 LE)                        |  8
//! +---------------------------------------------------------------+
//! |                   timestamp ns (u64 LE)                       | 16
//! +-------------------------------+-------------------------------+
//! |        kind (u16 LE)          |        version (u16 LE)       | 24
//! +-------------------------------+-------------------------------+
//! |                   reserved (u32, always 0)                    | 28
//! +---------------------------------------------------------------+
//! |                     payload (length - 32 bytes)             ...  32
//! +---------------------------------------------------------------+
//! |          zero padding: the next record starts 8-aligned       |
//! +---------------------------------------------------------------+
//! ```
//!
//! (Each 64-bit field is one row here; `record.rs` draws them as two.)
//! Sequences start at 1 and are contiguous across segments. The timestamp is
//! the caller's `ts`, stored verbatim: by convention the engine's monotonic
//! duty-cycle `now` (the same clock as event stage stamps), so `append` reads
//! no clock.
//!
//! **Order and time.** Records are ordered by `seq`, and only by `seq`.
//! `ts` is monotonic within one writer session only: the monotonic clock's
//! origin is per process, so after a restart (which may reopen in the middle
//! of a segment) `ts` starts again from an unrelated origin, and it must not
//! be compared across sessions. A segment header's wall-clock creation time
//! dates only the segment's creation, not the records in it (a segment can
//! span sessions). Placing records in calendar time needs an anchor (a
//! wall-clock/monotonic pair) that the writer's owner journals at the start
//! of each session; the engine issue adds it.
//!
//! **A record that does not fit** in what is left of a segment (the last 8
//! bytes are always reserved) is not split: the writer stores an 8-byte
//! end-of-segment marker (length `0xFFFF_FFFF`, tag `"EOSL"`) at the write
//! position, with the length stored last, and continues in the next segment,
//! whose header it wrote first. Readers that meet the marker move on.
//!
//! # Crash consistency
//!
//! 1. The writer stores the header fields and the payload, computes the CRC
//!    over them and stores it, and only then stores the length with
//!    `Release` through an `AtomicU32` view of the mapped word.
//! 2. Readers load the length with `Acquire`. Zero means "end of written
//!    data": a concurrent reader can never see a length without the bytes it
//!    covers, so it never returns a half-written record.
//! 3. The mapping is `MAP_SHARED`: stores are in the page cache as soon as
//!    they execute, so a **process** crash loses at most the record being
//!    written, which has no length yet (or, if the crash came after step 1, is
//!    complete). A **power** loss keeps whatever pages the kernel had written
//!    back, in any order, unless [`SyncPolicy`] `msync`ed them: a record may
//!    then have its length but not all its payload. Its CRC catches that.
//! 4. [`verify`] and [`inspect`] on a journal with a live writer read only
//!    published records and do not check the tail after them
//!    ([`VerifyReport::live_writer`]; see `recover.rs`).
//! 5. On [`JournalWriter::open`], a scan walks every record checking length
//!    bounds, CRC, reserved field and sequence. The first failure, or a zero
//!    length followed by non-zero bytes, is a **torn tail** if no valid record
//!    follows it (here or in a later segment): the writer zeroes it up to the
//!    last non-zero byte (so it can never be replayed), counts it in
//!    [`RecoveryReport`], and appends continue at the next sequence. If a
//!    valid record does follow, it is **corruption**: `open` refuses with
//!    [`JournalError::Corrupt`] and changes nothing, because cutting would
//!    silently drop valid records. [`verify`] reports the two cases
//!    separately and never modifies files.
//!
//! # Example
//!
//! ```
//! use talon_core::clock::Nanos;
//! use talon_core::journal::{JournalConfig, JournalReader, JournalWriter, RecordKind};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let mut config = JournalConfig::new(dir.path());
//! config.segment_size = 64 * 1024;
//! let (mut writer, report) = JournalWriter::open(config).unwrap();
//! assert_eq!(report.next_seq, 1);
//! let seq = writer.append(RecordKind::Blob, 1, Nanos(42), b"hello").unwrap();
//! assert_eq!(seq, 1);
//! drop(writer);
//!
//! let mut reader = JournalReader::open(dir.path()).unwrap();
//! let rec = reader.next().unwrap().unwrap();
//! assert_eq!((rec.seq, rec.payload), (1, &b"hello"[..]));
//! assert_eq!(rec.kind(), Some(RecordKind::Blob));
//! ```

mod crc;
mod error;
mod kind;
mod reader;
mod record;
mod recover;
mod segment;
mod writer;

pub use error::{CorruptionReason, JournalError};
pub use kind::RecordKind;
pub use reader::{JournalReader, JournalTailer};
pub use record::{RECORD_ALIGN, RECORD_HEADER_LEN, Record, RecordHeader};
pub use recover::{
    Corruption, SegmentState, SegmentSummary, TornTail, VerifyReport, inspect, verify,
};
pub use segment::{FORMAT_VERSION, SEGMENT_HEADER_LEN};
pub use writer::{
    DEFAULT_SEGMENT_SIZE, JournalConfig, JournalWriter, MAX_SEGMENT_SIZE, MIN_SEGMENT_SIZE,
    RecoveryReport, SyncPolicy, WriterStats,
};
