//! Shared by the `paper_*` end-to-end scenarios (each test file includes it
//! with `mod paper_support;`): building a polite paper-session config,
//! waiting on conditions, reading the simulator's books for the session's
//! account, reading a session's journal back as typed records, the
//! journal-order audit (every order has its approved verdict right before
//! it), and the replay of the journaled fills into positions and cash flow.
//!
//! Test support only: it allocates, blocks and panics on failure (with a
//! message saying what was expected). It never starts a session by itself
//! and never touches anything outside the temporary directories the tests
//! give it.
#![allow(
    dead_code,
    reason = "each scenario file includes this module and uses a subset"
)]
#![allow(clippy::unwrap_used, reason = "test support")]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use talon_cli::session::{Session, SessionConfig, VenueChoice};
use talon_core::engine::position::PositionBook;
use talon_core::engine::risk::Verdict;
use talon_core::event::{
    ClientOrderId, ControlMsg, Decision, DecisionOutcome, ExecReport, FeeAsset, JournalPayload,
    OrderCommand, OrderCommandKind, Side,
};
use talon_core::instrument::{InstrumentId, InstrumentTable};
use talon_core::journal::{JournalReader, RecordKind};
use talon_core::num::SCALE;
use talon_sim::{DEMO_API_KEY, SimHandle};

/// The API key the paper sessions trade with (the simulator's demo account:
/// no `[[sim.account]]` in the configs below, no credentials in the
/// environment).
pub(crate) const API_KEY: &str = DEMO_API_KEY;

/// Small journal segments (the 64 MiB default is pre-faulted: slow to
/// create on a busy machine, and nothing here writes that much).
const JOURNAL_TOML: &str = "[journal]\nsegment_size = 4194304\n";

/// A paper session (embedded simulator, BTCUSDT + ETHUSDT, `quote`) from
/// the `talon run` TOML `toml` (merged over the paper defaults) with its
/// data in `dir`, made polite (no pinning, no busy-spinning) so several can
/// share a 2-core CI machine.
pub(crate) fn paper_config(toml: &str, dir: &Path) -> SessionConfig {
    let text = format!("{toml}\n{JOURNAL_TOML}");
    SessionConfig::from_toml(&text, dir)
        .unwrap_or_else(|e| panic!("config {text:?}: {e}"))
        .polite()
}

/// Starts `cfg` and waits (30 s at most) until the engine is ready.
pub(crate) fn start_ready(cfg: SessionConfig) -> Session {
    let s = Session::start(cfg).expect("session starts");
    if let Err(e) = s.wait_ready(Duration::from_secs(30)) {
        panic!("session not ready: {e}; status {}", s.status());
    }
    s
}

/// Polls `f` every 20 ms for at most `secs` seconds; true as soon as it is.
pub(crate) fn eventually(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

/// The embedded simulator of a session started from [`paper_config`].
pub(crate) fn sim(s: &Session) -> &SimHandle {
    s.sim().expect("a paper session embeds the simulator")
}

/// The starting balances of [`API_KEY`]'s account as the session's
/// simulator config declares them, raw 1e-8 units by asset.
pub(crate) fn initial_balances(cfg: &SessionConfig) -> BTreeMap<String, i128> {
    let VenueChoice::EmbeddedSim(sc) = &cfg.venue else {
        panic!("not a paper session: {:?}", cfg.venue);
    };
    let acct = sc
        .accounts
        .iter()
        .find(|a| a.api_key == API_KEY)
        .expect("the demo account is configured");
    acct.balances
        .iter()
        .map(|(asset, q)| (asset.clone(), i128::from(q.raw())))
        .collect()
}

/// The account's balances at the simulator now: `(free + locked, locked)`
/// per asset, raw 1e-8 units, read under the exchange lock.
pub(crate) fn sim_balances(sim: &SimHandle) -> BTreeMap<String, (i128, i128)> {
    sim.account_balances(API_KEY)
        .expect("the session's account exists at the simulator")
        .into_iter()
        .map(|b| {
            let (free, locked) = (i128::from(b.free.raw()), i128::from(b.locked.raw()));
            (b.asset, (free + locked, locked))
        })
        .collect()
}

/// Sum of the account's locked amounts over every asset (zero iff no open
/// order holds anything).
pub(crate) fn sim_locked(sim: &SimHandle) -> i128 {
    sim_balances(sim).values().map(|(_, l)| *l).sum()
}

/// Number of the account's open orders at the simulator.
pub(crate) fn sim_open_orders(sim: &SimHandle) -> usize {
    sim.open_orders(API_KEY).expect("account exists").len()
}

/// One journal record, decoded.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Entry {
    /// A decision with its risk verdict.
    Decision(Decision),
    /// An order command (new, cancel, cancel-all).
    Order(OrderCommand),
    /// An execution report.
    Exec(ExecReport),
    /// A control message.
    Control(ControlMsg),
    /// Any other kind (market events, blobs), by raw kind.
    Other(u16),
}

