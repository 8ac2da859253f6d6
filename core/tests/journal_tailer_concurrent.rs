//! Issue item 9: a tailer thread running concurrently with a writer thread
//! reads 1,000,000 records in order with no torn read, across many segment
//! rolls (64 KiB segments: several hundred rolls).
//!
//! Every record's payload length, bytes, kind, version and timestamp are
//! derived from its sequence, so any torn or misplaced byte is caught (on top
//! of the CRC the tailer checks itself).
#![allow(clippy::unwrap_used)]

use talon_core::clock::Nanos;
use talon_core::journal::{JournalConfig, JournalTailer, JournalWriter, Record, RecordKind};

const RECORDS: u64 = 1_000_000;

fn payload_len(seq: u64) -> usize {
    (seq % 17) as usize
}

fn payload_byte(seq: u64, i: usize) -> u8 {
    (seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> ((i % 8) * 8)) as u8 ^ i as u8
}

fn kind_of(seq: u64) -> RecordKind {
    RecordKind::ALL[(seq % RecordKind::ALL.len() as u64) as usize]
}

#[test]
fn tailer_reads_a_million_records_from_a_live_writer_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    // The tailer starts before the writer has created anything.
    let mut tailer = JournalTailer::open(&path, 1).unwrap();
    let mut empty = 0;
    assert_eq!(tailer.poll(10, |_| empty += 1).unwrap(), 0);

    let mut config = JournalConfig::new(&path);
    config.segment_size = 64 * 1024;
    let writer = std::thread::spawn(move || {
        let (mut w, report) = JournalWriter::open(config).unwrap();
        assert_eq!(report.next_seq, 1);
        let mut buf = [0u8; 32];
        for seq in 1..=RECORDS {
            let len = payload_len(seq);
            for (i, b) in buf[..len].iter_mut().enumerate() {
                *b = payload_byte(seq, i);
            }
            let got = w
                .append(kind_of(seq), (seq % 7) as u16, Nanos(seq * 3), &buf[..len])
                .unwrap();
            assert_eq!(got, seq);
        }
        let stats = w.stats();
        drop(w);
        stats
    });

    let mut next = 1u64;
    let mut check = |rec: Record<'_>| {
        assert_eq!(rec.seq, next, "out of order or skipped");
        assert_eq!(rec.ts, Nanos(next * 3));
        assert_eq!(rec.kind(), Some(kind_of(next)));
        assert_eq!(rec.version, (next % 7) as u16);
        assert_eq!(rec.payload.len(), payload_len(next));
        for (i, &b) in rec.payload.iter().enumerate() {
            assert_eq!(b, payload_byte(next, i), "torn payload at seq {next}");
        }
        next += 1;
    };
    let mut received = 0u64;
    loop {
        let n = tailer.poll(4096, &mut check).unwrap();
        received += n as u64;
        if received == RECORDS {
            break;
        }
        if n == 0 {
            if writer.is_finished() {
                // The writer is gone: whatever it wrote must be readable now.
                let n = tailer.poll(usize::MAX, &mut check).unwrap();
                received += n as u64;
                break;
            }
            std::thread::yield_now();
        }
    }
    let stats = writer.join().unwrap();
    assert_eq!(received, RECORDS);
    assert!(stats.rolls > 300, "expected many rolls: {stats:?}");
    assert_eq!(
        stats.prepared_in_background + stats.prepared_inline,
        stats.rolls
    );
    // Nothing more after the last record.
    assert_eq!(tailer.poll(10, |_| {}).unwrap(), 0);
    assert_eq!(tailer.next_seq(), RECORDS + 1);
}

const CHILD_ENV: &str = "TALON_JOURNAL_TEST_WRITER_DIR";
const CROSS_RECORDS: u64 = 50_000;

/// The same check across processes: this test re-runs its own binary as the
/// writer process (selected by an environment variable) and tails it.
#[test]
fn tailer_follows_a_writer_in_another_process() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        // Child: the writer.
        let mut config = JournalConfig::new(dir);
        config.segment_size = 16 * 1024;
        let (mut w, _) = JournalWriter::open(config).unwrap();
        let mut buf = [0u8; 32];
        for seq in 1..=CROSS_RECORDS {
            let len = payload_len(seq);
            for (i, b) in buf[..len].iter_mut().enumerate() {
                *b = payload_byte(seq, i);
            }
            w.append(kind_of(seq), 0, Nanos(seq), &buf[..len]).unwrap();
        }
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut tailer = JournalTailer::open(dir.path(), 1).unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "tailer_follows_a_writer_in_another_process",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, dir.path())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut next = 1u64;
    let mut check = |rec: Record<'_>| {
        assert_eq!(rec.seq, next);
        assert_eq!(rec.ts, Nanos(next));
        assert_eq!(rec.payload.len(), payload_len(next));
        for (i, &b) in rec.payload.iter().enumerate() {
            assert_eq!(b, payload_byte(next, i), "torn payload at seq {next}");
        }
        next += 1;
    };
    let mut received = 0u64;
    loop {
        let n = tailer.poll(4096, &mut check).unwrap();
        received += n as u64;
        if received == CROSS_RECORDS {
            break;
        }
        if n == 0 {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "writer process failed");
                received += tailer.poll(usize::MAX, &mut check).unwrap() as u64;
                break;
            }
            std::thread::yield_now();
        }
    }
    assert_eq!(received, CROSS_RECORDS);
    assert_eq!(next, CROSS_RECORDS + 1);
    assert!(child.wait().unwrap().success());
}
