//! The control agent's SQLite state store, projected from the audit journal.
//!
//! Owns the database file (one [`Store`] per file), its versioned schema
//! (`schema.rs`), the projection of journal records into rows (`project.rs`)
//! and the [`Projector`] that tails a journal directory into the store. It
//! never writes the journal, never talks to the engine or the venue, and is
//! never on the hot path: it allocates and blocks on disk freely.
//!
//! # Durability and exactly-once projection
//!
//! The file is opened with `PRAGMA journal_mode = WAL`, `synchronous = FULL`
//! and `foreign_keys = ON`. [`Store::apply`] projects a batch of journal
//! records in **one** transaction that also stores the last applied
//! sequence (`projection_state.last_applied_seq`). A crash at any instant
//! either keeps the whole batch and its sequence or neither, and records at
//! or below the stored sequence are skipped on the next apply: re-reading
//! the journal after a crash neither loses nor duplicates a row. Records
//! must arrive in sequence order without gaps ([`StoreError::SequenceGap`]).
//!
//! Positions are computed with talon-core's
//! [`Position`](talon_core::engine::position::Position) (the engine's own
//! arithmetic) from the fills, in journal order; [`Store::open`] rebuilds
//! them from the `fills` table, so the in-memory positions always equal a
//! replay of the stored fills.
//!
//! # Schema (version 2)
//!
//! Open the file with `sqlite3 talon.db` (the `-wal` file next to it is part
//! of the database while a writer is open). Amounts are exact decimal
//! **TEXT** written by `Price`/`Qty`/`Notional` `Display` (never `REAL`);
//! venue ids (`trade_id`, `venue_order_id`, `command_id`) are decimal TEXT
//! because they are `u64`; `seq` columns are journal sequences; `ts_ns` is
//! the journal record's timestamp (the engine's monotonic clock, comparable
//! only within one session); enums are their lower-case names
//! (`buy`, `limit`, `gtc`, `partially_filled`, ...).
//!
//! | table | one row per | columns |
//! |-------|-------------|---------|
//! | `schema_version` | applied migration | `version` PK, `description`, `applied_unix_ns` |
//! | `projection_state` | (single row, `id = 1`) | `last_applied_seq`: every record up to it is projected |
//! | `orders` | client order id (UNIQUE) | `instrument`, `side`, `order_type`, `time_in_force`, `price`, `qty` (NULL for an order first seen in an exec report), `status` (latest report; `pending_new` until one arrives; a terminal status is never left), `cum_qty`, `venue_order_id`, `source` (`command` / `exec_report`), `cancel_requested_seq`, `created_seq`, `updated_seq` |
//! | `fills` | (`trade_id`, `instrument`) UNIQUE | `client_order_id` (FK orders, NULL if the report had none), `venue_order_id`, `side`, `qty`, `price`, `fee`, `fee_asset`, `venue_time_ms`, `seq` UNIQUE; a repeated trade id is ignored |
//! | `positions` | instrument (PK) | `qty` (signed), `avg_price`, `realised_pnl`, `fees_base`, `fees_quote`, `fees_other`, `last_fill_price`, `fills`, `updated_seq` |
//! | `audit_events` | decision, order command, exec report or control message record | `seq` PK, `ts_ns`, `kind` (`RecordKind::as_str`), `summary` (the event's export JSON, or `{"decode_error": …}`) |
//! | `decisions` | `Decision` record | `seq` PK, `instrument`, `action`, `side`, `order_type`, `time_in_force`, `price`, `qty`, `stop`, `client_order_id`, `verdict_code` (0 = approved), `verdict_reason`, `state`, `origin`, `outcome` |
//! | `control_commands` | control message | `seq` UNIQUE, `command_id`, `command` (JSON), `applied` (1: journaled by the engine after applying it) |
//! | `halts` | `Halt` control message | `seq` PK, `reason`, `ts_ns`, `command_id` |
//! | `sessions` | Talon session seen in a `tl…` client order id | `session` PK, `first_seq`, `last_seq`, `max_order_seq` (a restart resumes ids after it) |
//! | `reconciliations` | reconciliation run | `started_unix_ns`, `finished_unix_ns`, `trigger`, `status`, `journal_seq`, `discrepancies` (JSON array). Written by the reconciliation step, **which does not exist yet**: nothing writes this table today |
//!
//! Market events and blobs are not projected (the tape stays in the
//! journal); their sequences still advance `last_applied_seq`, as do
//! records of kinds this build does not know.
//!
//! # Migrations
//!
//! `schema.rs` lists every migration in order; [`Store::open`] applies the
//! missing ones in one transaction (a file without `schema_version` is
//! version 0). A file from a newer build is refused with
//! [`StoreError::SchemaTooNew`] and left untouched.

mod project;
mod projector;
mod schema;

use std::collections::HashMap;
use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};
use talon_core::engine::position::Position;
use talon_core::journal::{JournalError, Record};