/// A journal record: sequence and decoded payload.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rec {
    /// Journal sequence.
    pub(crate) seq: u64,
    /// The payload.
    pub(crate) entry: Entry,
}

fn decode<T: JournalPayload>(payload: &[u8], version: u16, seq: u64) -> T {
    T::decode(payload, version).unwrap_or_else(|e| panic!("record {seq} ({:?}): {e}", T::KIND))
}

/// Every record of the journal in `dir`, in order; panics on a read or
/// decode error (a session's journal must be fully readable). Also checks
/// that the JSON form `talon journal export` prints for each decision
/// (serde of the decoded payload) names its verdict and reason code.
pub(crate) fn read_journal(dir: &Path) -> Vec<Rec> {
    let mut reader = JournalReader::open(dir).expect("journal opens");
    let mut out = Vec::new();
    while let Some(rec) = reader.next() {
        let rec = rec.expect("journal record reads");
        let (seq, version, payload) = (rec.seq, rec.version, rec.payload);
        let entry = match rec.kind() {
            Some(RecordKind::Decision) => {
                let d: Decision = decode(payload, version, seq);
                check_decision_json(&d, seq);
                Entry::Decision(d)
            }
            Some(RecordKind::OrderCommand) => Entry::Order(decode(payload, version, seq)),
            Some(RecordKind::ExecReport) => Entry::Exec(decode(payload, version, seq)),
            Some(RecordKind::ControlMsg) => Entry::Control(decode(payload, version, seq)),
            _ => Entry::Other(rec.kind),
        };
        out.push(Rec { seq, entry });
    }
    let seqs: Vec<u64> = out.iter().map(|r| r.seq).collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "journal sequences are contiguous"
    );
    out
}

/// The exported JSON of a decision carries the verdict by name and code,
/// the reason's name when rejected.
fn check_decision_json(d: &Decision, seq: u64) {
    let v = serde_json::to_value(d).expect("a decision serialises");
    let name = v["verdict"].as_str().unwrap_or_default();
    let code = v["verdict_code"].as_u64().unwrap_or(u64::MAX);
    match d.verdict {
        Verdict::Approved => assert!(
            name == "approved" && code == 0,
            "record {seq}: approved decision exports as {v}"
        ),
        Verdict::Rejected(r) => assert!(
            name == r.as_str() && code == u64::from(r.as_u16()) && code != 0,
            "record {seq}: rejected decision exports as {v}"
        ),
    }
    assert!(
        v["client_order_id"].is_string() && v["state"].is_string() && v["action"].is_string(),
        "record {seq}: decision export lacks fields: {v}"
    );
}

/// What the journal-order audit found.
#[derive(Debug, Default)]
pub(crate) struct OrderAudit {
    /// Client order ids of every new order journaled (in order), each right
    /// after its approved decision.
    pub(crate) new_orders: Vec<ClientOrderId>,
    /// Cancel and cancel-all commands journaled.
    pub(crate) cancels: usize,
    /// Decisions rejected by risk (each with its reason).
    pub(crate) rejected: usize,
    /// Approved decisions whose command the full order ring refused.
    pub(crate) not_sent: usize,
}

