//! `verify` and `inspect` on a journal with a live writer never report
//! corruption or a torn tail that is only the writer's work in flight (a
//! zero length it is about to publish, a roll half done); on a quiescent
//! journal a real torn tail is still reported.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use talon_core::clock::Nanos;
use talon_core::journal::{
    JournalConfig, JournalWriter, RecordKind, SegmentState, inspect, verify,
};

fn config(dir: &Path) -> JournalConfig {
    let mut c = JournalConfig::new(dir);
    // Small segments: a roll every few dozen records, so verify often meets
    // one half done.
    c.segment_size = 4096;
    c
}

#[test]
fn verify_during_live_appends_never_reports_damage() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let (mut w, _) = JournalWriter::open(config(&path)).unwrap();
    w.append(RecordKind::Blob, 1, Nanos(0), b"first").unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut i = 0u64;
            let buf = [0xC3u8; 200];
            // Relaxed: a stop request; nothing else is published through it.
            while !stop.load(Ordering::Relaxed) {
                // Varying sizes, so record boundaries move around the pages.
                let len = (i.wrapping_mul(37) % 200) as usize;
                w.append(RecordKind::Blob, 1, Nanos(i), &buf[..len])
                    .unwrap();
                i += 1;
                if i.is_multiple_of(64) {
                    std::thread::yield_now();
                }
            }
            w
        })
    };

    let deadline = Instant::now() + Duration::from_millis(2500);
    let mut rounds = 0u64;
    let mut last = 0u64;
    while Instant::now() < deadline {
        let v = verify(&path).unwrap();
        assert!(v.live_writer, "the writer holds the lock: {v:?}");
        assert_eq!(v.corruption, None, "round {rounds}: {v:?}");
        assert_eq!(v.torn_tail, None, "round {rounds}: {v:?}");
        assert!(v.records >= 1);
        let l = v.last_seq.unwrap();
        assert!(l >= last, "went backwards: {l} < {last}");
        last = l;
        let s = inspect(&path).unwrap();
        assert!(
            s.iter().all(|s| s.state != SegmentState::Damaged),
            "round {rounds}: {s:?}"
        );
        rounds += 1;
    }
    // Relaxed: see above; the join orders everything after.
    stop.store(true, Ordering::Relaxed);
    let w = writer.join().unwrap();
    assert!(
        w.stats().rolls > 10,
        "the writer hardly rolled: {:?}",
        w.stats()
    );
    let appended = w.next_seq() - 1;
    drop(w);
    assert!(rounds > 0);

    // Quiescent now: everything is checked, to the last record.
    let v = verify(&path).unwrap();
    assert!(!v.live_writer);
    assert!(v.is_clean(), "{v:?}");
    assert_eq!(v.last_seq, Some(appended));
}

#[test]
fn quiescent_journal_with_a_torn_tail_still_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    let (mut w, _) = JournalWriter::open(config(dir.path())).unwrap();
    for i in 0..10u64 {
        w.append(RecordKind::Blob, 1, Nanos(i), &[1; 24]).unwrap();
    }
    drop(w);
    let file = dir.path().join("00000000000000000000.journal");
    let mut b = std::fs::read(&file).unwrap();
    let at = 64 + 10 * 56;
    b[at + 8..at + 40].fill(0xEE);
    std::fs::write(&file, b).unwrap();
    let v = verify(dir.path()).unwrap();
    assert!(!v.live_writer);
    assert_eq!(v.corruption, None);
    assert_eq!(
        v.torn_tail.map(|t| (t.offset, t.bytes)),
        Some((at as u64, 40))
    );
    let json = serde_json::to_string(&v).unwrap();
    assert!(json.contains("\"live_writer\":false"), "{json}");
}
