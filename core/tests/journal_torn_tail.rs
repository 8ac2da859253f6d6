//! Issue item 9: a record torn at every byte offset is cut on reopen, nothing
//! before it is lost, and appends continue at the next sequence.
//!
//! The torn record is simulated by editing the segment file after a clean
//! write, for each offset `k` in the record's 8-aligned extent and for four
//! ways a write can be interrupted:
//!
//! * `Unpublished`: payload and header written up to `k`, length never stored;
//! * `PublishedIncomplete`: length stored (power loss reordering) but bytes
//!   from `k` on never reached the disk;
//! * `UnpublishedGarbage`: length never stored, random garbage from `k` on,
//!   running past the record's end;
//! * `Garbled`: every byte from `k` on flipped (length included when `k < 4`).
//!
//! Both placements are covered: the torn record in the middle of a segment,
//! and as the first record of a segment right after a roll.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use talon_core::clock::Nanos;
use talon_core::journal::{JournalConfig, JournalReader, JournalWriter, RecordKind, verify};

const SEGMENT: u64 = 8192;
const PAYLOAD: usize = 41; // frame 73, 8-aligned extent 80: padding is covered too

fn config(dir: &Path) -> JournalConfig {
    let mut c = JournalConfig::new(dir);
    c.segment_size = SEGMENT;
    c.prepare_in_background = false;
    c
}

/// Non-zero bytes, so zeroing any one of them changes the record.
fn payload(seq: u64) -> Vec<u8> {
    (0..PAYLOAD)
        .map(|i| ((seq as usize * 31 + i * 7) % 255 + 1) as u8)
        .collect()
}

struct Base {
    files: BTreeMap<PathBuf, Vec<u8>>,
    /// Sequence of the victim (the last record written).
    victim: u64,
    victim_file: PathBuf,
    victim_offset: usize,
}

/// Writes records; the last one (the victim) is at `victim_offset` of
/// `victim_file`. With `after_roll`, the victim is the first record of a
/// fresh segment.
fn build_base(after_roll: bool) -> Base {
    let dir = tempfile::tempdir().unwrap();
    let (mut w, _) = JournalWriter::open(config(dir.path())).unwrap();
    let mut seq = 0;
    let (victim_segment, victim_offset) = loop {
        let before = (w.segment_index(), w.position());
        seq = w
            .append(RecordKind::Blob, 1, Nanos(seq + 1000), &payload(seq + 1))
            .unwrap();
        let rolled = w.segment_index() != before.0;
        if (!after_roll && seq == 6) || (after_roll && rolled) {
            break (w.segment_index(), w.position() - 80);
        }
    };
    drop(w);
    let mut files = BTreeMap::new();
    for entry in fs::read_dir(dir.path()).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name.to_str().unwrap().ends_with(".journal") {
            files.insert(PathBuf::from(name), fs::read(entry.path()).unwrap());
        }
    }
    Base {
        files,
        victim: seq,
        victim_file: PathBuf::from(format!("{victim_segment:020}.journal")),
        victim_offset,
    }
}

#[derive(Clone, Copy, Debug)]
enum Tear {
    Unpublished,
    PublishedIncomplete,
    UnpublishedGarbage,
    Garbled,
}

/// Applies the tear; returns whether the victim record must still be intact.
fn tear(rec: &mut [u8], k: usize, how: Tear, rng: &mut u64) -> bool {
    let frame = 32 + PAYLOAD;
    let extent = 80;
    match how {
        Tear::Unpublished => {
            rec[..4].fill(0);
            rec[k.max(4)..extent].fill(0);
            false
        }
        Tear::PublishedIncomplete => {
            rec[k.max(4)..extent].fill(0);
            k >= frame
        }
        Tear::UnpublishedGarbage => {
            rec[..4].fill(0);
            for b in &mut rec[k.max(4)..extent + 64] {
                *rng ^= *rng << 13;
                *rng ^= *rng >> 7;
                *rng ^= *rng << 17;
                *b = (*rng as u8) | 1;
            }
            false
        }
        Tear::Garbled => {
            for b in &mut rec[k..extent] {
                *b ^= 0x5A;
            }
            k >= frame
        }
    }
}