/// The journal-order invariant of DESIGN §5 / issue 5 item 1, checked on
/// every record:
///
/// * every `OrderCommand` is immediately preceded by its `Decision`:
///   approved, outcome `decided`, same action, instrument and client order
///   id, and for a new order the same side, type, time in force, price and
///   quantity; the decision was taken no later than the command was
///   journaled (`decide ≤ journal` on the engine's monotonic clock);
/// * every approved `decided` decision is immediately followed by its
///   command: no approved order that was not journaled;
/// * every rejected decision is a new order with a reason (no cancel is
///   ever rejected), with no client order id assigned, and no command
///   follows it;
/// * a `not_sent` decision repeats the approved decision of the command
///   just before it;
/// * client order ids of new orders are unique.
pub(crate) fn audit_orders(recs: &[Rec]) -> OrderAudit {
    let mut audit = OrderAudit::default();
    let mut seen = HashSet::new();
    for (i, r) in recs.iter().enumerate() {
        let prev = i.checked_sub(1).map(|j| &recs[j]);
        let next = recs.get(i + 1);
        match &r.entry {
            Entry::Order(cmd) => {
                let Some(Rec {
                    entry: Entry::Decision(d),
                    ..
                }) = prev
                else {
                    panic!(
                        "record {}: order command {cmd:?} without a decision right before it",
                        r.seq
                    );
                };
                assert_eq!(d.verdict, Verdict::Approved, "record {}", r.seq);
                assert_eq!(d.outcome, DecisionOutcome::Decided, "record {}", r.seq);
                assert_eq!(d.action, cmd.kind, "record {}", r.seq);
                assert_eq!(d.instrument, cmd.instrument, "record {}", r.seq);
                assert_eq!(d.client_order_id, cmd.client_order_id, "record {}", r.seq);
                assert!(
                    d.decide <= cmd.journal,
                    "record {}: decided after journaled",
                    r.seq
                );
                match cmd.kind {
                    OrderCommandKind::New => {
                        assert_eq!(
                            (d.side, d.order_type, d.time_in_force, d.price, d.qty),
                            (
                                cmd.side,
                                cmd.order_type,
                                cmd.time_in_force,
                                cmd.price,
                                cmd.qty
                            ),
                            "record {}: the order differs from its decision",
                            r.seq
                        );
                        assert!(!cmd.client_order_id.is_empty(), "record {}", r.seq);
                        assert!(
                            seen.insert(cmd.client_order_id),
                            "record {}: client order id {} reused",
                            r.seq,
                            cmd.client_order_id
                        );
                        audit.new_orders.push(cmd.client_order_id);
                    }
                    OrderCommandKind::Cancel | OrderCommandKind::CancelAll => audit.cancels += 1,
                }
            }
            Entry::Decision(d) => match (d.outcome, d.verdict) {
                (DecisionOutcome::Decided, Verdict::Approved) => {
                    let Some(Rec {
                        entry: Entry::Order(cmd),
                        ..
                    }) = next
                    else {
                        panic!(
                            "record {}: approved decision {d:?} not followed by its command",
                            r.seq
                        );
                    };
                    assert_eq!(cmd.client_order_id, d.client_order_id, "record {}", r.seq);
                }
                (DecisionOutcome::Decided, Verdict::Rejected(reason)) => {
                    assert_eq!(
                        d.action,
                        OrderCommandKind::New,
                        "record {}: only new orders are rejected ({})",
                        r.seq,
                        reason.as_str()
                    );
                    assert!(
                        d.client_order_id.is_empty(),
                        "record {}: a rejected order got id {}",
                        r.seq,
                        d.client_order_id
                    );
                    assert!(
                        !matches!(
                            next,
                            Some(Rec {
                                entry: Entry::Order(_),
                                ..
                            })
                        ),
                        "record {}: a command follows a rejected decision",
                        r.seq
                    );
                    audit.rejected += 1;
                }
                (DecisionOutcome::NotSent, v) => {
                    assert_eq!(v, Verdict::Approved, "record {}", r.seq);
                    let Some(Rec {
                        entry: Entry::Order(cmd),
                        ..
                    }) = prev
                    else {
                        panic!("record {}: not-sent decision without its command", r.seq);
                    };
                    assert_eq!(cmd.client_order_id, d.client_order_id, "record {}", r.seq);
                    audit.not_sent += 1;
                }
            },
            Entry::Exec(_) | Entry::Control(_) | Entry::Other(_) => {}
        }
    }
    audit
}

