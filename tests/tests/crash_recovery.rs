//! A journal writer killed at any instant leaves a consistent journal.
//!
//! The scenario, narrated:
//! 1. This test binary re-runs itself as a *writer process* that opens the
//!    journal (recovering whatever the previous writer left), then appends
//!    records as fast as it can, each payload derived from its sequence
//!    number, rolling across small segments.
//! 2. A tailer in this process follows the live journal while it runs.
//! 3. After a random delay the writer is killed with SIGKILL: no destructor,
//!    no flush, possibly in the middle of an append or a segment roll.
//! 4. `verify` must find no corruption (a torn tail at most); a reader must
//!    see records 1..=N contiguous with the right payloads; everything the
//!    tailer saw must be a prefix of that.
//! 5. The next writer process recovers and continues at N+1.
//!
//! Repeated several times on the same journal, so recovery after recovery is
//! exercised too.
#![forbid(unsafe_code)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use talon_core::clock::Nanos;
use talon_core::journal::{
    self, JournalConfig, JournalReader, JournalTailer, JournalWriter, RecordKind,
};

const ROLE_ENV: &str = "TALON_E2E_CRASH_WRITER_DIR";
const SEGMENT_SIZE: u64 = 256 * 1024;

/// The payload of record `seq`: its length and bytes both follow from `seq`,
/// so any torn or misplaced record is detected.
fn payload_for(seq: u64, buf: &mut [u8; 300]) -> usize {
    let len = 8 + (seq.wrapping_mul(2_654_435_761) % 280) as usize;
    for (i, b) in buf[..len].iter_mut().enumerate() {
        *b = (seq as u8).wrapping_add(i as u8).wrapping_mul(31);
    }
    buf[..8].copy_from_slice(&seq.to_le_bytes());
    len
}

fn config(dir: &Path) -> JournalConfig {
    let mut c = JournalConfig::new(dir);
    c.segment_size = SEGMENT_SIZE;
    c
}

/// The child: recover, then append until killed.
fn run_writer(dir: &Path) -> ! {
    let (mut w, report) = JournalWriter::open(config(dir)).expect("writer opens");
    println!("next_seq={}", report.next_seq);
    let mut buf = [0u8; 300];
    loop {
        let seq = w.next_seq();
        let len = payload_for(seq, &mut buf);
        w.append(RecordKind::Blob, 1, Nanos(seq), &buf[..len])
            .expect("append");
    }
}

fn check_journal(dir: &Path) -> u64 {
    let report = journal::verify(dir).expect("verify runs");
    assert!(
        report.corruption.is_none(),
        "a crash never corrupts the journal: {report:?}"
    );
    let mut reader = JournalReader::open(dir).expect("reader opens");
    let mut expected = 1u64;
    let mut buf = [0u8; 300];
    while let Some(rec) = reader.next() {
        let rec = rec.expect("committed records read back");
        assert_eq!(rec.seq, expected, "contiguous sequence");
        let len = payload_for(rec.seq, &mut buf);
        assert_eq!(rec.payload, &buf[..len], "payload of seq {}", rec.seq);
        assert_eq!(rec.ts, Nanos(rec.seq));
        expected += 1;
    }
    expected - 1
}

#[test]
fn writer_killed_at_random_instants_leaves_a_consistent_journal() {
    if let Ok(dir) = std::env::var(ROLE_ENV) {
        run_writer(Path::new(&dir));
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("journal");
    let me = std::env::current_exe().expect("test binary path");
    let mut committed = 0u64;
    // A fixed pseudo-random schedule (reproducible), 20..220 ms per life.
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    for life in 0..6 {
        let mut child = Command::new(&me)
            .args([
                "--exact",
                "writer_killed_at_random_instants_leaves_a_consistent_journal",
                "--nocapture",
            ])
            .env(ROLE_ENV, &dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("writer process starts");

        // Follow the live journal while the writer runs.
        let mut tailer = JournalTailer::open(&dir, 1).expect("tailer opens");
        let mut tailed = 0u64;
        let mut buf = [0u8; 300];
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let life_span = Duration::from_millis(20 + rng % 200);
        let start = Instant::now();
        while start.elapsed() < life_span {
            let n = tailer
                .poll(4096, |rec| {
                    tailed += 1;
                    assert_eq!(rec.seq, tailed, "tailer sees records in order");
                    let len = payload_for(rec.seq, &mut buf);
                    assert_eq!(rec.payload, &buf[..len], "tailer never reads a torn record");
                })
                .expect("tailer polls");
            if n == 0 {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        child.kill().expect("SIGKILL the writer");
        let status = child.wait().expect("writer reaped");
        assert!(!status.success(), "the writer died by the signal");

        let now_committed = check_journal(&dir);
        assert!(
            now_committed >= committed,
            "life {life}: nothing committed before is lost ({committed} → {now_committed})"
        );
        assert!(
            tailed <= now_committed,
            "life {life}: the tailer saw only committed records"
        );
        eprintln!(
            "life {life}: killed after {life_span:?}; {now_committed} records committed, tailer saw {tailed}"
        );
        committed = now_committed;
    }
    assert!(committed > 0, "the writers made progress");

    // A final writer recovers and continues at the next sequence.
    let (mut w, report) = JournalWriter::open(config(&dir)).expect("final recovery");
    assert_eq!(report.next_seq, committed + 1);
    let mut buf = [0u8; 300];
    let len = payload_for(committed + 1, &mut buf);
    let seq = w
        .append(RecordKind::Blob, 1, Nanos(committed + 1), &buf[..len])
        .expect("append after recovery");
    assert_eq!(seq, committed + 1);
    drop(w);
    assert_eq!(check_journal(&dir), committed + 1);
}
