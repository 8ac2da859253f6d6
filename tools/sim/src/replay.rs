//! Replay tapes: recorded venue messages played back with their timing.
//!
//! # Tape format (JSON lines)
//!
//! ```text
//! {"t_ms":0,"stream":"nknusdt@depth@100ms","data":{"e":"depthUpdate",…}}
//! {"t_ms":257,"snapshot":"NKNUSDT","data":{"lastUpdateId":499869752,"bids":[…],"asks":[…]}}
//! {"t_ms":501,"stream":"nknusdt@bookTicker","data":{"u":499869768,…}}
//! ```
//!
//! * `t_ms`: offset in ms from the start of the replay (non-negative
//!   integer). Lines are played in `t_ms` order (stable for equal offsets).
//! * `stream` + `data`: a market message. `data` is sent byte-for-byte as it
//!   appears in the line (raw on `/ws`, inside `{"stream":…,"data":…}` on
//!   `/stream`) to connections subscribed to `stream`.
//! * `snapshot` + `data`: a REST depth body for that (upper-case) symbol;
//!   from `t_ms` on, `GET /api/v3/depth?symbol=…` returns it (before the
//!   first one is due, the first one is returned).
//! * Empty lines and lines starting with `#` are ignored.
//!
//! The replay clock starts when the first stream subscription arrives (and
//! the simulator is not paused), so a client that connects and subscribes
//! sees the whole tape.
//!
//! This module owns parsing and the in-memory tape. It never sends anything
//! itself (the source thread in `server` plays it).

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::SimError;

/// One tape entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TapeItem {
    /// A market message for a stream.
    Message { stream: String, data: Vec<u8> },
    /// A REST depth snapshot body for a symbol.
    Snapshot { symbol: String, data: Vec<u8> },
}

/// A parsed tape, sorted by offset.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tape {
    pub(crate) items: Vec<(u64, TapeItem)>,
}

#[derive(Deserialize)]
struct Line<'a> {
    t_ms: u64,
    #[serde(default)]
    stream: Option<String>,
    #[serde(default)]
    snapshot: Option<String>,
    #[serde(borrow)]
    data: &'a RawValue,
}

impl Tape {
    /// Reads a tape file.
    pub(crate) fn load(path: &Path) -> Result<Tape, SimError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| SimError::Replay(format!("{}: {e}", path.display())))?;
        Tape::parse(&text)
    }

    /// Parses tape text; errors name the line.
    pub(crate) fn parse(text: &str) -> Result<Tape, SimError> {
        let mut items = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let l: Line<'_> = serde_json::from_str(line)
                .map_err(|e| SimError::Replay(format!("line {}: {e}", i + 1)))?;
            let data = l.data.get().as_bytes().to_vec();
            let item = match (l.stream, l.snapshot) {
                (Some(stream), None) if !stream.is_empty() => TapeItem::Message { stream, data },
                (None, Some(symbol)) if !symbol.is_empty() => TapeItem::Snapshot {
                    symbol: symbol.to_ascii_uppercase(),
                    data,
                },
                _ => {
                    return Err(SimError::Replay(format!(
                        "line {}: exactly one of \"stream\" or \"snapshot\" is required",
                        i + 1
                    )));
                }
            };
            items.push((l.t_ms, item));
        }
        items.sort_by_key(|(t, _)| *t);
        Ok(Tape { items })
    }

    /// Distinct stream names, in first-appearance order.
    pub(crate) fn stream_names(&self) -> Vec<&str> {
        let mut seen = HashMap::new();
        let mut out = Vec::new();
        for (_, item) in &self.items {
            if let TapeItem::Message { stream, .. } = item
                && seen.insert(stream.as_str(), ()).is_none()
            {
                out.push(stream.as_str());
            }
        }
        out
    }

    /// The first snapshot of each symbol (served before any is due).
    pub(crate) fn first_snapshots(&self) -> HashMap<String, Vec<u8>> {
        let mut out = HashMap::new();
        for (_, item) in &self.items {
            if let TapeItem::Snapshot { symbol, data } = item {
                out.entry(symbol.clone()).or_insert_with(|| data.clone());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_sorts_and_keeps_raw_bytes() {
        let t = Tape::parse(
            "# comment\n\
             {\"t_ms\":5,\"stream\":\"a@trade\",\"data\":{\"p\":\"1.00\", \"e\":\"trade\"}}\n\
             \n\
             {\"t_ms\":1,\"snapshot\":\"abc\",\"data\":{\"lastUpdateId\":1,\"bids\":[],\"asks\":[]}}\n",
        )
        .unwrap();
        assert_eq!(t.items.len(), 2);
        assert_eq!(t.items[0].0, 1);
        assert!(matches!(&t.items[0].1, TapeItem::Snapshot { symbol, .. } if symbol == "ABC"));
        assert!(
            matches!(&t.items[1].1, TapeItem::Message { data, .. } if data == b"{\"p\":\"1.00\", \"e\":\"trade\"}")
        );
        assert_eq!(t.stream_names(), vec!["a@trade"]);
        assert!(Tape::parse("{\"t_ms\":1,\"data\":{}}").is_err());
        let e = Tape::parse("{}\n").unwrap_err().to_string();
        assert!(e.contains("line 1"), "{e}");
    }
}