fn check_case(base: &Base, k: usize, how: Tear, rng: &mut u64) {
    let dir = tempfile::tempdir().unwrap();
    let mut intact = false;
    let mut anything_written = false;
    for (name, bytes) in &base.files {
        let mut bytes = bytes.clone();
        if *name == base.victim_file {
            let original = bytes[base.victim_offset..base.victim_offset + 80].to_vec();
            let rec = &mut bytes[base.victim_offset..base.victim_offset + 80 + 64];
            intact = tear(rec, k, how, rng);
            anything_written = rec.iter().any(|&b| b != 0);
            // Unpublished with nothing but zeros from 4 on is "never started".
            if matches!(how, Tear::Unpublished) {
                anything_written = original[4..k.max(4)].iter().any(|&b| b != 0);
            }
        }
        fs::write(dir.path().join(name), bytes).unwrap();
    }
    let ctx = format!("k={k} how={how:?} victim={}", base.victim);
    let last_good = if intact { base.victim } else { base.victim - 1 };

    // verify: a torn tail, never corruption, and it changes nothing.
    let before: Vec<_> = base
        .files
        .keys()
        .map(|n| fs::read(dir.path().join(n)).unwrap())
        .collect();
    let v = verify(dir.path()).unwrap();
    let after: Vec<_> = base
        .files
        .keys()
        .map(|n| fs::read(dir.path().join(n)).unwrap())
        .collect();
    assert_eq!(before, after, "verify modified files: {ctx}");
    assert_eq!(v.corruption, None, "{ctx}: {v:?}");
    assert_eq!(v.last_seq, Some(last_good), "{ctx}");
    let expect_cut = !intact && anything_written;
    assert_eq!(v.torn_tail.is_some(), expect_cut, "{ctx}: {v:?}");
    if let Some(t) = v.torn_tail {
        assert_eq!(t.offset as usize, base.victim_offset, "{ctx}");
    }

    // Reopen: the tail is cut, reported, and appends continue.
    let (mut w, report) = JournalWriter::open(config(dir.path())).unwrap();
    assert_eq!(report.last_good_seq, Some(last_good), "{ctx}");
    assert_eq!(report.records_recovered, last_good, "{ctx}");
    assert_eq!(report.next_seq, last_good + 1, "{ctx}");
    assert_eq!(report.bytes_cut, v.torn_tail_bytes, "{ctx}");
    assert_eq!(report.bytes_cut > 0, expect_cut, "{ctx}");
    let new_payload = b"after the cut".to_vec();
    let seq = w
        .append(RecordKind::ControlMsg, 2, Nanos(7), &new_payload)
        .unwrap();
    assert_eq!(seq, last_good + 1, "{ctx}");
    drop(w);

    let v = verify(dir.path()).unwrap();
    assert!(v.is_clean(), "{ctx}: {v:?}");
    let mut r = JournalReader::open(dir.path()).unwrap();
    let mut n = 0;
    while let Some(rec) = r.next() {
        let rec = rec.unwrap();
        n += 1;
        assert_eq!(rec.seq, n, "{ctx}");
        if n <= last_good {
            assert_eq!(rec.payload, payload(n).as_slice(), "{ctx}");
            assert_eq!(rec.ts, Nanos(n - 1 + 1000), "{ctx}");
        } else {
            assert_eq!(rec.payload, new_payload.as_slice(), "{ctx}");
            assert_eq!(rec.kind(), Some(RecordKind::ControlMsg), "{ctx}");
        }
    }
    assert_eq!(n, last_good + 1, "{ctx}");
}

fn run_every_offset(after_roll: bool) {
    let base = build_base(after_roll);
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    for how in [
        Tear::Unpublished,
        Tear::PublishedIncomplete,
        Tear::UnpublishedGarbage,
        Tear::Garbled,
    ] {
        for k in 0..80 {
            check_case(&base, k, how, &mut rng);
        }
    }
}

#[test]
fn torn_at_every_offset_mid_segment_is_cut_and_appends_continue() {
    run_every_offset(false);
}

#[test]
fn torn_at_every_offset_first_record_after_roll_is_cut_and_appends_continue() {
    let base = build_base(true);
    assert!(
        base.files.len() >= 2,
        "the victim must be in a second segment"
    );
    assert_eq!(base.victim_offset, 64);
    run_every_offset(true);
}
