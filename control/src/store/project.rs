//! Projection of one journal record into the store's tables.
//!
//! Owns the mapping from [`RecordKind`] to rows (see the schema in the
//! module docs of [`crate::store`]). Everything here runs inside the
//! caller's transaction and never commits: [`crate::store::Store::apply`]
//! decides what is atomic. A payload that does not decode is recorded as an
//! audit event with its error and skipped (it must not stall the
//! projection); it never panics on any record.

use std::collections::HashMap;

use rusqlite::{OptionalExtension, Transaction, params};
use serde::Serialize;
use talon_core::engine::position::Position;
use talon_core::event::{
    ClientOrderId, ControlCommand, ControlMsg, Decision, ExecReport, FeeAsset, JournalPayload,
    OrderCommand, OrderCommandKind, OrderStatus, Side,
};
use talon_core::instrument::InstrumentId;
use talon_core::journal::{Record, RecordKind};
use talon_core::num::{Price, Qty};

use super::StoreError;

/// A journal sequence as an SQLite integer.
pub(crate) fn seq_i64(seq: u64) -> Result<i64, StoreError> {
    i64::try_from(seq).map_err(|_| StoreError::SeqOutOfRange(seq))
}

/// `Some(id)` unless the id is empty.
fn id_text(id: &ClientOrderId) -> Option<&str> {
    (!id.is_empty()).then(|| id.as_str())
}

/// Projects `rec` (already checked to be the next sequence). `positions` is
/// the transaction's working copy of the position cache.
pub(crate) fn project(
    tx: &Transaction<'_>,
    positions: &mut HashMap<u16, Position>,
    rec: &Record<'_>,
) -> Result<(), StoreError> {
    let seq = seq_i64(rec.seq)?;
    let ts = i64::try_from(rec.ts.0).unwrap_or(i64::MAX);
    match rec.kind() {
        Some(RecordKind::Decision) => match Decision::decode(rec.payload, rec.version) {
            Ok(d) => {
                audit(tx, seq, ts, RecordKind::Decision, &d)?;
                decision(tx, seq, &d)?;
                session(tx, seq, &d.client_order_id)?;
            }
            Err(e) => undecodable(tx, seq, ts, RecordKind::Decision, &e)?,
        },
        Some(RecordKind::OrderCommand) => match OrderCommand::decode(rec.payload, rec.version) {
            Ok(c) => {
                audit(tx, seq, ts, RecordKind::OrderCommand, &c)?;
                order_command(tx, seq, &c)?;
                session(tx, seq, &c.client_order_id)?;
            }
            Err(e) => undecodable(tx, seq, ts, RecordKind::OrderCommand, &e)?,
        },
        Some(RecordKind::ExecReport) => match ExecReport::decode(rec.payload, rec.version) {
            Ok(r) => {
                audit(tx, seq, ts, RecordKind::ExecReport, &r)?;
                exec_report(tx, positions, seq, &r)?;
            }
            Err(e) => undecodable(tx, seq, ts, RecordKind::ExecReport, &e)?,
        },
        Some(RecordKind::ControlMsg) => match ControlMsg::decode(rec.payload, rec.version) {
            Ok(m) => {
                audit(tx, seq, ts, RecordKind::ControlMsg, &m)?;
                control(tx, seq, ts, &m)?;
            }
            Err(e) => undecodable(tx, seq, ts, RecordKind::ControlMsg, &e)?,
        },
        // The market tape and opaque blobs stay in the journal only; unknown
        // kinds (a newer writer) are skipped. Their sequences still advance
        // `last_applied_seq`.
        Some(RecordKind::MarketEvent | RecordKind::Blob) | None => {}
    }
    Ok(())
}

fn audit<T: Serialize>(
    tx: &Transaction<'_>,
    seq: i64,
    ts: i64,
    kind: RecordKind,
    event: &T,
) -> Result<(), StoreError> {
    let summary = serde_json::to_string(event)?;
    tx.execute(
        "INSERT INTO audit_events (seq, ts_ns, kind, summary) VALUES (?1, ?2, ?3, ?4)",
        params![seq, ts, kind.as_str(), summary],
    )?;
    Ok(())
}

fn undecodable(
    tx: &Transaction<'_>,
    seq: i64,
    ts: i64,
    kind: RecordKind,
    err: &talon_core::event::PayloadError,
) -> Result<(), StoreError> {
    tracing::warn!(seq, kind = kind.as_str(), error = %err, "store: payload does not decode");
    let summary = serde_json::json!({ "decode_error": err.to_string() }).to_string();
    tx.execute(
        "INSERT INTO audit_events (seq, ts_ns, kind, summary) VALUES (?1, ?2, ?3, ?4)",
        params![seq, ts, kind.as_str(), summary],
    )?;
    Ok(())
}

