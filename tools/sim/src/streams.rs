//! Stream names and the registry of every stream the simulator can serve.
//!
//! This module owns the mapping between venue stream names
//! (`btcusdt@depth20@100ms`) and dense stream ids, the stream kinds used for
//! statistics and fault targeting, and the per-stream interest counts that
//! tell the generator which messages anyone wants. It never formats messages
//! and never touches sockets.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};

/// What a stream carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StreamKind {
    /// `<s>@bookTicker`.
    BookTicker,
    /// `<s>@trade`.
    Trade,
    /// `<s>@aggTrade`.
    AggTrade,
    /// `<s>@depth` (diffs).
    Depth,
    /// `<s>@depth@100ms` (diffs aggregated over 100 ms).
    Depth100ms,
    /// `<s>@depth{5,10,20}` (top-N every 1000 ms); the level count.
    Partial(u8),
    /// `<s>@depth{5,10,20}@100ms` (top-N every 100 ms); the level count.
    Partial100ms(u8),
    /// Anything else (replayed tapes only).
    Other,
}

/// The per-symbol stream kinds, in id order within a symbol.
pub(crate) const SYMBOL_KINDS: [StreamKind; 11] = [
    StreamKind::BookTicker,
    StreamKind::Trade,
    StreamKind::AggTrade,
    StreamKind::Depth,
    StreamKind::Depth100ms,
    StreamKind::Partial(5),
    StreamKind::Partial100ms(5),
    StreamKind::Partial(10),
    StreamKind::Partial100ms(10),
    StreamKind::Partial(20),
    StreamKind::Partial100ms(20),
];

impl StreamKind {
    /// The stream-name suffix after `<symbol>@` (empty for `Other`).
    pub fn suffix(self) -> String {
        match self {
            StreamKind::BookTicker => "bookTicker".into(),
            StreamKind::Trade => "trade".into(),
            StreamKind::AggTrade => "aggTrade".into(),
            StreamKind::Depth => "depth".into(),
            StreamKind::Depth100ms => "depth@100ms".into(),
            StreamKind::Partial(n) => format!("depth{n}"),
            StreamKind::Partial100ms(n) => format!("depth{n}@100ms"),
            StreamKind::Other => String::new(),
        }
    }

    /// Parses the part after `<symbol>@`.
    pub fn from_suffix(s: &str) -> StreamKind {
        match s {
            "bookTicker" => StreamKind::BookTicker,
            "trade" => StreamKind::Trade,
            "aggTrade" => StreamKind::AggTrade,
            "depth" | "depth@1000ms" => StreamKind::Depth,
            "depth@100ms" => StreamKind::Depth100ms,
            "depth5" | "depth5@1000ms" => StreamKind::Partial(5),
            "depth10" | "depth10@1000ms" => StreamKind::Partial(10),
            "depth20" | "depth20@1000ms" => StreamKind::Partial(20),
            "depth5@100ms" => StreamKind::Partial100ms(5),
            "depth10@100ms" => StreamKind::Partial100ms(10),
            "depth20@100ms" => StreamKind::Partial100ms(20),
            _ => StreamKind::Other,
        }
    }

    /// Index into per-kind statistics (`0..KIND_COUNT`).
    pub(crate) fn stat_index(self) -> usize {
        match self {
            StreamKind::BookTicker => 0,
            StreamKind::Trade => 1,
            StreamKind::AggTrade => 2,
            StreamKind::Depth | StreamKind::Depth100ms => 3,
            StreamKind::Partial(_) | StreamKind::Partial100ms(_) => 4,
            StreamKind::Other => 5,
        }
    }

    /// True for the diff-depth streams (gap faults apply to them).
    pub fn is_diff(self) -> bool {
        matches!(self, StreamKind::Depth | StreamKind::Depth100ms)
    }
}

/// Number of statistics buckets of [`StreamKind::stat_index`].
pub(crate) const KIND_COUNT: usize = 6;

/// One registered stream.
#[derive(Debug)]
pub(crate) struct StreamInfo {
    /// Canonical name (`btcusdt@depth@100ms`).
    pub(crate) name: String,
    /// Kind.
    pub(crate) kind: StreamKind,
}

/// All streams, by dense id, plus interest counts.
#[derive(Debug)]
pub(crate) struct Registry {
    streams: Vec<StreamInfo>,
    by_name: HashMap<String, u32>,
    /// Connections subscribed to each stream. Relaxed everywhere: it only
    /// tells the generator whether formatting a message is worth it, nothing
    /// is published through it (a late increment costs at most one message
    /// the new subscriber would have received a moment earlier).
    interest: Vec<AtomicU32>,
}

