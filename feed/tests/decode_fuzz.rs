//! Fuzz harness by proptest byte mutation, bounded in time: real fixture
//! messages are mutated (byte flips, inserts of JSON-significant bytes,
//! deletions, truncation, splices of two messages, duplication of a span)
//! and random byte strings are thrown in too. For every input the decoder
//! must return (never panic), and whatever it decodes `Ok` must equal what
//! the independent serde_json + rust_decimal reference decodes. (The reverse
//! is not required: the fast decoder is stricter in documented ways —
//! duplicate fields, escapes in returned strings, `-0` as an id; and the one
//! way it is more lenient: a number beyond f64's range such as `1e400` in a
//! skipped field is valid JSON to it, while serde_json refuses it.)
//!
//! Default: 3,000 cases × 16 mutants (a few seconds in debug). Raise with
//! `PROPTEST_CASES=…` for a longer run.
#![allow(clippy::unwrap_used)]

mod decode_support;

use std::sync::OnceLock;

use decode_support::{all_fixture_messages, from_fast, reference, serde_rejects_number_range};
use proptest::prelude::*;
use proptest::test_runner::Config;
use talon_feed::decode::{decode, decode_snapshot};

fn corpus() -> &'static [Vec<u8>] {
    static CORPUS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        all_fixture_messages()
            .into_iter()
            .map(|(_, m)| m)
            // Large snapshots make each case slow without adding shapes.
            .filter(|m| m.len() < 4096)
            .collect()
    })
}

/// Bytes that change JSON structure when inserted.
const SIGNIFICANT: &[u8] = b"{}[]\":,\\ 0123456789.-+eEtrufalsn\x00\x1f\x7f\xc3\xa9\xff\n";

/// One mutation, drawn as plain numbers and applied deterministically.
#[derive(Clone, Debug)]
enum Op {
    Flip {
        at: usize,
        xor: u8,
    },
    Insert {
        at: usize,
        byte: usize,
    },
    Delete {
        at: usize,
        len: usize,
    },
    Truncate {
        at: usize,
    },
    Splice {
        at: usize,
        other: usize,
        from: usize,
    },
    Duplicate {
        at: usize,
        len: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let n = any::<usize>();
    prop_oneof![
        (n.clone(), 1u8..=255).prop_map(|(at, xor)| Op::Flip { at, xor }),
        (n.clone(), any::<usize>()).prop_map(|(at, byte)| Op::Insert { at, byte }),
        (n.clone(), 1usize..8).prop_map(|(at, len)| Op::Delete { at, len }),
        n.clone().prop_map(|at| Op::Truncate { at }),
        (n.clone(), any::<usize>(), any::<usize>()).prop_map(|(at, other, from)| Op::Splice {
            at,
            other,
            from
        }),
        (n, 1usize..32).prop_map(|(at, len)| Op::Duplicate { at, len }),
    ]
}

fn apply(base: &[u8], ops: &[Op]) -> Vec<u8> {
    let mut v = base.to_vec();
    let corpus = corpus();
    for op in ops {
        let len = v.len();
        let pos = |at: usize| if len == 0 { 0 } else { at % (len + 1) };
        match *op {
            Op::Flip { at, xor } => {
                if len > 0 {
                    v[at % len] ^= xor;
                }
            }
            Op::Insert { at, byte } => v.insert(pos(at), SIGNIFICANT[byte % SIGNIFICANT.len()]),
            Op::Delete { at, len: n } => {
                let s = pos(at);
                let e = (s + n).min(len);
                v.drain(s..e);
            }
            Op::Truncate { at } => v.truncate(pos(at)),
            Op::Splice { at, other, from } => {
                let o = &corpus[other % corpus.len()];
                let f = from % (o.len() + 1);
                v.truncate(pos(at));
                v.extend_from_slice(&o[f..]);
            }
            Op::Duplicate { at, len: n } => {
                let s = pos(at);
                let e = (s + n).min(len);
                let chunk = v[s..e].to_vec();
                v.splice(e..e, chunk);
            }
        }
    }
    v
}

/// The property: no panic (implicit), and Ok ⇒ the reference agrees.
fn check(input: &[u8]) {
    if let Ok(env) = decode(input) {
        match reference(input) {
            Ok(r) => assert_eq!(
                from_fast(&env),
                r,
                "input: {:?}",
                String::from_utf8_lossy(input)
            ),
            // A number beyond f64 (`1e400`) in a skipped field or a raw
            // `result`: valid JSON that serde_json refuses (documented).
            Err(_) if serde_rejects_number_range(input) => {}
            Err(e) => panic!(
                "fast decoded {:?} but the reference rejects ({e:?}): {:?}",
                env,
                String::from_utf8_lossy(input)
            ),
        }
    }
    if let Ok(s) = decode_snapshot(input) {
        // Levels validated at decode: iteration yields exactly len() pairs.
        assert_eq!(s.bids.iter().count(), s.bids.len());
        assert_eq!(s.asks.iter().count(), s.asks.len());
    }
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3_000)
}

proptest! {
    #![proptest_config(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    })]

    /// 16 mutants of one corpus message per case, each 1..=4 mutations deep.
    #[test]
    fn mutated_fixtures_never_panic_and_ok_means_correct(
        base in any::<usize>(),
        mutants in prop::collection::vec(prop::collection::vec(op(), 1..=4), 16),
    ) {
        let corpus = corpus();
        let m = &corpus[base % corpus.len()];
        for ops in &mutants {
            check(&apply(m, ops));
        }
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        check(&bytes);
    }

    #[test]
    fn random_json_ish_bytes_never_panic(
        idx in prop::collection::vec(any::<usize>(), 0..128),
    ) {
        let bytes: Vec<u8> = idx.iter().map(|i| SIGNIFICANT[i % SIGNIFICANT.len()]).collect();
        check(&bytes);
    }
}

#[test]
fn every_prefix_and_single_byte_deletion_of_every_small_fixture() {
    for m in corpus() {
        for n in 0..=m.len() {
            check(&m[..n]);
        }
        for i in 0..m.len().min(300) {
            let mut v = m.clone();
            v.remove(i);
            check(&v);
        }
    }
}
