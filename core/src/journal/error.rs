//! The journal's error type and the closed set of corruption reasons.
//!
//! Owns [`JournalError`] and [`CorruptionReason`]. I/O errors always carry
//! the path they happened on. The hot path (`append`) only ever produces
//! [`JournalError::RecordTooLarge`] (no allocation), on a segment roll an
//! I/O error from preparing or sealing segments (nothing appended; retry),
//! and under `SyncPolicy::EveryRecord` [`JournalError::NotDurable`] (the
//! record *was* appended; never retry it).

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// Why a stretch of a journal is not a valid record chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CorruptionReason {
    /// The segment header has a wrong magic, format version, CRC, index or size.
    BadSegmentHeader,
    /// The segment file is too small or not a multiple of 8 bytes.
    BadSegmentSize,
    /// A segment index is missing between two present segments.
    MissingSegment,
    /// A record length that cannot be: shorter than a header, or running past
    /// the end of the segment, or an end-of-segment marker with a bad tag.
    BadLength,
    /// The record's CRC-32C does not match its header fields and payload.
    BadCrc,
    /// The record's reserved header field is not zero.
    BadReserved,
    /// A record or segment does not carry the next sequence number.
    SequenceGap,
    /// Bytes were written where no length was published (an unpublished
    /// record), yet valid records follow.
    UnpublishedRecord,
    /// A segment ends without an end-of-segment marker, yet a later segment
    /// holds records.
    UnsealedSegment,
}

impl CorruptionReason {
    /// A stable lower-case name for reports.
    pub const fn as_str(self) -> &'static str {
        match self {
            CorruptionReason::BadSegmentHeader => "bad_segment_header",
            CorruptionReason::BadSegmentSize => "bad_segment_size",
            CorruptionReason::MissingSegment => "missing_segment",
            CorruptionReason::BadLength => "bad_length",
            CorruptionReason::BadCrc => "bad_crc",
            CorruptionReason::BadReserved => "bad_reserved",
            CorruptionReason::SequenceGap => "sequence_gap",
            CorruptionReason::UnpublishedRecord => "unpublished_record",
            CorruptionReason::UnsealedSegment => "unsealed_segment",
        }
    }
}

impl fmt::Display for CorruptionReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything that can go wrong opening, writing, reading or verifying a journal.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// An I/O operation failed on `path`.
    #[error("journal I/O error on {}: {source}", path.display())]
    Io {
        /// The file or directory the operation was on.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A [`super::JournalConfig`] value is out of range.
    #[error("invalid journal config `{key}`: {reason}")]
    InvalidConfig {
        /// The config field.
        key: &'static str,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The payload cannot fit in one segment.
    #[error("record payload of {len} bytes exceeds the maximum of {max} for this segment size")]
    RecordTooLarge {
        /// Requested payload length.
        len: usize,
        /// Largest payload a segment of the configured size holds.
        max: usize,
    },
    /// The journal is damaged at a place followed by valid data (or in a way
    /// that is not a torn tail). Never cut silently: an operator decides.
    #[error("journal corrupted in segment {segment} at offset {offset}: {reason}")]
    Corrupt {
        /// Segment index.
        segment: u64,
        /// Byte offset in the segment file.
        offset: u64,
        /// What is wrong there.
        reason: CorruptionReason,
    },
    /// Another `JournalWriter` (in this or another process) holds the directory.
    #[error("journal directory {} already has a writer", path.display())]
    WriterLocked {
        /// The lock file.
        path: PathBuf,
    },
    /// Under [`super::SyncPolicy::EveryRecord`]: the record **was appended**
    /// (published, readable, its sequence `seq` consumed) but the `msync`
    /// that should have made it durable failed. Do not append it again; call
    /// [`super::JournalWriter::sync`] (or keep appending: the next record's
    /// `msync` covers the page again) to retry durability.
    #[error("journal record {seq} was appended but is not durable ({}): {source}", path.display())]
    NotDurable {
        /// The sequence the committed record got.
        seq: u64,
        /// The segment file.
        path: PathBuf,
        /// The failed `msync`.
        #[source]
        source: io::Error,
    },
    /// The segment index space (2^32 segments) is used up.
    #[error("journal segment index space exhausted")]
    Exhausted,
}

impl JournalError {
    /// Wraps an I/O error with the path it happened on.
    pub(crate) fn io(path: &Path, source: io::Error) -> Self {
        JournalError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
