//! Segment-roll edge cases left by failures and crashes:
//!
//! * a spare segment file already in place (a preparer that failed after its
//!   rename, e.g. on the directory fsync) does not wedge the writer: the next
//!   roll replaces it;
//! * a tailer started after a crash mid-roll (segment k unsealed, k+1
//!   activated but empty) is not stranded on k+1 when the next writer removes
//!   it and re-creates k+1.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use talon_core::clock::Nanos;
use talon_core::journal::{JournalConfig, JournalTailer, JournalWriter, RecordKind, verify};

const SEGMENT: u64 = 4096;
const PAYLOAD: usize = 24; // frame 56
const REC: usize = 56;
const PER_SEGMENT: u64 = (4096 - 64 - 8) / 56;

fn config(dir: &Path, background: bool) -> JournalConfig {
    let mut c = JournalConfig::new(dir);
    c.segment_size = SEGMENT;
    c.prepare_in_background = background;
    c
}

fn seg_path(dir: &Path, index: u64) -> PathBuf {
    dir.join(format!("{index:020}.journal"))
}

fn append_n(w: &mut JournalWriter, n: u64) {
    for _ in 0..n {
        let seq = w.next_seq();
        assert_eq!(
            w.append(RecordKind::Blob, 1, Nanos(seq), &[seq as u8; PAYLOAD])
                .unwrap(),
            seq
        );
    }
}

#[test]
fn a_leftover_spare_is_replaced_by_an_inline_roll() {
    let dir = tempfile::tempdir().unwrap();
    let (mut w, _) = JournalWriter::open(config(dir.path(), false)).unwrap();
    append_n(&mut w, 3);
    // What a preparer that failed after renaming its file leaves behind.
    fs::write(seg_path(dir.path(), 1), vec![0u8; SEGMENT as usize]).unwrap();
    append_n(&mut w, PER_SEGMENT * 2);
    assert_eq!(w.segment_index(), 2);
    drop(w);
    let v = verify(dir.path()).unwrap();
    assert!(v.is_clean(), "{v:?}");
    assert_eq!(v.last_seq, Some(PER_SEGMENT * 2 + 3));
}

#[test]
fn a_leftover_spare_is_replaced_by_the_background_preparer() {
    let dir = tempfile::tempdir().unwrap();
    let (mut w, _) = JournalWriter::open(config(dir.path(), true)).unwrap();
    append_n(&mut w, 3);
    // The preparer is working on segment 1 (asked for at open); leave a spare
    // where it will create segment 2.
    fs::write(seg_path(dir.path(), 2), vec![0u8; SEGMENT as usize]).unwrap();
    append_n(&mut w, PER_SEGMENT * 3);
    assert_eq!(w.segment_index(), 3);
    assert!(w.take_background_error().is_none());
    assert_eq!(w.stats().background_failures, 0);
    drop(w);
    let v = verify(dir.path()).unwrap();
    assert!(v.is_clean(), "{v:?}");
}

#[test]
fn an_activated_segment_that_was_in_place_is_never_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let (mut w, _) = JournalWriter::open(config(dir.path(), false)).unwrap();
    append_n(&mut w, 3);
    // Not a spare: an activated header (a copy of segment 0's). Replacing it
    // could destroy data, so the roll must fail, and keep failing cleanly.
    let mut b = fs::read(seg_path(dir.path(), 0)).unwrap();
    b[64..].fill(0);
    fs::write(seg_path(dir.path(), 1), b).unwrap();
    let mut failed = 0;
    for _ in 0..PER_SEGMENT + 5 {
        if w.append(RecordKind::Blob, 1, Nanos(0), &[1; PAYLOAD])
            .is_err()
        {
            failed += 1;
        }
    }
    assert!(failed > 0);
    assert_eq!(w.segment_index(), 0);
}

/// The state a crash between activating segment 1 and sealing segment 0
/// leaves: no end marker in 0, a header but no record in 1.
fn crash_mid_roll(dir: &Path) {
    let (mut w, _) = JournalWriter::open(config(dir, true)).unwrap();
    append_n(&mut w, PER_SEGMENT + 1);
    assert_eq!(w.segment_index(), 1);
    drop(w);
    let eos = 64 + PER_SEGMENT as usize * REC;
    let mut b = fs::read(seg_path(dir, 0)).unwrap();
    b[eos..eos + 8].fill(0);
    fs::write(seg_path(dir, 0), b).unwrap();
    let mut b = fs::read(seg_path(dir, 1)).unwrap();
    b[64..64 + REC].fill(0);
    fs::write(seg_path(dir, 1), b).unwrap();
}

#[test]
fn tailer_started_after_a_crash_mid_roll_follows_the_next_writer() {
    for from_seq in [PER_SEGMENT + 1, PER_SEGMENT + 2, 1] {
        let dir = tempfile::tempdir().unwrap();
        crash_mid_roll(dir.path());
        // Tail from the next record (or later, or the start) before any writer
        // runs: the tailer must not settle in the empty segment 1.
        let mut tailer = JournalTailer::open(dir.path(), from_seq).unwrap();
        let mut seen = Vec::new();
        tailer.poll(usize::MAX, |r| seen.push(r.seq)).unwrap();

        // The next writer removes the empty segment 1 and continues in 0; its
        // first append rolls into a new segment 1.
        let (mut w, report) = JournalWriter::open(config(dir.path(), true)).unwrap();
        assert!(report.spares_removed >= 1);
        assert_eq!(report.next_seq, PER_SEGMENT + 1);
        append_n(&mut w, 5);

        let last = PER_SEGMENT + 5;
        let deadline = Instant::now() + Duration::from_secs(5);
        while seen.last() != Some(&last) && Instant::now() < deadline {
            tailer.poll(usize::MAX, |r| seen.push(r.seq)).unwrap();
            std::thread::sleep(Duration::from_millis(1));
        }
        let want: Vec<u64> = (from_seq.max(1)..=last).collect();
        assert_eq!(seen, want, "from_seq {from_seq}");
        drop(w);
    }
}