pub use projector::{DEFAULT_BATCH, Projector};
pub use schema::SCHEMA_VERSION;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused an operation.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The file was written by a newer build.
    #[error("store schema version {found} is newer than this build supports ({supported})")]
    SchemaTooNew {
        /// The file's version.
        found: i64,
        /// [`SCHEMA_VERSION`].
        supported: i64,
    },
    /// A pragma did not take the value the store requires.
    #[error("pragma {pragma} is {got:?}, expected {expected:?}")]
    Pragma {
        /// The pragma.
        pragma: &'static str,
        /// What SQLite reported.
        got: String,
        /// What the store needs.
        expected: &'static str,
    },
    /// A record's sequence is not the next one after the last applied.
    #[error("journal sequence gap: expected {expected}, got {found}")]
    SequenceGap {
        /// `last_applied_seq + 1`.
        expected: u64,
        /// The record's sequence.
        found: u64,
    },
    /// A journal sequence beyond SQLite's signed 64-bit integers.
    #[error("journal sequence {0} does not fit an SQLite integer")]
    SeqOutOfRange(u64),
    /// A stored row could not be read back.
    #[error("table {table}: bad {what}")]
    BadRow {
        /// The table.
        table: &'static str,
        /// The column.
        what: &'static str,
    },
    /// An event could not be written as JSON.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    /// The journal could not be read.
    #[error("journal: {0}")]
    Journal(#[from] JournalError),
}

/// What one [`Store::apply`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// Records projected.
    pub applied: usize,
    /// Records skipped because they were already applied.
    pub skipped: usize,
    /// `last_applied_seq` after the batch.
    pub last_applied_seq: u64,
}

/// The SQLite state store (see the module docs).
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    last_applied: u64,
    /// Positions by instrument, equal to a replay of the `fills` table.
    positions: HashMap<u16, Position>,
}

impl Store {
    /// Opens (creating if needed) the store at `path`: sets the pragmas,
    /// migrates the schema to [`SCHEMA_VERSION`] and rebuilds positions.
    pub fn open(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        let mut conn = Connection::open(path.as_ref())?;
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Pragma {
                pragma: "journal_mode",
                got: mode,
                expected: "wal",
            });
        }
        conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let sync: i64 = conn.query_row("PRAGMA synchronous", [], |r| r.get(0))?;
        if sync != 2 {
            return Err(StoreError::Pragma {
                pragma: "synchronous",
                got: sync.to_string(),
                expected: "2 (FULL)",
            });
        }
        let from = schema::migrate(&mut conn)?;
        if from != SCHEMA_VERSION {
            tracing::info!(from, to = SCHEMA_VERSION, "store: schema migrated");
        }
        let last: i64 = conn.query_row(
            "SELECT last_applied_seq FROM projection_state WHERE id = 1",
            [],
            |r| r.get(0),
        )?;
        let last_applied = u64::try_from(last).map_err(|_| StoreError::BadRow {
            table: "projection_state",
            what: "last_applied_seq",
        })?;
        let positions = project::rebuild_positions(&conn)?;
        Ok(Store {
            conn,
            last_applied,
            positions,
        })
    }

    /// The sequence of the last projected journal record (0: none).
    pub fn last_applied_seq(&self) -> u64 {
        self.last_applied
    }

    /// The schema version of the open file (always [`SCHEMA_VERSION`] after
    /// a successful open).
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        schema::current_version(&self.conn)
    }

    /// The connection, for read-only queries (status, `talon ctl`, tests).
    /// Writing through it bypasses the projection's guarantees.
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// The position of `instrument` as computed from the stored fills
    /// (`None`: no fill yet).
    pub fn position(&self, instrument: u16) -> Option<Position> {
        self.positions.get(&instrument).copied()
    }

    /// Projects `records` (in sequence order) in one transaction that also
    /// stores the last applied sequence. Records at or below
    /// [`Store::last_applied_seq`] are skipped; any other record must be the
    /// next sequence. On `Err` nothing of the batch is kept.
    pub fn apply<'a, I>(&mut self, records: I) -> Result<ApplyReport, StoreError>
    where
        I: IntoIterator<Item = Record<'a>>,
    {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Work on a copy: if the transaction does not commit, the cache
        // must stay equal to the committed fills.
        let mut positions = self.positions.clone();
        let mut last = self.last_applied;
        let mut report = ApplyReport::default();
        for rec in records {
            if rec.seq <= last {
                report.skipped += 1;
                continue;
            }
            let expected = last.saturating_add(1);
            if rec.seq != expected {
                return Err(StoreError::SequenceGap {
                    expected,
                    found: rec.seq,
                });
            }
            project::project(&tx, &mut positions, &rec)?;
            last = rec.seq;
            report.applied += 1;
        }
        if report.applied > 0 {
            tx.execute(
                "UPDATE projection_state SET last_applied_seq = ?1 WHERE id = 1",
                [project::seq_i64(last)?],
            )?;
            tx.commit()?;
            self.last_applied = last;
            self.positions = positions;
        }
        report.last_applied_seq = self.last_applied;
        Ok(report)
    }

    /// `PRAGMA integrity_check`: `"ok"` for a sound file, else SQLite's
    /// first findings.
    pub fn integrity_check(&self) -> Result<String, StoreError> {
        let mut stmt = self.conn.prepare("PRAGMA integrity_check")?;
        let rows: Vec<String> = stmt
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(rows.join("\n"))
    }
}
