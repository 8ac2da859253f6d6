//! Store schema: creation, reopen, pragmas, migrations from hand-made older
//! files, refusal of a newer file.
#![allow(clippy::unwrap_used)]

use rusqlite::Connection;
use talon_control::store::{SCHEMA_VERSION, Store, StoreError};

fn tables(conn: &Connection) -> Vec<String> {
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

const ALL_TABLES: [&str; 11] = [
    "audit_events",
    "control_commands",
    "decisions",
    "fills",
    "halts",
    "orders",
    "positions",
    "projection_state",
    "reconciliations",
    "schema_version",
    "sessions",
];

#[test]
fn new_file_gets_full_schema_pragmas_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("talon.db");
    {
        let store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        assert_eq!(store.last_applied_seq(), 0);
        assert_eq!(tables(store.conn()), ALL_TABLES);
        let mode: String = store
            .conn()
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let sync: i64 = store
            .conn()
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        assert_eq!(sync, 2, "synchronous=FULL");
        let fk: i64 = store
            .conn()
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .unwrap();
        assert_eq!(fk, 1);
        assert_eq!(store.integrity_check().unwrap(), "ok");
    }
    // Reopen: nothing re-migrated (still one schema_version row per version).
    let store = Store::open(&path).unwrap();
    let rows: i64 = store
        .conn()
        .query_row("SELECT COUNT(*) FROM schema_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, SCHEMA_VERSION);
    assert_eq!(store.integrity_check().unwrap(), "ok");
    // Readable by a plain SQLite connection (what `sqlite3` does).
    drop(store);
    let plain = Connection::open(&path).unwrap();
    let last: i64 = plain
        .query_row("SELECT last_applied_seq FROM projection_state", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(last, 0);
}

#[test]
fn empty_v0_file_is_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v0.db");
    {
        // A v0 file: an SQLite database with no schema_version table (and an
        // unrelated table the migration must leave alone).
        let c = Connection::open(&path).unwrap();
        c.execute_batch("CREATE TABLE notes (text TEXT); INSERT INTO notes VALUES ('keep');")
            .unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    let kept: String = store
        .conn()
        .query_row("SELECT text FROM notes", [], |r| r.get(0))
        .unwrap();
    assert_eq!(kept, "keep");
    assert_eq!(store.integrity_check().unwrap(), "ok");
}

/// The version-1 schema, written out by hand (independently of the
/// migration list) with data in it.
const HAND_MADE_V1: &str = r#"
CREATE TABLE schema_version (version INTEGER PRIMARY KEY, description TEXT NOT NULL,
    applied_unix_ns INTEGER NOT NULL);
INSERT INTO schema_version VALUES (1, 'hand-made v1', 0);
CREATE TABLE projection_state (id INTEGER PRIMARY KEY CHECK (id = 1),
    last_applied_seq INTEGER NOT NULL);
INSERT INTO projection_state VALUES (1, 7);
CREATE TABLE orders (id INTEGER PRIMARY KEY, client_order_id TEXT NOT NULL UNIQUE,
    instrument INTEGER NOT NULL, side TEXT NOT NULL, order_type TEXT, time_in_force TEXT,
    price TEXT, qty TEXT, status TEXT NOT NULL, cum_qty TEXT NOT NULL, venue_order_id TEXT,
    source TEXT NOT NULL CHECK (source IN ('command', 'exec_report')),
    cancel_requested_seq INTEGER, created_seq INTEGER NOT NULL, updated_seq INTEGER NOT NULL);
INSERT INTO orders (client_order_id, instrument, side, order_type, time_in_force, price, qty,
    status, cum_qty, source, created_seq, updated_seq)
    VALUES ('a1', 3, 'buy', 'limit', 'gtc', '100.5', '2', 'new', '0', 'command', 2, 3);
CREATE TABLE fills (id INTEGER PRIMARY KEY, trade_id TEXT NOT NULL, instrument INTEGER NOT NULL,
    client_order_id TEXT REFERENCES orders (client_order_id), venue_order_id TEXT NOT NULL,
    side TEXT NOT NULL, qty TEXT NOT NULL, price TEXT NOT NULL, fee TEXT NOT NULL,
    fee_asset TEXT NOT NULL, venue_time_ms INTEGER NOT NULL, seq INTEGER NOT NULL UNIQUE,
    UNIQUE (trade_id, instrument));
INSERT INTO fills (trade_id, instrument, client_order_id, venue_order_id, side, qty, price, fee,
    fee_asset, venue_time_ms, seq)
    VALUES ('55', 3, 'a1', '9', 'buy', '1.5', '100', '0', 'none', 0, 5);
CREATE TABLE positions (instrument INTEGER PRIMARY KEY, qty TEXT NOT NULL,
    avg_price TEXT NOT NULL, realised_pnl TEXT NOT NULL, fees_base TEXT NOT NULL,
    fees_quote TEXT NOT NULL, fees_other TEXT NOT NULL, last_fill_price TEXT NOT NULL,
    fills INTEGER NOT NULL, updated_seq INTEGER NOT NULL);
CREATE TABLE audit_events (seq INTEGER PRIMARY KEY, ts_ns INTEGER NOT NULL,
    kind TEXT NOT NULL, summary TEXT NOT NULL);
"#;

#[test]
fn hand_made_v1_file_is_migrated_keeping_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.db");
    Connection::open(&path)
        .unwrap()
        .execute_batch(HAND_MADE_V1)
        .unwrap();
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(store.last_applied_seq(), 7);
    let (status, price): (String, String) = store
        .conn()
        .query_row(
            "SELECT status, price FROM orders WHERE client_order_id = 'a1'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((status.as_str(), price.as_str()), ("new", "100.5"));
    // Positions are rebuilt from the v1 file's fills.
    let pos = store.position(3).unwrap();
    assert_eq!(pos.qty().to_string(), "1.5");
    // The v2 tables exist and the version history has both rows.
    assert_eq!(tables(store.conn()), ALL_TABLES);
    let versions: Vec<i64> = store
        .conn()
        .prepare("SELECT version FROM schema_version ORDER BY version")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(versions, vec![1, 2]);
    assert_eq!(store.integrity_check().unwrap(), "ok");
}

#[test]
fn newer_schema_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("future.db");
    drop(Store::open(&path).unwrap());
    Connection::open(&path)
        .unwrap()
        .execute(
            "INSERT INTO schema_version VALUES (?1, 'from the future', 0)",
            [SCHEMA_VERSION + 1],
        )
        .unwrap();
    match Store::open(&path) {
        Err(StoreError::SchemaTooNew { found, supported }) => {
            assert_eq!((found, supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
    let c = Connection::open(&path).unwrap();
    let max: i64 = c
        .query_row("SELECT MAX(version) FROM schema_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(max, SCHEMA_VERSION + 1);
}
