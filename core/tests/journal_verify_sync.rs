//! `verify` tells a clean journal, a torn tail and mid-journal corruption
//! apart (and never modifies files); `JournalWriter::open` cuts only torn
//! tails and refuses corruption; each `SyncPolicy` works.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use talon_core::clock::Nanos;
use talon_core::journal::{
    CorruptionReason, JournalConfig, JournalError, JournalReader, JournalTailer, JournalWriter,
    RecordKind, SegmentState, SyncPolicy, inspect, verify,
};

const PAYLOAD: usize = 24; // frame 56, already 8-aligned
const REC: usize = 56;
const SEGMENT: u64 = 4096;

fn config(dir: &Path) -> JournalConfig {
    let mut c = JournalConfig::new(dir);
    c.segment_size = SEGMENT;
    c
}

fn seg_path(dir: &Path, index: u64) -> PathBuf {
    dir.join(format!("{index:020}.journal"))
}

fn write(dir: &Path, n: u64) {
    let (mut w, _) = JournalWriter::open(config(dir)).unwrap();
    for i in 0..n {
        w.append(RecordKind::Blob, 1, Nanos(i), &[i as u8 + 1; PAYLOAD])
            .unwrap();
    }
}

fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut v: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "journal"))
        .map(|p| {
            let b = fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    v.sort();
    v
}

fn patch(path: &Path, f: impl FnOnce(&mut Vec<u8>)) {
    let mut b = fs::read(path).unwrap();
    f(&mut b);
    fs::write(path, b).unwrap();
}

/// Records per 4 KiB segment: (4096 - 64 - 8) / 56.
const PER_SEGMENT: u64 = (4096 - 64 - 8) / 56;

#[test]
fn clean_journal_verifies_clean_with_segment_summaries() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), 200);
    let v = verify(dir.path()).unwrap();
    assert!(v.is_clean(), "{v:?}");
    assert_eq!(
        (v.records, v.first_seq, v.last_seq),
        (200, Some(1), Some(200))
    );
    assert_eq!(v.torn_tail_bytes, 0);
    let data: Vec<_> = v
        .segment_summaries
        .iter()
        .filter(|s| s.state != SegmentState::Spare)
        .collect();
    assert_eq!(data.len() as u64, 200u64.div_ceil(PER_SEGMENT));
    assert!(
        data[..data.len() - 1]
            .iter()
            .all(|s| s.state == SegmentState::Sealed)
    );
    assert_eq!(data.last().unwrap().state, SegmentState::Active);
    assert_eq!(data[0].records, PER_SEGMENT);
    assert_eq!(data[0].bytes_used, 64 + PER_SEGMENT * REC as u64);
    assert_eq!(data[0].capacity, SEGMENT);
    assert_eq!(data[1].first_seq, Some(PER_SEGMENT + 1));
    assert_eq!(inspect(dir.path()).unwrap(), v.segment_summaries);
    let json = serde_json::to_string(&v).unwrap();
    assert!(json.contains("\"corruption\":null"), "{json}");
    assert!(json.contains("\"state\":\"sealed\""), "{json}");
}

#[test]
fn torn_tail_is_reported_by_verify_then_cut_by_open() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), 10);
    let at = 64 + 10 * REC;
    // An interrupted append: body bytes written, no length.
    patch(&seg_path(dir.path(), 0), |b| b[at + 8..at + 40].fill(0xEE));
    let before = snapshot(dir.path());
    let v = verify(dir.path()).unwrap();
    assert_eq!(snapshot(dir.path()), before, "verify must not modify files");
    assert_eq!(v.corruption, None);
    assert_eq!(v.torn_tail_bytes, 40);
    assert_eq!(v.torn_tail.unwrap().offset as usize, at);
    assert_eq!(v.last_seq, Some(10));

    let (mut w, report) = JournalWriter::open(config(dir.path())).unwrap();
    assert_eq!(report.bytes_cut, 40);
    assert_eq!(report.next_seq, 11);
    assert_eq!(w.append(RecordKind::Blob, 1, Nanos(0), b"x").unwrap(), 11);
    drop(w);
    assert!(verify(dir.path()).unwrap().is_clean());
}

#[test]
fn mid_segment_corruption_is_reported_and_refused_without_changes() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), 10);
    let at = 64 + 2 * REC; // record 3
    patch(&seg_path(dir.path(), 0), |b| b[at + 40] ^= 0x01);
    let before = snapshot(dir.path());
    let v = verify(dir.path()).unwrap();
    assert_eq!(v.torn_tail, None);
    let c = v.corruption.unwrap();
    assert_eq!(
        (c.segment, c.offset as usize, c.reason),
        (0, at, CorruptionReason::BadCrc)
    );
    assert_eq!(v.last_seq, Some(2));

    let err = JournalWriter::open(config(dir.path())).unwrap_err();
    assert!(
        matches!(err, JournalError::Corrupt { segment: 0, offset, reason: CorruptionReason::BadCrc } if offset as usize == at),
        "{err:?}"
    );
    assert_eq!(
        snapshot(dir.path()),
        before,
        "a refused open must not modify files"
    );

    // Readers stop at the damage with an error, after the good records.
    let mut r = JournalReader::open(dir.path()).unwrap();
    assert_eq!(r.next().unwrap().unwrap().seq, 1);
    assert_eq!(r.next().unwrap().unwrap().seq, 2);
    assert!(matches!(r.next(), Some(Err(JournalError::Corrupt { .. }))));
    assert!(r.next().is_none());
    let mut t = JournalTailer::open(dir.path(), 1).unwrap();
    let mut seen = 0;
    assert!(t.poll(100, |_| seen += 1).is_err());
    assert_eq!(seen, 2);
}