/// Every client order id the simulator received from the session's
/// account (order log, arrival order).
pub(crate) fn sim_order_ids(sim: &SimHandle) -> Vec<String> {
    assert_eq!(
        sim.orders_dropped_from_log(),
        0,
        "the sim's order log is whole"
    );
    sim.orders_received()
        .into_iter()
        .filter(|o| o.api_key == API_KEY)
        .map(|o| o.client_order_id)
        .collect()
}

/// Every order the venue received was journaled as an approved new order:
/// the simulator's received ids are a subset of the journal's new-order
/// ids, each received once.
pub(crate) fn assert_venue_orders_journaled(audit: &OrderAudit, venue_ids: &[String]) {
    let journaled: HashSet<&str> = audit.new_orders.iter().map(|c| c.as_str()).collect();
    let mut once = HashSet::new();
    for id in venue_ids {
        assert!(
            journaled.contains(id.as_str()),
            "the simulator received order {id} that the journal has no approved decision for"
        );
        assert!(
            once.insert(id.as_str()),
            "the simulator received {id} twice"
        );
    }
}

/// Positions and cash flow rebuilt from a journal's execution reports.
#[derive(Debug)]
pub(crate) struct Replay {
    /// The journaled fills applied (each trade once) with the engine's own
    /// position code.
    pub(crate) book: PositionBook,
    /// Fills applied, per instrument.
    pub(crate) fills: HashMap<InstrumentId, u64>,
    /// Expected balance change per asset, raw 1e-8 units: for each fill,
    /// base `± qty`, quote `∓ ⌊price × qty⌋` (the venue's truncation of the
    /// quote amount), and the fee out of the asset it was charged in.
    pub(crate) deltas: BTreeMap<String, i128>,
}

/// Applies every journaled fill (`trade_id != 0`; a trade id seen before on
/// the same instrument is skipped, as the engine skips it) to a fresh
/// [`PositionBook`], and sums the balance changes the fills imply.
pub(crate) fn replay_fills(recs: &[Rec], instruments: &InstrumentTable) -> Replay {
    let mut book = PositionBook::new(instruments.len(), 0);
    let mut seen = HashSet::new();
    let mut fills: HashMap<InstrumentId, u64> = HashMap::new();
    let mut deltas: BTreeMap<String, i128> = BTreeMap::new();
    for r in recs {
        let Entry::Exec(rep) = &r.entry else {
            continue;
        };
        if rep.trade_id == 0 || !seen.insert((rep.instrument, rep.trade_id)) {
            continue;
        }
        assert_eq!(book.apply(rep), Ok(true), "record {}: fill applies", r.seq);
        *fills.entry(rep.instrument).or_default() += 1;
        let spec = instruments.get(rep.instrument).expect("known instrument");
        let (base, quote) = (
            spec.base_asset.as_str().to_owned(),
            spec.quote_asset.as_str().to_owned(),
        );
        let qty = i128::from(rep.last_qty.raw());
        let notional = i128::from(rep.last_price.raw()) * qty / i128::from(SCALE);
        let (db, dq) = match rep.side {
            Side::Buy => (qty, -notional),
            Side::Sell => (-qty, notional),
        };
        *deltas.entry(base.clone()).or_default() += db;
        *deltas.entry(quote.clone()).or_default() += dq;
        let fee = i128::from(rep.fee.raw());
        match rep.fee_asset {
            FeeAsset::None => assert_eq!(fee, 0, "record {}: fee without an asset", r.seq),
            FeeAsset::Base => *deltas.entry(base).or_default() -= fee,
            FeeAsset::Quote => *deltas.entry(quote).or_default() -= fee,
            FeeAsset::Other => panic!(
                "record {}: fee in a third asset; the simulator charges base or quote",
                r.seq
            ),
        }
    }
    Replay {
        book,
        fills,
        deltas,
    }
}