fn decision(tx: &Transaction<'_>, seq: i64, d: &Decision) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO decisions (seq, instrument, action, side, order_type, time_in_force, price,
             qty, stop, client_order_id, verdict_code, verdict_reason, state, origin, outcome)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
        params![
            seq,
            d.instrument.0,
            d.action.as_str(),
            d.side.as_str(),
            d.order_type.as_str(),
            d.time_in_force.as_str(),
            d.price.to_string(),
            d.qty.to_string(),
            d.stop.map(|p| p.to_string()),
            id_text(&d.client_order_id),
            d.verdict.code(),
            d.verdict.as_str(),
            d.state.as_str(),
            d.origin.as_str(),
            d.outcome.as_str(),
        ],
    )?;
    Ok(())
}

/// Tracks Talon's own session ids (`tl<session>-<seq>`): the highest order
/// sequence per session, which a restart resumes after.
fn session(tx: &Transaction<'_>, seq: i64, id: &ClientOrderId) -> Result<(), StoreError> {
    let Some((session, order_seq)) = id.session_seq() else {
        return Ok(());
    };
    let order_seq = seq_i64(order_seq)?;
    tx.execute(
        "INSERT INTO sessions (session, first_seq, last_seq, max_order_seq) VALUES (?1, ?2, ?2, ?3)
         ON CONFLICT (session) DO UPDATE SET
             last_seq = MAX(last_seq, excluded.last_seq),
             max_order_seq = MAX(max_order_seq, excluded.max_order_seq)",
        params![session, seq, order_seq],
    )?;
    Ok(())
}

fn order_command(tx: &Transaction<'_>, seq: i64, c: &OrderCommand) -> Result<(), StoreError> {
    match c.kind {
        OrderCommandKind::New => {
            let Some(id) = id_text(&c.client_order_id) else {
                tracing::warn!(seq, "store: new order without a client order id");
                return Ok(());
            };
            // An order first seen in an exec report (adopted) gets its
            // command fields filled in; a repeated id keeps the first order.
            let changed = tx.execute(
                "INSERT INTO orders (client_order_id, instrument, side, order_type, time_in_force,
                     price, qty, status, cum_qty, source, created_seq, updated_seq)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, '0', 'command', ?9, ?9)
                 ON CONFLICT (client_order_id) DO UPDATE SET
                     order_type = excluded.order_type, time_in_force = excluded.time_in_force,
                     price = excluded.price, qty = excluded.qty
                 WHERE orders.order_type IS NULL",
                params![
                    id,
                    c.instrument.0,
                    c.side.as_str(),
                    c.order_type.as_str(),
                    c.time_in_force.as_str(),
                    c.price.to_string(),
                    c.qty.to_string(),
                    OrderStatus::PendingNew.as_str(),
                    seq,
                ],
            )?;
            if changed == 0 {
                tracing::warn!(seq, id, "store: client order id reused; first order kept");
            }
        }
        OrderCommandKind::Cancel => {
            if let Some(id) = id_text(&c.client_order_id) {
                tx.execute(
                    "UPDATE orders SET cancel_requested_seq = ?2, updated_seq = ?2
                     WHERE client_order_id = ?1",
                    params![id, seq],
                )?;
            }
        }
        OrderCommandKind::CancelAll => {}
    }
    Ok(())
}

fn exec_report(
    tx: &Transaction<'_>,
    positions: &mut HashMap<u16, Position>,
    seq: i64,
    r: &ExecReport,
) -> Result<(), StoreError> {
    let id = id_text(&r.client_order_id);
    if let Some(id) = id {
        let current: Option<String> = tx
            .query_row(
                "SELECT status FROM orders WHERE client_order_id = ?1",
                [id],
                |row| row.get(0),
            )
            .optional()?;
        match current {
            None => {
                tx.execute(
                    "INSERT INTO orders (client_order_id, instrument, side, status, cum_qty,
                         venue_order_id, source, created_seq, updated_seq)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'exec_report', ?7, ?7)",
                    params![
                        id,
                        r.instrument.0,
                        r.side.as_str(),
                        r.status.as_str(),
                        r.cum_qty.to_string(),
                        r.venue_order_id.to_string(),
                        seq,
                    ],
                )?;
            }
            Some(status) => {
                // A terminal order stays terminal (a late or repeated report
                // does not reopen it); its venue id is still recorded.
                let terminal = OrderStatus::ALL
                    .iter()
                    .any(|s| s.as_str() == status && s.is_terminal());
                if terminal {
                    tx.execute(
                        "UPDATE orders SET venue_order_id = COALESCE(venue_order_id, ?2),
                             updated_seq = ?3 WHERE client_order_id = ?1",
                        params![id, r.venue_order_id.to_string(), seq],
                    )?;
                } else {
                    tx.execute(
                        "UPDATE orders SET status = ?2, cum_qty = ?3, venue_order_id = ?4,
                             updated_seq = ?5 WHERE client_order_id = ?1",
                        params![
                            id,
                            r.status.as_str(),
                            r.cum_qty.to_string(),
                            r.venue_order_id.to_string(),
                            seq,
                        ],
                    )?;
                }
            }
        }
    }
    if r.trade_id == 0 {
        return Ok(());
    }
    let inserted = tx.execute(
        "INSERT INTO fills (trade_id, instrument, client_order_id, venue_order_id, side, qty,
             price, fee, fee_asset, venue_time_ms, seq)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT (trade_id, instrument) DO NOTHING",
        params![
            r.trade_id.to_string(),
            r.instrument.0,
            id,
            r.venue_order_id.to_string(),
            r.side.as_str(),
            r.last_qty.to_string(),
            r.last_price.to_string(),
            r.fee.to_string(),
            r.fee_asset.as_str(),
            i64::try_from(r.venue_time_ms).unwrap_or(i64::MAX),
            seq,
        ],
    )?;
    if inserted == 0 {
        tracing::warn!(
            seq,
            trade_id = r.trade_id,
            "store: duplicate trade id ignored"
        );
        return Ok(());
    }
    let pos = positions.entry(r.instrument.0).or_default();
    match pos.apply(r) {
        Ok(_) => write_position(tx, r.instrument.0, pos, seq)?,
        Err(e) => {
            tracing::warn!(seq, trade_id = r.trade_id, error = %e, "store: fill not applied to position");
        }
    }
    Ok(())
}

