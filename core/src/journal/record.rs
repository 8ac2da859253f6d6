//! The record layout: header fields, offsets, alignment and the borrowed
//! [`Record`] view handed to readers.
//!
//! Owns the byte offsets every other journal file uses, so the layout is
//! defined once. It never touches a mapping itself (see `segment.rs`).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +---------------------------------------------------------------+
//! |         length (u32 LE) = 32 + payload length, 0 = none       |  0  stored LAST (Release)
//! +---------------------------------------------------------------+
//! |         crc32c (u32 LE) over bytes 8 .. length                |  4
//! +---------------------------------------------------------------+
//! |                                                               |  8
//! +                      sequence (u64 LE)                        +
//! |                                                               |
//! +---------------------------------------------------------------+
//! |                                                               | 16
//! +                   timestamp ns (u64 LE)                       +
//! |                                                               |
//! +-------------------------------+-------------------------------+
//! |        kind (u16 LE)          |        version (u16 LE)       | 24
//! +-------------------------------+-------------------------------+
//! |                   reserved (u32, always 0)                    | 28
//! +---------------------------------------------------------------+
//! |                     payload (length - 32 bytes)             ...  32
//! +---------------------------------------------------------------+
//! |          zero padding to the next multiple of 8               |
//! +---------------------------------------------------------------+
//! ```
//!
//! End-of-segment marker (8 bytes, at the first slot a record did not fit):
//!
//! ```text
//! +---------------------------------------------------------------+
//! |        length = 0xFFFF_FFFF (u32, stored LAST, Release)       |  0
//! +---------------------------------------------------------------+
//! |        tag = 0x4C53_4F45 ("EOSL" little-endian)               |  4
//! +---------------------------------------------------------------+
//! ```

use crate::clock::Nanos;

use super::RecordKind;

/// Bytes in a record header; the payload starts here.
pub const RECORD_HEADER_LEN: usize = 32;
/// Every record (and the end-of-segment marker) starts on this alignment.
pub const RECORD_ALIGN: usize = 8;

pub(crate) const OFF_LEN: usize = 0;
pub(crate) const OFF_CRC: usize = 4;
pub(crate) const OFF_SEQ: usize = 8;
pub(crate) const OFF_TS: usize = 16;
pub(crate) const OFF_KIND: usize = 24;
pub(crate) const OFF_VERSION: usize = 26;
pub(crate) const OFF_RESERVED: usize = 28;

/// The length value of an end-of-segment marker.
pub(crate) const END_OF_SEGMENT_LEN: u32 = u32::MAX;
/// The tag word that must follow [`END_OF_SEGMENT_LEN`].
pub(crate) const END_OF_SEGMENT_TAG: u32 = u32::from_le_bytes(*b"EOSL");
/// Bytes reserved at the end of every segment so the marker always fits.
pub(crate) const END_MARKER_LEN: usize = 8;

/// The record header as a `#[repr(C)]` struct: documents the layout above
/// and lets tools decode a header they copied out of a file.
/// The journal itself reads and writes fields at the `OFF_*` offsets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct RecordHeader {
    /// 32 + payload length; 0 means "nothing written here yet".
    pub len: u32,
    /// CRC-32C of bytes 8..len (header fields after the CRC, then payload).
    pub crc: u32,
    /// Sequence number, contiguous across segments, starting at 1.
    pub seq: u64,
    /// Caller's timestamp (by convention the engine's monotonic duty-cycle `now`).
    pub ts: u64,
    /// [`RecordKind`] as stored.
    pub kind: u16,
    /// Payload codec version.
    pub version: u16,
    /// Always zero.
    pub reserved: u32,
}

const _: () = assert!(size_of::<RecordHeader>() == RECORD_HEADER_LEN);
const _: () = assert!(std::mem::offset_of!(RecordHeader, crc) == OFF_CRC);
const _: () = assert!(std::mem::offset_of!(RecordHeader, seq) == OFF_SEQ);
const _: () = assert!(std::mem::offset_of!(RecordHeader, ts) == OFF_TS);
const _: () = assert!(std::mem::offset_of!(RecordHeader, kind) == OFF_KIND);
const _: () = assert!(std::mem::offset_of!(RecordHeader, version) == OFF_VERSION);
const _: () = assert!(std::mem::offset_of!(RecordHeader, reserved) == OFF_RESERVED);
const _: () = assert!(OFF_LEN == 0);

/// `n` rounded up to [`RECORD_ALIGN`].
#[inline]
pub(crate) const fn align8(n: usize) -> usize {
    (n + (RECORD_ALIGN - 1)) & !(RECORD_ALIGN - 1)
}

/// One committed record, borrowed from a mapped segment.
///
/// The borrow lasts until the reader or tailer that produced it moves on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// Sequence number (contiguous across segments).
    pub seq: u64,
    /// The timestamp the writer was given.
    pub ts: Nanos,
    /// The raw stored kind; see [`Record::kind`].
    pub kind: u16,
    /// Payload codec version.
    pub version: u16,
    /// The payload bytes.
    pub payload: &'a [u8],
}

impl Record<'_> {
    /// The stored kind, if this build knows it (unknown kinds are skipped or
    /// reported raw by tools, never an error).
    #[inline]
    pub fn kind(&self) -> Option<RecordKind> {
        RecordKind::from_u16(self.kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn align8_rounds_up_to_eight() {
        assert_eq!(align8(0), 0);
        assert_eq!(align8(1), 8);
        assert_eq!(align8(8), 8);
        assert_eq!(align8(33), 40);
        assert_eq!(align8(RECORD_HEADER_LEN), RECORD_HEADER_LEN);
    }

    #[test]
    fn record_kind_decodes_known_and_unknown() {
        let payload = [1u8, 2, 3];
        let mut rec = Record {
            seq: 1,
            ts: Nanos(5),
            kind: RecordKind::ExecReport.as_u16(),
            version: 1,
            payload: &payload,
        };
        assert_eq!(rec.kind(), Some(RecordKind::ExecReport));
        rec.kind = 0xBEEF;
        assert_eq!(rec.kind(), None);
    }

    #[test]
    fn end_marker_tag_is_not_a_plausible_length() {
        assert_eq!(END_OF_SEGMENT_TAG.to_le_bytes(), *b"EOSL");
        assert!(END_OF_SEGMENT_LEN as usize > 1 << 30);
    }
}
