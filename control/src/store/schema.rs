//! The store's versioned schema: the migration list and the code that brings
//! a database file up to [`SCHEMA_VERSION`].
//!
//! Owns the SQL text of every migration (in order; never edited once
//! released: a change is a new migration) and the `schema_version` table.
//! It never projects journal records and never downgrades: a file written
//! by a newer build is refused with [`StoreError::SchemaTooNew`].

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use super::StoreError;

/// One migration: the version it brings the file to and its SQL.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Migration {
    /// Version after this migration.
    pub(crate) version: i64,
    /// What it does, for the log.
    pub(crate) what: &'static str,
    /// SQL executed as one batch inside the migration's transaction.
    pub(crate) sql: &'static str,
}

/// Every migration, oldest first. Versions are 1, 2, ... without gaps.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        what: "projection core: projection_state, orders, fills, positions, audit_events",
        sql: r#"
CREATE TABLE projection_state (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    last_applied_seq INTEGER NOT NULL
);
INSERT INTO projection_state (id, last_applied_seq) VALUES (1, 0);

CREATE TABLE orders (
    id                   INTEGER PRIMARY KEY,
    client_order_id      TEXT    NOT NULL UNIQUE,
    instrument           INTEGER NOT NULL,
    side                 TEXT    NOT NULL,
    order_type           TEXT,
    time_in_force        TEXT,
    price                TEXT,
    qty                  TEXT,
    status               TEXT    NOT NULL,
    cum_qty              TEXT    NOT NULL,
    venue_order_id       TEXT,
    source               TEXT    NOT NULL CHECK (source IN ('command', 'exec_report')),
    cancel_requested_seq INTEGER,
    created_seq          INTEGER NOT NULL,
    updated_seq          INTEGER NOT NULL
);
CREATE INDEX orders_status ON orders (status);

CREATE TABLE fills (
    id              INTEGER PRIMARY KEY,
    trade_id        TEXT    NOT NULL,
    instrument      INTEGER NOT NULL,
    client_order_id TEXT REFERENCES orders (client_order_id),
    venue_order_id  TEXT    NOT NULL,
    side            TEXT    NOT NULL,
    qty             TEXT    NOT NULL,
    price           TEXT    NOT NULL,
    fee             TEXT    NOT NULL,
    fee_asset       TEXT    NOT NULL,
    venue_time_ms   INTEGER NOT NULL,
    seq             INTEGER NOT NULL UNIQUE,
    UNIQUE (trade_id, instrument)
);

CREATE TABLE positions (
    instrument      INTEGER PRIMARY KEY,
    qty             TEXT    NOT NULL,
    avg_price       TEXT    NOT NULL,
    realised_pnl    TEXT    NOT NULL,
    fees_base       TEXT    NOT NULL,
    fees_quote      TEXT    NOT NULL,
    fees_other      TEXT    NOT NULL,
    last_fill_price TEXT    NOT NULL,
    fills           INTEGER NOT NULL,
    updated_seq     INTEGER NOT NULL
);

CREATE TABLE audit_events (
    seq     INTEGER PRIMARY KEY,
    ts_ns   INTEGER NOT NULL,
    kind    TEXT    NOT NULL,
    summary TEXT    NOT NULL
);
"#,
    },
    Migration {
        version: 2,
        what: "control tables: decisions, control_commands, halts, sessions, reconciliations",
        sql: r#"
CREATE TABLE decisions (
    seq             INTEGER PRIMARY KEY,
    instrument      INTEGER NOT NULL,
    action          TEXT    NOT NULL,
    side            TEXT    NOT NULL,
    order_type      TEXT    NOT NULL,
    time_in_force   TEXT    NOT NULL,
    price           TEXT    NOT NULL,
    qty             TEXT    NOT NULL,
    stop            TEXT,
    client_order_id TEXT,
    verdict_code    INTEGER NOT NULL,
    verdict_reason  TEXT    NOT NULL,
    state           TEXT    NOT NULL,
    origin          TEXT    NOT NULL,
    outcome         TEXT    NOT NULL
);
CREATE INDEX decisions_client_order_id ON decisions (client_order_id);

CREATE TABLE control_commands (
    id         INTEGER PRIMARY KEY,
    seq        INTEGER UNIQUE,
    command_id TEXT    NOT NULL,
    command    TEXT    NOT NULL,
    applied    INTEGER NOT NULL CHECK (applied IN (0, 1))
);

CREATE TABLE halts (
    seq        INTEGER PRIMARY KEY,
    reason     TEXT    NOT NULL,
    ts_ns      INTEGER NOT NULL,
    command_id TEXT    NOT NULL
);

CREATE TABLE sessions (
    session       INTEGER PRIMARY KEY,
    first_seq     INTEGER NOT NULL,
    last_seq      INTEGER NOT NULL,
    max_order_seq INTEGER NOT NULL
);

CREATE TABLE reconciliations (
    id               INTEGER PRIMARY KEY,
    started_unix_ns  INTEGER NOT NULL,
    finished_unix_ns INTEGER,
    trigger          TEXT    NOT NULL,
    status           TEXT    NOT NULL,
    journal_seq      INTEGER,
    discrepancies    TEXT    NOT NULL DEFAULT '[]'
);
"#,
    },
];

/// The schema version this build writes and reads.
pub const SCHEMA_VERSION: i64 = 2;

const _: () = assert!(MIGRATIONS.len() as i64 == SCHEMA_VERSION);

/// The file's schema version: 0 for a file with no `schema_version` table
/// (new or empty).
pub(crate) fn current_version(conn: &Connection) -> Result<i64, StoreError> {
    let has_table: Option<i64> = conn
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    if has_table.is_none() {
        return Ok(0);
    }
    let v: Option<i64> =
        conn.query_row("SELECT MAX(version) FROM schema_version", [], |r| r.get(0))?;
    Ok(v.unwrap_or(0))
}

/// Brings the file to [`SCHEMA_VERSION`], all pending migrations in one
/// `IMMEDIATE` transaction (a crash leaves the old version intact). Returns
/// the version found before migrating.
pub(crate) fn migrate(conn: &mut Connection) -> Result<i64, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found = current_version(&tx)?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    if found == 0 {
        tx.execute_batch(
            "CREATE TABLE schema_version (
                 version         INTEGER PRIMARY KEY,
                 description     TEXT    NOT NULL,
                 applied_unix_ns INTEGER NOT NULL
             );",
        )?;
    }
    let now = i64::try_from(talon_core::clock::unix_nanos()).unwrap_or(i64::MAX);
    for m in MIGRATIONS.iter().filter(|m| m.version > found) {
        tracing::info!(version = m.version, what = m.what, "store: migrating");
        tx.execute_batch(m.sql)?;
        tx.execute(
            "INSERT INTO schema_version (version, description, applied_unix_ns) VALUES (?1, ?2, ?3)",
            rusqlite::params![m.version, m.what, now],
        )?;
    }
    tx.commit()?;
    Ok(found)
}
