//! Errors a benchmark run can end with.
//!
//! Owns [`BenchError`]. A benchmark never fails because a number is slow (it
//! reports); it fails only when it cannot measure: a missing core, an I/O or
//! SQLite error, a journal error, or a thread that stopped making progress.

use std::path::PathBuf;

/// Why a benchmark could not produce a report.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A requested core is not in this process's affinity mask.
    #[error("core {core} is not available on this machine (available cores: {available:?})")]
    CoreUnavailable {
        /// The core asked for.
        core: usize,
        /// The cores this process may run on.
        available: Vec<usize>,
    },
    /// The kernel refused to pin a thread to a core that exists.
    #[error("could not pin a benchmark thread to core {core}")]
    PinFailed {
        /// The core asked for.
        core: usize,
    },
    /// A configuration value is out of range.
    #[error("invalid benchmark configuration: {0}")]
    InvalidConfig(&'static str),
    /// A histogram could not be created.
    #[error("histogram: {0}")]
    Histogram(#[from] hdrhistogram::CreationError),
    /// A file operation failed.
    #[error("{what} ({path}): {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// SQLite failed.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// Talon's journal failed.
    #[error("talon journal: {0}")]
    Journal(#[from] talon_core::journal::JournalError),
    /// A benchmark thread made no progress before the deadline.
    #[error("{case}: no progress for {secs} s (is another process hogging the pinned core?)")]
    Stalled {
        /// The case being measured.
        case: &'static str,
        /// The deadline that passed.
        secs: u64,
    },
    /// A benchmark thread panicked.
    #[error("{case}: a benchmark thread panicked")]
    ThreadPanicked {
        /// The case being measured.
        case: &'static str,
    },
}

impl BenchError {
    /// An [`BenchError::Io`] for `path`.
    pub(crate) fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            what,
            path: path.into(),
            source,
        }
    }
}