#[test]
fn damaged_end_of_a_segment_followed_by_a_later_segment_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), PER_SEGMENT * 2 + 5);
    let last_in_0 = 64 + (PER_SEGMENT as usize - 1) * REC;
    patch(&seg_path(dir.path(), 0), |b| b[last_in_0 + 20] ^= 0xFF);
    let v = verify(dir.path()).unwrap();
    let c = v.corruption.unwrap();
    assert_eq!(
        (c.segment, c.offset as usize, c.reason),
        (0, last_in_0, CorruptionReason::BadCrc)
    );
    assert_eq!(v.torn_tail, None);
    assert!(matches!(
        JournalWriter::open(config(dir.path())),
        Err(JournalError::Corrupt { segment: 0, .. })
    ));
}

#[test]
fn unsealed_segment_followed_by_data_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), PER_SEGMENT + 3);
    let eos = 64 + PER_SEGMENT as usize * REC;
    patch(&seg_path(dir.path(), 0), |b| b[eos..eos + 8].fill(0));
    let c = verify(dir.path()).unwrap().corruption.unwrap();
    assert_eq!(
        (c.segment, c.offset as usize, c.reason),
        (0, eos, CorruptionReason::UnsealedSegment)
    );
}

#[test]
fn missing_segment_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), PER_SEGMENT * 3);
    fs::remove_file(seg_path(dir.path(), 1)).unwrap();
    let v = verify(dir.path()).unwrap();
    let c = v.corruption.unwrap();
    assert_eq!((c.segment, c.reason), (1, CorruptionReason::MissingSegment));
    assert!(
        v.segment_summaries
            .iter()
            .any(|s| s.state == SegmentState::Unchecked)
    );
}

#[test]
fn roll_interrupted_before_sealing_recovers_in_the_old_segment() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), PER_SEGMENT + 1);
    // Crash between activating segment 1 and sealing segment 0: no marker in
    // 0, a header but no record in 1.
    let eos = 64 + PER_SEGMENT as usize * REC;
    patch(&seg_path(dir.path(), 0), |b| b[eos..eos + 8].fill(0));
    patch(&seg_path(dir.path(), 1), |b| b[64..64 + REC].fill(0));
    let v = verify(dir.path()).unwrap();
    assert!(v.is_clean(), "{v:?}");
    assert_eq!(v.last_seq, Some(PER_SEGMENT));
    let (mut w, report) = JournalWriter::open(config(dir.path())).unwrap();
    assert_eq!(report.next_seq, PER_SEGMENT + 1);
    assert!(report.spares_removed >= 1);
    assert_eq!(w.segment_index(), 0);
    assert_eq!(
        w.append(RecordKind::Blob, 1, Nanos(0), &[9; PAYLOAD])
            .unwrap(),
        PER_SEGMENT + 1
    );
    assert_eq!(w.segment_index(), 1);
    drop(w);
    assert!(verify(dir.path()).unwrap().is_clean());
}

fn appended_and_read_back(dir: &Path, n: u64) {
    let mut r = JournalReader::open(dir).unwrap();
    let mut seen = 0;
    while let Some(rec) = r.next() {
        seen += 1;
        assert_eq!(rec.unwrap().seq, seen);
    }
    assert_eq!(seen, n);
}

#[test]
fn sync_policy_none_never_syncs_until_asked() {
    let dir = tempfile::tempdir().unwrap();
    let (mut w, _) = JournalWriter::open(config(dir.path())).unwrap();
    for _ in 0..150 {
        w.append(RecordKind::Blob, 1, Nanos(0), &[1; PAYLOAD])
            .unwrap();
    }
    assert_eq!(w.stats().syncs, 0);
    w.sync().unwrap();
    assert_eq!(w.stats().syncs, 1);
    drop(w);
    appended_and_read_back(dir.path(), 150);
}

#[test]
fn sync_policy_every_record_syncs_each_append() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.sync = SyncPolicy::EveryRecord;
    let (mut w, _) = JournalWriter::open(c).unwrap();
    for _ in 0..150 {
        w.append(RecordKind::Blob, 1, Nanos(0), &[1; PAYLOAD])
            .unwrap();
    }
    assert!(w.stats().rolls >= 2);
    assert_eq!(w.stats().syncs, 150);
    drop(w);
    appended_and_read_back(dir.path(), 150);
}

#[test]
fn sync_policy_periodic_flushes_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.sync = SyncPolicy::Periodic {
        interval: Duration::from_millis(1),
    };
    let (mut w, _) = JournalWriter::open(c).unwrap();
    for _ in 0..150 {
        w.append(RecordKind::Blob, 1, Nanos(0), &[1; PAYLOAD])
            .unwrap();
    }
    assert!(w.stats().rolls >= 2);
    // Wait (bounded) for the flusher; a hang guard, not a timing assertion.
    let deadline = Instant::now() + Duration::from_secs(20);
    while w.stats().syncs == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(w.stats().syncs > 0, "the flusher never ran");
    assert!(w.take_background_error().is_none());
    assert_eq!(w.stats().background_failures, 0);
    drop(w);
    appended_and_read_back(dir.path(), 150);
}
