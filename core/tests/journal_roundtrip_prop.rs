//! Issue item 9 (property test): random payload sizes (0..4 KiB) across
//! segment rolls round-trip exactly through the reader and the tailer, and
//! reopening the journal and continuing works.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use talon_core::clock::Nanos;
use talon_core::journal::{
    JournalConfig, JournalReader, JournalTailer, JournalWriter, RecordKind, verify,
};

fn payload(seq: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (seq as usize * 13 + i * 29) as u8)
        .collect()
}

fn config(dir: &std::path::Path, background: bool) -> JournalConfig {
    let mut c = JournalConfig::new(dir);
    c.segment_size = 16 * 1024;
    c.prepare_in_background = background;
    c
}

/// Every record from the reader, as (seq, ts, kind, version, payload).
fn read_all(dir: &std::path::Path, from: u64) -> Vec<(u64, u64, u16, u16, Vec<u8>)> {
    let mut r = JournalReader::open_from(dir, from).unwrap();
    let mut out = Vec::new();
    while let Some(rec) = r.next() {
        let rec = rec.unwrap();
        out.push((
            rec.seq,
            rec.ts.0,
            rec.kind,
            rec.version,
            rec.payload.to_vec(),
        ));
    }
    out
}

fn expected(sizes: &[usize], first_seq: u64) -> Vec<(u64, u64, u16, u16, Vec<u8>)> {
    sizes
        .iter()
        .enumerate()
        .map(|(i, &len)| {
            let seq = first_seq + i as u64;
            let kind = RecordKind::ALL[len % RecordKind::ALL.len()].as_u16();
            (seq, seq * 10, kind, (len % 3) as u16, payload(seq, len))
        })
        .collect()
}

fn append_all(w: &mut JournalWriter, sizes: &[usize]) {
    for &len in sizes {
        let seq = w.next_seq();
        let kind = RecordKind::ALL[len % RecordKind::ALL.len()];
        let got = w
            .append(kind, (len % 3) as u16, Nanos(seq * 10), &payload(seq, len))
            .unwrap();
        assert_eq!(got, seq);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn random_sizes_round_trip_across_rolls_and_reopen(
        first in prop::collection::vec(0usize..4096, 1..40),
        second in prop::collection::vec(0usize..4096, 0..20),
        background in any::<bool>(),
        tail_every in 1usize..8,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut tailer = JournalTailer::open(dir.path(), 1).unwrap();
        let mut tailed = Vec::new();
        let poll = |t: &mut JournalTailer, out: &mut Vec<(u64, u64, u16, u16, Vec<u8>)>| {
            t.poll(usize::MAX, |rec| {
                out.push((rec.seq, rec.ts.0, rec.kind, rec.version, rec.payload.to_vec()))
            })
            .unwrap()
        };

        let (mut w, report) = JournalWriter::open(config(dir.path(), background)).unwrap();
        prop_assert_eq!(report.next_seq, 1);
        for (i, chunk) in first.chunks(tail_every).enumerate() {
            append_all(&mut w, chunk);
            if i % 2 == 0 {
                poll(&mut tailer, &mut tailed);
            }
        }
        drop(w);
        poll(&mut tailer, &mut tailed);
        let want = expected(&first, 1);
        prop_assert_eq!(&read_all(dir.path(), 0), &want);
        prop_assert_eq!(&tailed, &want);

        // Reopen and continue; the tailer follows into the new appends.
        let (mut w, report) = JournalWriter::open(config(dir.path(), !background)).unwrap();
        prop_assert_eq!(report.records_recovered, first.len() as u64);
        prop_assert_eq!(report.bytes_cut, 0);
        let next = first.len() as u64 + 1;
        prop_assert_eq!(report.next_seq, next);
        append_all(&mut w, &second);
        drop(w);
        poll(&mut tailer, &mut tailed);
        let mut want = expected(&first, 1);
        want.extend(expected(&second, next));
        prop_assert_eq!(&read_all(dir.path(), 0), &want);
        prop_assert_eq!(&tailed, &want);

        // Starting in the middle.
        let mid = (want.len() as u64 / 2).max(1);
        prop_assert_eq!(&read_all(dir.path(), mid), &want[(mid - 1) as usize..].to_vec());
        let mut from_mid = JournalTailer::open(dir.path(), mid).unwrap();
        let mut got = Vec::new();
        poll(&mut from_mid, &mut got);
        prop_assert_eq!(&got, &want[(mid - 1) as usize..].to_vec());

        let v = verify(dir.path()).unwrap();
        prop_assert!(v.is_clean());
        prop_assert_eq!(v.records, want.len() as u64);
    }
}
