//! Replays the real Binance capture (fixtures/binance, see SOURCES.md)
//! through `BookSync`, in arrival order from the session timeline: every
//! symbol must sync with 0 gaps, never be crossed, advance its update id on
//! every applied diff, and end equal to an independent reference book built
//! from the same JSON with serde_json and `BTreeMap`s.
//!
//! The JSON is parsed here with serde_json on purpose: this test must not
//! depend on the feed's own decoder.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde_json::Value;
use talon_core::event::Side;
use talon_core::num::{Price, Qty};
use talon_feed::book::{BookSync, BufferCapacity, SyncAction, SyncState};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/binance")
}

fn read(name: &str) -> String {
    std::fs::read_to_string(dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

type Levels = Vec<(Price, Qty)>;

fn levels(v: &Value) -> Levels {
    v.as_array()
        .expect("levels array")
        .iter()
        .map(|l| {
            let p = l[0].as_str().expect("price string");
            let q = l[1].as_str().expect("qty string");
            (Price::parse(p).unwrap(), Qty::parse(q).unwrap())
        })
        .collect()
}

#[derive(Clone, Debug)]
struct Diff {
    symbol: String,
    first: u64,
    last: u64,
    bids: Levels,
    asks: Levels,
}

fn diff_of(frame: &Value) -> Option<Diff> {
    let data = &frame["data"];
    if data["e"].as_str() != Some("depthUpdate") {
        return None;
    }
    Some(Diff {
        symbol: data["s"].as_str().unwrap().to_owned(),
        first: data["U"].as_u64().unwrap(),
        last: data["u"].as_u64().unwrap(),
        bids: levels(&data["b"]),
        asks: levels(&data["a"]),
    })
}

#[derive(Clone, Debug)]
struct Snapshot {
    last_update_id: u64,
    bids: Levels,
    asks: Levels,
}

/// Snapshot files and their symbol (SOURCES.md: the unsuffixed one is NKNUSDT).
fn snapshot_symbol(file: &str) -> &str {
    match file {
        "depth_snapshot.json" => "NKNUSDT",
        f => f
            .strip_prefix("depth_snapshot_")
            .and_then(|s| s.strip_suffix(".json"))
            .expect("depth_snapshot_<SYMBOL>.json"),
    }
}

fn snapshot(file: &str) -> Snapshot {
    let v: Value = serde_json::from_str(&read(file)).unwrap();
    Snapshot {
        last_update_id: v["lastUpdateId"].as_u64().unwrap(),
        bids: levels(&v["bids"]),
        asks: levels(&v["asks"]),
    }
}

enum Arrival {
    Diff(Diff),
    Snapshot(String, Snapshot),
}

/// The session in arrival order (timeline.tsv), depth diffs and snapshots only.
fn timeline() -> Vec<Arrival> {
    let frames: Vec<Value> = read("stream_session_2021-10-12.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut out = Vec::new();
    for row in read("stream_session_2021-10-12.timeline.tsv")
        .lines()
        .skip(1)
    {
        let cols: Vec<&str> = row.split('\t').collect();
        assert_eq!(cols.len(), 3, "{row}");
        match cols[1] {
            "ws" => {
                let (file, line) = cols[2].split_once(':').unwrap();
                assert_eq!(file, "stream_session_2021-10-12.jsonl");
                let n: usize = line.parse().unwrap();
                if let Some(d) = diff_of(&frames[n - 1]) {
                    out.push(Arrival::Diff(d));
                }
            }
            "rest" => out.push(Arrival::Snapshot(
                snapshot_symbol(cols[2]).to_owned(),
                snapshot(cols[2]),
            )),
            other => panic!("unknown timeline kind {other}"),
        }
    }
    out
}

/// An independent book: snapshot, then every diff with `u > lastUpdateId`
/// applied in arrival order, no checks.
#[derive(Default)]
struct Reference {
    bids: BTreeMap<Price, Qty>,
    asks: BTreeMap<Price, Qty>,
    id: u64,
    loaded: bool,
}

impl Reference {
    fn load(&mut self, s: &Snapshot) {
        self.bids = s.bids.iter().copied().filter(|l| !l.1.is_zero()).collect();
        self.asks = s.asks.iter().copied().filter(|l| !l.1.is_zero()).collect();
        self.id = s.last_update_id;
        self.loaded = true;
    }
    fn apply(&mut self, d: &Diff) {
        if !self.loaded || d.last <= self.id {
            return;
        }
        for (map, lv) in [(&mut self.bids, &d.bids), (&mut self.asks, &d.asks)] {
            for &(p, q) in lv {
                if q.is_zero() {
                    map.remove(&p);
                } else {
                    map.insert(p, q);
                }
            }
        }
        self.id = d.last;
    }
}

const SYMBOLS: [&str; 4] = ["NKNUSDT", "BLZETH", "LRCBTC", "RUNEEUR"];

struct Replay {
    syncs: HashMap<String, BookSync>,
    refs: HashMap<String, Reference>,
    fetches: HashMap<String, u32>,
    diffs: HashMap<String, u64>,
}

impl Replay {
    fn new() -> Replay {
        let mut syncs = HashMap::new();
        let mut refs = HashMap::new();
        for s in SYMBOLS {
            syncs.insert(s.to_owned(), BookSync::new(5000, BufferCapacity::default()));
            refs.insert(s.to_owned(), Reference::default());
        }
        Replay {
            syncs,
            refs,
            fetches: HashMap::new(),
            diffs: HashMap::new(),
        }
    }

    fn check_sane(&self, symbol: &str) {
        let sync = &self.syncs[symbol];
        let book = sync.book();
        assert!(
            !book.is_crossed(),
            "{symbol} crossed at {}",
            book.last_update_id()
        );
        assert!(!sync.health().crossed);
        let bids: Vec<_> = book.bids().map(|l| l.0).collect();
        let asks: Vec<_> = book.asks().map(|l| l.0).collect();
        assert!(bids.windows(2).all(|w| w[0] > w[1]), "{symbol} bids sorted");
        assert!(asks.windows(2).all(|w| w[0] < w[1]), "{symbol} asks sorted");
        assert!(
            book.bids()
                .chain(book.asks())
                .all(|(p, q)| p.raw() > 0 && q.raw() > 0)
        );
    }

    fn diff(&mut self, d: &Diff) -> SyncAction {
        *self.diffs.entry(d.symbol.clone()).or_default() += 1;
        let sync = self.syncs.get_mut(&d.symbol).expect("known symbol");
        let before = sync.book().last_update_id();
        let action = sync.on_diff(
            d.first,
            d.last,
            d.bids.iter().copied(),
            d.asks.iter().copied(),
        );
        match action {
            SyncAction::Applied => {
                assert!(
                    sync.book().last_update_id() > before,
                    "{}: id must advance",
                    d.symbol
                );
                assert_eq!(sync.book().last_update_id(), d.last);
            }
            SyncAction::FetchSnapshot(_) => *self.fetches.entry(d.symbol.clone()).or_default() += 1,
            SyncAction::Buffered | SyncAction::Ignored => {}
        }
        self.refs.get_mut(&d.symbol).unwrap().apply(d);
        self.check_sane(&d.symbol);
        action
    }

    fn snapshot(&mut self, symbol: &str, s: &Snapshot) {
        let sync = self.syncs.get_mut(symbol).expect("known symbol");
        let action = sync.on_snapshot(
            s.last_update_id,
            s.bids.iter().copied(),
            s.asks.iter().copied(),
        );
        assert_eq!(action, SyncAction::Applied, "{symbol}: snapshot accepted");
        assert!(sync.book().last_update_id() >= s.last_update_id);
        self.refs.get_mut(symbol).unwrap().load(s);
        self.check_sane(symbol);
    }

    /// End-of-replay checks: synced with 0 gaps and exact counters, and each
    /// book equal to a reference rebuilt from its snapshot plus every diff
    /// with `u > lastUpdateId` (the live reference skipped diffs that arrived
    /// before its snapshot, so it is rebuilt from the full list here).
    fn finish(&self, all_diffs: &[Diff], snapshots: &HashMap<String, Snapshot>) {
        for symbol in SYMBOLS {
            let sync = &self.syncs[symbol];
            let c = sync.counters();
            assert_eq!(sync.state(), SyncState::Synced, "{symbol}: {c:?}");
            assert!(sync.health().is_tradeable());
            assert_eq!(c.gaps, 0, "{symbol}: SOURCES.md says 0 gaps");
            assert_eq!(c.resyncs, 0, "{symbol}");
            assert_eq!(c.snapshot_refetches, 0, "{symbol}");
            assert_eq!(
                c.buffer_overflows + c.invalid_updates + c.unexpected_snapshots,
                0
            );
            assert_eq!(c.levels_dropped, 0, "{symbol}: capacity 5000 > 1000 levels");
            assert_eq!(c.snapshots_loaded, 1);
            assert_eq!(self.fetches.get(symbol), Some(&1), "{symbol}: one fetch");
            assert_eq!(c.diffs, self.diffs[symbol]);
            assert_eq!(c.diffs, c.diffs_applied + c.stale_diffs_dropped, "{symbol}");
            assert!(c.diffs_applied > 0, "{symbol}");

            // Exact comparison with the reference (all diffs with u > id, in order).
            let mut reference = Reference::default();
            reference.load(&snapshots[symbol]);
            for d in all_diffs.iter().filter(|d| d.symbol == symbol) {
                reference.apply(d);
            }
            let last_u = all_diffs
                .iter()
                .filter(|d| d.symbol == symbol)
                .map(|d| d.last)
                .max();
            assert_eq!(Some(sync.book().last_update_id()), last_u, "{symbol}");
            assert_eq!(sync.book().last_update_id(), reference.id);
            let bids: Vec<_> = reference.bids.iter().rev().map(|(p, q)| (*p, *q)).collect();
            let asks: Vec<_> = reference.asks.iter().map(|(p, q)| (*p, *q)).collect();
            assert_eq!(
                sync.book().levels(Side::Buy).collect::<Vec<_>>(),
                bids,
                "{symbol} bids"
            );
            assert_eq!(
                sync.book().levels(Side::Sell).collect::<Vec<_>>(),
                asks,
                "{symbol} asks"
            );
            // And the live reference (applied in timeline order) agrees.
            assert_eq!(self.refs[symbol].id, reference.id);
        }
    }
}

#[test]
fn depth_update_fixture_is_the_session_depth_frames() {
    let text = read("stream_session_2021-10-12.jsonl");
    let session: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("\"depthUpdate\""))
        .collect();
    let depth = read("depthUpdate.jsonl");
    let depth: Vec<&str> = depth.lines().collect();
    assert_eq!(depth.len(), 177, "SOURCES.md: 177 diffs");
    assert_eq!(session, depth);
}

#[test]
fn session_replays_in_timeline_order_with_zero_gaps() {
    let arrivals = timeline();
    let mut replay = Replay::new();
    let mut all = Vec::new();
    let mut snapshots = HashMap::new();
    let mut seen_diff_before_snapshot = HashMap::new();
    for a in &arrivals {
        match a {
            Arrival::Diff(d) => {
                seen_diff_before_snapshot
                    .entry(d.symbol.clone())
                    .or_insert(true);
                replay.diff(d);
                all.push(d.clone());
            }
            Arrival::Snapshot(sym, s) => {
                // The capture followed the venue's order: diffs first.
                assert_eq!(seen_diff_before_snapshot.get(sym), Some(&true), "{sym}");
                replay.snapshot(sym, s);
                snapshots.insert(sym.clone(), s.clone());
            }
        }
    }
    assert_eq!(all.len(), 177);
    assert_eq!(snapshots.len(), 4);
    replay.finish(&all, &snapshots);
    // The documented NKNUSDT case: its first diff (U=…750, u=…752) is
    // dropped by the snapshot at …752, the next (U=…753) bridges.
    let nkn = replay.syncs["NKNUSDT"].counters();
    assert_eq!(nkn.stale_diffs_dropped, 1);
}

#[test]
fn depth_update_fixture_replays_with_snapshots_served_on_request() {
    // depthUpdate.jsonl alone; each symbol's snapshot is handed over the
    // moment BookSync asks for one (right after that symbol's first diff).
    let diffs: Vec<Diff> = read("depthUpdate.jsonl")
        .lines()
        .map(|l| diff_of(&serde_json::from_str(l).unwrap()).expect("a depth diff"))
        .collect();
    let mut snapshots = HashMap::new();
    for file in [
        "depth_snapshot.json",
        "depth_snapshot_BLZETH.json",
        "depth_snapshot_LRCBTC.json",
        "depth_snapshot_RUNEEUR.json",
    ] {
        snapshots.insert(snapshot_symbol(file).to_owned(), snapshot(file));
    }
    let mut replay = Replay::new();
    for d in &diffs {
        if let SyncAction::FetchSnapshot(_) = replay.diff(d) {
            let s = snapshots[&d.symbol].clone();
            replay.snapshot(&d.symbol, &s);
        }
    }
    replay.finish(&diffs, &snapshots);
}

#[test]
fn small_capacity_replay_keeps_the_top_exact_and_counts_drops() {
    // Same session with 20 levels per side. Dropped levels are counted, and
    // what the small book holds is always a subset of the full book with
    // identical quantities (a stored level sees every later update to its
    // price); on this short session the best levels also agree.
    let arrivals = timeline();
    let mut small: HashMap<&str, BookSync> = SYMBOLS
        .iter()
        .map(|s| (*s, BookSync::new(20, BufferCapacity::default())))
        .collect();
    let mut full: HashMap<&str, BookSync> = SYMBOLS
        .iter()
        .map(|s| (*s, BookSync::new(5000, BufferCapacity::default())))
        .collect();
    for a in &arrivals {
        for books in [&mut small, &mut full] {
            match a {
                Arrival::Diff(d) => {
                    let sync = books.get_mut(d.symbol.as_str()).unwrap();
                    let _ = sync.on_diff(
                        d.first,
                        d.last,
                        d.bids.iter().copied(),
                        d.asks.iter().copied(),
                    );
                }
                Arrival::Snapshot(sym, s) => {
                    let sync = books.get_mut(sym.as_str()).unwrap();
                    let _ = sync.on_snapshot(
                        s.last_update_id,
                        s.bids.iter().copied(),
                        s.asks.iter().copied(),
                    );
                }
            }
        }
    }
    for s in SYMBOLS {
        let (a, b) = (&small[s], &full[s]);
        assert_eq!(a.state(), SyncState::Synced);
        assert_eq!(a.counters().gaps, 0);
        assert!(
            a.counters().levels_dropped > 0,
            "{s}: snapshots exceed 20 levels"
        );
        assert_eq!(a.book().best_bid(), b.book().best_bid(), "{s}");
        assert_eq!(a.book().best_ask(), b.book().best_ask(), "{s}");
        assert_eq!(a.book().last_update_id(), b.book().last_update_id());
        assert!(a.book().depth(Side::Buy) <= 20 && a.book().depth(Side::Sell) <= 20);
        for side in [Side::Buy, Side::Sell] {
            let full: BTreeMap<Price, Qty> = b.book().levels(side).collect();
            for (p, q) in a.book().levels(side) {
                assert_eq!(full.get(&p), Some(&q), "{s} {side} {p}");
            }
        }
    }
}
