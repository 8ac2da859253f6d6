//! The session number, unique across restarts of one data directory.
//!
//! Owns [`next_session_id`]: `<data_dir>/session` holds the last session
//! number as decimal text; each start reads it, adds one, writes the new
//! value to a temporary file, fsyncs it, renames it over the old one and
//! fsyncs the directory, so a crash never hands out a number twice (at
//! worst one is skipped). The number is the `session` of every client order
//! id (`tl<session>-<seq>`, `tk<session>-<tick>`) and the gateway's
//! `session_id`. Start-up only.
//!
//! The counter file is not the only record of used numbers: every order the
//! engine sent is in the journal with its client order id. A session starts
//! past both ([`highest_journal_session`] + [`next_session_id_after`]), so a
//! lost or stale counter file never hands out a number the journal already
//! holds.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;

use talon_core::event::{JournalPayload, OrderCommand};
use talon_core::journal::{JournalError, JournalReader, RecordKind};

/// Name of the counter file inside the data directory.
pub const SESSION_FILE: &str = "session";

/// Why the counter could not be advanced.
#[derive(Debug, thiserror::Error)]
pub enum SessionIdError {
    /// Reading, writing or syncing the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file does not hold a number.
    #[error("{path}: {content:?} is not a session number")]
    Corrupt {
        /// The file.
        path: String,
        /// What it holds (first bytes).
        content: String,
    },
    /// Every session number was used.
    #[error("{path}: session numbers exhausted")]
    Exhausted {
        /// The file.
        path: String,
    },
}

/// Advances the counter in `data_dir` (created if missing) and returns the
/// new session number (1 for a fresh directory).
pub fn next_session_id(data_dir: &Path) -> Result<u32, SessionIdError> {
    next_session_id_after(data_dir, 0)
}

/// The highest session number in the client order id of any order command
/// in the journal at `dir` (0 if none, or no journal). Reads the whole
/// journal: start-up only, before any hot thread.
pub fn highest_journal_session(dir: &Path) -> Result<u32, JournalError> {
    if !dir.exists() {
        return Ok(0);
    }
    let mut reader = JournalReader::open(dir)?;
    let mut highest = 0;
    while let Some(rec) = reader.next() {
        let rec = rec?;
        if rec.kind() != Some(RecordKind::OrderCommand) {
            continue;
        }
        let Ok(cmd) = OrderCommand::decode(rec.payload, rec.version) else {
            continue;
        };
        let id = cmd.client_order_id;
        if let Some((session, _)) = id.session_seq().or_else(|| id.session_tick()) {
            highest = highest.max(session);
        }
    }
    Ok(highest)
}

/// [`next_session_id`], but never at or below `floor` (the highest number
/// known to be used elsewhere, e.g. [`highest_journal_session`]).
pub fn next_session_id_after(data_dir: &Path, floor: u32) -> Result<u32, SessionIdError> {
    let io = |p: &Path| {
        let path = p.display().to_string();
        move |source| SessionIdError::Io { path, source }
    };
    fs::create_dir_all(data_dir).map_err(io(data_dir))?;
    let file = data_dir.join(SESSION_FILE);
    let last = match fs::read_to_string(&file) {
        Ok(text) => text
            .trim()
            .parse::<u32>()
            .map_err(|_| SessionIdError::Corrupt {
                path: file.display().to_string(),
                content: text.chars().take(32).collect(),
            })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        Err(e) => return Err(io(&file)(e)),
    };
    let next = last
        .max(floor)
        .checked_add(1)
        .ok_or_else(|| SessionIdError::Exhausted {
            path: file.display().to_string(),
        })?;
    let tmp = data_dir.join(format!("{SESSION_FILE}.tmp"));
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(io(&tmp))?;
        writeln!(f, "{next}").map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
    }
    fs::rename(&tmp, &file).map_err(io(&file))?;
    File::open(data_dir)
        .and_then(|d| d.sync_all())
        .map_err(io(data_dir))?;
    Ok(next)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn counts_up_across_calls_and_refuses_a_corrupt_file() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("data");
        assert_eq!(next_session_id(&d).unwrap(), 1);
        assert_eq!(next_session_id(&d).unwrap(), 2);
        assert_eq!(next_session_id(&d).unwrap(), 3);
        assert_eq!(fs::read_to_string(d.join(SESSION_FILE)).unwrap(), "3\n");
        fs::write(d.join(SESSION_FILE), "x").unwrap();
        assert!(matches!(
            next_session_id(&d),
            Err(SessionIdError::Corrupt { .. })
        ));
        fs::write(d.join(SESSION_FILE), format!("{}", u32::MAX)).unwrap();
        assert!(matches!(
            next_session_id(&d),
            Err(SessionIdError::Exhausted { .. })
        ));
    }
}