/// Upserts the positions row of `instrument` from `pos`.
pub(crate) fn write_position(
    tx: &Transaction<'_>,
    instrument: u16,
    pos: &Position,
    seq: i64,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO positions (instrument, qty, avg_price, realised_pnl, fees_base, fees_quote,
             fees_other, last_fill_price, fills, updated_seq)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (instrument) DO UPDATE SET
             qty = excluded.qty, avg_price = excluded.avg_price,
             realised_pnl = excluded.realised_pnl, fees_base = excluded.fees_base,
             fees_quote = excluded.fees_quote, fees_other = excluded.fees_other,
             last_fill_price = excluded.last_fill_price, fills = excluded.fills,
             updated_seq = excluded.updated_seq",
        params![
            instrument,
            pos.qty().to_string(),
            pos.avg_price().to_string(),
            pos.realised().to_string(),
            pos.fees_base().to_string(),
            pos.fees_quote().to_string(),
            pos.fees_other().to_string(),
            pos.last_fill_price().to_string(),
            i64::try_from(pos.fills()).unwrap_or(i64::MAX),
            seq,
        ],
    )?;
    Ok(())
}

fn control(tx: &Transaction<'_>, seq: i64, ts: i64, m: &ControlMsg) -> Result<(), StoreError> {
    let command = serde_json::to_string(m)?;
    let command_id = m.command_id.to_string();
    // Journaled by the engine after applying it: applied.
    tx.execute(
        "INSERT INTO control_commands (seq, command_id, command, applied) VALUES (?1, ?2, ?3, 1)",
        params![seq, command_id, command],
    )?;
    if let ControlCommand::Halt { reason } = m.command {
        tx.execute(
            "INSERT INTO halts (seq, reason, ts_ns, command_id) VALUES (?1, ?2, ?3, ?4)",
            params![seq, reason.as_str(), ts, command_id],
        )?;
    }
    Ok(())
}

/// Rebuilds every position from the `fills` table, in journal order (what
/// `Store::open` does, so the cache always equals a replay of the fills).
pub(crate) fn rebuild_positions(
    conn: &rusqlite::Connection,
) -> Result<HashMap<u16, Position>, StoreError> {
    let mut positions: HashMap<u16, Position> = HashMap::new();
    let mut stmt = conn.prepare(
        "SELECT trade_id, instrument, side, qty, price, fee, fee_asset FROM fills ORDER BY seq",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let trade_id: String = row.get(0)?;
        let instrument: u16 = row.get(1)?;
        let side: String = row.get(2)?;
        let qty: String = row.get(3)?;
        let price: String = row.get(4)?;
        let fee: String = row.get(5)?;
        let fee_asset: String = row.get(6)?;
        let bad = |what: &'static str| StoreError::BadRow {
            table: "fills",
            what,
        };
        let report = ExecReport {
            instrument: InstrumentId(instrument),
            status: OrderStatus::PartiallyFilled,
            side: Side::ALL
                .iter()
                .copied()
                .find(|s| s.as_str() == side)
                .ok_or(bad("side"))?,
            trade_id: trade_id.parse().map_err(|_| bad("trade_id"))?,
            last_price: Price::parse(&price).map_err(|_| bad("price"))?,
            last_qty: Qty::parse(&qty).map_err(|_| bad("qty"))?,
            fee: Qty::parse(&fee).map_err(|_| bad("fee"))?,
            fee_asset: FeeAsset::ALL
                .iter()
                .copied()
                .find(|a| a.as_str() == fee_asset)
                .ok_or(bad("fee_asset"))?,
            ..ExecReport::ZERO
        };
        // A fill refused at projection time is refused again here, the same way.
        let _ = positions.entry(instrument).or_default().apply(&report);
    }
    Ok(positions)
}