impl Registry {
    /// Registry for generated symbols (lower-case prefixes, in order): ids
    /// are `symbol_index * SYMBOL_KINDS.len() + kind_index`.
    pub(crate) fn for_symbols(prefixes: &[String]) -> Registry {
        let mut r = Registry {
            streams: Vec::new(),
            by_name: HashMap::new(),
            interest: Vec::new(),
        };
        for p in prefixes {
            for kind in SYMBOL_KINDS {
                r.push(format!("{p}@{}", kind.suffix()), kind);
            }
        }
        // Aliases accepted by the venue for the 1000 ms streams.
        for (i, p) in prefixes.iter().enumerate() {
            for (k, kind) in SYMBOL_KINDS.iter().enumerate() {
                if matches!(kind, StreamKind::Depth | StreamKind::Partial(_)) {
                    let id = (i * SYMBOL_KINDS.len() + k) as u32;
                    r.by_name
                        .insert(format!("{p}@{}@1000ms", kind.suffix()), id);
                }
            }
        }
        r
    }

    /// Registry for a replayed tape's stream names.
    pub(crate) fn for_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Registry {
        let mut r = Registry {
            streams: Vec::new(),
            by_name: HashMap::new(),
            interest: Vec::new(),
        };
        for name in names {
            if r.by_name.contains_key(name) {
                continue;
            }
            let kind = name
                .split_once('@')
                .map_or(StreamKind::Other, |(_, s)| StreamKind::from_suffix(s));
            r.push(name.to_string(), kind);
        }
        r
    }

    fn push(&mut self, name: String, kind: StreamKind) {
        let id = self.streams.len() as u32;
        self.by_name.insert(name.clone(), id);
        self.streams.push(StreamInfo { name, kind });
        self.interest.push(AtomicU32::new(0));
    }

    /// Id of a stream name (exact, case-sensitive as on the venue).
    pub(crate) fn id(&self, name: &str) -> Option<u32> {
        self.by_name.get(name).copied()
    }

    /// Stream by id.
    pub(crate) fn get(&self, id: u32) -> Option<&StreamInfo> {
        self.streams.get(id as usize)
    }

    /// Number of streams.
    pub(crate) fn len(&self) -> usize {
        self.streams.len()
    }

    /// True if some connection is subscribed to `id`.
    pub(crate) fn wanted(&self, id: u32) -> bool {
        // Relaxed: see the field docs.
        self.interest
            .get(id as usize)
            .is_some_and(|c| c.load(Ordering::Relaxed) > 0)
    }

    /// A connection subscribed to `id`.
    pub(crate) fn add_interest(&self, id: u32) {
        if let Some(c) = self.interest.get(id as usize) {
            // Relaxed: see the field docs.
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A connection unsubscribed from `id` (or closed).
    pub(crate) fn remove_interest(&self, id: u32) {
        if let Some(c) = self.interest.get(id as usize) {
            // Relaxed: see the field docs. Saturating: never wraps below 0.
            let _ = c.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| v.checked_sub(1));
        }
    }

    /// True if any generated-symbol stream is wanted (replay: any stream).
    pub(crate) fn any_wanted(&self) -> bool {
        (0..self.streams.len() as u32).any(|i| self.wanted(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_ids_are_dense() {
        let r = Registry::for_symbols(&["btcusdt".into(), "ethusdt".into()]);
        assert_eq!(r.len(), 22);
        for kind in SYMBOL_KINDS {
            assert_eq!(StreamKind::from_suffix(&kind.suffix()), kind);
        }
        let id = r.id("ethusdt@depth20@100ms").unwrap_or(u32::MAX);
        assert_eq!(id, 21);
        assert_eq!(
            r.get(id).map(|s| s.name.as_str()),
            Some("ethusdt@depth20@100ms")
        );
        assert_eq!(r.id("btcusdt@depth@1000ms"), r.id("btcusdt@depth"));
        assert_eq!(r.id("BTCUSDT@trade"), None);
        assert!(!r.wanted(3));
        r.add_interest(3);
        assert!(r.wanted(3) && r.any_wanted());
        r.remove_interest(3);
        r.remove_interest(3);
        assert!(!r.wanted(3));
        let t = Registry::for_names(["nknusdt@depth@100ms", "x@kline_1m", "nknusdt@depth@100ms"]);
        assert_eq!(t.len(), 2);
        assert_eq!(t.get(1).map(|s| s.kind), Some(StreamKind::Other));
    }
}
